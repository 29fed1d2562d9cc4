//! The roster commitment: a counted sparse Merkle tree over the 2^32 client ids
//! (`docs/PROTOCOL.md` §6), and the same tree over the roster members' survivor statuses
//! (the survivor tree of ConsistencyCheck, §7).
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
//!
//! The survivor tree ([`SurvivorTree`]) has one leaf per roster member `v`,
//! `H("secagg/v3/survivor-leaf" ‖ v:4 ‖ status:1)` with status 1 if `v ∈ U_3` and 0
//! otherwise, its nodes are `H("secagg/v3/survivor-node" ‖ …)` as above, and its digest, the
//! **survivor digest** that ConsistencyCheck signs, is
//! `H("secagg/v3/survivor-digest" ‖ n':4 ‖ root)`. Proofs have one format for both trees.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::ids::ClientId;
use crate::wire::AdvertiseKeys;

/// Height of the tree: one leaf position per `u32` id.
pub const HEIGHT: u8 = 32;

/// The domain labels of one kind of tree: its leaves, nodes and digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Labels {
    leaf: &'static [u8],
    node: &'static [u8],
    digest: &'static [u8],
}

/// The roster tree's labels (§6.1).
const ROSTER: Labels = Labels {
    leaf: b"secagg/v3/roster-leaf",
    node: b"secagg/v3/roster-node",
    digest: b"secagg/v3/roster-digest",
};

/// The survivor tree's labels (§7, ConsistencyCheck).
const SURVIVORS: Labels = Labels {
    leaf: b"secagg/v3/survivor-leaf",
    node: b"secagg/v3/survivor-node",
    digest: b"secagg/v3/survivor-digest",
};

/// Proof node tags (pre-order).
const TAG_EMPTY: u8 = 0;
const TAG_OPAQUE: u8 = 1;
const TAG_BRANCH: u8 = 2;
const TAG_LEAF: u8 = 3;

pub use crate::wire::max_roster_proof_len as max_proof_len;

/// A node or leaf hash.
type Hash = [u8; 32];

const EMPTY: Hash = [0; 32];

/// The leaf hash of one roster entry.
fn roster_leaf(e: &AdvertiseKeys) -> Hash {
    let mut h = Sha256::new();
    h.update(ROSTER.leaf);
    h.update(e.sender.to_be_bytes());
    h.update(e.share_public_key.0);
    h.update(e.mask_public_key.0);
    h.update(e.self_mask_commitment);
    h.finalize().into()
}

/// The leaf hash of roster member `v` in the survivor tree: its status is 1 if `v ∈ U_3`.
fn survivor_leaf(v: ClientId, survived: bool) -> Hash {
    let mut h = Sha256::new();
    h.update(SURVIVORS.leaf);
    h.update(v.to_be_bytes());
    h.update([u8::from(survived)]);
    h.finalize().into()
}

/// The survivor-tree leaves of `members`, each member's status 1 if it is in `survivors`.
fn survivor_leaves(members: &[ClientId], survivors: &BTreeSet<ClientId>) -> Vec<Hash> {
    members
        .iter()
        .map(|&v| survivor_leaf(v, survivors.contains(&v)))
        .collect()
}

/// The hash of a node at `height` whose children hold `(lh, lc)` and `(rh, rc)`, with
/// `lc + rc >= 2`.
fn node_hash(labels: &Labels, height: u8, (lh, lc): (&Hash, u32), (rh, rc): (&Hash, u32)) -> Hash {
    let mut h = Sha256::new();
    h.update(labels.node);
    h.update([height]);
    h.update(lh);
    h.update(lc.to_be_bytes());
    h.update(rh);
    h.update(rc.to_be_bytes());
    h.finalize().into()
}

/// The digest that names a tree: its size and root.
fn digest(labels: &Labels, count: u32, root: &Hash) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(labels.digest);
    h.update(count.to_be_bytes());
    h.update(root);
    h.finalize().into()
}

