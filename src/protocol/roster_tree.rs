//! The roster commitment: a counted sparse Merkle tree over the 2^32 client ids
//! (`docs/PROTOCOL.md` §6).
//!
//! Entry `u` is the leaf at position `u`, so no id can appear twice and no entry can sit
//! anywhere but at its own id. Every node commits to the number of entries below it, so an
//! inclusion proof also proves the entry's *rank* (how many entries have a smaller id) and
//! the root proves the roster's size `n'`. SecAgg+ clients then receive only their
//! neighbours' entries with a proof ([`verify`]), in `O(k log n)` bytes, instead of the
//! whole roster, and derive the graph from the digest of the root (see
//! [`crate::protocol::graph`]).
//!
//! Hashes, with `H` = SHA-256 and big-endian integers:
//! * an empty subtree is 32 zero bytes with count 0;
//! * a subtree holding exactly one entry is that entry's leaf hash
//!   `H("secagg/v3/roster-leaf" ‖ id:4 ‖ c^PK ‖ s^PK ‖ com)`, with count 1, at any height;
//! * a subtree at height `h` holding two or more entries is
//!   `H("secagg/v3/roster-node" ‖ h:1 ‖ left ‖ left count:4 ‖ right ‖ right count:4)`;
//! * the roster digest is `H("secagg/v3/roster-digest" ‖ n':4 ‖ root)`.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::ids::ClientId;
use crate::wire::AdvertiseKeys;

/// Height of the tree: one leaf position per `u32` id.
pub const HEIGHT: u8 = 32;

const LABEL_LEAF: &[u8] = b"secagg/v3/roster-leaf";
const LABEL_NODE: &[u8] = b"secagg/v3/roster-node";
const LABEL_DIGEST: &[u8] = b"secagg/v3/roster-digest";

/// Proof node tags (pre-order).
const TAG_EMPTY: u8 = 0;
const TAG_OPAQUE: u8 = 1;
const TAG_BRANCH: u8 = 2;
const TAG_LEAF: u8 = 3;

pub use crate::wire::max_roster_proof_len as max_proof_len;

type Hash = [u8; 32];

const EMPTY: Hash = [0; 32];

/// The leaf hash of one entry.
fn leaf_hash(e: &AdvertiseKeys) -> Hash {
    let mut h = Sha256::new();
    h.update(LABEL_LEAF);
    h.update(e.sender.to_be_bytes());
    h.update(e.share_public_key.0);
    h.update(e.mask_public_key.0);
    h.update(e.self_mask_commitment);
    h.finalize().into()
}

/// The hash of a node at `height` whose children hold `(lh, lc)` and `(rh, rc)`, with
/// `lc + rc >= 2`.
fn node_hash(height: u8, (lh, lc): (&Hash, u32), (rh, rc): (&Hash, u32)) -> Hash {
    let mut h = Sha256::new();
    h.update(LABEL_NODE);
    h.update([height]);
    h.update(lh);
    h.update(lc.to_be_bytes());
    h.update(rh);
    h.update(rc.to_be_bytes());
    h.finalize().into()
}

/// The digest that names a roster: its size and root.
fn digest(count: u32, root: &Hash) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LABEL_DIGEST);
    h.update(count.to_be_bytes());
    h.update(root);
    h.finalize().into()
}

/// The ids and leaf hashes of entries in id order.
fn leaves_of<'a>(entries: impl Iterator<Item = &'a AdvertiseKeys>) -> (Vec<ClientId>, Vec<Hash>) {
    entries.map(|e| (e.sender, leaf_hash(e))).unzip()
}

/// Index of the first id at or after `start` in `ids` (ascending).
fn lower(ids: &[ClientId], start: u64) -> usize {
    ids.partition_point(|&u| u64::from(u.0) < start)
}

/// The whole tree, as the server keeps it: the entries' ids and leaf hashes, and the hash of
/// every subtree holding two or more entries, per height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterTree {
    ids: Vec<ClientId>,
    leaves: Vec<Hash>,
    /// `nodes[h - 1]`: `(position at height h, hash)` of the subtrees at height `h` with two or
    /// more entries, ascending by position.
    nodes: Vec<Vec<(u32, Hash)>>,
    root: Hash,
    digest: [u8; 32],
}

