//! Stand-ins for every client but the measured ones ([`super::Simulation::run_stand_ins`]):
//! the server runs a whole session of `n` while only a few clients run.
//!
//! Every client runs AdvertiseKeys. After it, every client but the measured ones is a
//! *stand-in*: the driver makes its messages from its round-0 state (its keys and its two
//! secrets), without the work a real client does to check what it receives:
//!
//! * **ShareKeys.** The stand-in deals its two secrets `s_u^SK` and `b_u` to its neighbourhood
//!   with Shamir's scheme, the polynomial drawn from a seed of the driver's, so that the same
//!   shares can be dealt again in Unmasking instead of being held. Its pair for a measured
//!   neighbour is sealed as a client seals it (the measured client opens and checks it); its
//!   ciphertext for another stand-in is random bytes of the sealed length, which the server
//!   cannot tell from a ciphertext and nobody opens. In the malicious mode it signs the roster
//!   digest with its identity key.
//! * **MaskedInput.** A masked input of zeros: the server cannot tell its elements from a
//!   client's, and the sum is not the clients' (the stand-ins add no masks).
//! * **ConsistencyCheck.** The signature over the server's survivor digest, with its identity
//!   key, as an honest client sends once its slice verified.
//! * **Unmasking.** The share of each survivor's `b` and each dropped client's `s^SK` that the
//!   request asks of it: dealt again for a stand-in owner, opened from the ciphertext for a
//!   measured one. The server rebuilds every secret and checks it against the owner's
//!   commitment or advertised key, as in any session, so a run that finishes shows the
//!   stand-ins' shares were right.
//!
//! The server's own work (building each stand-in's roster view and survivor slice, and every
//! receive and close) is timed as in a whole session; the driver's work for the stand-ins is
//! not counted.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::crypto::kx::PublicKey;
use crate::crypto::shamir::{self, SecretScalar};
use crate::error::Error;
use crate::ids::ClientId;
use crate::params::Params;
use crate::protocol::client;
use crate::protocol::graph::Graph;
use crate::protocol::messages as msg;

/// Which of an owner's secrets a dealing is of.
#[derive(Clone, Copy)]
pub(super) enum Secret {
    /// `s_u^SK`, revealed for a dropped owner.
    MaskKey,
    /// `b_u`, revealed for a surviving owner.
    SelfMask,
}

impl Secret {
    fn label(self) -> u8 {
        match self {
            Self::MaskKey => 0,
            Self::SelfMask => 1,
        }
    }
}

/// The stand-ins of one session.
pub(super) struct StandIns {
    /// Each stand-in's round-0 state: its keys and the secrets it deals.
    states: BTreeMap<ClientId, client::AdvertiseKeys>,
    /// The measured clients' share public keys: stand-ins seal to them and open what they
    /// sealed.
    measured: BTreeMap<ClientId, PublicKey>,
    /// The session's graph: whom each stand-in deals to.
    graph: Graph,
    /// Seeds each dealing's polynomial (and so every stand-in's shares).
    dealer_seed: Zeroizing<[u8; 32]>,
    /// What the measured clients sealed to stand-ins, by recipient.
    sealed_to: BTreeMap<ClientId, Vec<msg::SealedShares>>,
}

/// The shares the stand-ins reveal in Unmasking, dealt again: for each holder (by id), its
/// shares of the owners' self-mask seeds and of the owners' mask keys, each list ascending by
/// owner.
pub(super) struct Dealt {
    self_mask: BTreeMap<ClientId, Vec<(ClientId, SecretScalar)>>,
    key: BTreeMap<ClientId, Vec<(ClientId, SecretScalar)>>,
}

impl StandIns {
    pub(super) fn new(
        states: BTreeMap<ClientId, client::AdvertiseKeys>,
        measured: BTreeMap<ClientId, PublicKey>,
        graph: Graph,
        dealer_seed: [u8; 32],
    ) -> Self {
        Self {
            states,
            measured,
            graph,
            dealer_seed: Zeroizing::new(dealer_seed),
            sealed_to: BTreeMap::new(),
        }
    }

    /// The stand-ins, ascending.
    pub(super) fn ids(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.states.keys().copied()
    }

