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
use zeroize::Zeroizing;

use crate::crypto::kx::SecretKey;
use crate::crypto::prg::{self, SeededMask, Sign};
use crate::crypto::shamir::{Lagrange, SecretScalar};
use crate::crypto::sign::{Pki, Signature};
use crate::error::{AbortReason, ApiMisuse, Error, Misbehavior, Rejected};
use crate::ids::{ClientId, ShareIndex};
use crate::params::{Params, ThreatModel};
use crate::protocol::Round;
use crate::protocol::derive::{
    pairwise_prg_seed, pairwise_sign, self_mask_commitment, self_mask_prg_seed,
};
use crate::protocol::graph::{Graph, roster_digest};
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

/// Round 0 (AdvertiseKeys), server side: collects the clients' public keys.
#[derive(Debug)]
pub struct AdvertiseKeys {
    params: Params,
    pki: Option<Pki>,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    keys: BTreeSet<crate::crypto::kx::PublicKey>,
}

impl AdvertiseKeys {
    /// Opens a session.
    #[must_use]
    pub fn new(params: &Params) -> Self {
        Self {
            params: params.clone(),
            pki: None,
            roster: BTreeMap::new(),
            keys: BTreeSet::new(),
        }
    }

    /// Opens a session in which the server also verifies identity signatures against the
    /// PKI, so that one client with a bad signature is rejected alone instead of making
    /// every honest client abort. (Clients verify regardless: they do not trust the server.)
    #[must_use]
    pub fn with_pki(params: &Params, pki: Pki) -> Self {
        Self {
            pki: Some(pki),
            ..Self::new(params)
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
        // SECURITY: one encoding per key (as the wire decoder requires), so that the byte
        // comparisons below are key comparisons through the typed API too.
        if !c.is_canonical() || !s.is_canonical() {
            return Err(reject(
                from,
                round,
                Misbehavior::NonCanonicalKey { peer: from },
            ));
        }
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
        if self.params.threat_model() == ThreatModel::Malicious {
            let verified = match (&self.pki, &message.signature) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(pki), Some(signature)) => pki
                    .get(from)
                    .is_some_and(|key| key.verify_advertisement(&message, signature).is_ok()),
            };
            if !verified {
                return Err(reject(
                    from,
                    round,
                    Misbehavior::BadSignature { peer: from },
                ));
            }
        }
        self.keys.insert(c);
        self.keys.insert(s);
        self.roster.insert(from, message);
        Ok(())
    }

    /// Ends Round 0: the roster `U_1` goes to every client in it.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients, or fewer than the session's minimum
    /// roster ([`Params::min_roster`]), advertised keys: honest clients would refuse it.
    #[must_use = "the roster must be sent"]
    pub fn close(self) -> Result<(ShareKeys, msg::Roster), Error> {
        enough(&self.params, self.roster.len(), Round::AdvertiseKeys)?;
        if self.roster.len() < self.params.min_roster() {
            return Err(AbortReason::TooFewSurvivors {
                round: Round::AdvertiseKeys,
                have: self.roster.len(),
                need: self.params.min_roster(),
            }
            .into());
        }
        let roster = msg::Roster {
            session: *self.params.session(),
            entries: self.roster.values().cloned().collect(),
        };
        let members: Vec<ClientId> = self.roster.keys().copied().collect();
        let digest = roster_digest(&roster.entries);
        let graph = Graph::new(
            self.params.neighbourhood(),
            self.params.session(),
            &digest,
            &members,
        );
        let next = ShareKeys {
            params: self.params,
            pki: self.pki,
            roster: self.roster,
            roster_digest: digest,
            graph,
            inbox: BTreeMap::new(),
        };
        Ok((next, roster))
    }
}

/// Round 1 (ShareKeys), server side: relays sealed shares.
#[derive(Debug)]
pub struct ShareKeys {
    params: Params,
    pki: Option<Pki>,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    roster_digest: [u8; 32],
    graph: Graph,
    inbox: BTreeMap<ClientId, (Vec<msg::SealedShares>, Option<Signature>)>,
}