impl RosterTree {
    /// The tree of `entries`, which must be in strictly ascending id order (as a roster is;
    /// the server builds it from a map). `None` otherwise, or beyond `u32::MAX` entries.
    #[must_use]
    pub fn new(entries: &[AdvertiseKeys]) -> Option<Self> {
        if !entries.windows(2).all(|w| match w {
            [a, b] => a.sender < b.sender,
            _ => true,
        }) {
            return None;
        }
        let count = u32::try_from(entries.len()).ok()?;
        let (ids, leaves) = leaves_of(entries.iter());
        let mut nodes = alloc::vec![Vec::new(); usize::from(HEIGHT)];
        let root = build(
            &ids,
            &leaves,
            HEIGHT,
            0,
            0,
            ids.len(),
            &mut Some(&mut nodes),
        );
        Some(Self {
            ids,
            leaves,
            nodes,
            digest: digest(count, &root),
            root,
        })
    }

    /// The roster digest.
    #[must_use]
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The number of entries, `n'`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the roster is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The pruned tree that reveals the entries of `reveal` (ascending ids, each in the
    /// roster) and nothing else: its leaves, in id order, are the entries a client receives
    /// alongside the proof.
    #[must_use]
    pub fn prove(&self, reveal: &[ClientId]) -> Vec<u8> {
        let mut out = Vec::new();
        self.prove_at(reveal, HEIGHT, 0, &mut out);
        out
    }

    fn prove_at(&self, reveal: &[ClientId], height: u8, start: u64, out: &mut Vec<u8>) {
        let end = start + (1u64 << height);
        let (lo, hi) = (lower(&self.ids, start), lower(&self.ids, end));
        let count = hi - lo;
        let (rlo, rhi) = (lower(reveal, start), lower(reveal, end));
        if count == 0 {
            out.push(TAG_EMPTY);
        } else if rlo == rhi {
            out.push(TAG_OPAQUE);
            out.extend_from_slice(&self.subtree_hash(height, start, lo, count));
            out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
        } else if count == 1 {
            out.push(TAG_LEAF);
        } else {
            out.push(TAG_BRANCH);
            let half = 1u64 << (height - 1);
            self.prove_at(reveal, height - 1, start, out);
            self.prove_at(reveal, height - 1, start + half, out);
        }
    }

    /// The hash of the subtree at `height` starting at `start`, which holds `count >= 1`
    /// entries from index `lo`.
    fn subtree_hash(&self, height: u8, start: u64, lo: usize, count: usize) -> Hash {
        if count == 1 {
            return self.leaves.get(lo).copied().unwrap_or(EMPTY);
        }
        let position = u32::try_from(start >> height).unwrap_or(0);
        self.nodes
            .get(usize::from(height) - 1)
            .and_then(|level| {
                level
                    .binary_search_by_key(&position, |&(p, _)| p)
                    .ok()
                    .and_then(|i| level.get(i))
            })
            .map_or(EMPTY, |&(_, h)| h)
    }
}

/// The hash of the subtree at `height` from `start` over `ids[lo..hi]` (which all lie in
/// it), recording every node of two or more entries in `nodes` if given.
fn build(
    ids: &[ClientId],
    leaves: &[Hash],
    height: u8,
    start: u64,
    lo: usize,
    hi: usize,
    nodes: &mut Option<&mut Vec<Vec<(u32, Hash)>>>,
) -> Hash {
    match hi - lo {
        0 => EMPTY,
        1 => leaves.get(lo).copied().unwrap_or(EMPTY),
        _ => {
            let half = 1u64 << (height - 1);
            let mid = lo + lower(ids.get(lo..hi).unwrap_or_default(), start + half);
            let l = build(ids, leaves, height - 1, start, lo, mid, nodes);
            let r = build(ids, leaves, height - 1, start + half, mid, hi, nodes);
            let (lc, rc) = (mid - lo, hi - mid);
            let lc = u32::try_from(lc).unwrap_or(u32::MAX);
            let rc = u32::try_from(rc).unwrap_or(u32::MAX);
            let hash = node_hash(height, (&l, lc), (&r, rc));
            if let Some(nodes) = nodes.as_deref_mut()
                && let Some(level) = nodes.get_mut(usize::from(height) - 1)
            {
                level.push((u32::try_from(start >> height).unwrap_or(0), hash));
            }
            hash
        }
    }
}

/// The roster digest of `entries` (any order; ids distinct), as client and server compute
/// it from a whole roster. Repeated ids give `None`.
#[must_use]
pub fn roster_digest_of(entries: &[AdvertiseKeys]) -> Option<[u8; 32]> {
    let mut sorted: Vec<&AdvertiseKeys> = entries.iter().collect();
    if !sorted.is_sorted_by_key(|e| e.sender) {
        sorted.sort_by_key(|e| e.sender);
    }
    if sorted.windows(2).any(|w| match w {
        [a, b] => a.sender == b.sender,
        _ => false,
    }) {
        return None;
    }
    let count = u32::try_from(sorted.len()).ok()?;
    let (ids, leaves) = leaves_of(sorted.iter().copied());
    let root = build(&ids, &leaves, HEIGHT, 0, 0, ids.len(), &mut None);
    Some(digest(count, &root))
}

/// What a proof shows: the roster's digest and size, and the rank of each revealed entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The roster digest.
    pub digest: [u8; 32],
    /// The number of entries, `n'`.
    pub count: usize,
    /// The rank of each revealed entry (how many entries have a smaller id), in the order of
    /// the entries given to [`verify`].
    pub ranks: Vec<usize>,
}