    pub(super) fn contains(&self, id: ClientId) -> bool {
        self.states.contains_key(&id)
    }

    /// A generator for `owner`'s dealing of `label` (or its filler), from the driver's seed.
    fn rng(&self, owner: ClientId, label: u8) -> ChaCha20Rng {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"secagg/sim/stand-in")
            .chain_update(&self.dealer_seed[..])
            .chain_update(owner.0.to_be_bytes())
            .chain_update([label])
            .finalize()
            .into();
        ChaCha20Rng::from_seed(seed)
    }

    /// Stand-in `owner`'s shares of `secret`, one per member of its neighbourhood (itself
    /// included), in id order: the same every time it is dealt.
    fn deal(&self, owner: ClientId, secret: Secret, t: usize) -> Result<Vec<shamir::Share>, Error> {
        let state = self
            .states
            .get(&owner)
            .ok_or(Error::Internal("a stand-in deals its own secrets"))?;
        let (mask_key, self_mask) = state.stand_in_secrets();
        let value = match secret {
            Secret::MaskKey => mask_key,
            Secret::SelfMask => self_mask,
        };
        let holders: Vec<_> = self
            .graph
            .view(owner)
            .iter()
            .map(|h| h.share_index())
            .collect();
        let mut rng = self.rng(owner, secret.label());
        shamir::split(value, t, &holders, &mut rng)
            .map_err(|_| Error::Internal("a neighbourhood holds at least t members"))
    }

    /// Stand-in `u`'s ShareKeys message, for a roster of digest `roster_digest`.
    pub(super) fn share_keys(
        &self,
        params: &Params,
        u: ClientId,
        roster_digest: &[u8; 32],
    ) -> Result<msg::ShareKeys, Error> {
        let state = self
            .states
            .get(&u)
            .ok_or(Error::Internal("a stand-in has a round-0 state"))?;
        let neighbours = self.graph.neighbours(u);
        let t = params.threshold();
        // Dealt only if a measured client is among the neighbours.
        let mut dealt = None;
        let mut filler = self.rng(u, 2);
        let mut sealed = Vec::with_capacity(neighbours.len());
        for &v in &neighbours {
            let ciphertext = match self.measured.get(&v) {
                Some(pk) => {
                    if dealt.is_none() {
                        dealt = Some((
                            self.deal(u, Secret::MaskKey, t)?,
                            self.deal(u, Secret::SelfMask, t)?,
                        ));
                    }
                    let (keys, seeds) =
                        dealt.as_ref().ok_or(Error::Internal("dealt just above"))?;
                    let index = v.share_index();
                    let of = |shares: &[shamir::Share]| {
                        shares
                            .iter()
                            .find(|s| s.index == index)
                            .map(|s| s.value.duplicate())
                            .ok_or(Error::Internal("a neighbour holds a share"))
                    };
                    state.stand_in_seal(v, pk, &of(keys)?, &of(seeds)?)?
                }
                None => {
                    let mut bytes = [0u8; msg::SEALED_SHARES_LEN];
                    filler.fill_bytes(&mut bytes);
                    bytes
                }
            };
            sealed.push(msg::SealedShares {
                sender: u,
                recipient: v,
                ciphertext,
            });
        }
        Ok(msg::ShareKeys {
            session: *params.session(),
            sender: u,
            sealed,
            roster_signature: state.stand_in_roster_signature(roster_digest),
        })
    }

    /// Keeps what a measured client sealed to stand-ins (they open it in Unmasking).
    pub(super) fn keep_sealed(&mut self, message: &msg::ShareKeys) {
        for s in &message.sealed {
            if self.states.contains_key(&s.recipient) {
                self.sealed_to
                    .entry(s.recipient)
                    .or_default()
                    .push(s.clone());
            }
        }
    }

    /// Stand-in `u`'s ConsistencyCheck signature over `survivor_digest` (malicious mode).
    pub(super) fn survivor_signature(
        &self,
        u: ClientId,
        survivor_digest: &[u8; 32],
    ) -> Option<crate::crypto::sign::Signature> {
        self.states
            .get(&u)?
            .stand_in_survivor_signature(survivor_digest)
    }

    /// The chunks of owners whose shares the stand-ins reveal: every stand-in among the
    /// survivors (its `b`) and the dropped (its `s^SK`), in order, at most `chunk` a piece.
    pub(super) fn owners(
        &self,
        survivors: &BTreeSet<ClientId>,
        dropped: &BTreeSet<ClientId>,
        chunk: usize,
    ) -> Vec<Vec<(ClientId, Secret)>> {
        let mut owners: Vec<(ClientId, Secret)> = survivors
            .iter()
            .map(|&u| (u, Secret::SelfMask))
            .chain(dropped.iter().map(|&u| (u, Secret::MaskKey)))
            .filter(|(u, _)| self.contains(*u))
            .collect();
        owners.sort_unstable_by_key(|(u, _)| *u);
        owners.chunks(chunk.max(1)).map(<[_]>::to_vec).collect()
    }

    /// Deals again the shares of a chunk of [`StandIns::owners`].
    pub(super) fn deal_chunk(
        &self,
        params: &Params,
        owners: &[(ClientId, Secret)],
    ) -> Result<Vec<(ClientId, Secret, Vec<shamir::Share>)>, Error> {
        owners
            .iter()
            .map(|&(u, secret)| Ok((u, secret, self.deal(u, secret, params.threshold())?)))
            .collect()
    }

    /// Files a dealt chunk under the stand-in holders (measured holders have theirs from
    /// the ciphertexts).
    pub(super) fn file(
        &self,
        dealt: &mut Dealt,
        chunk: Vec<(ClientId, Secret, Vec<shamir::Share>)>,
    ) {
        for (owner, secret, shares) in chunk {
            let holders = self.graph.view(owner);
            for (holder, share) in holders.into_iter().zip(shares) {
                if !self.contains(holder) {
                    continue;
                }
                let lists = match secret {
                    Secret::SelfMask => &mut dealt.self_mask,
                    Secret::MaskKey => &mut dealt.key,
                };
                lists.entry(holder).or_default().push((owner, share.value));
            }
        }
    }

    /// Stand-in `v`'s answer to its unmasking request, from `dealt` (whose lists of `v` it
    /// takes) and, for a measured owner, the ciphertext it sealed to `v`.
    pub(super) fn unmasking(
        &self,
        params: &Params,
        request: &msg::UnmaskingRequest,
        dealt: &mut Dealt,
    ) -> Result<msg::UnmaskingResponse, Error> {
        let v = request.recipient;
        let state = self
            .states
            .get(&v)
            .ok_or(Error::Internal("a stand-in has a round-0 state"))?;
        let mut self_mask_dealt = dealt.self_mask.remove(&v).unwrap_or_default().into_iter();
        let mut key_dealt = dealt.key.remove(&v).unwrap_or_default().into_iter();
        let mut self_mask_shares = Vec::with_capacity(request.survivors.len());
        for &u in &request.survivors {
            let share = match self.measured.get(&u) {
                Some(pk) => {
                    let sealed = self
                        .sealed_to
                        .get(&v)
                        .and_then(|l| l.iter().find(|s| s.sender == u))
                        .ok_or(Error::Internal(
                            "a measured neighbour sealed to this stand-in",
                        ))?;
                    state.stand_in_open(sealed, pk)?.1
                }
                None => match self_mask_dealt.next() {
                    Some((owner, share)) if owner == u => share,
                    _ => return Err(Error::Internal("dealt shares follow the request")),
                },
            };
            self_mask_shares.push((u, share));
        }
        let mut key_shares = Vec::with_capacity(request.dropped.len());
        for &u in &request.dropped {
            match key_dealt.next() {
                Some((owner, share)) if owner == u => key_shares.push((u, share)),
                _ => return Err(Error::Internal("dealt shares follow the request")),
            }
        }
        Ok(msg::UnmaskingResponse {
            session: *params.session(),
            sender: v,
            self_mask_shares,
            key_shares,
        })
    }
}

impl Dealt {
    pub(super) fn new() -> Self {
        Self {
            self_mask: BTreeMap::new(),
            key: BTreeMap::new(),
        }
    }
}