impl ShareKeys {
    /// Receives one client's sealed shares.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not in the roster, a second
    /// message, sealed shares that are not exactly one per neighbour of the sender (every
    /// other roster member on the complete graph), from the sender, of the sealed length, or
    /// (malicious mode) a roster signature that is missing or, with a PKI, does not verify.
    pub fn receive(&mut self, from: ClientId, message: msg::ShareKeys) -> Result<(), Rejected> {
        let round = Round::ShareKeys;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.roster.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.inbox.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        let neighbours = self.graph.neighbours(from);
        if message.sealed.len() != neighbours.len() {
            let what = Misbehavior::SharesMismatch { peer: from };
            return Err(reject(from, round, what));
        }
        let mut recipients = BTreeSet::new();
        for s in &message.sealed {
            let ok = s.sender == from
                && neighbours.contains(&s.recipient)
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
        let signed = match (self.params.threat_model(), &message.roster_signature) {
            (ThreatModel::HonestButCurious, signature) => signature.is_none(),
            (ThreatModel::Malicious, None) => false,
            (ThreatModel::Malicious, Some(signature)) => self.pki.as_ref().is_none_or(|pki| {
                pki.get(from).is_some_and(|key| {
                    key.verify_roster(self.params.session(), &self.roster_digest, signature)
                        .is_ok()
                })
            }),
        };
        if !signed {
            return Err(reject(
                from,
                round,
                Misbehavior::BadSignature { peer: from },
            ));
        }
        self.inbox
            .insert(from, (message.sealed, message.roster_signature));
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
                        roster_signatures: Vec::new(),
                    },
                )
            })
            .collect();
        for (sender, (sealed, roster_signature)) in self.inbox {
            for sealed in sealed {
                // Shares to a client that did not finish ShareKeys go nowhere.
                if let Some(d) = deliveries.get_mut(&sealed.recipient) {
                    // Senders come in ascending order, so both lists stay sorted.
                    if let Some(signature) = roster_signature {
                        d.roster_signatures.push((sender, signature));
                    }
                    d.sealed.push(sealed);
                }
            }
        }
        let share_keys_senders: BTreeSet<ClientId> = deliveries.keys().copied().collect();
        let next = MaskedInput {
            accumulator: vec![0; self.params.vector_len()],
            params: self.params,
            pki: self.pki,
            roster: self.roster,
            roster_digest: self.roster_digest,
            graph: self.graph,
            share_keys_senders,
            survivors: BTreeSet::new(),
        };
        Ok((next, deliveries.into_values().collect()))
    }
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

