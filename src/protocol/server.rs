//! The server side: it collects one round with `receive(&mut self, ..)` and advances with
//! `close(self)`.
//!
//! `receive` validates one client's message completely before it changes anything, so a bad
//! message only gets that client rejected. `close` is called by the driver when the round's
//! deadline has passed, and aborts only when fewer than `t` clients remain.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use subtle::ConstantTimeEq;

use crate::crypto::kx::SecretKey;
use crate::crypto::prg::{self, Sign};
use crate::crypto::shamir::{Lagrange, SecretScalar};
use crate::error::{AbortReason, Error, Misbehavior, Rejected};
use crate::ids::ClientId;
use crate::params::Params;
use crate::protocol::Round;
use crate::protocol::client::{
    pairwise_prg_seed, pairwise_sign, self_mask_commitment, self_mask_prg_seed,
};
use crate::protocol::messages::{self as msg, SEALED_SHARES_LEN};

fn reject(client: ClientId, round: Round, reason: Misbehavior) -> Rejected {
    Rejected {
        client,
        round,
        reason,
    }
}

fn enough(params: &Params, have: usize, round: Round) -> Result<(), Error> {
    if have < params.threshold() {
        return Err(AbortReason::TooFewSurvivors {
            round,
            have,
            need: params.threshold(),
        }
        .into());
    }
    Ok(())
}