/// The ids and leaf hashes of roster entries in id order.
fn roster_leaves<'a>(
    entries: impl Iterator<Item = &'a AdvertiseKeys>,
) -> (Vec<ClientId>, Vec<Hash>) {
    entries.map(|e| (e.sender, roster_leaf(e))).unzip()
}

/// Index of the first id at or after `start` in `ids` (ascending).
fn lower(ids: &[ClientId], start: u64) -> usize {
    ids.partition_point(|&u| u64::from(u.0) < start)
}

/// Whether `ids` is strictly ascending.
fn strictly_ascending(ids: &[ClientId]) -> bool {
    ids.windows(2).all(|w| match w {
        [a, b] => a < b,
        _ => true,
    })
}

/// A whole tree, as the server keeps it: the leaves' ids and hashes, and the hash of every
/// subtree holding two or more leaves, per height.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tree {
    labels: Labels,
    ids: Vec<ClientId>,
    leaves: Vec<Hash>,
    /// `nodes[h - 1]`: `(position at height h, hash)` of the subtrees at height `h` with two or
    /// more entries, ascending by position.
    nodes: Vec<Vec<(u32, Hash)>>,
    digest: [u8; 32],
}

impl Tree {
    /// The tree of the leaves `ids` (strictly ascending) with hashes `leaves`; `None`
    /// otherwise, or beyond `u32::MAX` leaves.
    fn new(labels: Labels, ids: Vec<ClientId>, leaves: Vec<Hash>) -> Option<Self> {
        if !strictly_ascending(&ids) || ids.len() != leaves.len() {
            return None;
        }
        let count = u32::try_from(ids.len()).ok()?;
        let mut nodes = alloc::vec![Vec::new(); usize::from(HEIGHT)];
        let root = build(
            &labels,
            &ids,
            &leaves,
            (HEIGHT, 0),
            0,
            ids.len(),
            &mut Some(&mut nodes),
        );
        Some(Self {
            digest: digest(&labels, count, &root),
            labels,
            ids,
            leaves,
            nodes,
        })
    }

    fn prove(&self, reveal: &[ClientId]) -> Vec<u8> {
        let mut out = Vec::new();
        self.prove_at(reveal, (HEIGHT, 0), 0, self.ids.len(), &mut out);
        out
    }

    /// The proof of the subtree at `(height, start)`, whose entries are `ids[lo..hi]` and in
    /// which `reveal` are the ids to open: each level splits the ranges of its parent, so a
    /// proof costs one search per node on its path, within the parent's entries.
    fn prove_at(
        &self,
        reveal: &[ClientId],
        (height, start): (u8, u64),
        lo: usize,
        hi: usize,
        out: &mut Vec<u8>,
    ) {
        let count = hi.saturating_sub(lo);
        if count == 0 {
            out.push(TAG_EMPTY);
        } else if reveal.is_empty() {
            out.push(TAG_OPAQUE);
            out.extend_from_slice(&self.subtree_hash(height, start, lo, count));
            out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
        } else if count == 1 || height == 0 {
            out.push(TAG_LEAF);
        } else {
            out.push(TAG_BRANCH);
            let half = 1u64 << (height - 1);
            let mid = lo + lower(self.ids.get(lo..hi).unwrap_or_default(), start + half);
            let (left, right) = reveal.split_at(lower(reveal, start + half));
            self.prove_at(left, (height - 1, start), lo, mid, out);
            self.prove_at(right, (height - 1, start + half), mid, hi, out);
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

/// The whole roster tree, as the server keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterTree(Tree);

impl RosterTree {
    /// The tree of `entries`, which must be in strictly ascending id order (as a roster is;
    /// the server builds it from a map). `None` otherwise, or beyond `u32::MAX` entries.
    #[must_use]
    pub fn new(entries: &[AdvertiseKeys]) -> Option<Self> {
        let (ids, leaves) = roster_leaves(entries.iter());
        Tree::new(ROSTER, ids, leaves).map(Self)
    }

    /// The roster digest.
    #[must_use]
    pub fn digest(&self) -> &[u8; 32] {
        &self.0.digest
    }

    /// The number of entries, `n'`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.ids.len()
    }

    /// Whether the roster is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.ids.is_empty()
    }

    /// The pruned tree that reveals the entries of `reveal` (ascending ids, each in the
    /// roster) and nothing else: its leaves, in id order, are the entries a client receives
    /// alongside the proof.
    #[must_use]
    pub fn prove(&self, reveal: &[ClientId]) -> Vec<u8> {
        self.0.prove(reveal)
    }
}

/// The survivor tree of ConsistencyCheck: one leaf per roster member, its status 1 if it
/// is in `U_3`, else 0 (`docs/PROTOCOL.md` §7). Its digest is what survivors sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurvivorTree(Tree);

impl SurvivorTree {
    /// The tree over the roster `members` (strictly ascending), a member's status 1 if it is
    /// in `survivors`. `None` if `members` is not strictly ascending or has more than
    /// `u32::MAX` ids. Survivors that are not members have no leaf.
    #[must_use]
    pub fn new(members: &[ClientId], survivors: &BTreeSet<ClientId>) -> Option<Self> {
        Tree::new(
            SURVIVORS,
            members.to_vec(),
            survivor_leaves(members, survivors),
        )
        .map(Self)
    }

