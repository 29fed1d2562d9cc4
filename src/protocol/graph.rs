//! Neighbourhood graphs: the complete graph of SecAgg (Bonawitz et al., CCS 2017) and the
//! random Harary graph of SecAgg+ (Bell et al., CCS 2020).
//!
//! A client shares its secrets with, and masks pairwise against, its neighbours only. The
//! Harary graph `H(k, n)` puts the `n` roster members on a ring and joins each to the
//! `floor(k / 2)` nearest on either side (and, for odd `k`, to the one opposite, which needs
//! `n` even). Which client sits at which ring position is a permutation that no single party
//! controls: its seed is derived from the hash of the whole AdvertiseKeys roster and the
//! session id ([`roster_digest`], [`LABEL_GRAPH`](crate::crypto::kdf::LABEL_GRAPH)), so every
//! client recomputes the graph from the roster it received and refuses one that does not
//! match.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::crypto::kdf;
use crate::ids::{ClientId, SessionId};

pub use crate::vocabulary::Neighbourhood;

pub use crate::protocol::derive::roster_digest;

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

    /// The neighbours of `u` alone in the graph [`Graph::new`] would build, without the
    /// lookup table a graph keeps for every member (what one client needs, in `O(n)` after
    /// the ring is drawn).
    #[must_use]
    pub fn neighbours_of(
        kind: Neighbourhood,
        session: &SessionId,
        digest: &[u8; 32],
        members: &[ClientId],
        u: ClientId,
    ) -> BTreeSet<ClientId> {
        let (ring, kind) = ring(kind, session, digest, members);
        match ring.iter().position(|&c| c == u) {
            Some(pos) => around(&ring, kind, pos, u),
            None => BTreeSet::new(),
        }
    }
}

/// The members in ring order and the kind actually used.
fn ring(
    kind: Neighbourhood,
    session: &SessionId,
    digest: &[u8; 32],
    members: &[ClientId],
) -> (Vec<ClientId>, Neighbourhood) {
    let mut ring: Vec<ClientId> = members.to_vec();
    ring.sort_unstable();
    let n = ring.len();
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
    let kind = match kind {
        Neighbourhood::Harary { k } if k.checked_add(1).is_some_and(|h| h < n) => kind,
        _ => Neighbourhood::Complete,
    };
    if let Neighbourhood::Harary { .. } = kind {
        let seed = kdf::derive(kdf::LABEL_GRAPH, session, ClientId(0), ClientId(0), digest);
        let mut rng = ChaCha20Rng::from_seed(*seed.bytes());
        // Fisher-Yates, with unbiased indices.
        for i in (1..ring.len()).rev() {
            let j = uniform_below(&mut rng, i + 1);
            ring.swap(i, j);
        }
    }
    (ring, kind)
}

/// The neighbours of `u`, at position `pos` of `ring`, ascending, not counting `u`.
fn around(ring: &[ClientId], kind: Neighbourhood, pos: usize, u: ClientId) -> BTreeSet<ClientId> {
    let n = ring.len();
    match kind {
        Neighbourhood::Complete => ring.iter().copied().filter(|&c| c != u).collect(),
        Neighbourhood::Harary { k } => {
            // `ring` only holds a Harary kind with `k + 1 < n`, so `step < n` and, with
            // `pos < n`, no sum below can overflow.
            let mut out = BTreeSet::new();
            for step in 1..=k / 2 {
                out.extend(ring.get((pos + step) % n).copied());
                out.extend(ring.get((pos + n - step) % n).copied());
            }
            if k % 2 == 1 {
                out.extend(ring.get((pos + n / 2) % n).copied());
            }
            out.remove(&u);
            out
        }
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

    /// The neighbours of `u`, ascending, not counting `u`; empty if `u` is not a member.
    #[must_use]
    pub fn neighbours(&self, u: ClientId) -> BTreeSet<ClientId> {
        let Ok(at) = self.positions.binary_search_by_key(&u, |&(c, _)| c) else {
            return BTreeSet::new();
        };
        let Some(&(_, pos)) = self.positions.get(at) else {
            return BTreeSet::new();
        };
        around(&self.ring, self.kind, pos, u)
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
