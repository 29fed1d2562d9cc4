//! Neighbourhood graphs: the complete graph of SecAgg (Bonawitz et al., CCS 2017) and the
//! random Harary graph of SecAgg+ (Bell et al., CCS 2020).
//!
//! A client shares its secrets with, and masks pairwise against, its neighbours only. The
//! Harary graph `H(k, n)` puts the `n` roster members on a ring and joins each to the
//! `floor(k / 2)` nearest on either side (and, for odd `k`, to the one opposite, which needs
//! `n` even). Which client sits at which ring position is a permutation of the roster's
//! *ranks* (a member's rank is the number of members with a smaller id) that no single party
//! controls: its seed is derived from the roster digest, the root of the roster tree
//! ([`crate::protocol::roster_tree`]), and the session id
//! ([`LABEL_GRAPH`](crate::crypto::kdf::LABEL_GRAPH)).
//!
//! Two permutations, by roster size (`docs/PROTOCOL.md` §6): up to [`FISHER_YATES_MAX`]
//! members, or when the neighbourhood is a large part of the roster, a Fisher–Yates shuffle of
//! the ranks (exactly uniform; `O(n)` for one client); above it, the swap-or-not shuffle of
//! Hoang, Morris and Rogaway (CRYPTO 2012), which gives one member's ring position, and the
//! member at a ring position, in `O(rounds)`, so a client finds its `k` neighbours' ranks in
//! `O(k · rounds)` without touching the rest of the roster.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::crypto::kdf;
use crate::ids::{ClientId, SessionId};

pub use crate::vocabulary::Neighbourhood;

pub use crate::protocol::derive::roster_digest;

/// The largest roster whose ring is a Fisher–Yates shuffle of every rank; larger rosters
/// use the swap-or-not shuffle (unless `64 (k + 1) > n'`).
pub const FISHER_YATES_MAX: usize = 1 << 16;

/// The neighbours of every member of a roster, computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graph {
    /// Roster members in ring order (the permutation applied).
    ring: Vec<ClientId>,
    /// `(id, ring position)`, by id, for lookups in `O(log n)`.
    positions: Vec<(ClientId, usize)>,
    kind: Neighbourhood,
}

impl Graph {
    /// The graph of `kind` over `members` (any order; duplicates are the caller's to
    /// reject), with the ring permutation seeded by `digest` and the session.
    ///
    /// For the complete graph, or a degree at least `members - 1`, every member neighbours
    /// every other.
    #[must_use]
    pub fn new(
        kind: Neighbourhood,
        session: &SessionId,
        digest: &[u8; 32],
        members: &[ClientId],
    ) -> Self {
        let (ring, kind) = ring(kind, session, digest, members);
        let mut positions: Vec<(ClientId, usize)> =
            ring.iter().enumerate().map(|(p, &c)| (c, p)).collect();
        positions.sort_unstable();
        Self {
            ring,
            positions,
            kind,
        }
    }

    /// The neighbours of `u` alone in the graph [`Graph::new`] would build, from the ranks
    /// [`neighbour_ranks`] gives (what one client needs: `O(k · rounds)` on a large roster).
    #[must_use]
    pub fn neighbours_of(
        kind: Neighbourhood,
        session: &SessionId,
        digest: &[u8; 32],
        members: &[ClientId],
        u: ClientId,
    ) -> BTreeSet<ClientId> {
        let mut sorted = members.to_vec();
        sorted.sort_unstable();
        let Ok(rank) = sorted.binary_search(&u) else {
            return BTreeSet::new();
        };
        match neighbour_ranks(kind, session, digest, sorted.len(), rank) {
            Some(ranks) => ranks
                .iter()
                .filter_map(|&r| sorted.get(r).copied())
                .collect(),
            None => sorted.iter().copied().filter(|&c| c != u).collect(),
        }
    }
}

/// The kind actually used on `n` members: an odd degree on an odd roster is rounded up, and
/// a degree with `k + 1 >= n` (or whose rounding overflows) gives the complete graph.
fn effective(kind: Neighbourhood, n: usize) -> Neighbourhood {
    // No k-regular graph has an odd number of members of odd degree: round k up.
    // Checked: `Graph` is public, so `k` may be anything up to `usize::MAX`. A degree whose
    // rounding overflows is far above `n - 1` and gives the complete graph, as documented.
    let kind = match kind {
        Neighbourhood::Harary { k } if k % 2 == 1 && n % 2 == 1 => match k.checked_add(1) {
            Some(k) => Neighbourhood::Harary { k },
            None => Neighbourhood::Complete,
        },
        other => other,
    };
    // SECURITY: `k + 1 < n` without overflow: with `k = usize::MAX` a wrapping `k + 1` would
    // be 0 and leave every member without neighbours.
    match kind {
        Neighbourhood::Harary { k } if k.checked_add(1).is_some_and(|h| h < n) => kind,
        _ => Neighbourhood::Complete,
    }
}