impl MaskedInput {
    /// Receives one masked input and adds it into the accumulator.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not in `U_2`, a second message,
    /// one bound to another roster, a vector of the wrong length or with an element not
    /// below `m`.
    pub fn receive(&mut self, from: ClientId, message: msg::MaskedInput) -> Result<(), Rejected> {
        let round = Round::MaskedInput;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.share_keys_senders.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.survivors.contains(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        // A wrong sum is never reported as a right one: a masked input from an earlier
        // session under the same id (or for another roster) is refused, not summed.
        if message.roster_digest != self.roster_digest {
            return Err(reject(from, round, Misbehavior::WrongRoster));
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
        if modulus.power_of_two_bits().is_some() {
            // Kept modulo 2^64 (a multiple of m), like the masks, and reduced once in
            // `finish`.
            for (acc, y) in self.accumulator.iter_mut().zip(&message.masked) {
                *acc = acc.wrapping_add(*y);
            }
        } else {
            for (acc, y) in self.accumulator.iter_mut().zip(&message.masked) {
                *acc = modulus.add(*acc, *y);
            }
        }
        self.survivors.insert(from);
        Ok(())
    }

    /// Ends Round 2 against an honest-but-curious server: the senders form `U_3`
    /// (survivors); `U_2 \ U_3` dropped. Each survivor gets the survivors and dropped clients
    /// of its own neighbourhood.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients sent masked inputs; [`Error::ApiMisuse`] in
    /// the malicious-server mode, where [`MaskedInput::close_for_consistency`] comes next.
    #[must_use = "the unmasking requests must be sent"]
    pub fn close(self) -> Result<(Unmasking, Vec<msg::UnmaskingRequest>), Error> {
        if self.params.threat_model() != ThreatModel::HonestButCurious {
            return Err(wrong_model(&self.params));
        }
        enough(&self.params, self.survivors.len(), Round::MaskedInput)?;
        self.check_connected()?;
        let responders = self.survivors.clone();
        Ok(self.into_unmasking(responders, &BTreeMap::new()))
    }

    /// Ends Round 2 in the malicious-server mode: every survivor gets the whole survivor
    /// set `U_3` to sign (ConsistencyCheck).
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients sent masked inputs; [`Error::ApiMisuse`]
    /// against an honest-but-curious server.
    #[must_use = "the consistency requests must be sent"]
    pub fn close_for_consistency(
        self,
    ) -> Result<(Consistency, Vec<msg::ConsistencyRequest>), Error> {
        if self.params.threat_model() != ThreatModel::Malicious {
            return Err(wrong_model(&self.params));
        }
        enough(&self.params, self.survivors.len(), Round::MaskedInput)?;
        self.check_connected()?;
        let session = *self.params.session();
        let survivors: Vec<ClientId> = self.survivors.iter().copied().collect();
        let requests = survivors
            .iter()
            .map(|&recipient| msg::ConsistencyRequest {
                session,
                recipient,
                survivors: survivors.clone(),
            })
            .collect();
        Ok((
            Consistency {
                masked: self,
                signatures: BTreeMap::new(),
            },
            requests,
        ))
    }

    /// SECURITY: the survivors must form one connected component of the graph. Two
    /// survivors that are neighbours masked against each other, so the masks of the edges
    /// leaving a group of survivors hide that group's sum; with no such edge (dropouts can cut
    /// a sparse graph) unmasking would reveal each group's sum separately, and a small group
    /// is a few inputs. Checked before any share is requested.
    fn check_connected(&self) -> Result<(), Error> {
        let components = self.graph.components(&self.survivors);
        if components > 1 {
            return Err(AbortReason::DisconnectedSurvivors { components }.into());
        }
        Ok(())
    }

    /// Builds the Unmasking state and one request per responder of the previous round.
    fn into_unmasking(
        self,
        responders: BTreeSet<ClientId>,
        signatures: &BTreeMap<ClientId, Signature>,
    ) -> (Unmasking, Vec<msg::UnmaskingRequest>) {
        // SECURITY: survivors and dropped are disjoint by construction, so no client is
        // ever asked for both shares of one peer.
        let dropped: BTreeSet<ClientId> = self
            .share_keys_senders
            .difference(&self.survivors)
            .copied()
            .collect();
        let session = *self.params.session();
        let requests = responders
            .iter()
            .map(|&v| {
                let view = self.graph.view(v);
                msg::UnmaskingRequest {
                    session,
                    recipient: v,
                    survivors: within(&view, &self.survivors).collect(),
                    dropped: within(&view, &dropped).collect(),
                    signatures: view
                        .iter()
                        .filter_map(|u| signatures.get(u).map(|sig| (*u, *sig)))
                        .collect(),
                }
            })
            .collect();
        let next = Unmasking {
            params: self.params,
            roster: self.roster,
            graph: self.graph,
            survivors: self.survivors,
            dropped,
            responders,
            accumulator: self.accumulator,
            responses: BTreeMap::new(),
        };
        (next, requests)
    }
}

/// The members of `set` in `view` (a client and its neighbours), ascending, in
/// `O(|view| log |set|)`: never a scan of the whole set per client.
fn within<'a>(
    view: &'a BTreeSet<ClientId>,
    set: &'a BTreeSet<ClientId>,
) -> impl Iterator<Item = ClientId> + 'a {
    view.iter().copied().filter(|u| set.contains(u))
}

fn wrong_model(params: &Params) -> Error {
    ApiMisuse::WrongThreatModel {
        session: params.threat_model(),
    }
    .into()
}

