//! The client side: one struct per round, each transition consuming the state it leaves.
//!
//! ```text
//! AdvertiseKeys::new --(Roster)--> ShareKeys --(SharesDelivery, input)--> MaskedInput
//!     --(UnmaskingRequest)--> Done
//! ```
//!
//! A client that meets any violation returns an error and its state is gone: it never answers
//! a second request of the same round.

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
    pairwise_prg_seed, pairwise_sign, roster_digest, self_mask_commitment, self_mask_prg_seed,
    share_keys_with,
};
use crate::protocol::graph::Graph;
use crate::protocol::messages as msg;

pub use crate::arith::PlainInput;

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

fn check_threshold(params: &Params, have: usize, round: Round) -> Result<(), Error> {
    // SECURITY: with fewer than t live clients the server could learn an individual input
    // (or the round cannot finish anyway); an honest client stops here.
    if have < params.threshold() {
        return Err(Error::Abort(crate::error::AbortReason::TooFewSurvivors {
            round,
            have,
            need: params.threshold(),
        }));
    }
    Ok(())
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

fn wrong_model(params: &Params) -> Error {
    ApiMisuse::WrongThreatModel {
        session: params.threat_model(),
    }
    .into()
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

impl AdvertiseKeys {
    /// Generates the client's two key pairs `(c_u, s_u)` and its self-mask seed `b_u`, and
    /// returns the message advertising the public keys.
    ///
    /// Against a malicious server use [`AdvertiseKeys::with_identity`]; a client built here
    /// refuses to go on in such a session.
    #[must_use = "the advertisement must be sent"]
    pub fn new<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        rng: &mut R,
    ) -> (Self, msg::AdvertiseKeys) {
        Self::generate(params, id, None, rng)
    }

    /// As [`AdvertiseKeys::new`], for the malicious-server mode: the advertisement is signed
    /// with the client's identity key, and the client will verify its peers' signatures
    /// against the PKI.
    #[must_use = "the advertisement must be sent"]
    pub fn with_identity<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        identity: Identity,
        rng: &mut R,
    ) -> (Self, msg::AdvertiseKeys) {
        Self::generate(params, id, Some(identity), rng)
    }

    fn generate<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        identity: Option<Identity>,
        rng: &mut R,
    ) -> (Self, msg::AdvertiseKeys) {
        let share_key = SecretKey::random(rng);
        let mask_key_secret = SecretScalar::random(rng);
        let self_mask_seed = SecretScalar::random(rng);
        let mask_public_key = SecretKey::from_scalar(mask_key_secret.scalar()).public_key();
        let advertised = msg::AdvertiseKeys {
            session: *params.session(),
            sender: id,
            share_public_key: share_key.public_key(),
            mask_public_key,
            self_mask_commitment: self_mask_commitment(params.session(), id, &self_mask_seed),
            signature: None,
        };
        let mut advertised = advertised;
        if let Some(identity) = &identity {
            advertised.signature = Some(identity.key.sign_advertisement(&advertised));
        }
        let state = Self {
            params: params.clone(),
            id,
            identity,
            share_key,
            mask_key_secret,
            self_mask_seed,
            advertised: advertised.clone(),
        };
        (state, advertised)
    }

    /// The client's id.
    #[must_use]
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Implements Round 1 (ShareKeys), client side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// Checks the roster, Shamir-shares `s_u^SK` and `b_u` among all roster members with
    /// threshold `t`, and seals each peer's pair of shares under a key derived from
    /// `X25519(c_u^SK, c_v^PK)`.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for a roster of another session, one that omits or
    /// repeats this client or its keys, repeats an id or a key, or holds a small-order key;
    /// [`Error::Abort`] if it lists fewer than `t` clients.
    #[must_use = "the sealed shares must be sent"]
    pub fn share_keys<R: CryptoRng + ?Sized>(
        self,
        roster: &msg::Roster,
        rng: &mut R,
    ) -> Result<(ShareKeys, msg::ShareKeys), Error> {
        let CheckedRoster {
            mut peers,
            members,
            digest,
        } = self.check_roster(roster)?;
        // Share holders: this client and its neighbours, in id order.
        let holders: Vec<_> = roster
            .entries
            .iter()
            .filter(|e| e.sender == self.id || peers.contains_key(&e.sender))
            .collect();
        let indices: Vec<_> = holders.iter().map(|e| e.sender.share_index()).collect();
        let t = self.params.threshold();
        // Cannot fail: `check_roster` guarantees at least t holders with distinct ids, and
        // share indices are `id + 1`, never zero. A failure would mean a malformed roster.
        let split_error = |_| {
            server_fault(
                Round::ShareKeys,
                Misbehavior::RosterDuplicateId { peer: self.id },
            )
        };
        let key_shares =
            shamir::split(&self.mask_key_secret, t, &indices, rng).map_err(split_error)?;
        let self_mask_shares =
            shamir::split(&self.self_mask_seed, t, &indices, rng).map_err(split_error)?;
        let session = *self.params.session();
        let mut sealed = Vec::with_capacity(peers.len());
        let mut own = None;
        for ((entry, key_share), self_share) in
            holders.iter().zip(&key_shares).zip(&self_mask_shares)
        {
            let held = HeldShares {
                key_share: key_share.value.duplicate(),
                self_mask_share: self_share.value.duplicate(),
            };
            if entry.sender == self.id {
                own = Some(held);
                continue;
            }
            let (key, open_key) = share_keys_with(
                &self.share_key,
                &entry.share_public_key,
                &session,
                self.id,
                entry.sender,
            )
            .map_err(|()| {
                server_fault(
                    Round::ShareKeys,
                    Misbehavior::NonContributoryKey { peer: entry.sender },
                )
            })?;
            if let Some(peer) = peers.get_mut(&entry.sender) {
                peer.open_key = Some(open_key);
            }
            let ctx = ShareContext {
                session: &session,
                sender: self.id,
                recipient: entry.sender,
                round: Round::ShareKeys.number(),
            };
            // Cannot fail: the plaintext is 64 bytes.
            let ciphertext =
                aead::seal(&key, &ctx, held.to_plaintext().as_slice()).map_err(|_| {
                    server_fault(
                        Round::ShareKeys,
                        Misbehavior::UndecryptableShare { peer: self.id },
                    )
                })?;
            sealed.push(msg::SealedShares {
                sender: self.id,
                recipient: entry.sender,
                ciphertext,
            });
        }
        let own =
            own.ok_or_else(|| server_fault(Round::ShareKeys, Misbehavior::RosterMissingSelf))?;
        // Malicious mode: our neighbours mask against us only once they hold our signature
        // over the very roster they received (checked in `masked_input`).
        let roster_signature = match (self.params.threat_model(), &self.identity) {
            (ThreatModel::Malicious, Some(identity)) => {
                Some(identity.key.sign_roster(&session, &digest))
            }
            _ => None,
        };
        let out = msg::ShareKeys {
            session,
            sender: self.id,
            sealed,
            roster_signature,
        };
        let next = ShareKeys {
            params: self.params,
            id: self.id,
            identity: self.identity,
            roster_digest: digest,
            members,
            mask_key: SecretKey::from_scalar(self.mask_key_secret.scalar()),
            self_mask_seed: self.self_mask_seed,
            own,
            peers,
        };
        Ok((next, out))
    }

    /// Checks the roster; returns this client's neighbours, the roster's digest and, in the
    /// malicious-server mode (where ConsistencyCheck needs them), every member's id,
    /// ascending.
    fn check_roster(&self, roster: &msg::Roster) -> Result<CheckedRoster, Error> {
        let round = Round::ShareKeys;
        check_session(&self.params, &roster.session, round)?;
        let fault = |what| server_fault(round, what);
        let pki = match (self.params.threat_model(), &self.identity) {
            (ThreatModel::HonestButCurious, _) => None,
            (ThreatModel::Malicious, Some(identity)) => Some(&identity.pki),
            (ThreatModel::Malicious, None) => return Err(wrong_model(&self.params)),
        };
        if roster.entries.len() > self.params.clients() {
            return Err(fault(Misbehavior::UnexpectedMessage));
        }
        check_threshold(&self.params, roster.entries.len(), round)?;
        // SECURITY: the roster is at least the session's minimum, which this client knows
        // from its own configuration. A malicious server that shrinks the roster to a victim
        // and its colluders would otherwise receive the victim's shares and, with its
        // pairwise masks all known to the colluders, its input. `Params` keeps the minimum
        // above `k + 1` on a sparse malicious session, so the graph never turns complete.
        if roster.entries.len() < self.params.min_roster() {
            return Err(fault(Misbehavior::RosterTooSmall {
                have: roster.entries.len(),
                need: self.params.min_roster(),
            }));
        }
        let mut seen_self = false;
        for entry in &roster.entries {
            check_session(&self.params, &entry.session, round)?;
            // SECURITY: one encoding per key, so that the byte comparisons below (own keys,
            // repeated keys) are key comparisons, as they are for decoded messages.
            if !entry.share_public_key.is_canonical() || !entry.mask_public_key.is_canonical() {
                return Err(fault(Misbehavior::NonCanonicalKey { peer: entry.sender }));
            }
            let own_key = entry.share_public_key == self.advertised.share_public_key
                || entry.mask_public_key == self.advertised.mask_public_key;
            if entry.sender == self.id {
                // SECURITY: our own keys must be exactly what we advertised, so the server
                // cannot substitute a key it knows the secret of for us.
                if seen_self {
                    return Err(fault(Misbehavior::RosterSelfRepeated));
                }
                if *entry != self.advertised {
                    return Err(fault(Misbehavior::RosterWrongSelfKeys));
                }
                seen_self = true;
            } else if own_key {
                return Err(fault(Misbehavior::RosterSelfRepeated));
            }
            // SECURITY: against a malicious server, every roster entry (not only the
            // neighbours': the whole roster seeds the graph) must carry its owner's identity
            // signature, so the server can neither inject keys it made up nor grind the
            // graph with fake entries.
            if let Some(pki) = pki {
                let verified = entry
                    .signature
                    .as_ref()
                    .zip(pki.get(entry.sender))
                    .is_some_and(|(signature, key)| {
                        key.verify_advertisement(entry, signature).is_ok()
                    });
                if !verified {
                    return Err(fault(Misbehavior::BadSignature { peer: entry.sender }));
                }
            }
        }
        if !seen_self {
            return Err(fault(Misbehavior::RosterMissingSelf));
        }
        // SECURITY: a repeated key would let one party hold two roster places (or a peer
        // mirror our key); every key must be distinct. Sorted, so O(n log n) for any roster.
        // Their 64-bit prefixes are sorted first; only if two prefixes are equal (a repeated
        // key, or a chance collision) are the whole keys compared.
        let keys = || {
            roster
                .entries
                .iter()
                .flat_map(|e| [&e.share_public_key.0, &e.mask_public_key.0])
        };
        let mut prefixes: Vec<u64> = keys()
            .map(|k| u64::from_le_bytes(*k.first_chunk().unwrap_or(&[0; 8])))
            .collect();
        prefixes.sort_unstable();
        if prefixes.windows(2).any(|w| w.first() == w.get(1)) {
            let mut whole: Vec<&[u8; 32]> = keys().collect();
            whole.sort_unstable();
            if whole.windows(2).any(|w| w.first() == w.get(1)) {
                return Err(fault(Misbehavior::RosterDuplicateKey));
            }
        }
        let mut members: Vec<ClientId> = roster.entries.iter().map(|e| e.sender).collect();
        members.sort_unstable();
        if let Some(w) = members.windows(2).find(|w| w.first() == w.get(1)) {
            let peer = w.first().copied().unwrap_or(self.id);
            return Err(fault(Misbehavior::RosterDuplicateId { peer }));
        }
        // SecAgg+: keep only the neighbours, from the graph this client derives itself from
        // the roster and its own configured degree (never from what the server claims).
        let digest = roster_digest(&roster.entries);
        let neighbours = Graph::neighbours_of(
            self.params.neighbourhood(),
            self.params.session(),
            &digest,
            &members,
            self.id,
        );
        let peers: BTreeMap<ClientId, Peer> = roster
            .entries
            .iter()
            .filter(|e| neighbours.contains(&e.sender))
            .map(|e| {
                let peer = Peer {
                    share_public_key: e.share_public_key,
                    mask_public_key: e.mask_public_key,
                    state: PeerState::Alive,
                    open_key: None,
                    held: None,
                };
                (e.sender, peer)
            })
            .collect();
        // SECURITY: a small-order key makes the "shared" secret public. Only neighbours'
        // keys are ever used, so only theirs are checked (the server checks them all).
        for (&peer, p) in &peers {
            if p.share_public_key.is_small_order() || p.mask_public_key.is_small_order() {
                return Err(fault(Misbehavior::NonContributoryKey { peer }));
            }
        }
        check_threshold(&self.params, peers.len() + 1, round)?;
        if self.params.threat_model() == ThreatModel::HonestButCurious {
            // Only ConsistencyCheck reads the member list: do not keep O(n) per client.
            members = Vec::new();
        }
        Ok(CheckedRoster {
            peers,
            members,
            digest,
        })
    }
}

