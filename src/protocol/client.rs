//! The client side: one struct per round, each transition consuming the state it leaves.
//!
//! ```text
//! AdvertiseKeys::new --(Roster)--> ShareKeys --(SharesDelivery, input)--> MaskedInput
//!     --(UnmaskingRequest)--> Done
//! ```
//!
//! A client that meets any violation returns an error and its state is gone: it never answers
//! a second request of the same round.
//!
//! This module holds the states (what a client keeps between rounds); each round's transition
//! is in its own file: `advertise_keys.rs` (round 0), `share_keys.rs` (round 1, with the roster
//! checks in `roster.rs`), `masked_input.rs` (round 2), `consistency.rs` (round 3, malicious
//! mode) and `unmasking.rs` (round 4).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::crypto::aead::{self, ShareContext};
use crate::crypto::kdf::DerivedKey;
use crate::crypto::kx::{PublicKey, SecretKey};
use crate::crypto::prg::{self, SeededMask, Sign};
use crate::crypto::shamir::{self, SecretScalar};
use crate::crypto::sign::{IdentityKey, Pki};
use crate::error::{ApiMisuse, Error, Misbehavior, Party};
use crate::ids::{ClientId, SessionId};
use crate::params::{Params, ThreatModel};
use crate::protocol::Round;
use crate::protocol::derive::{
    pairwise_prg_seed, pairwise_sign, request_digest, roster_digest, self_mask_commitment,
    self_mask_prg_seed, share_keys_with,
};
use crate::protocol::graph::neighbour_ranks;
use crate::protocol::messages as msg;
use crate::protocol::roster_tree;
use crate::protocol::rules::{enough, wrong_model};

pub use crate::arith::PlainInput;

mod advertise_keys;
mod consistency;
mod masked_input;
mod roster;
mod share_keys;
#[cfg(feature = "sim")]
mod stand_in;
pub(crate) mod state;
mod unmasking;

fn server_fault(round: Round, what: Misbehavior) -> Error {
    Error::Misbehaved {
        by: Party::Server,
        round,
        what,
    }
}

fn check_session(params: &Params, session: &SessionId, round: Round) -> Result<(), Error> {
    // SECURITY: nothing from another session is ever processed: every key, share and mask
    // is bound to one session id.
    if session != params.session() {
        return Err(server_fault(round, Misbehavior::WrongSession));
    }
    Ok(())
}

/// The session's threat model as a client holds it, decided in this one place: against a
/// malicious server, the client's identity (an error if it was built without one); against an
/// honest-but-curious server, nothing (an identity, if given, is not used).
fn hardening<'a>(
    params: &Params,
    identity: &'a Option<Identity>,
) -> Result<Option<&'a Identity>, Error> {
    match (params.threat_model(), identity) {
        (ThreatModel::HonestButCurious, _) => Ok(None),
        (ThreatModel::Malicious, Some(identity)) => Ok(Some(identity)),
        (ThreatModel::Malicious, None) => Err(wrong_model(params)),
    }
}

/// What a client needs against a malicious server: its own long-term signing key and the
/// PKI that holds every client's verifying key.
#[derive(Debug)]
pub struct Identity {
    key: IdentityKey,
    pki: Pki,
}

impl Identity {
    /// Pairs the client's signing key with the PKI.
    #[must_use]
    pub fn new(key: IdentityKey, pki: Pki) -> Self {
        Self { key, pki }
    }
}

/// Round 0 (AdvertiseKeys), client side: Bonawitz et al., CCS 2017, Fig. 4.
pub struct AdvertiseKeys {
    params: Params,
    id: ClientId,
    identity: Option<Identity>,
    share_key: SecretKey,
    mask_key_secret: SecretScalar,
    self_mask_seed: SecretScalar,
    advertised: msg::AdvertiseKeys,
}

impl fmt::Debug for AdvertiseKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::AdvertiseKeys")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where a peer stands, as this client sees it. It only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Still taking part.
    Alive,
    /// Dropped: the round in which it was last heard of missing.
    Dropped {
        /// The round at whose end it was missing.
        at: Round,
    },
}

/// The two shares a client holds for one peer's secrets.
#[derive(Debug)]
struct HeldShares {
    key_share: SecretScalar,
    self_mask_share: SecretScalar,
}

impl HeldShares {
    fn to_plaintext(&self) -> Zeroizing<[u8; 64]> {
        let mut p = Zeroizing::new([0u8; 64]);
        p[..32].copy_from_slice(self.key_share.to_bytes().as_ref());
        p[32..].copy_from_slice(self.self_mask_share.to_bytes().as_ref());
        p
    }

    fn from_plaintext(p: &[u8]) -> Option<Self> {
        let (k, s) = p.split_first_chunk::<32>()?;
        let s: &[u8; 32] = s.try_into().ok()?;
        Some(Self {
            key_share: SecretScalar::from_canonical_bytes(*k).ok()?,
            self_mask_share: SecretScalar::from_canonical_bytes(*s).ok()?,
        })
    }
}

