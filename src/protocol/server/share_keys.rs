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
        enough(&self.params, self.inbox.len(), Round::ShareKeys)?;
        let session = *self.params.session();
        let mut deliveries: BTreeMap<ClientId, msg::SharesDelivery> = self
            .inbox
            .keys()
            .map(|&recipient| {
                // At most one sealed pair per neighbour (not one per sender: that reserved
                // n entries for each of n recipients).
                let degree = self.graph.max_degree().min(self.inbox.len() - 1);
                let sealed = Vec::with_capacity(degree);
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