/// Round 3 (ConsistencyCheck), server side, malicious-server mode: collects the survivors'
/// signatures over `U_3`.
pub struct Consistency {
    masked: MaskedInput,
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

impl Consistency {
    /// Receives one survivor's signature over `U_3`, verified against the PKI if the server
    /// has one.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not among the survivors, a
    /// second message or a signature that does not verify.
    pub fn receive(
        &mut self,
        from: ClientId,
        message: msg::ConsistencySignature,
    ) -> Result<(), Rejected> {
        let round = Round::Consistency;
        let masked = &self.masked;
        check_envelope(
            &masked.params,
            from,
            &message.session,
            message.sender,
            round,
        )?;
        if !masked.survivors.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.signatures.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        if let Some(pki) = &masked.pki {
            let survivors: Vec<ClientId> = masked.survivors.iter().copied().collect();
            let valid = pki.get(from).is_some_and(|key| {
                key.verify_survivors(masked.params.session(), &survivors, &message.signature)
                    .is_ok()
            });
            if !valid {
                return Err(reject(
                    from,
                    round,
                    Misbehavior::BadSignature { peer: from },
                ));
            }
        }
        self.signatures.insert(from, message.signature);
        Ok(())
    }

    /// Ends Round 3: the signers form `U_4`; each of them with at least `t` signers in its
    /// neighbourhood gets its neighbourhood's survivors, dropped clients and signatures.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` survivors signed.
    #[must_use = "the unmasking requests must be sent"]
    pub fn close(self) -> Result<(Unmasking, Vec<msg::UnmaskingRequest>), Error> {
        // A survivor reveals nothing without t signatures from its own neighbourhood (itself
        // included), so only those that have them are asked; the others could only refuse.
        enough(
            &self.masked.params,
            self.signatures.len(),
            Round::Consistency,
        )?;
        let t = self.masked.params.threshold();
        let graph = &self.masked.graph;
        let signers = &self.signatures;
        let responders: BTreeSet<ClientId> = signers
            .keys()
            .copied()
            .filter(|&v| {
                let view = graph.view(v);
                view.iter().filter(|u| signers.contains_key(u)).count() >= t
            })
            .collect();
        enough(&self.masked.params, responders.len(), Round::Consistency)?;
        Ok(self.masked.into_unmasking(responders, &self.signatures))
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

    /// Receives one survivor's shares.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not among the survivors, a
    /// second message, or shares that are not exactly one self-mask share per survivor and
    /// one key share per dropped client of the sender's neighbourhood.
    pub fn receive(
        &mut self,
        from: ClientId,
        message: msg::UnmaskingResponse,
    ) -> Result<(), Rejected> {
        let round = Round::Unmasking;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.responders.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.responses.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        let view = self.graph.view(from);
        let self_mask_owners: Vec<ClientId> = within(&view, &self.survivors).collect();
        let key_owners: Vec<ClientId> = within(&view, &self.dropped).collect();
        let lists = [
            (&message.self_mask_shares, &self_mask_owners),
            (&message.key_shares, &key_owners),
        ];
        for (shares, owners) in lists {
            if shares.len() != owners.len() {
                let owner = owners.first().copied().unwrap_or(from);
                return Err(reject(
                    from,
                    round,
                    Misbehavior::SharesForWrongSet { owner },
                ));
            }
            for ((owner, _), expected) in shares.iter().zip(owners) {
                if owner != expected {
                    let what = Misbehavior::SharesForWrongSet { owner: *owner };
                    return Err(reject(from, round, what));
                }
            }
        }
        let msg::UnmaskingResponse {
            self_mask_shares,
            key_shares,
            ..
        } = message;
        let revealed = RevealedShares {
            self_mask: self_mask_shares.into_iter().collect(),
            key: key_shares.into_iter().collect(),
        };
        self.responses.insert(from, revealed);
        Ok(())
    }

    /// Ends Round 4: rebuilds every survivor's self-mask seed and every dropped client's
    /// mask key from `t` of its share holders' responses, removes their masks and returns
    /// the sum.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` survivors responded, or fewer than `t` of one
    /// client's share holders, or if a rebuilt secret does not match its owner's public
    /// commitment (a share holder lied): never a wrong sum.
    pub fn finish(mut self) -> Result<Output, Error> {
        enough(&self.params, self.responses.len(), Round::Unmasking)?;
        let modulus = self.params.modulus();
        // Every secret is rebuilt and checked before any mask is derived: the first failing
        // survivor's error, then the first failing dropped client's.
        let mut self_masks = Self::per_owner(&self.survivors, |cache, u| self.self_mask(cache, u));
        first_error(&self_masks)?;
        let mask_keys = Self::per_owner(&self.dropped, |cache, u| self.mask_key(cache, u));
        first_error(&mask_keys)?;
        let pairs = self.pairs_of_dropped(&mask_keys);
        // SECURITY: these seeds unmask the survivors' inputs. They are moved (each source
        // wiped) into zeroizing storage allocated at its final capacity, and every element
        // wipes itself on drop, so no reallocation leaves an unwiped copy behind.
        let mut masks = Zeroizing::new(Vec::with_capacity(
            self_masks.len().saturating_add(pairs.len()),
        ));
        masks.extend(
            self_masks
                .iter_mut()
                .filter_map(|r| r.as_mut().ok())
                .map(SeededMask::take),
        );
        let mut pairwise = self.pairwise_masks(&mask_keys, &pairs);
        first_error(&pairwise)?;
        masks.extend(
            pairwise
                .iter_mut()
                .filter_map(|r| r.as_mut().ok())
                .map(SeededMask::take),
        );
        prg::apply_masks(
            &masks,
            self.params.mask_suite(),
            modulus,
            &mut self.accumulator,
        );
        modulus.reduce_lazy(&mut self.accumulator);
        Ok(Output {
            sum: self.accumulator,
            included: self.survivors.into_iter().collect(),
            mask_expansions: masks.len(),
        })
    }

    /// `rebuild(cache, owner)` for every owner, in owner order: in parallel with the
    /// `parallel` feature, each thread with its own Lagrange cache. The results are written
    /// in place into one vector of their final length, never moved.
    fn per_owner<T: Send>(
        owners: &BTreeSet<ClientId>,
        rebuild: impl Fn(&mut LagrangeCache, ClientId) -> Result<T, Error> + Sync,
    ) -> Vec<Result<T, Error>> {
        let owners: Vec<ClientId> = owners.iter().copied().collect();
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            let mut results = Vec::with_capacity(owners.len());
            owners
                .par_iter()
                .map_init(LagrangeCache::default, |cache, &u| rebuild(cache, u))
                .collect_into_vec(&mut results);
            results
        }
        #[cfg(not(feature = "parallel"))]
        {
            let mut cache = LagrangeCache::default();
            let mut results = Vec::with_capacity(owners.len());
            results.extend(owners.iter().map(|&u| rebuild(&mut cache, u)));
            results
        }
    }