#[derive(Debug)]
struct Peer {
    share_public_key: PublicKey,
    mask_public_key: PublicKey,
    state: PeerState,
    /// The key of the ciphertext this peer sealed to us, derived in ShareKeys.
    open_key: Option<DerivedKey>,
    held: Option<HeldShares>,
}

impl Peer {
    /// SECURITY: a peer's state only moves forward; a dropped peer never becomes alive again.
    fn drop_at(&mut self, round: Round) {
        if self.state == PeerState::Alive {
            self.state = PeerState::Dropped { at: round };
        }
    }
}

/// Round 1 done: the client waits for the shares its peers sealed to it.
pub struct ShareKeys {
    params: Params,
    id: ClientId,
    identity: Option<Identity>,
    /// The digest of the roster this client shared its keys over.
    roster_digest: [u8; 32],
    /// The roster's size `n'`, from its tree (ConsistencyCheck's survivor tree has as many
    /// leaves).
    roster_size: usize,
    /// Every roster member, ascending (malicious-server mode with a whole roster only; empty
    /// otherwise).
    members: Vec<ClientId>,
    mask_key: SecretKey,
    self_mask_seed: SecretScalar,
    own: HeldShares,
    peers: BTreeMap<ClientId, Peer>,
}

impl fmt::Debug for ShareKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::ShareKeys")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Round 2 done: the client holds its peers' shares and waits for the unmasking request.
pub struct MaskedInput {
    params: Params,
    id: ClientId,
    own: HeldShares,
    peers: BTreeMap<ClientId, Peer>,
    identity: Option<Identity>,
    /// The roster's size `n'`, from its tree.
    roster_size: usize,
    /// Every roster member, ascending (malicious-server mode with a whole roster only; empty
    /// otherwise): ConsistencyCheck builds the survivor tree from it when it is sent the
    /// whole survivor list.
    members: Vec<ClientId>,
}

impl fmt::Debug for MaskedInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::MaskedInput")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MaskedInput {
    /// The session's threat model.
    pub(crate) fn threat_model(&self) -> ThreatModel {
        self.params.threat_model()
    }

    /// How many masks this client expanded for its masked input: its self-mask and one
    /// pairwise mask per live neighbour.
    #[must_use]
    pub fn mask_expansions(&self) -> usize {
        1 + self
            .peers
            .values()
            .filter(|p| p.state == PeerState::Alive)
            .count()
    }

    /// The state this client holds of `peer`, if `peer` is in its roster.
    #[must_use]
    pub fn peer_state(&self, peer: ClientId) -> Option<PeerState> {
        self.peers.get(&peer).map(|p| p.state)
    }
}

/// Round 3 done (malicious-server mode): the client has signed the survivor digest and waits
/// for the unmasking request and its neighbours' signatures.
pub struct Consistency {
    inner: MaskedInput,
    /// The survivor digest this client signed.
    survivor_digest: [u8; 32],
    /// The statuses it verified under that digest: of itself and of each neighbour (`true`
    /// for a member of `U_3`). Nothing else of the survivor tree is ever needed.
    statuses: BTreeMap<ClientId, bool>,
}

impl fmt::Debug for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::Consistency")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

/// The client has finished its part of the session. It keeps only what it already sent:
/// the digest of the unmasking request it answered and its response, so that it can send the
/// same response again (after a restart, or to a server that lost it) and refuse any other
/// request (`docs/PROTOCOL.md` §13.6).
pub struct Done {
    params: Params,
    id: ClientId,
    /// The digest of the request answered ([`request_digest`]).
    request: [u8; 32],
    /// The response sent, in its wire encoding.
    response: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::Done")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Done {
    /// The client's id.
    #[must_use]
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Answers an unmasking request again: the very response already sent if `request` is
    /// the request answered, a refusal otherwise.
    ///
    /// # Errors
    /// [`Misbehavior::ContradictingRequest`] by the server for any other request.
    pub fn answer_again(
        &self,
        request: &msg::UnmaskingRequest,
    ) -> Result<msg::UnmaskingResponse, Error> {
        let bytes = self.response_to(request)?;
        crate::wire::from_bytes(bytes, &crate::wire::Limits::for_params(&self.params))
            .map_err(|_| Error::Internal("a saved response decodes"))
    }

    /// The encoded response to `request`, if it is the request answered.
    pub(crate) fn response_to(&self, request: &msg::UnmaskingRequest) -> Result<&[u8], Error> {
        use subtle::ConstantTimeEq;
        // SECURITY: a client answers one unmasking request per session. Any other request,
        // even after a restart, is refused: answering two could reveal both the self-mask
        // share and the key share of one peer.
        if bool::from(request_digest(request).ct_eq(&self.request)) {
            Ok(&self.response)
        } else {
            Err(server_fault(
                Round::Unmasking,
                Misbehavior::ContradictingRequest,
            ))
        }
    }
}