    /// The survivor digest.
    #[must_use]
    pub fn digest(&self) -> &[u8; 32] {
        &self.0.digest
    }

    /// The number of leaves, `n'`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.ids.len()
    }

    /// Whether the tree is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.ids.is_empty()
    }

    /// The pruned tree that reveals the statuses of `reveal` (ascending ids, each a member):
    /// a client's slice of the survivor tree (its own status and its neighbours').
    #[must_use]
    pub fn prove(&self, reveal: &[ClientId]) -> Vec<u8> {
        self.0.prove(reveal)
    }
}

/// The hash of the subtree at `(height, start)` over `ids[lo..hi]` (which all lie in it),
/// recording every node of two or more entries in `nodes` if given.
fn build(
    labels: &Labels,
    ids: &[ClientId],
    leaves: &[Hash],
    (height, start): (u8, u64),
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
            let below = height - 1;
            let l = build(labels, ids, leaves, (below, start), lo, mid, nodes);
            let r = build(labels, ids, leaves, (below, start + half), mid, hi, nodes);
            let (lc, rc) = (mid - lo, hi - mid);
            let lc = u32::try_from(lc).unwrap_or(u32::MAX);
            let rc = u32::try_from(rc).unwrap_or(u32::MAX);
            let hash = node_hash(labels, height, (&l, lc), (&r, rc));
            if let Some(nodes) = nodes.as_deref_mut()
                && let Some(level) = nodes.get_mut(usize::from(height) - 1)
            {
                level.push((u32::try_from(start >> height).unwrap_or(0), hash));
            }
            hash
        }
    }
}

/// The digest of the tree over `ids` (strictly ascending) with hashes `leaves`, without
/// keeping its nodes.
fn digest_of(labels: &Labels, ids: &[ClientId], leaves: &[Hash]) -> Option<[u8; 32]> {
    let count = u32::try_from(ids.len()).ok()?;
    let root = build(labels, ids, leaves, (HEIGHT, 0), 0, ids.len(), &mut None);
    Some(digest(labels, count, &root))
}

/// The roster digest of `entries` (any order; ids distinct), as client and server compute
/// it from a whole roster. Repeated ids give `None`.
#[must_use]
pub fn roster_digest_of(entries: &[AdvertiseKeys]) -> Option<[u8; 32]> {
    let mut sorted: Vec<&AdvertiseKeys> = entries.iter().collect();
    if !sorted.is_sorted_by_key(|e| e.sender) {
        sorted.sort_by_key(|e| e.sender);
    }
    let (ids, leaves) = roster_leaves(sorted.iter().copied());
    if !strictly_ascending(&ids) {
        return None;
    }
    digest_of(&ROSTER, &ids, &leaves)
}