    /// The seed of survivor `u`'s self-mask, from its rebuilt and checked `b_u`.
    fn self_mask(&self, cache: &mut LagrangeCache, u: ClientId) -> Result<SeededMask, Error> {
        let session = *self.params.session();
        let b_u = self.rebuild(cache, u, |r| &r.self_mask)?;
        let committed = self.roster.get(&u).map(|e| e.self_mask_commitment);
        // SECURITY: a rebuilt seed that does not match the owner's commitment means a holder
        // sent a bad share; using it would give a wrong sum.
        let matches = committed
            .is_some_and(|c| bool::from(self_mask_commitment(&session, u, &b_u).ct_eq(&c)));
        if !matches {
            return Err(AbortReason::ReconstructionMismatch { owner: u }.into());
        }
        let seed = self_mask_prg_seed(self.params.mask_suite(), &session, u, &b_u);
        Ok(SeededMask::new(seed.bytes(), Sign::Sub))
    }

    /// Dropped client `u`'s mask key, rebuilt and checked against the key it advertised.
    fn mask_key(
        &self,
        cache: &mut LagrangeCache,
        u: ClientId,
    ) -> Result<(ClientId, SecretKey), Error> {
        let s_sk = self.rebuild(cache, u, |r| &r.key)?;
        let mask_key = SecretKey::from_scalar(s_sk.scalar());
        let advertised = self.roster.get(&u).map(|e| e.mask_public_key);
        // SECURITY: the rebuilt key must be the one the owner advertised.
        if Some(mask_key.public_key()) != advertised {
            return Err(AbortReason::ReconstructionMismatch { owner: u }.into());
        }
        Ok((u, mask_key))
    }

