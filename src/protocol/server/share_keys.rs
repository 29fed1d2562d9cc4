//! Round 1 (ShareKeys), server side: relay the sealed shares (and, malicious mode, the roster
//! signatures) to their recipients (Bonawitz et al., CCS 2017, Fig. 4, Round 1, server side;
//! `docs/PROTOCOL.md` §7, §12.1).

#[allow(clippy::wildcard_imports)]
use super::*;

impl ShareKeys {
    /// Receives one client's sealed shares.
    ///
    /// Implements Round 1, server side: Bonawitz et al., CCS 2017, Fig. 4.
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
    /// Implements Round 1, server side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients sent shares.
    #[must_use = "the deliveries must be sent"]
    pub fn close(self) -> Result<(MaskedInput, Vec<msg::SharesDelivery>), Error> {
        let (next, mut deliveries) = self.close_lazy()?;
        let recipients: Vec<ClientId> = deliveries.recipients().collect();
        let all = recipients
            .into_iter()
            .filter_map(|u| deliveries.take(u))
            .collect();
        Ok((next, all))
    }

    /// As [`ShareKeys::close`], with each delivery built when it is taken
    /// ([`Deliveries::take`]) rather than all at once: the sealed pairs are only regrouped
    /// by recipient, and each sender's roster signature is held once, not once per
    /// neighbour (at `n = 10^6` in the malicious mode, about 5 GB of copies never made).
    ///
    /// # Errors
    /// As [`ShareKeys::close`].
    #[must_use = "the deliveries must be sent"]
    pub fn close_lazy(self) -> Result<(MaskedInput, Deliveries), Error> {
        enough(&self.params, self.inbox.len(), Round::ShareKeys)?;
        let degree = self.graph.max_degree().min(self.inbox.len() - 1);
        // At most one sealed pair per neighbour (not one per sender: that reserved n
        // entries for each of n recipients).
        let mut sealed: BTreeMap<ClientId, Vec<msg::SealedShares>> = self
            .inbox
            .keys()
            .map(|&recipient| (recipient, Vec::with_capacity(degree)))
            .collect();
        let mut roster_signatures = BTreeMap::new();
        for (sender, (pairs, roster_signature)) in self.inbox {
            for pair in pairs {
                // Shares to a client that did not finish ShareKeys go nowhere. Senders come
                // in ascending order, so each list stays sorted.
                if let Some(list) = sealed.get_mut(&pair.recipient) {
                    list.push(pair);
                }
            }
            if let Some(signature) = roster_signature {
                roster_signatures.insert(sender, signature);
            }
        }
        let share_keys_senders: BTreeSet<ClientId> = sealed.keys().copied().collect();
        let deliveries = Deliveries {
            session: *self.params.session(),
            sealed,
            roster_signatures,
        };
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
        Ok((next, deliveries))
    }
}

/// The ShareKeys deliveries of one session, each built when taken
/// ([`ShareKeys::close_lazy`]).
pub struct Deliveries {
    session: crate::ids::SessionId,
    /// By recipient (`U_2`), the pairs sealed to it, ascending by sender.
    sealed: BTreeMap<ClientId, Vec<msg::SealedShares>>,
    /// Malicious mode: each sender's roster signature.
    roster_signatures: BTreeMap<ClientId, Signature>,
}

impl Deliveries {
    /// The recipients whose deliveries have not been taken, ascending.
    pub fn recipients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.sealed.keys().copied()
    }

    /// The delivery of `recipient` (the pairs sealed to it and, in the malicious mode, their
    /// senders' roster signatures), once; `None` if it is not in `U_2` or was taken.
    pub fn take(&mut self, recipient: ClientId) -> Option<msg::SharesDelivery> {
        let sealed = self.sealed.remove(&recipient)?;
        let roster_signatures = sealed
            .iter()
            .filter_map(|s| Some((s.sender, *self.roster_signatures.get(&s.sender)?)))
            .collect();
        Some(msg::SharesDelivery {
            session: self.session,
            recipient,
            sealed,
            roster_signatures,
        })
    }
}

impl fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("server::Deliveries")
            .field("pending", &self.sealed.len())
            .finish_non_exhaustive()
    }
}