/// The survivor digest over the roster `members` (strictly ascending), a member's status 1
/// if it is in `survivors`: what a survivor signs in ConsistencyCheck. `None` if `members`
/// is not strictly ascending.
#[must_use]
pub fn survivor_digest_of(
    members: &[ClientId],
    survivors: &BTreeSet<ClientId>,
) -> Option<[u8; 32]> {
    if !strictly_ascending(members) {
        return None;
    }
    digest_of(&SURVIVORS, members, &survivor_leaves(members, survivors))
}

/// What a proof shows: the tree's digest and size, and the rank of each revealed leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The tree's digest (the roster digest, or the survivor digest).
    pub digest: [u8; 32],
    /// The number of leaves, `n'`.
    pub count: usize,
    /// The rank of each revealed leaf (how many leaves have a smaller id), in the order of
    /// the leaves given to [`verify`].
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
    labels: &'a Labels,
    proof: &'a [u8],
    at: usize,
    leaves: &'a [(ClientId, Hash)],
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
                let &(id, leaf) = self.leaves.get(self.next).ok_or(ProofError::Misplaced)?;
                let id = u64::from(id.0);
                // SECURITY: an entry sits only at its own id's position, so no id appears
                // twice in a tree and every rank is that of the id.
                if id < start || id >= start + (1u64 << height) {
                    return Err(ProofError::Misplaced);
                }
                self.next += 1;
                self.ranks
                    .push(usize::try_from(self.before).map_err(|_| ProofError::Misplaced)?);
                self.before += 1;
                Ok((leaf, 1))
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
                    node_hash(self.labels, height, (&lh, to32(lc)?), (&rh, to32(rc)?)),
                    lc + rc,
                ))
            }
            other => Err(ProofError::UnknownTag(other)),
        }
    }
}

/// Verifies a pruned tree of `labels` whose revealed leaves, in id order, are `leaves`.
fn verify_leaves(
    labels: &Labels,
    proof: &[u8],
    leaves: &[(ClientId, Hash)],
) -> Result<Verified, ProofError> {
    let mut walk = Walk {
        labels,
        proof,
        at: 0,
        leaves,
        next: 0,
        before: 0,
        ranks: Vec::with_capacity(leaves.len()),
    };
    let (root, count) = walk.node(HEIGHT, 0)?;
    if walk.at != proof.len() {
        return Err(ProofError::Truncated);
    }
    if walk.next != leaves.len() {
        return Err(ProofError::Misplaced);
    }
    let count32 = u32::try_from(count).map_err(|_| ProofError::NotCanonical)?;
    Ok(Verified {
        digest: digest(labels, count32, &root),
        count: usize::try_from(count).map_err(|_| ProofError::NotCanonical)?,
        ranks: walk.ranks,
    })
}

/// Verifies a pruned roster tree whose leaves, in id order, are `entries`: returns the
/// digest of the roster it opens, its size and each entry's rank. Recursion is at most
/// [`HEIGHT`]` + 1` deep; the work is linear in the proof's length.
///
/// # Errors
/// [`ProofError`] for bytes that are not the canonical pruned tree of some roster holding
/// exactly `entries` at their ids.
pub fn verify(proof: &[u8], entries: &[AdvertiseKeys]) -> Result<Verified, ProofError> {
    let leaves: Vec<(ClientId, Hash)> =
        entries.iter().map(|e| (e.sender, roster_leaf(e))).collect();
    verify_leaves(&ROSTER, proof, &leaves)
}