/// The ring permutation of a Harary graph over `n` ranks.
enum Shuffle {
    /// `ring[p]` is the rank at ring position `p`.
    FisherYates(Vec<usize>),
    /// Computed per element.
    SwapOrNot(Box<SwapOrNot>),
}

impl Shuffle {
    fn new(session: &SessionId, digest: &[u8; 32], n: usize, k: usize) -> Self {
        let seed = kdf::derive(kdf::LABEL_GRAPH, session, ClientId(0), ClientId(0), digest);
        let mut rng = ChaCha20Rng::from_seed(*seed.bytes());
        let fits = k
            .checked_add(1)
            .and_then(|q| q.checked_mul(64))
            .is_some_and(|q| q <= n);
        if n <= FISHER_YATES_MAX || !fits {
            let mut ring: Vec<usize> = (0..n).collect();
            // Fisher-Yates, with unbiased indices.
            for i in (1..n).rev() {
                let j = uniform_below(&mut rng, i + 1);
                ring.swap(i, j);
            }
            Self::FisherYates(ring)
        } else {
            Self::SwapOrNot(Box::new(SwapOrNot::new(&mut rng, n)))
        }
    }

    /// The ring position of rank `r`.
    fn position(&self, r: usize) -> Option<usize> {
        match self {
            Self::FisherYates(ring) => ring.iter().position(|&x| x == r),
            Self::SwapOrNot(s) => Some(s.forward(r)),
        }
    }

    /// The ranks at ring positions `ps` (those inside the ring).
    fn ranks_at(&self, mut ps: Vec<usize>) -> Vec<usize> {
        match self {
            Self::FisherYates(ring) => ps.iter().filter_map(|&p| ring.get(p).copied()).collect(),
            Self::SwapOrNot(s) => {
                ps.retain(|&p| p < s.n);
                s.apply(&mut ps, true);
                ps
            }
        }
    }
}

/// The swap-or-not shuffle (Hoang, Morris and Rogaway, CRYPTO 2012, Fig. 1) on `Z_n`: round
/// `i` pairs `x` with `K_i - x` and swaps the two when the round function says so. Every
/// round is an involution, so the inverse runs the rounds backwards.
struct SwapOrNot {
    n: usize,
    keys: Vec<usize>,
    round_function: Aes128,
}

impl SwapOrNot {
    /// Draws the round function's AES key (16 bytes), then the round keys `K_i` uniform in
    /// `Z_n`, from `rng`.
    fn new(rng: &mut ChaCha20Rng, n: usize) -> Self {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        let rounds = swap_or_not_rounds(n);
        let keys = (0..rounds).map(|_| uniform_below(rng, n)).collect();
        Self {
            n,
            keys,
            round_function: Aes128::new(&key.into()),
        }
    }

    /// Round `i`: `x` or its partner `K_i - x mod n`, by the low bit of
    /// `AES(BE32(i) ‖ BE64(max(x, partner)) ‖ 0^4)` (the same for both, so the round is an
    /// involution). Each element takes the rounds in order (backwards for the inverse); the
    /// elements of a batch go through one round together, so that AES encrypts their
    /// independent blocks side by side.
    fn apply(&self, xs: &mut [usize], inverse: bool) {
        /// Elements per task when a whole ring is computed on every core.
        #[cfg(feature = "parallel")]
        const TASK: usize = 1 << 14;
        #[cfg(feature = "parallel")]
        if xs.len() > TASK {
            use rayon::prelude::*;
            xs.par_chunks_mut(TASK)
                .for_each(|chunk| self.apply_serial(chunk, inverse));
            return;
        }
        self.apply_serial(xs, inverse);
    }