/// What a checked roster gives a client: its neighbours, every member (malicious mode only)
/// and the roster's digest.
struct CheckedRoster {
    peers: BTreeMap<ClientId, Peer>,
    members: Vec<ClientId>,
    digest: [u8; 32],
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
    /// Every roster member, ascending (malicious-server mode only; empty otherwise).
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

impl ShareKeys {
    /// Implements Round 2 (MaskedInputCollection), client side: Bonawitz et al., CCS 2017,
    /// Fig. 4.
    ///
    /// Opens the shares sealed to this client (their senders form `U_2`), then returns
    /// `y_u = x_u + PRG(b_u) + sum_{v in U_2 \ u} ±PRG(s_uv) mod m`, the sign `+` when `u < v`.
    /// The masks are added into the output as they are generated.
    ///
    /// # Errors
    /// [`Error::ApiMisuse`] for an input of the wrong length or out of range;
    /// [`Error::Misbehaved`] for a delivery of another session or recipient, from an unknown
    /// or repeated sender, or one that does not open; [`Error::Abort`] if fewer than `t`
    /// clients (this one included) remain.
    #[must_use = "the masked input must be sent"]
    pub fn masked_input(
        mut self,
        delivery: &msg::SharesDelivery,
        input: &PlainInput,
    ) -> Result<(MaskedInput, msg::MaskedInput), Error> {
        let round = Round::MaskedInput;
        let d = self.params.vector_len();
        let modulus = self.params.modulus();
        if input.values().len() != d {
            return Err(ApiMisuse::InputLength {
                got: input.values().len(),
                expected: d,
            }
            .into());
        }
        if let Some(index) = input.values().iter().position(|x| !modulus.contains(*x)) {
            return Err(ApiMisuse::InputOutOfRange { index }.into());
        }
        check_session(&self.params, &delivery.session, round)?;
        if delivery.recipient != self.id {
            return Err(server_fault(round, Misbehavior::WrongRecipient));
        }
        let session = *self.params.session();
        for sealed in &delivery.sealed {
            let sender = sealed.sender;
            let peer = self
                .peers
                .get_mut(&sender)
                .ok_or_else(|| server_fault(round, Misbehavior::UnknownPeer { peer: sender }))?;
            if sealed.recipient != self.id {
                return Err(server_fault(round, Misbehavior::WrongRecipient));
            }
            if peer.held.is_some() {
                return Err(server_fault(
                    round,
                    Misbehavior::RepeatedId { peer: sender },
                ));
            }
            let undecryptable = || Error::Misbehaved {
                by: Party::Client(sender),
                round,
                what: Misbehavior::UndecryptableShare { peer: sender },
            };
            let key = peer.open_key.take().ok_or_else(undecryptable)?;
            let ctx = ShareContext {
                session: &session,
                sender,
                recipient: self.id,
                round: Round::ShareKeys.number(),
            };
            let plaintext = Zeroizing::new(
                aead::open(&key, &ctx, &sealed.ciphertext).map_err(|_| undecryptable())?,
            );
            peer.held = Some(HeldShares::from_plaintext(&plaintext).ok_or_else(undecryptable)?);
        }
        self.check_roster_signatures(delivery)?;
        for peer in self.peers.values_mut() {
            if peer.held.is_none() {
                peer.drop_at(Round::ShareKeys);
            }
        }
        let alive = 1 + self
            .peers
            .values()
            .filter(|p| p.state == PeerState::Alive)
            .count();
        check_threshold(&self.params, alive, round)?;

        let mut masked = Vec::with_capacity(d);
        masked.extend_from_slice(input.values());
        let suite = self.params.mask_suite();
        let self_seed = self_mask_prg_seed(suite, &session, self.id, &self.self_mask_seed);
        let mut masks = Zeroizing::new(Vec::with_capacity(1 + self.peers.len()));
        masks.push(SeededMask::new(self_seed.bytes(), Sign::Add));
        for (&v, peer) in self
            .peers
            .iter()
            .filter(|(_, p)| p.state == PeerState::Alive)
        {
            let seed = pairwise_prg_seed(
                suite,
                &self.mask_key,
                &peer.mask_public_key,
                &session,
                self.id,
                v,
            )
            .map_err(|()| server_fault(round, Misbehavior::NonContributoryKey { peer: v }))?;
            masks.push(SeededMask::new(seed.bytes(), pairwise_sign(self.id, v)));
        }
        // All masks are added chunk by chunk into the one output vector (never one vector per
        // mask), cache-blocked like the server's unmasking.
        prg::apply_masks(&masks, suite, modulus, &mut masked);
        modulus.reduce_lazy(&mut masked);
        let out = msg::MaskedInput {
            session,
            sender: self.id,
            roster_digest: self.roster_digest,
            masked,
        };
        let next = MaskedInput {
            params: self.params,
            id: self.id,
            own: self.own,
            peers: core::mem::take(&mut self.peers),
            identity: self.identity.take(),
            members: core::mem::take(&mut self.members),
        };
        Ok((next, out))
    }
}

impl ShareKeys {
    /// Malicious mode: every neighbour whose shares were delivered must have signed the
    /// digest of the very roster this client holds; no other signature may appear.
    fn check_roster_signatures(&self, delivery: &msg::SharesDelivery) -> Result<(), Error> {
        let round = Round::MaskedInput;
        let fault = |what| server_fault(round, what);
        let identity = match (self.params.threat_model(), &self.identity) {
            (ThreatModel::Malicious, Some(identity)) => identity,
            _ => {
                // Honest-but-curious: nobody signs rosters.
                if let Some((signer, _)) = delivery.roster_signatures.first() {
                    return Err(fault(Misbehavior::BadSignature { peer: *signer }));
                }
                return Ok(());
            }
        };
        let mut signers = BTreeSet::new();
        for (signer, signature) in &delivery.roster_signatures {
            let signer = *signer;
            if self.peers.get(&signer).is_none_or(|p| p.held.is_none()) {
                return Err(fault(Misbehavior::UnknownPeer { peer: signer }));
            }
            if !signers.insert(signer) {
                return Err(fault(Misbehavior::RepeatedId { peer: signer }));
            }
            let valid = identity.pki.get(signer).is_some_and(|key| {
                key.verify_roster(self.params.session(), &self.roster_digest, signature)
                    .is_ok()
            });
            if !valid {
                return Err(fault(Misbehavior::BadSignature { peer: signer }));
            }
        }
        // SECURITY: this client masks only against neighbours that hold its roster: each
        // neighbour it counts alive signed the digest of the roster this client derived its
        // graph from (honest ones sign only the roster they received). Checked before the
        // masked input exists.
        for (&v, peer) in &self.peers {
            if peer.held.is_some() && !signers.contains(&v) {
                return Err(fault(Misbehavior::BadSignature { peer: v }));
            }
        }
        Ok(())
    }
}

/// Round 2 done: the client holds its peers' shares and waits for the unmasking request.
pub struct MaskedInput {
    params: Params,
    id: ClientId,
    own: HeldShares,
    peers: BTreeMap<ClientId, Peer>,
    identity: Option<Identity>,
    /// Every roster member, ascending (malicious-server mode only; empty otherwise).
    members: Vec<ClientId>,
}

impl fmt::Debug for MaskedInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::MaskedInput")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Which share of a peer this client has revealed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Revealed {
    SelfMask,
    Key,
}