/// Why a proof does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofError {
    /// The bytes end early, or bytes are left over.
    Truncated,
    /// An unknown node tag.
    UnknownTag(u8),
    /// A node that the canonical tree never holds: a branch with fewer than two entries below
    /// it, an opaque subtree with no entries or more than its height allows, or a leaf below
    /// the leaf level.
    NotCanonical,
    /// A revealed entry lies outside the subtree the proof puts it in, or the proof has more
    /// or fewer leaves than entries given.
    Misplaced,
}

struct Walk<'a> {
    proof: &'a [u8],
    at: usize,
    entries: &'a [AdvertiseKeys],
    next: usize,
    /// Entries seen so far, in id order (opaque counts included): the next leaf's rank.
    before: u64,
    ranks: Vec<usize>,
}

impl Walk<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ProofError> {
        let bytes = self
            .proof
            .get(self.at..self.at + N)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(ProofError::Truncated)?;
        self.at += N;
        Ok(bytes)
    }

    /// `(hash, count)` of the subtree at `height` starting at `start`.
    fn node(&mut self, height: u8, start: u64) -> Result<(Hash, u64), ProofError> {
        let [tag] = self.take::<1>()?;
        match tag {
            TAG_EMPTY => Ok((EMPTY, 0)),
            TAG_OPAQUE => {
                let hash = self.take::<32>()?;
                let count = u64::from(u32::from_be_bytes(self.take::<4>()?));
                // SECURITY: one encoding per tree, so two honest clients holding proofs of
                // the same root agree on every count (and so on every rank).
                if count == 0 || count > 1u64 << height || (count >= 2 && height == 0) {
                    return Err(ProofError::NotCanonical);
                }
                self.before += count;
                Ok((hash, count))
            }
            TAG_LEAF => {
                let entry = self.entries.get(self.next).ok_or(ProofError::Misplaced)?;
                let id = u64::from(entry.sender.0);
                // SECURITY: an entry sits only at its own id's position, so no id appears
                // twice in a tree and every rank is that of the id.
                if id < start || id >= start + (1u64 << height) {
                    return Err(ProofError::Misplaced);
                }
                self.next += 1;
                self.ranks
                    .push(usize::try_from(self.before).map_err(|_| ProofError::Misplaced)?);
                self.before += 1;
                Ok((leaf_hash(entry), 1))
            }
            TAG_BRANCH => {
                if height == 0 {
                    return Err(ProofError::NotCanonical);
                }
                let half = 1u64 << (height - 1);
                let (lh, lc) = self.node(height - 1, start)?;
                let (rh, rc) = self.node(height - 1, start + half)?;
                if lc + rc < 2 {
                    return Err(ProofError::NotCanonical);
                }
                let to32 = |c: u64| u32::try_from(c).map_err(|_| ProofError::NotCanonical);
                Ok((
                    node_hash(height, (&lh, to32(lc)?), (&rh, to32(rc)?)),
                    lc + rc,
                ))
            }
            other => Err(ProofError::UnknownTag(other)),
        }
    }
}