/// Verifies a pruned survivor tree whose leaves, in id order, are the members `statuses`
/// (each with its status: `true` for a survivor): returns the survivor digest, `n'` and
/// each member's rank. As [`verify`] in cost.
///
/// # Errors
/// [`ProofError`] for bytes that are not the canonical pruned survivor tree of some roster
/// holding exactly these statuses at these ids.
pub fn verify_survivors(
    proof: &[u8],
    statuses: &[(ClientId, bool)],
) -> Result<Verified, ProofError> {
    let leaves: Vec<(ClientId, Hash)> = statuses
        .iter()
        .map(|&(v, survived)| (v, survivor_leaf(v, survived)))
        .collect();
    verify_leaves(&SURVIVORS, proof, &leaves)
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

    /// The generalised tree keeps the roster tree's bytes: the digest of the worked example
    /// of `docs/PROTOCOL.md` §6.2 (16 entries, also pinned in `tests/secagg_plus.rs`), as
    /// computed before the survivor tree shared its code.
    #[test]
    fn the_roster_digest_is_unchanged() {
        let entries: Vec<AdvertiseKeys> = (1u8..=16)
            .map(|i| AdvertiseKeys {
                session: SessionId([0x5c; 32]),
                sender: ClientId(u32::from(i)),
                share_public_key: PublicKey([i; 32]),
                mask_public_key: PublicKey([i + 100; 32]),
                self_mask_commitment: [i + 200; 32],
                signature: None,
            })
            .collect();
        let hex: String = RosterTree::new(&entries)
            .unwrap()
            .digest()
            .iter()
            .map(|b| alloc::format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "a7634df5152ab409358e2df815164452767ffd4d703c4d090312431aca862ec7"
        );
    }

    fn statuses(members: &[u32], survivors: &BTreeSet<ClientId>) -> Vec<(ClientId, bool)> {
        members
            .iter()
            .map(|&v| (ClientId(v), survivors.contains(&ClientId(v))))
            .collect()
    }

    #[test]
    fn survivor_proofs_verify_to_the_survivor_digest() {
        let members: Vec<u32> = (0..300).map(|i| i * 3 + 1).collect();
        let ids: Vec<ClientId> = members.iter().map(|&v| ClientId(v)).collect();
        let survivors: BTreeSet<ClientId> = ids.iter().copied().filter(|v| v.0 % 7 != 0).collect();
        let tree = SurvivorTree::new(&ids, &survivors).unwrap();
        assert_eq!(tree.len(), 300);
        assert_eq!(survivor_digest_of(&ids, &survivors), Some(*tree.digest()));
        // The survivor tree is domain-separated from a roster tree over the same ids.
        let shown: Vec<u32> = vec![1, 22, 49, 400, 898];
        let reveal: Vec<ClientId> = shown.iter().map(|&v| ClientId(v)).collect();
        let proof = tree.prove(&reveal);
        assert!(proof.len() <= max_proof_len(reveal.len()));
        let opened = statuses(&shown, &survivors);
        let v = verify_survivors(&proof, &opened).unwrap();
        assert_eq!(&v.digest, tree.digest());
        assert_eq!(v.count, 300);
        assert_eq!(v.ranks, vec![0, 7, 16, 133, 299]);
        // One status flipped: another digest (two honest clients shown different statuses
        // for one member hold different digests).
        let mut flipped = opened.clone();
        flipped[2].1 = !flipped[2].1;
        assert_ne!(verify_survivors(&proof, &flipped).unwrap().digest, v.digest);
        let mut fewer = survivors.clone();
        fewer.remove(&ClientId(22));
        assert_ne!(survivor_digest_of(&ids, &fewer), Some(v.digest));
        // A member left out, or one more: refused.
        assert_eq!(
            verify_survivors(&proof, &opened[1..]),
            Err(ProofError::Misplaced)
        );
        let mut more = opened.clone();
        more.insert(1, (ClientId(4), true));
        assert!(verify_survivors(&proof, &more).is_err());
        // Not a roster proof, and unsorted members make no tree.
        assert!(SurvivorTree::new(&[ClientId(2), ClientId(1)], &survivors).is_none());
        assert_eq!(
            survivor_digest_of(&[ClientId(2), ClientId(2)], &survivors),
            None
        );
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