impl MaskedInput {
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

    /// Implements Round 4 (Unmasking), client side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// Reveals the share of `b_v` of each survivor `v` and the share of `s_v^SK` of each
    /// dropped `v`, after checking that the request is one an honest server could send.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server if the request is of another session, names this
    /// client as dropped or omits it, repeats an id, lists a peer as both survivor and
    /// dropped, names a peer that is unknown or had dropped at ShareKeys, or omits a live
    /// peer; [`Error::Abort`] if it lists fewer than `t` survivors;
    /// [`Error::ApiMisuse`] in the malicious-server mode, where ConsistencyCheck
    /// ([`MaskedInput::consistency`]) must come first.
    #[must_use = "the revealed shares must be sent"]
    pub fn unmasking(
        self,
        request: &msg::UnmaskingRequest,
    ) -> Result<(Done, msg::UnmaskingResponse), Error> {
        // SECURITY: against a malicious server no share is revealed before the survivor set
        // has been checked to be the same for enough neighbours (ConsistencyCheck).
        if self.params.threat_model() != ThreatModel::HonestButCurious {
            return Err(wrong_model(&self.params));
        }
        self.reveal(request)
    }

    /// Implements Round 3 (ConsistencyCheck), client side: Bonawitz et al., CCS 2017, Fig. 4
    /// (malicious-server mode only).
    ///
    /// Checks the survivor set `U_3` and signs `(session, U_3)` with the identity key.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for a request of another session or recipient,
    /// one that repeats an id, omits this client, names a client not in the roster or a
    /// neighbour that dropped at ShareKeys; [`Error::Abort`] if fewer than `t` of the
    /// neighbourhood survive; [`Error::ApiMisuse`] against an honest-but-curious server.
    #[must_use = "the signature must be sent"]
    pub fn consistency(
        self,
        request: &msg::ConsistencyRequest,
    ) -> Result<(Consistency, msg::ConsistencySignature), Error> {
        let round = Round::Consistency;
        let Some(identity) = self.identity.as_ref() else {
            return Err(wrong_model(&self.params));
        };
        if self.params.threat_model() != ThreatModel::Malicious {
            return Err(wrong_model(&self.params));
        }
        check_session(&self.params, &request.session, round)?;
        let fault = |what| server_fault(round, what);
        if request.recipient != self.id {
            return Err(fault(Misbehavior::WrongRecipient));
        }
        let mut survivors = BTreeSet::new();
        for &v in &request.survivors {
            if !survivors.insert(v) {
                return Err(fault(Misbehavior::RepeatedId { peer: v }));
            }
            if self.members.binary_search(&v).is_err() {
                return Err(fault(Misbehavior::UnknownPeer { peer: v }));
            }
            // SECURITY: a neighbour whose shares never reached us cannot have sent a
            // masked input that the server can unmask.
            if self
                .peers
                .get(&v)
                .is_some_and(|p| p.state != PeerState::Alive)
            {
                return Err(fault(Misbehavior::PeerReappeared { peer: v }));
            }
        }
        if !survivors.contains(&self.id) {
            return Err(fault(Misbehavior::SelfNotSurvivor));
        }
        let in_view = 1 + self.peers.keys().filter(|v| survivors.contains(v)).count();
        check_threshold(&self.params, in_view, round)?;
        let ordered: Vec<ClientId> = survivors.iter().copied().collect();
        let signature = identity.key.sign_survivors(self.params.session(), &ordered);
        let out = msg::ConsistencySignature {
            session: *self.params.session(),
            sender: self.id,
            signature,
        };
        Ok((
            Consistency {
                inner: self,
                survivors,
            },
            out,
        ))
    }