    /// [`SwapOrNot::apply`] on the calling thread.
    fn apply_serial(&self, xs: &mut [usize], inverse: bool) {
        /// Elements per batch: enough independent blocks to fill the AES pipeline.
        const BATCH: usize = 32;
        let order: Vec<usize> = if inverse {
            (0..self.keys.len()).rev().collect()
        } else {
            (0..self.keys.len()).collect()
        };
        let mut blocks = [aes::Block::default(); BATCH];
        let mut partners = [0usize; BATCH];
        for chunk in xs.chunks_mut(BATCH) {
            let len = chunk.len();
            for &i in &order {
                let Some(&key) = self.keys.get(i) else {
                    continue;
                };
                // `n` fits a `u32` (a roster has at most 2^32 members).
                let round = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
                for ((x, partner), block) in chunk.iter().zip(&mut partners).zip(&mut blocks) {
                    // `K_i - x mod n`, with `key < n` and `x < n`: no division (the hot
                    // loop of the server's whole ring).
                    *partner = if key >= *x {
                        key - *x
                    } else {
                        key + self.n - *x
                    };
                    let high = u64::try_from(*x.max(partner)).unwrap_or(u64::MAX);
                    block[..4].copy_from_slice(&round);
                    block[4..12].copy_from_slice(&high.to_be_bytes());
                    block[12..].fill(0);
                }
                if let Some(batch) = blocks.get_mut(..len) {
                    self.round_function.encrypt_blocks(batch);
                }
                for ((x, partner), block) in chunk.iter_mut().zip(&partners).zip(&blocks) {
                    if block[15] & 1 == 1 {
                        *x = *partner;
                    }
                }
            }
        }
    }

    fn forward(&self, x: usize) -> usize {
        let mut xs = [x];
        self.apply(&mut xs, false);
        xs[0]
    }

    #[cfg(test)]
    fn inverse(&self, y: usize) -> usize {
        let mut ys = [y];
        self.apply(&mut ys, true);
        ys[0]
    }
}

/// The number of swap-or-not rounds for `n` members, used only when `64 (k + 1) <= n`.
///
/// Hoang, Morris and Rogaway bound the CCA advantage of `r` rounds against `q` queries by
/// `4 n^{3/2} / (r + 4) · ((q + n) / 2n)^{r/4 + 1}`. One client asks for `q = k + 1` points
/// (its own position and its neighbours' ranks). With `64 q <= n`, `log2(2n / (q + n))` is
/// above `15/16`, so `e = r/4 + 1 >= (66 + 1.5 b) · 16/15`, with `b` the bit length of `n`,
/// puts the bound below `2^-64`. Integer arithmetic only: client and server must agree.
#[must_use]
pub fn swap_or_not_rounds(n: usize) -> usize {
    let b = (usize::BITS - n.leading_zeros()) as usize;
    let e = ((132 + 3 * b) * 8).div_ceil(15);
    4 * (e - 1)
}

