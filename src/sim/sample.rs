//! Sampled sessions ([`super::Simulation::run_sampled`]): one client's cost at any `n`
//! without running every client.
//!
//! Every client runs AdvertiseKeys, so the roster, its tree and the graph are those of a
//! whole session of `n`. Then only a few clients are run through every round: the *measured*
//! clients, a client chosen from the seed and its nearest clients in the graph (breadth
//! first), so that the survivors the server sees form one connected component as in a whole
//! session. What a measured client receives depends on others only through:
//!
//! * its neighbours' ShareKeys ciphertexts, which it opens: so every neighbour of a measured
//!   client runs ShareKeys for real;
//! * who of its neighbourhood sent a masked input, and (malicious mode) its neighbours'
//!   ConsistencyCheck signatures: the server cannot tell a masked input from random
//!   elements, so the driver stands in for each neighbour with a masked input of zeros (the
//!   sum is not computed) and signs the server's survivor digest with the neighbour's
//!   identity key, as the honest neighbour would once its slice verified.
//!
//! Every other client goes silent after AdvertiseKeys, as if it had dropped. The measured
//! clients' messages are therefore exactly those of a whole session with the same roster
//! and dropouts in their neighbourhoods, and the report counts only them; the server's
//! figures after AdvertiseKeys cover only the clients that ran.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use rand_core::Rng;

use super::{Rosters, RoundReport};
use crate::error::Error;
use crate::harness::Schedule;
use crate::ids::ClientId;
use crate::protocol::Round;

/// What a sampled session gave ([`super::Simulation::run_sampled`]).
#[derive(Debug)]
pub struct SampledReport {
    /// One entry per round that ran. AdvertiseKeys counts every client (they all run it);
    /// every later round counts the measured clients only, and its server figures cover
    /// only the clients that ran.
    pub rounds: Vec<RoundReport>,
    /// The clients run through every round, ascending.
    pub measured: Vec<ClientId>,
    /// How many of their neighbours ran ShareKeys (the driver standing in for their later
    /// messages).
    pub neighbours: usize,
    /// How many clients the driver stood in for in every round after AdvertiseKeys
    /// ([`super::Simulation::run_stand_ins`]; 0 otherwise).
    pub stand_ins: usize,
    /// `Ok` once every measured client has answered its unmasking request (and, with
    /// stand-ins, the server has rebuilt and checked every secret and removed the masks);
    /// the first error an honest client met, or the server's abort, otherwise. The sum is
    /// not returned.
    pub result: Result<(), Error>,
}

/// Who does what after AdvertiseKeys in a sampled session.
#[derive(Debug)]
pub(super) struct Sample {
    /// The clients run through every round; the only ones the report counts.
    pub(super) measured: BTreeSet<ClientId>,
    /// Their neighbours (not measured): they run ShareKeys, and the driver stands in for
    /// their later messages.
    pub(super) neighbours: BTreeSet<ClientId>,
}

impl Sample {
    /// Chooses up to `size` clients to measure among `members` (the roster, ascending),
    /// starting from one drawn from `rng` and going breadth first through the graph, taking
    /// only clients that `drops` lets speak in every round.
    pub(super) fn choose(
        size: usize,
        members: &[ClientId],
        rosters: &Rosters,
        drops: &Schedule,
        rng: &mut ChaCha20Rng,
    ) -> Self {
        let speaks_throughout = |id: ClientId| drops.speaks(id, Round::Unmasking);
        let candidates: Vec<ClientId> = members
            .iter()
            .copied()
            .filter(|&id| speaks_throughout(id))
            .collect();
        let mut measured = BTreeSet::new();
        let mut neighbourhoods: BTreeMap<ClientId, Vec<ClientId>> = BTreeMap::new();
        if let (Some(len), true) = (u64::try_from(candidates.len()).ok(), size > 0) {
            // Uniform below `len` by rejection on the next power of two.
            let mask = len.next_power_of_two().saturating_sub(1);
            let start = loop {
                let i = rng.next_u64() & mask;
                if let Some(&id) = usize::try_from(i).ok().and_then(|i| candidates.get(i)) {
                    break Some(id);
                }
                if len == 0 {
                    break None;
                }
            };
            let mut queue: VecDeque<ClientId> = start.into_iter().collect();
            let mut seen: BTreeSet<ClientId> = queue.iter().copied().collect();
            while let Some(u) = queue.pop_front() {
                if measured.len() == size {
                    break;
                }
                measured.insert(u);
                let around = neighbours_of(rosters, u);
                for &v in &around {
                    if speaks_throughout(v) && seen.insert(v) {
                        queue.push_back(v);
                    }
                }
                neighbourhoods.insert(u, around);
            }
        }
        let neighbours = neighbourhoods
            .values()
            .flatten()
            .copied()
            .filter(|v| !measured.contains(v))
            .collect();
        Self {
            measured,
            neighbours,
        }
    }

    /// Whether client `id` runs `round` itself (before the dropout schedule is applied).
    pub(super) fn runs(&self, id: ClientId, round: Round) -> bool {
        match round {
            Round::AdvertiseKeys => true,
            Round::ShareKeys => self.measured.contains(&id) || self.neighbours.contains(&id),
            _ => self.measured.contains(&id),
        }
    }
}

/// The neighbours of `u`: the other members of the roster it receives.
fn neighbours_of(rosters: &Rosters, u: ClientId) -> Vec<ClientId> {
    rosters.for_client(u).map_or_else(Vec::new, |roster| {
        roster
            .entries
            .iter()
            .map(|e| e.sender)
            .filter(|&v| v != u)
            .collect()
    })
}