    /// Every (dropped, surviving neighbour) pair whose pairwise mask is in the sum: the index
    /// of the dropped client's key in `mask_keys` (all `Ok`), both ids, the survivor's key.
    fn pairs_of_dropped(
        &self,
        mask_keys: &[Result<(ClientId, SecretKey), Error>],
    ) -> Vec<(usize, ClientId, ClientId, crate::crypto::kx::PublicKey)> {
        let mut pairs = Vec::new();
        for (k, (u, _)) in mask_keys.iter().filter_map(|r| r.as_ref().ok()).enumerate() {
            let neighbours = self.graph.neighbours(*u);
            for &v in neighbours.iter().filter(|v| self.survivors.contains(v)) {
                if let Some(v_key) = self.roster.get(&v).map(|e| e.mask_public_key) {
                    pairs.push((k, *u, v, v_key));
                }
            }
        }
        pairs
    }

    /// The seed of every pairwise mask a survivor shares with a dropped neighbour, from the
    /// dropped client's rebuilt mask key. The key agreements run in parallel with the
    /// `parallel` feature, written in place like [`Unmasking::per_owner`]'s.
    fn pairwise_masks(
        &self,
        mask_keys: &[Result<(ClientId, SecretKey), Error>],
        pairs: &[(usize, ClientId, ClientId, crate::crypto::kx::PublicKey)],
    ) -> Vec<Result<SeededMask, Error>> {
        let session = *self.params.session();
        let suite = self.params.mask_suite();
        let derive =
            |&(k, u, v, v_key): &(usize, ClientId, ClientId, crate::crypto::kx::PublicKey)| {
                let mismatch = || Error::from(AbortReason::ReconstructionMismatch { owner: u });
                let (_, mask_key) = mask_keys
                    .get(k)
                    .and_then(|r| r.as_ref().ok())
                    .ok_or_else(mismatch)?;
                let seed = pairwise_prg_seed(suite, mask_key, &v_key, &session, u, v)
                    .map_err(|()| mismatch())?;
                // v added this mask with pairwise_sign(v, u); take it back out.
                Ok(SeededMask::new(seed.bytes(), pairwise_sign(v, u).flip()))
            };
        let mut masks = Vec::with_capacity(pairs.len());
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            pairs.par_iter().map(derive).collect_into_vec(&mut masks);
        }
        #[cfg(not(feature = "parallel"))]
        masks.extend(pairs.iter().map(derive));
        masks
    }

    /// Rebuilds the secret of `owner` from the first `t` of its share holders (itself and its
    /// neighbours) that responded.
    fn rebuild(
        &self,
        cache: &mut LagrangeCache,
        owner: ClientId,
        list: impl Fn(&RevealedShares) -> &BTreeMap<ClientId, SecretScalar>,
    ) -> Result<SecretScalar, Error> {
        let t = self.params.threshold();
        // The owner's share holders, in id order: itself and its neighbours (k + 1 lookups,
        // never a scan of every response).
        let candidates = self.graph.view(owner);
        let holders: Vec<(ClientId, &SecretScalar)> = candidates
            .iter()
            .filter_map(|h| {
                let share = list(self.responses.get(h)?).get(&owner)?;
                Some((*h, share))
            })
            .take(t)
            .collect();
        if holders.len() < t {
            return Err(AbortReason::TooFewSurvivors {
                round: Round::Unmasking,
                have: holders.len(),
                need: t,
            }
            .into());
        }
        let indices: Vec<_> = holders.iter().map(|(h, _)| h.share_index()).collect();
        let lagrange = cache.get(indices, t)?;
        lagrange
            .reconstruct(holders.iter().map(|(_, share)| *share))
            .map_err(|_| AbortReason::ReconstructionMismatch { owner }.into())
    }
}

/// The first error among `results`, in their order.
fn first_error<T>(results: &[Result<T, Error>]) -> Result<(), Error> {
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

/// Lagrange coefficients by set of share holders: computed once per set, reused for every
/// secret that set rebuilds (on the complete graph, one set serves every secret).
#[derive(Default)]
struct LagrangeCache(BTreeMap<Vec<ShareIndex>, Lagrange>);

impl LagrangeCache {
    fn get(&mut self, holders: Vec<ShareIndex>, t: usize) -> Result<&Lagrange, Error> {
        use alloc::collections::btree_map::Entry;
        match self.0.entry(holders) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let l = Lagrange::new(e.key(), t).map_err(|_| AbortReason::TooFewSurvivors {
                    round: Round::Unmasking,
                    have: e.key().len(),
                    need: t,
                })?;
                Ok(e.insert(l))
            }
        }
    }
}