/// The ranks of the neighbours of the member of rank `rank` among `n` members, ascending, or
/// `None` when the graph is complete (every other rank). The same ranks [`Graph::new`] puts
/// around `rank`.
#[must_use]
pub fn neighbour_ranks(
    kind: Neighbourhood,
    session: &SessionId,
    digest: &[u8; 32],
    n: usize,
    rank: usize,
) -> Option<Vec<usize>> {
    let Neighbourhood::Harary { k } = effective(kind, n) else {
        return None;
    };
    if rank >= n {
        return Some(Vec::new());
    }
    let shuffle = Shuffle::new(session, digest, n, k);
    let pos = shuffle.position(rank)?;
    let mut out = shuffle.ranks_at(around(n, k, pos));
    out.retain(|&r| r != rank);
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// The ring positions around `pos` on a ring of `n` for degree `k` (`k + 1 < n`).
fn around(n: usize, k: usize, pos: usize) -> Vec<usize> {
    // `k + 1 < n`, so `step < n` and, with `pos < n`, no sum below can overflow.
    let mut out = Vec::with_capacity(k);
    for step in 1..=k / 2 {
        out.push((pos + step) % n);
        out.push((pos + n - step) % n);
    }
    if k % 2 == 1 {
        out.push((pos + n / 2) % n);
    }
    out
}

/// The members in ring order and the kind actually used.
fn ring(
    kind: Neighbourhood,
    session: &SessionId,
    digest: &[u8; 32],
    members: &[ClientId],
) -> (Vec<ClientId>, Neighbourhood) {
    let mut sorted: Vec<ClientId> = members.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let kind = effective(kind, n);
    let Neighbourhood::Harary { k } = kind else {
        return (sorted, kind);
    };
    let ring = match Shuffle::new(session, digest, n, k) {
        Shuffle::FisherYates(ranks) => ranks
            .iter()
            .filter_map(|&r| sorted.get(r).copied())
            .collect(),
        shuffle @ Shuffle::SwapOrNot(_) => shuffle
            .ranks_at((0..n).collect())
            .into_iter()
            .filter_map(|r| sorted.get(r).copied())
            .collect(),
    };
    (ring, kind)
}

/// The members around `u`, at position `pos` of `ring`, ascending, not counting `u`.
fn members_around(
    ring: &[ClientId],
    kind: Neighbourhood,
    pos: usize,
    u: ClientId,
) -> BTreeSet<ClientId> {
    match kind {
        Neighbourhood::Complete => ring.iter().copied().filter(|&c| c != u).collect(),
        Neighbourhood::Harary { k } => around(ring.len(), k, pos)
            .into_iter()
            .filter_map(|p| ring.get(p).copied())
            .filter(|&c| c != u)
            .collect(),
    }
}

impl Graph {
    /// The kind actually used (a Harary graph as dense as the complete one becomes complete).
    #[must_use]
    pub fn kind(&self) -> Neighbourhood {
        self.kind
    }

    /// The number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the graph has no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// An upper bound on any member's number of neighbours: `n - 1` on the complete graph,
    /// `k + 1` on a Harary graph (odd `k` with odd `n` gives one member `k + 1`).
    #[must_use]
    pub fn max_degree(&self) -> usize {
        let others = self.ring.len().saturating_sub(1);
        match self.kind {
            Neighbourhood::Complete => others,
            Neighbourhood::Harary { k } => k.saturating_add(1).min(others),
        }
    }

    /// The neighbours of `u`, ascending, not counting `u`; empty if `u` is not a member.
    #[must_use]
    pub fn neighbours(&self, u: ClientId) -> BTreeSet<ClientId> {
        let Ok(at) = self.positions.binary_search_by_key(&u, |&(c, _)| c) else {
            return BTreeSet::new();
        };
        let Some(&(_, pos)) = self.positions.get(at) else {
            return BTreeSet::new();
        };
        members_around(&self.ring, self.kind, pos, u)
    }

    /// `u` and its neighbours, ascending: the clients whose shares `u` holds (and who hold
    /// `u`'s). Empty if `u` is not a member.
    #[must_use]
    pub fn view(&self, u: ClientId) -> BTreeSet<ClientId> {
        let mut view = self.neighbours(u);
        if self.positions.binary_search_by_key(&u, |&(c, _)| c).is_ok() {
            view.insert(u);
        }
        view
    }

    /// The number of connected components of the subgraph induced by `set` (its members
    /// that are members of the graph, joined by the graph's edges among them): 0 for an
    /// empty set, 1 for a connected one. `O(|set| k log |set|)`.
    ///
    /// The server learns the sum of each component's inputs separately (the pairwise masks
    /// of an edge between two survivors cancel only in a sum holding both), so it asks for
    /// shares only when the survivors form one component.
    #[must_use]
    pub fn components(&self, set: &BTreeSet<ClientId>) -> usize {
        let mut unseen: BTreeSet<ClientId> = set
            .iter()
            .copied()
            .filter(|u| self.positions.binary_search_by_key(u, |&(c, _)| c).is_ok())
            .collect();
        if self.kind == Neighbourhood::Complete {
            return usize::from(!unseen.is_empty());
        }
        let mut components = 0;
        while let Some(start) = unseen.pop_first() {
            components += 1;
            let mut frontier = alloc::vec![start];
            while let Some(u) = frontier.pop() {
                for v in self.neighbours(u) {
                    if unseen.remove(&v) {
                        frontier.push(v);
                    }
                }
            }
        }
        components
    }

    /// Whether `u` and `v` are neighbours.
    #[must_use]
    pub fn are_neighbours(&self, u: ClientId, v: ClientId) -> bool {
        u != v && self.neighbours(u).contains(&v)
    }
}

/// A uniform index below `bound` (`bound >= 1`) by rejection on 64-bit words.
fn uniform_below(rng: &mut ChaCha20Rng, bound: usize) -> usize {
    let bound = bound as u64;
    // The largest multiple of `bound` that fits, so every residue is equally likely.
    let zone = u64::MAX - (u64::MAX % bound + 1) % bound;
    loop {
        let x = rng.next_u64();
        if x <= zone {
            // The remainder is below `bound`, which came from a usize.
            return usize::try_from(x % bound).unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<ClientId> {
        (1..=n).map(ClientId).collect()
    }

    #[test]
    fn one_clients_neighbours_match_the_whole_graph() {
        let sid = SessionId([2; 32]);
        for (n, kind) in [
            (30u32, Neighbourhood::Harary { k: 6 }),
            (31, Neighbourhood::Harary { k: 5 }),
            (8, Neighbourhood::Harary { k: 8 }),
            (9, Neighbourhood::Complete),
        ] {
            let members = ids(n);
            let g = Graph::new(kind, &sid, &[4; 32], &members);
            for u in ids(n + 1) {
                let alone = Graph::neighbours_of(kind, &sid, &[4; 32], &members, u);
                assert_eq!(alone, g.neighbours(u), "n={n} {kind:?} u={u:?}");
            }
        }
    }

    #[test]
    fn harary_is_regular_and_symmetric() {
        let sid = SessionId([1; 32]);
        for (n, k) in [
            (10u32, 4usize),
            (11, 4),
            (12, 5),
            (100, 8),
            (101, 2),
            (101, 3),
        ] {
            let g = Graph::new(Neighbourhood::Harary { k }, &sid, &[9; 32], &ids(n));
            // Odd n and odd k round k up.
            let k = if n % 2 == 1 && k % 2 == 1 { k + 1 } else { k };
            assert_eq!(g.kind(), Neighbourhood::Harary { k });
            for u in ids(n) {
                let nu = g.neighbours(u);
                assert_eq!(nu.len(), k, "n={n} k={k} u={u:?}");
                for v in &nu {
                    assert!(g.neighbours(*v).contains(&u));
                }
            }
        }
    }

    #[test]
    fn permutation_depends_on_digest_and_session() {
        let a = Graph::new(
            Neighbourhood::Harary { k: 4 },
            &SessionId([1; 32]),
            &[9; 32],
            &ids(50),
        );
        let b = Graph::new(
            Neighbourhood::Harary { k: 4 },
            &SessionId([1; 32]),
            &[8; 32],
            &ids(50),
        );
        let c = Graph::new(
            Neighbourhood::Harary { k: 4 },
            &SessionId([2; 32]),
            &[9; 32],
            &ids(50),
        );
        let again = Graph::new(
            Neighbourhood::Harary { k: 4 },
            &SessionId([1; 32]),
            &[9; 32],
            &ids(50),
        );
        assert_eq!(a, again);
        assert_ne!(a.ring, b.ring);
        assert_ne!(a.ring, c.ring);
    }

    #[test]
    fn dense_harary_becomes_complete() {
        let g = Graph::new(
            Neighbourhood::Harary { k: 9 },
            &SessionId([1; 32]),
            &[0; 32],
            &ids(10),
        );
        assert_eq!(g.kind(), Neighbourhood::Complete);
        assert_eq!(g.neighbours(ClientId(3)).len(), 9);
        assert!(g.neighbours(ClientId(11)).is_empty());
    }

    /// `max_degree` bounds every member's degree, and is reached (a capacity hint that is
    /// never short, and not much more than needed).
    #[test]
    fn max_degree_bounds_every_member() {
        for (n, kind) in [
            (9, Neighbourhood::Harary { k: 3 }),
            (10, Neighbourhood::Harary { k: 3 }),
            (30, Neighbourhood::Harary { k: 4 }),
            (31, Neighbourhood::Harary { k: 7 }),
            (12, Neighbourhood::Complete),
        ] {
            let g = Graph::new(kind, &SessionId([3; 32]), &[1; 32], &ids(n));
            let degrees: Vec<usize> = ids(n).iter().map(|&u| g.neighbours(u).len()).collect();
            let max = degrees.iter().copied().max().unwrap_or(0);
            assert!(
                max <= g.max_degree(),
                "{n} {kind:?}: {max} > {}",
                g.max_degree()
            );
            assert!(g.max_degree() <= max + 1, "{n} {kind:?}: {max}");
        }
    }

    #[test]
    fn uniform_below_covers_range() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut seen = [0usize; 7];
        for _ in 0..7000 {
            seen[uniform_below(&mut rng, 7)] += 1;
        }
        // Binomial(7000, 1/7): mean 1000, sd 29; 8 sd never flakes.
        assert!(seen.iter().all(|c| (768..=1232).contains(c)), "{seen:?}");
    }
}

#[cfg(test)]
mod shuffle_tests {
    use super::*;

    #[test]
    fn swap_or_not_is_a_permutation_and_inverts() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for n in [2usize, 3, 10, 1000, 4097] {
            let s = SwapOrNot::new(&mut rng, n);
            let mut seen = alloc::vec![false; n];
            for x in 0..n {
                let y = s.forward(x);
                assert!(y < n);
                assert!(!seen[y], "n={n}: {y} twice");
                seen[y] = true;
                assert_eq!(s.inverse(y), x);
            }
        }
    }

    /// The definition, one element and one block at a time (HMR, Fig. 1): the batched
    /// `apply` must give exactly its output, within and across batch boundaries.
    fn one_at_a_time(s: &SwapOrNot, mut x: usize, inverse: bool) -> usize {
        let mut order: Vec<usize> = (0..s.keys.len()).collect();
        if inverse {
            order.reverse();
        }
        for i in order {
            let partner = (s.keys[i] + s.n - x) % s.n;
            let mut block = [0u8; 16];
            block[..4].copy_from_slice(&u32::try_from(i).unwrap().to_be_bytes());
            block[4..12].copy_from_slice(&u64::try_from(x.max(partner)).unwrap().to_be_bytes());
            let mut block = block.into();
            s.round_function.encrypt_block(&mut block);
            if block[15] & 1 == 1 {
                x = partner;
            }
        }
        x
    }

    #[test]
    fn batches_give_the_definition() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for n in [5usize, 1000, 70_001] {
            let s = SwapOrNot::new(&mut rng, n);
            // 100 elements: three whole batches and a partial one.
            let xs: Vec<usize> = (0..100).map(|_| uniform_below(&mut rng, n)).collect();
            for inverse in [false, true] {
                let mut batched = xs.clone();
                s.apply(&mut batched, inverse);
                let single: Vec<usize> =
                    xs.iter().map(|&x| one_at_a_time(&s, x, inverse)).collect();
                assert_eq!(batched, single, "n={n}, inverse={inverse}");
            }
        }
    }

    /// The whole ring on every core gives what one core gives (tasks of `2^14` elements).
    #[cfg(feature = "parallel")]
    #[test]
    fn parallel_tasks_give_the_serial_result() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let n = 70_001;
        let s = SwapOrNot::new(&mut rng, n);
        let xs: Vec<usize> = (0..(2 << 14) + 5).map(|i| (i * 7) % n).collect();
        let mut parallel = xs.clone();
        s.apply(&mut parallel, true);
        let mut serial = xs;
        s.apply_serial(&mut serial, true);
        assert_eq!(parallel, serial);
    }

    #[test]
    fn rounds_grow_with_the_roster() {
        assert_eq!(swap_or_not_rounds(1_000_000), 408);
        assert_eq!(swap_or_not_rounds(1 << 24), 440);
        assert!(swap_or_not_rounds(FISHER_YATES_MAX + 1) < swap_or_not_rounds(1 << 24));
    }

    #[test]
    fn one_clients_ranks_match_the_whole_graph_above_fisher_yates() {
        let n = u32::try_from(FISHER_YATES_MAX).unwrap() + 7;
        let members: Vec<ClientId> = (0..n).map(|i| ClientId(3 * i + 1)).collect();
        let sid = SessionId([5; 32]);
        let kind = Neighbourhood::Harary { k: 12 };
        let g = Graph::new(kind, &sid, &[8; 32], &members);
        assert_eq!(g.kind(), kind);
        for rank in [0usize, 1, 77, n as usize - 1] {
            let ranks = neighbour_ranks(kind, &sid, &[8; 32], n as usize, rank).unwrap();
            let ids: BTreeSet<ClientId> = ranks.iter().map(|&r| members[r]).collect();
            assert_eq!(ids, g.neighbours(members[rank]), "rank {rank}");
            assert_eq!(ids.len(), 12);
        }
        // A dense degree on the same roster falls back to Fisher-Yates, also consistent.
        let dense = Neighbourhood::Harary { k: 1100 };
        let ranks = neighbour_ranks(dense, &sid, &[8; 32], n as usize, 5).unwrap();
        assert_eq!(ranks.len(), 1100);
    }
}