    /// The shared part of Round 4: checks the request and reveals the shares.
    fn reveal(
        mut self,
        request: &msg::UnmaskingRequest,
    ) -> Result<(Done, msg::UnmaskingResponse), Error> {
        let round = Round::Unmasking;
        check_session(&self.params, &request.session, round)?;
        if request.recipient != self.id {
            return Err(server_fault(round, Misbehavior::WrongRecipient));
        }
        check_threshold(&self.params, request.survivors.len(), round)?;
        let fault = |what| server_fault(round, what);
        let mut revealed: BTreeMap<ClientId, Revealed> = BTreeMap::new();
        let mut self_mask_shares = Vec::with_capacity(request.survivors.len());
        let mut key_shares = Vec::with_capacity(request.dropped.len());
        let lists = [
            (&request.survivors, Revealed::SelfMask),
            (&request.dropped, Revealed::Key),
        ];
        for (list, kind) in lists {
            for &v in list {
                match revealed.get(&v) {
                    None => {}
                    // SECURITY: one id twice in a list is malformed; in both lists it would
                    // make us reveal both shares of v, which unmasks v's input.
                    Some(prior) if *prior == kind => {
                        return Err(fault(Misbehavior::RepeatedId { peer: v }));
                    }
                    Some(_) => return Err(fault(Misbehavior::SurvivorAndDropped { peer: v })),
                }
                let share = if v == self.id {
                    // SECURITY: we know we are alive; a server calling us dropped is lying,
                    // and our key share together with our masked input would unmask us.
                    if kind == Revealed::Key {
                        return Err(fault(Misbehavior::SelfNamedDropped));
                    }
                    &self.own.self_mask_share
                } else {
                    let peer = self
                        .peers
                        .get(&v)
                        .ok_or_else(|| fault(Misbehavior::UnknownPeer { peer: v }))?;
                    // SECURITY: a peer that dropped at ShareKeys is not in U_2; naming it
                    // again means the server shows clients different views.
                    if peer.state != PeerState::Alive {
                        return Err(fault(Misbehavior::PeerReappeared { peer: v }));
                    }
                    let held = peer
                        .held
                        .as_ref()
                        .ok_or_else(|| fault(Misbehavior::UnknownPeer { peer: v }))?;
                    match kind {
                        Revealed::SelfMask => &held.self_mask_share,
                        Revealed::Key => &held.key_share,
                    }
                };
                revealed.insert(v, kind);
                match kind {
                    Revealed::SelfMask => self_mask_shares.push((v, share.duplicate())),
                    Revealed::Key => key_shares.push((v, share.duplicate())),
                }
            }
        }
        if !revealed.contains_key(&self.id) {
            return Err(fault(Misbehavior::SelfNotSurvivor));
        }
        for (&v, peer) in &mut self.peers {
            if peer.state != PeerState::Alive {
                continue;
            }
            match revealed.get(&v) {
                None => return Err(fault(Misbehavior::PeerUnaccounted { peer: v })),
                Some(Revealed::Key) => peer.drop_at(Round::MaskedInput),
                Some(Revealed::SelfMask) => {}
            }
        }
        let out = msg::UnmaskingResponse {
            session: *self.params.session(),
            sender: self.id,
            self_mask_shares,
            key_shares,
        };
        Ok((Done { id: self.id }, out))
    }
}

