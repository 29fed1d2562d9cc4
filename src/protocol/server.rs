//! The server side: it collects one round with `receive(&mut self, ..)` and advances with
//! `close(self)`.
//!
//! `receive` validates one client's message completely before it changes anything, so a bad
//! message only gets that client rejected. `close` is called by the driver when the round's
//! deadline has passed, and aborts only when fewer than `t` clients remain.
//!
//! This module holds the states (what the server keeps between rounds); each round is in its
//! own file: `advertise_keys.rs` (round 0), `share_keys.rs` (round 1), `masked_input.rs`
//! (round 2), `consistency.rs` (round 3, malicious mode) and `unmasking.rs` (round 4).

mod advertise_keys;
pub use advertise_keys::RosterViews;
mod consistency;
pub use consistency::SurvivorViews;
mod masked_input;
mod share_keys;
pub use share_keys::Deliveries;
pub(crate) mod state;
mod unmasking;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::kx::SecretKey;
use crate::crypto::prg::{self, SeededMask, Sign};
use crate::crypto::shamir::{Lagrange, SecretScalar};
use crate::crypto::sign::{Pki, Signature};
use crate::error::{AbortReason, Error, Misbehavior, Rejected};
use crate::ids::{ClientId, ShareIndex};
use crate::params::{Params, ThreatModel};
use crate::protocol::Round;
use crate::protocol::derive::{
    pairwise_prg_seed, pairwise_sign, self_mask_commitment, self_mask_prg_seed,
};
use crate::protocol::graph::Graph;
use crate::protocol::messages as msg;
use crate::protocol::roster_tree::{RosterTree, SurvivorTree};
use crate::protocol::rules::{enough, wrong_model};
use crate::wire;

fn reject(client: ClientId, round: Round, reason: Misbehavior) -> Rejected {
    Rejected {
        client,
        round,
        reason,
    }
}

/// Checks the parts every client message shares: the session, and that the claimed sender
/// is the authenticated one.
fn check_envelope(
    params: &Params,
    from: ClientId,
    session: &crate::ids::SessionId,
    sender: ClientId,
    round: Round,
) -> Result<(), Rejected> {
    if session != params.session() {
        return Err(reject(from, round, Misbehavior::WrongSession));
    }
    if sender != from {
        return Err(reject(from, round, Misbehavior::WrongSender));
    }
    Ok(())
}

/// The members of `set` in `view` (a client and its neighbours), ascending, in
/// `O(|view| log |set|)`: never a scan of the whole set per client.
fn within<'a>(
    view: &'a BTreeSet<ClientId>,
    set: &'a BTreeSet<ClientId>,
) -> impl Iterator<Item = ClientId> + 'a {
    view.iter().copied().filter(|u| set.contains(u))
}

/// Round 0 (AdvertiseKeys), server side: collects the clients' public keys.
#[derive(Debug)]
pub struct AdvertiseKeys {
    params: Params,
    pki: Option<Pki>,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    keys: BTreeSet<crate::crypto::kx::PublicKey>,
}

/// Round 1 (ShareKeys), server side: relays sealed shares.
#[derive(Debug)]
pub struct ShareKeys {
    params: Params,
    pki: Option<Pki>,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    tree: RosterTree,
    roster_digest: [u8; 32],
    graph: Graph,
    inbox: BTreeMap<ClientId, (Vec<msg::SealedShares>, Option<Signature>)>,
}

/// Round 2 (MaskedInputCollection), server side: adds each masked input into one accumulator.
pub struct MaskedInput {
    params: Params,
    pki: Option<Pki>,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    roster_digest: [u8; 32],
    graph: Graph,
    share_keys_senders: BTreeSet<ClientId>,
    survivors: BTreeSet<ClientId>,
    accumulator: Vec<u64>,
}

impl fmt::Debug for MaskedInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("server::MaskedInput")
            .field("survivors", &self.survivors)
            .finish_non_exhaustive()
    }
}

/// Round 3 (ConsistencyCheck), server side, malicious-server mode: collects the survivors'
/// signatures over the survivor digest (the survivor tree's, which commits to `U_3`).
pub struct Consistency {
    masked: MaskedInput,
    /// The survivor tree over the roster, built once when the round opens.
    survivor_tree: SurvivorTree,
    signatures: BTreeMap<ClientId, Signature>,
}

impl fmt::Debug for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("server::Consistency")
            .field("survivors", &self.masked.survivors)
            .field("signed", &self.signatures.len())
            .finish_non_exhaustive()
    }
}

/// Round 4 (Unmasking), server side: collects shares and removes the masks.
pub struct Unmasking {
    params: Params,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    graph: Graph,
    survivors: BTreeSet<ClientId>,
    dropped: BTreeSet<ClientId>,
    /// Who may respond: `U_3`, or `U_4` after ConsistencyCheck.
    responders: BTreeSet<ClientId>,
    accumulator: Vec<u64>,
    responses: BTreeMap<ClientId, RevealedShares>,
}

/// The shares one responder revealed, by owner.
#[derive(Default)]
struct RevealedShares {
    self_mask: BTreeMap<ClientId, SecretScalar>,
    key: BTreeMap<ClientId, SecretScalar>,
}

impl fmt::Debug for Unmasking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("server::Unmasking")
            .field("survivors", &self.survivors)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// The result of a session: the sum and whose inputs it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `sum_{u in included} x_u mod m`.
    pub sum: Vec<u64>,
    /// The clients whose inputs are in the sum (`U_3`), ascending.
    pub included: Vec<ClientId>,
    /// How many masks the server expanded to remove them: one self-mask per survivor and
    /// one pairwise mask per surviving neighbour of each dropped client.
    pub mask_expansions: usize,
}

impl Unmasking {
    /// The clients whose masked inputs are in the accumulator.
    #[must_use]
    pub fn survivors(&self) -> &BTreeSet<ClientId> {
        &self.survivors
    }

    /// The clients that dropped after ShareKeys and before sending a masked input.
    #[must_use]
    pub fn dropped(&self) -> &BTreeSet<ClientId> {
        &self.dropped
    }
}

#[cfg(feature = "sim")]
impl ShareKeys {
    /// The session's graph (for the simulator's stand-ins, which deal their shares to their
    /// neighbourhood as a client does from its roster).
    pub(crate) fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The digest of the roster every member received (for the simulator's stand-ins, which
    /// sign it in the malicious mode as a client does).
    pub(crate) fn roster_digest(&self) -> &[u8; 32] {
        &self.roster_digest
    }
}