/// Checks the parts every client message shares: the session, and that the claimed sender
/// is the authenticated one.
fn check_envelope(
    params: &Params,
    from: ClientId,
    session: &crate::SessionId,
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

/// Round 0 (AdvertiseKeys), server side: collects the clients' public keys.
#[derive(Debug)]
pub struct AdvertiseKeys {
    params: Params,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    keys: BTreeSet<crate::crypto::kx::PublicKey>,
}

impl AdvertiseKeys {
    /// Opens a session.
    #[must_use]
    pub fn new(params: &Params) -> Self {
        Self {
            params: params.clone(),
            roster: BTreeMap::new(),
            keys: BTreeSet::new(),
        }
    }

    /// Receives one client's advertisement. `from` is the sender as authenticated by the
    /// transport.
    ///
    /// # Errors
    /// [`Rejected`] for another session, a claimed sender other than `from`, a second
    /// message, a client beyond the session's size, a repeated or small-order key.
    pub fn receive(&mut self, from: ClientId, message: msg::AdvertiseKeys) -> Result<(), Rejected> {
        let round = Round::AdvertiseKeys;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if self.roster.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        if self.roster.len() >= self.params.clients() {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        let (c, s) = (message.share_public_key, message.mask_public_key);
        // SECURITY: distinct keys, none of small order, so every pairwise secret depends on
        // both parties' private keys.
        if c == s || self.keys.contains(&c) || self.keys.contains(&s) {
            return Err(reject(from, round, Misbehavior::RosterDuplicateKey));
        }
        if c.is_small_order() || s.is_small_order() {
            return Err(reject(
                from,
                round,
                Misbehavior::NonContributoryKey { peer: from },
            ));
        }
        self.keys.insert(c);
        self.keys.insert(s);
        self.roster.insert(from, message);
        Ok(())
    }

    /// Ends Round 0: the roster `U_1` goes to every client in it.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients advertised keys.
    #[must_use = "the roster must be sent"]
    pub fn close(self) -> Result<(ShareKeys, msg::Roster), Error> {
        enough(&self.params, self.roster.len(), Round::AdvertiseKeys)?;
        let roster = msg::Roster {
            session: *self.params.session(),
            entries: self.roster.values().cloned().collect(),
        };
        let next = ShareKeys {
            params: self.params,
            roster: self.roster,
            inbox: BTreeMap::new(),
        };
        Ok((next, roster))
    }
}

/// Round 1 (ShareKeys), server side: relays sealed shares.
#[derive(Debug)]
pub struct ShareKeys {
    params: Params,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    inbox: BTreeMap<ClientId, Vec<msg::SealedShares>>,
}

impl ShareKeys {
    /// Receives one client's sealed shares.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not in the roster, a second
    /// message, or sealed shares that are not exactly one per other roster member, from the
    /// sender, of the sealed length.
    pub fn receive(&mut self, from: ClientId, message: msg::ShareKeys) -> Result<(), Rejected> {
        let round = Round::ShareKeys;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.roster.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.inbox.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        if message.sealed.len() + 1 != self.roster.len() {
            return Err(reject(
                from,
                round,
                Misbehavior::SharesMismatch { peer: from },
            ));
        }
        let mut recipients = BTreeSet::new();
        for s in &message.sealed {
            let ok = s.sender == from
                && s.recipient != from
                && self.roster.contains_key(&s.recipient)
                && s.ciphertext.len() == SEALED_SHARES_LEN
                && recipients.insert(s.recipient);
            if !ok {
                return Err(reject(
                    from,
                    round,
                    Misbehavior::SharesMismatch { peer: s.recipient },
                ));
            }
        }
        self.inbox.insert(from, message.sealed);
        Ok(())
    }

    /// Ends Round 1: the senders form `U_2`; each gets the shares the others sealed to it.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients sent shares.
    #[must_use = "the deliveries must be sent"]
    pub fn close(self) -> Result<(MaskedInput, Vec<msg::SharesDelivery>), Error> {
        enough(&self.params, self.inbox.len(), Round::ShareKeys)?;
        let session = *self.params.session();
        let mut deliveries: BTreeMap<ClientId, msg::SharesDelivery> = self
            .inbox
            .keys()
            .map(|&recipient| {
                let sealed = Vec::with_capacity(self.inbox.len() - 1);
                (
                    recipient,
                    msg::SharesDelivery {
                        session,
                        recipient,
                        sealed,
                    },
                )
            })
            .collect();
        for sealed in self.inbox.into_values().flatten() {
            // Shares to a client that did not finish ShareKeys go nowhere.
            if let Some(d) = deliveries.get_mut(&sealed.recipient) {
                d.sealed.push(sealed);
            }
        }
        let share_keys_senders: BTreeSet<ClientId> = deliveries.keys().copied().collect();
        let next = MaskedInput {
            accumulator: vec![0; self.params.vector_len()],
            params: self.params,
            roster: self.roster,
            share_keys_senders,
            survivors: BTreeSet::new(),
        };
        Ok((next, deliveries.into_values().collect()))
    }
}

/// Round 2 (MaskedInputCollection), server side: adds each masked input into one accumulator.
pub struct MaskedInput {
    params: Params,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
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

impl MaskedInput {
    /// Receives one masked input and adds it into the accumulator.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not in `U_2`, a second message,
    /// a vector of the wrong length or with an element not below `m`.
    pub fn receive(&mut self, from: ClientId, message: msg::MaskedInput) -> Result<(), Rejected> {
        let round = Round::MaskedInput;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.share_keys_senders.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.survivors.contains(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        let expected = self.params.vector_len();
        if message.masked.len() != expected {
            let what = Misbehavior::VectorLength {
                got: message.masked.len(),
                expected,
            };
            return Err(reject(from, round, what));
        }
        let modulus = self.params.modulus();
        if !message.masked.iter().all(|y| modulus.contains(*y)) {
            return Err(reject(from, round, Misbehavior::ElementOutOfRange));
        }
        for (acc, y) in self.accumulator.iter_mut().zip(&message.masked) {
            *acc = modulus.add(*acc, *y);
        }
        self.survivors.insert(from);
        Ok(())
    }

    /// Ends Round 2: the senders form `U_3` (survivors); `U_2 \ U_3` dropped.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients sent masked inputs.
    #[must_use = "the unmasking request must be sent"]
    pub fn close(self) -> Result<(Unmasking, msg::UnmaskingRequest), Error> {
        enough(&self.params, self.survivors.len(), Round::MaskedInput)?;
        // SECURITY: survivors and dropped are disjoint by construction, so no client is
        // ever asked for both shares of one peer.
        let dropped: BTreeSet<ClientId> = self
            .share_keys_senders
            .difference(&self.survivors)
            .copied()
            .collect();
        let request = msg::UnmaskingRequest {
            session: *self.params.session(),
            survivors: self.survivors.iter().copied().collect(),
            dropped: dropped.iter().copied().collect(),
        };
        let next = Unmasking {
            params: self.params,
            roster: self.roster,
            survivors: self.survivors,
            dropped,
            accumulator: self.accumulator,
            responses: BTreeMap::new(),
        };
        Ok((next, request))
    }
}

/// Round 4 (Unmasking), server side: collects shares and removes the masks.
pub struct Unmasking {
    params: Params,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    survivors: BTreeSet<ClientId>,
    dropped: BTreeSet<ClientId>,
    accumulator: Vec<u64>,
    responses: BTreeMap<ClientId, msg::UnmaskingResponse>,
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

    /// Receives one survivor's shares.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not among the survivors, a
    /// second message, or shares that are not exactly one self-mask share per survivor and
    /// one key share per dropped client.
    pub fn receive(
        &mut self,
        from: ClientId,
        message: msg::UnmaskingResponse,
    ) -> Result<(), Rejected> {
        let round = Round::Unmasking;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.survivors.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.responses.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        let lists = [
            (&message.self_mask_shares, &self.survivors),
            (&message.key_shares, &self.dropped),
        ];
        for (shares, owners) in lists {
            if shares.len() != owners.len() {
                let owner = owners.iter().next().copied().unwrap_or(from);
                return Err(reject(
                    from,
                    round,
                    Misbehavior::SharesForWrongSet { owner },
                ));
            }
            // Both are ascending and of one length: equal iff element-wise equal.
            for ((owner, _), expected) in shares.iter().zip(owners.iter()) {
                if owner != expected {
                    return Err(reject(
                        from,
                        round,
                        Misbehavior::SharesForWrongSet { owner: *owner },
                    ));
                }
            }
        }
        self.responses.insert(from, message);
        Ok(())
    }

    /// Ends Round 4: rebuilds every survivor's self-mask seed and every dropped client's
    /// mask key from `t` responders' shares, removes their masks and returns the sum.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` survivors responded, or if a rebuilt secret does not
    /// match its owner's public commitment (a share holder lied): never a wrong sum.
    pub fn finish(mut self) -> Result<Output, Error> {
        let t = self.params.threshold();
        enough(&self.params, self.responses.len(), Round::Unmasking)?;
        // Any t responders suffice; every responder holds a share of every secret, so one
        // set of Lagrange coefficients serves them all.
        let holders: Vec<&msg::UnmaskingResponse> = self.responses.values().take(t).collect();
        let indices: Vec<_> = holders.iter().map(|r| r.sender.share_index()).collect();
        let lagrange = Lagrange::new(&indices, t).map_err(|_| AbortReason::TooFewSurvivors {
            round: Round::Unmasking,
            have: self.responses.len(),
            need: t,
        })?;
        let session = *self.params.session();
        let modulus = self.params.modulus();
        for (i, &u) in self.survivors.iter().enumerate() {
            let b_u = rebuild(&lagrange, &holders, i, u, |r| &r.self_mask_shares)?;
            let committed = self
                .roster
                .get(&u)
                .map(|e| e.self_mask_commitment)
                .unwrap_or_default();
            // SECURITY: a rebuilt seed that does not match the owner's commitment means a
            // holder sent a bad share; using it would give a wrong sum.
            if !bool::from(self_mask_commitment(&session, u, &b_u).ct_eq(&committed)) {
                return Err(AbortReason::ReconstructionMismatch { owner: u }.into());
            }
            let seed = self_mask_prg_seed(&session, u, &b_u);
            prg::apply_mask(seed.bytes(), modulus, Sign::Sub, &mut self.accumulator);
        }
        for (i, &u) in self.dropped.iter().enumerate() {
            let s_sk = rebuild(&lagrange, &holders, i, u, |r| &r.key_shares)?;
            let mask_key = SecretKey::from_scalar(s_sk.scalar());
            let advertised = self.roster.get(&u).map(|e| e.mask_public_key);
            if Some(mask_key.public_key()) != advertised {
                return Err(AbortReason::ReconstructionMismatch { owner: u }.into());
            }
            for &v in &self.survivors {
                let Some(v_key) = self.roster.get(&v).map(|e| e.mask_public_key) else {
                    continue;
                };
                let seed = pairwise_prg_seed(&mask_key, &v_key, &session, u, v)
                    .map_err(|()| AbortReason::ReconstructionMismatch { owner: u })?;
                // v added this mask with pairwise_sign(v, u); take it back out.
                prg::apply_mask(
                    seed.bytes(),
                    modulus,
                    pairwise_sign(v, u).flip(),
                    &mut self.accumulator,
                );
            }
        }
        modulus.reduce_lazy(&mut self.accumulator);
        Ok(Output {
            sum: self.accumulator,
            included: self.survivors.into_iter().collect(),
        })
    }
}

/// Rebuilds the secret of `owner`, found at position `i` of each holder's share list.
fn rebuild(
    lagrange: &Lagrange,
    holders: &[&msg::UnmaskingResponse],
    i: usize,
    owner: ClientId,
    list: impl Fn(&msg::UnmaskingResponse) -> &Vec<(ClientId, SecretScalar)>,
) -> Result<SecretScalar, Error> {
    let mismatch = || Error::from(AbortReason::ReconstructionMismatch { owner });
    let mut values = Vec::with_capacity(holders.len());
    for r in holders {
        let (o, share) = list(r).get(i).ok_or_else(mismatch)?;
        if *o != owner {
            return Err(mismatch());
        }
        values.push(share);
    }
    lagrange.reconstruct(values).map_err(|_| mismatch())
}