/// Round 3 done (malicious-server mode): the client has signed `U_3` and waits for the
/// unmasking request and its neighbours' signatures.
pub struct Consistency {
    inner: MaskedInput,
    survivors: BTreeSet<ClientId>,
}

impl fmt::Debug for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("client::Consistency")
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Consistency {
    /// Implements Round 4 (Unmasking) after ConsistencyCheck, client side: Bonawitz et al.,
    /// CCS 2017, Fig. 4 (malicious-server mode).
    ///
    /// Before revealing anything, checks that at least `t` of this client's share-holder
    /// neighbourhood (itself and its neighbours) signed the very survivor set it signed, and
    /// that the request's survivors and dropped clients are exactly what that set implies.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for a signature that does not verify or comes
    /// from outside the neighbourhood or twice, fewer than `t` valid signatures, lists that
    /// differ from the signed set, and every refusal of [`MaskedInput::unmasking`].
    #[must_use = "the revealed shares must be sent"]
    pub fn unmasking(
        self,
        request: &msg::UnmaskingRequest,
    ) -> Result<(Done, msg::UnmaskingResponse), Error> {
        let round = Round::Unmasking;
        let inner = &self.inner;
        check_session(&inner.params, &request.session, round)?;
        let fault = |what| server_fault(round, what);
        let Some(identity) = inner.identity.as_ref() else {
            return Err(wrong_model(&inner.params));
        };
        let ordered: Vec<ClientId> = self.survivors.iter().copied().collect();
        let mut signers = BTreeSet::new();
        for (signer, signature) in &request.signatures {
            let signer = *signer;
            if signer != inner.id && !inner.peers.contains_key(&signer) {
                return Err(fault(Misbehavior::UnknownPeer { peer: signer }));
            }
            if !signers.insert(signer) {
                return Err(fault(Misbehavior::RepeatedId { peer: signer }));
            }
            // SECURITY: each signature must be the signer's, over the very set we signed:
            // a server showing different survivor sets cannot collect t of them for both.
            let valid = identity.pki.get(signer).is_some_and(|key| {
                key.verify_survivors(inner.params.session(), &ordered, signature)
                    .is_ok()
            });
            if !valid {
                return Err(fault(Misbehavior::BadSignature { peer: signer }));
            }
        }
        if signers.len() < inner.params.threshold() {
            return Err(fault(Misbehavior::TooFewSignatures {
                have: signers.len(),
                need: inner.params.threshold(),
            }));
        }
        self.check_lists(request)?;
        self.inner.reveal(request)
    }

    /// SECURITY: the survivors named must be exactly the signed `U_3` within the
    /// neighbourhood, and the dropped exactly the live neighbours outside it.
    fn check_lists(&self, request: &msg::UnmaskingRequest) -> Result<(), Error> {
        let fault = |peer| {
            server_fault(
                Round::Unmasking,
                Misbehavior::InconsistentSurvivors { peer },
            )
        };
        let inner = &self.inner;
        for &v in &request.survivors {
            if !self.survivors.contains(&v) {
                return Err(fault(v));
            }
        }
        for &v in &request.dropped {
            if self.survivors.contains(&v) {
                return Err(fault(v));
            }
        }
        let named: BTreeSet<ClientId> = request
            .survivors
            .iter()
            .chain(&request.dropped)
            .copied()
            .collect();
        let live = inner
            .peers
            .iter()
            .filter(|(_, p)| p.state == PeerState::Alive)
            .map(|(v, _)| *v);
        for v in core::iter::once(inner.id).chain(live) {
            if !named.contains(&v) {
                return Err(fault(v));
            }
        }
        Ok(())
    }
}

/// The client has finished its part of the session and holds no secrets.
#[derive(Debug)]
pub struct Done {
    id: ClientId,
}

impl Done {
    /// The client's id.
    #[must_use]
    pub fn id(&self) -> ClientId {
        self.id
    }
}
