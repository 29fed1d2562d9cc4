//! Round 4 (Unmasking), client side: check the request and reveal one share per neighbour,
//! never both of one (Bonawitz et al., CCS 2017, Fig. 4, Round 4; `docs/PROTOCOL.md` §7, §12.2).

#[allow(clippy::wildcard_imports)]
use super::*;

/// Which share of a peer this client has revealed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Revealed {
    SelfMask,
    Key,
}

impl MaskedInput {
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
        if hardening(&self.params, &self.identity)?.is_some() {
            return Err(wrong_model(&self.params));
        }
        self.reveal(request)
    }

    /// The shared part of Round 4: checks the request and reveals the shares.
    fn reveal(
        mut self,
        request: &msg::UnmaskingRequest,
    ) -> Result<(Done, msg::UnmaskingResponse), Error> {
        // Validate.
        let round = Round::Unmasking;
        check_session(&self.params, &request.session, round)?;
        if request.recipient != self.id {
            return Err(server_fault(round, Misbehavior::WrongRecipient));
        }
        enough(&self.params, request.survivors.len(), round)?;
        // Choose, for each named client, the one share this client may reveal.
        let mut revealed: BTreeMap<ClientId, Revealed> = BTreeMap::new();
        let mut self_mask_shares = Vec::with_capacity(request.survivors.len());
        let mut key_shares = Vec::with_capacity(request.dropped.len());
        let lists = [
            (&request.survivors, Revealed::SelfMask),
            (&request.dropped, Revealed::Key),
        ];
        for (list, kind) in lists {
            for &v in list {
                let share = self.share_to_reveal(&revealed, v, kind)?;
                revealed.insert(v, kind);
                match kind {
                    Revealed::SelfMask => self_mask_shares.push((v, share)),
                    Revealed::Key => key_shares.push((v, share)),
                }
            }
        }
        // Account for every live neighbour; mark those named dropped.
        self.account(&revealed)?;
        // Emit.
        let out = msg::UnmaskingResponse {
            session: *self.params.session(),
            sender: self.id,
            self_mask_shares,
            key_shares,
        };
        let done = Done {
            request: request_digest(request),
            response: Zeroizing::new(crate::wire::to_bytes(&out)),
            params: self.params,
            id: self.id,
        };
        Ok((done, out))
    }

    /// The share of `v`'s secret of `kind` this client holds, if revealing it keeps the
    /// invariant: never both shares of one client, never our own key share.
    fn share_to_reveal(
        &self,
        revealed: &BTreeMap<ClientId, Revealed>,
        v: ClientId,
        kind: Revealed,
    ) -> Result<SecretScalar, Error> {
        let fault = |what| server_fault(Round::Unmasking, what);
        match revealed.get(&v) {
            None => {}
            // SECURITY: one id twice in a list is malformed; in both lists it would make us
            // reveal both shares of v, which unmasks v's input.
            Some(prior) if *prior == kind => {
                return Err(fault(Misbehavior::RepeatedId { peer: v }));
            }
            Some(_) => return Err(fault(Misbehavior::SurvivorAndDropped { peer: v })),
        }
        if v == self.id {
            // SECURITY: we know we are alive; a server calling us dropped is lying, and our
            // key share together with our masked input would unmask us.
            if kind == Revealed::Key {
                return Err(fault(Misbehavior::SelfNamedDropped));
            }
            return Ok(self.own.self_mask_share.duplicate());
        }
        let peer = self
            .peers
            .get(&v)
            .ok_or_else(|| fault(Misbehavior::UnknownPeer { peer: v }))?;
        // SECURITY: a peer that dropped at ShareKeys is not in U_2; naming it again means the
        // server shows clients different views.
        if peer.state != PeerState::Alive {
            return Err(fault(Misbehavior::PeerReappeared { peer: v }));
        }
        let held = peer
            .held
            .as_ref()
            .ok_or_else(|| fault(Misbehavior::UnknownPeer { peer: v }))?;
        Ok(match kind {
            Revealed::SelfMask => held.self_mask_share.duplicate(),
            Revealed::Key => held.key_share.duplicate(),
        })
    }

    /// This client and every live neighbour must be named; a neighbour named dropped is
    /// dropped from now on.
    fn account(&mut self, revealed: &BTreeMap<ClientId, Revealed>) -> Result<(), Error> {
        let fault = |what| server_fault(Round::Unmasking, what);
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
        Ok(())
    }
}

impl Consistency {
    /// Implements Round 4 (Unmasking) after ConsistencyCheck, client side: Bonawitz et al.,
    /// CCS 2017, Fig. 4 (malicious-server mode).
    ///
    /// Before revealing anything, checks that at least `t` of this client's share-holder
    /// neighbourhood (itself and its neighbours) signed the very survivor digest it signed,
    /// and that the request's survivors and dropped clients are exactly what the statuses it
    /// verified under that digest imply.
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
        let Some(identity) = hardening(&inner.params, &inner.identity)? else {
            return Err(wrong_model(&inner.params));
        };
        let mut signers = BTreeSet::new();
        for (signer, signature) in &request.signatures {
            let signer = *signer;
            if signer != inner.id && !inner.peers.contains_key(&signer) {
                return Err(fault(Misbehavior::UnknownPeer { peer: signer }));
            }
            if !signers.insert(signer) {
                return Err(fault(Misbehavior::RepeatedId { peer: signer }));
            }
            // SECURITY: each signature must be the signer's, over the very survivor digest
            // we signed: a server showing two honest neighbours different statuses for one
            // client shows them two digests, and cannot collect t signatures for both.
            let valid = identity.pki.get(signer).is_some_and(|key| {
                key.verify_survivors(inner.params.session(), &self.survivor_digest, signature)
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

    /// SECURITY: the survivors named must be exactly those of the neighbourhood with status
    /// 1 under the signed survivor digest, and the dropped exactly the live neighbours with
    /// status 0.
    fn check_lists(&self, request: &msg::UnmaskingRequest) -> Result<(), Error> {
        let fault = |peer| {
            server_fault(
                Round::Unmasking,
                Misbehavior::InconsistentSurvivors { peer },
            )
        };
        let inner = &self.inner;
        // A client outside the neighbourhood has no status here; revealing refuses it
        // (`UnknownPeer`), as it refuses any non-neighbour.
        for &v in &request.survivors {
            if self.statuses.get(&v) == Some(&false) {
                return Err(fault(v));
            }
        }
        for &v in &request.dropped {
            if self.statuses.get(&v) == Some(&true) {
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
