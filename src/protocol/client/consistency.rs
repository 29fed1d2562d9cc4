//! Round 3 (ConsistencyCheck), client side, malicious-server mode: check and sign the survivor
//! set (Bonawitz et al., CCS 2017, Fig. 4, Round 3; `docs/PROTOCOL.md` §7).

#[allow(clippy::wildcard_imports)]
use super::*;

impl MaskedInput {
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
        let Some(identity) = hardening(&self.params, &self.identity)? else {
            return Err(wrong_model(&self.params));
        };
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
            // A client that received the whole roster checks every survivor against it; one
            // that received its view knows only its neighbourhood, which is all that decides
            // what it reveals (the checks below and in Unmasking).
            if !self.members.is_empty() && self.members.binary_search(&v).is_err() {
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
        enough(&self.params, in_view, round)?;
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
}
