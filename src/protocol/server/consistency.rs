//! Round 3 (ConsistencyCheck), server side, malicious mode: collect the survivors'
//! signatures over `U_3` (Bonawitz et al., CCS 2017, Fig. 4, Round 3, server side;
//! `docs/PROTOCOL.md` §7, §12.1).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Consistency {
    /// Receives one survivor's signature over `U_3`, verified against the PKI if the server
    /// has one.
    ///
    /// Implements Round 3, server side: Bonawitz et al., CCS 2017, Fig. 4.
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
    /// Implements Round 3, server side: Bonawitz et al., CCS 2017, Fig. 4.
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