/// Verifies a pruned tree whose leaves, in id order, are `entries`: returns the digest of
/// the roster it opens, its size and each entry's rank. Recursion is at most
/// [`HEIGHT`]` + 1` deep; the work is linear in the proof's length.
///
/// # Errors
/// [`ProofError`] for bytes that are not the canonical pruned tree of some roster holding
/// exactly `entries` at their ids.
pub fn verify(proof: &[u8], entries: &[AdvertiseKeys]) -> Result<Verified, ProofError> {
    let mut walk = Walk {
        proof,
        at: 0,
        entries,
        next: 0,
        before: 0,
        ranks: Vec::with_capacity(entries.len()),
    };
    let (root, count) = walk.node(HEIGHT, 0)?;
    if walk.at != proof.len() {
        return Err(ProofError::Truncated);
    }
    if walk.next != entries.len() {
        return Err(ProofError::Misplaced);
    }
    let count32 = u32::try_from(count).map_err(|_| ProofError::NotCanonical)?;
    Ok(Verified {
        digest: digest(count32, &root),
        count: usize::try_from(count).map_err(|_| ProofError::NotCanonical)?,
        ranks: walk.ranks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::kx::PublicKey;
    use crate::ids::SessionId;

    fn entry(id: u32) -> AdvertiseKeys {
        let mut c = [0u8; 32];
        c[..4].copy_from_slice(&id.to_le_bytes());
        let mut s = c;
        s[31] = 1;
        AdvertiseKeys {
            session: SessionId([1; 32]),
            sender: ClientId(id),
            share_public_key: PublicKey(c),
            mask_public_key: PublicKey(s),
            self_mask_commitment: [id.to_le_bytes()[0]; 32],
            signature: None,
        }
    }

    fn roster(ids: &[u32]) -> Vec<AdvertiseKeys> {
        ids.iter().map(|&i| entry(i)).collect()
    }

    #[test]
    fn proofs_verify_to_the_digest_with_ranks() {
        let ids = [0u32, 1, 2, 7, 1000, 65_536, 3_000_000_000, u32::MAX];
        let all = roster(&ids);
        let tree = RosterTree::new(&all).unwrap();
        assert_eq!(Some(*tree.digest()), roster_digest_of(&all));
        for pick in [
            vec![0usize],
            vec![1, 3],
            vec![0, 7],
            vec![2, 4, 5, 6],
            (0..8).collect(),
        ] {
            let reveal: Vec<ClientId> = pick.iter().map(|&i| ClientId(ids[i])).collect();
            let shown: Vec<AdvertiseKeys> = pick.iter().map(|&i| all[i].clone()).collect();
            let proof = tree.prove(&reveal);
            let v = verify(&proof, &shown).unwrap();
            assert_eq!(&v.digest, tree.digest());
            assert_eq!(v.count, ids.len());
            assert_eq!(v.ranks, pick);
        }
    }

    #[test]
    fn the_digest_depends_on_every_entry_and_the_order_does_not() {
        let all = roster(&[3, 9, 12]);
        let d = roster_digest_of(&all).unwrap();
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(roster_digest_of(&reversed), Some(d));
        let mut changed = all.clone();
        changed[1].self_mask_commitment[0] ^= 1;
        assert_ne!(roster_digest_of(&changed), Some(d));
        assert_ne!(roster_digest_of(&all[..2]), Some(d));
        let mut moved = all.clone();
        moved[2].sender = ClientId(13);
        assert_ne!(roster_digest_of(&moved), Some(d));
        let mut twice = all.clone();
        twice[2].sender = ClientId(9);
        assert_eq!(roster_digest_of(&twice), None);
        assert!(RosterTree::new(&reversed).is_none());
    }

    #[test]
    fn a_proof_refuses_other_entries_and_mangled_bytes() {
        let ids: Vec<u32> = (10..40).collect();
        let all = roster(&ids);
        let tree = RosterTree::new(&all).unwrap();
        let proof = tree.prove(&[ClientId(12), ClientId(30)]);
        let shown = vec![all[2].clone(), all[20].clone()];
        let good = verify(&proof, &shown).unwrap();
        // Another entry in a revealed place gives another digest (or a misplacement).
        let mut other = shown.clone();
        other[0].mask_public_key.0[0] ^= 1;
        assert_ne!(verify(&proof, &other).map(|v| v.digest), Ok(good.digest));
        let mut elsewhere = shown.clone();
        elsewhere[0] = entry(100);
        assert_eq!(verify(&proof, &elsewhere), Err(ProofError::Misplaced));
        assert_eq!(verify(&proof, &shown[..1]), Err(ProofError::Misplaced));
        // Every truncation and every extension fails; no flipped byte panics.
        for cut in 0..proof.len() {
            assert!(verify(&proof[..cut], &shown).is_err());
        }
        let mut longer = proof.clone();
        longer.push(0);
        assert_eq!(verify(&longer, &shown), Err(ProofError::Truncated));
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] ^= 0x5a;
            assert_ne!(verify(&bad, &shown), Ok(good.clone()));
        }
    }

    #[test]
    fn proofs_stay_within_their_bound() {
        let ids: Vec<u32> = (0..500).map(|i| i * 7_919_993).collect();
        let all = roster(&ids);
        let tree = RosterTree::new(&all).unwrap();
        let reveal: Vec<ClientId> = ids.iter().step_by(50).map(|&i| ClientId(i)).collect();
        assert!(tree.prove(&reveal).len() <= max_proof_len(reveal.len()));
        let everything: Vec<ClientId> = ids.iter().map(|&i| ClientId(i)).collect();
        let proof = tree.prove(&everything);
        assert!(proof.len() <= max_proof_len(everything.len()));
        assert_eq!(verify(&proof, &all).unwrap().digest, *tree.digest());
    }
}
