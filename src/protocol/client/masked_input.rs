//! Round 2 (MaskedInputCollection), client side: open the delivered shares, check the
//! neighbours' roster signatures (malicious mode), mask the input (Bonawitz et al., CCS 2017,
//! Fig. 4, Round 2; `docs/PROTOCOL.md` §7, §10).

#[allow(clippy::wildcard_imports)]
use super::*;

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
        self,
        delivery: &msg::SharesDelivery,
        input: &PlainInput,
    ) -> Result<(MaskedInput, msg::MaskedInput), Error> {
        self.masked_input_from_slice(delivery, input.values())
    }

    /// [`ShareKeys::masked_input`] over a borrowed input (a caller's own buffer: a numpy
    /// array, a network frame), without copying it.
    ///
    /// # Errors
    /// As [`ShareKeys::masked_input`].
    #[must_use = "the masked input must be sent"]
    pub fn masked_input_from_slice(
        mut self,
        delivery: &msg::SharesDelivery,
        input: &[u64],
    ) -> Result<(MaskedInput, msg::MaskedInput), Error> {
        // Validate the input, then the delivery; open it.
        self.check_input(input)?;
        self.open_delivery(delivery)?;
        self.check_roster_signatures(delivery)?;
        // Mark dropped: every neighbour that delivered nothing, for good.
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
        enough(&self.params, alive, Round::MaskedInput)?;
        // Mask, then emit.
        let masked = self.mask(input)?;
        let out = msg::MaskedInput {
            session: *self.params.session(),
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
            roster_size: self.roster_size,
            members: core::mem::take(&mut self.members),
        };
        Ok((next, out))
    }

    /// The input has `d` elements, each below `m` (the caller's error, checked first).
    fn check_input(&self, input: &[u64]) -> Result<(), Error> {
        let d = self.params.vector_len();
        if input.len() != d {
            return Err(ApiMisuse::InputLength {
                got: input.len(),
                expected: d,
            }
            .into());
        }
        let modulus = self.params.modulus();
        if let Some(index) = input.iter().position(|x| !modulus.contains(*x)) {
            return Err(ApiMisuse::InputOutOfRange { index }.into());
        }
        Ok(())
    }

    /// Checks the delivery and opens each ciphertext: from a neighbour, to this client, once
    /// per sender, under the key `sender → self` (`docs/PROTOCOL.md` §4.3).
    fn open_delivery(&mut self, delivery: &msg::SharesDelivery) -> Result<(), Error> {
        let round = Round::MaskedInput;
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
        Ok(())
    }

    /// `y_u = x_u + PRG(b_u) + sum_{v alive} ±PRG(s_uv) mod m` (`docs/PROTOCOL.md` §10). All
    /// masks are added chunk by chunk into the one output vector (never one vector per mask),
    /// cache-blocked like the server's unmasking.
    fn mask(&self, input: &[u64]) -> Result<Vec<u64>, Error> {
        let session = *self.params.session();
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
            .map_err(|()| {
                server_fault(
                    Round::MaskedInput,
                    Misbehavior::NonContributoryKey { peer: v },
                )
            })?;
            masks.push(SeededMask::new(seed.bytes(), pairwise_sign(self.id, v)));
        }
        let mut masked = Vec::with_capacity(input.len());
        masked.extend_from_slice(input);
        let modulus = self.params.modulus();
        prg::apply_masks(&masks, suite, modulus, &mut masked);
        modulus.reduce_lazy(&mut masked);
        Ok(masked)
    }

    /// Malicious mode: every neighbour whose shares were delivered must have signed the
    /// digest of the very roster this client holds; no other signature may appear.
    fn check_roster_signatures(&self, delivery: &msg::SharesDelivery) -> Result<(), Error> {
        let round = Round::MaskedInput;
        let fault = |what| server_fault(round, what);
        let Some(identity) = hardening(&self.params, &self.identity)? else {
            // Honest-but-curious: nobody signs rosters.
            if let Some((signer, _)) = delivery.roster_signatures.first() {
                return Err(fault(Misbehavior::BadSignature { peer: *signer }));
            }
            return Ok(());
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
