//! Round 2 (MaskedInputCollection), server side: sum the masked inputs, then ask the
//! survivors for shares or, malicious mode, for their signatures (Bonawitz et al., CCS 2017,
//! Fig. 4, Round 2, server side; `docs/PROTOCOL.md` §7, §12.1).

#[allow(clippy::wildcard_imports)]
use super::*;

impl MaskedInput {
    /// Receives one masked input and adds it into the accumulator.
    ///
    /// Implements Round 2, server side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not in `U_2`, a second message,
    /// one bound to another roster, a vector of the wrong length or with an element not
    /// below `m`.
    pub fn receive(&mut self, from: ClientId, message: msg::MaskedInput) -> Result<(), Rejected> {
        let round = Round::MaskedInput;
        self.admit(
            from,
            &message.session,
            message.sender,
            &message.roster_digest,
            message.masked.len(),
        )?;
        // SECURITY: only elements of `Z_m` are summed.
        let modulus = self.params.modulus();
        if !message.masked.iter().all(|y| modulus.contains(*y)) {
            return Err(reject(from, round, Misbehavior::ElementOutOfRange));
        }
        self.accumulate(from, message.masked.iter().copied());
        Ok(())
    }

    /// [`receive`](Self::receive) for a masked input read in place
    /// ([`ServerSession::receive`](crate::protocol::session::ServerSession::receive) takes
    /// this path): the same checks, and `y_u` is added from its packed bytes, never
    /// allocated. The decoder ([`wire::MaskedInputRef::from_bytes`]) checked every element
    /// against the modulus of its limits; another modulus than `m` is checked again here.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not in `U_2`, a second message,
    /// one bound to another roster, or a vector decoded against other parameters.
    pub fn receive_packed(
        &mut self,
        from: ClientId,
        message: &wire::MaskedInputRef<'_>,
    ) -> Result<(), Rejected> {
        let round = Round::MaskedInput;
        self.admit(
            from,
            &message.session,
            message.sender,
            &message.roster_digest,
            message.masked.len(),
        )?;
        // SECURITY: only elements of `Z_m` are summed: the decoder checked them against the
        // modulus of its limits, so a vector read against another one is checked again here.
        let modulus = self.params.modulus();
        if message.masked.modulus() != modulus
            && !message.masked.elements().all(|y| modulus.contains(y))
        {
            return Err(reject(from, round, Misbehavior::ElementOutOfRange));
        }
        self.accumulate(from, message.masked.elements());
        Ok(())
    }

    /// The checks of a masked input but its elements' range: this session and sender, a
    /// client of `U_2` that has not sent one yet, bound to this session's roster, a vector of
    /// `len = d` elements.
    fn admit(
        &self,
        from: ClientId,
        session: &crate::ids::SessionId,
        sender: ClientId,
        roster_digest: &[u8; 32],
        len: usize,
    ) -> Result<(), Rejected> {
        let round = Round::MaskedInput;
        check_envelope(&self.params, from, session, sender, round)?;
        if !self.share_keys_senders.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.survivors.contains(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        // A wrong sum is never reported as a right one: a masked input from an earlier
        // session under the same id (or for another roster) is refused, not summed.
        if roster_digest != &self.roster_digest {
            return Err(reject(from, round, Misbehavior::WrongRoster));
        }
        let expected = self.params.vector_len();
        if len != expected {
            let what = Misbehavior::VectorLength { got: len, expected };
            return Err(reject(from, round, what));
        }
        Ok(())
    }

    /// Adds `masked` (`d` elements of `Z_m`, checked) into the accumulator; `from` survives.
    fn accumulate(&mut self, from: ClientId, masked: impl Iterator<Item = u64>) {
        let modulus = self.params.modulus();
        if modulus.power_of_two_bits().is_some() {
            // Kept modulo 2^64 (a multiple of m), like the masks, and reduced once in
            // `finish`.
            for (acc, y) in self.accumulator.iter_mut().zip(masked) {
                *acc = acc.wrapping_add(y);
            }
        } else {
            for (acc, y) in self.accumulator.iter_mut().zip(masked) {
                *acc = modulus.add(*acc, y);
            }
        }
        self.survivors.insert(from);
    }

    /// Ends Round 2 against an honest-but-curious server: the senders form `U_3`
    /// (survivors); `U_2 \ U_3` dropped. Each survivor gets the survivors and dropped clients
    /// of its own neighbourhood.
    ///
    /// Implements Round 2, server side: Bonawitz et al., CCS 2017, Fig. 4.
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

    /// Ends Round 2 in the malicious-server mode: every survivor gets its consistency request
    /// (ConsistencyCheck): on the complete graph the whole survivor set `U_3`, on a sparse
    /// graph its slice of the survivor tree (`O(k log n)` bytes; also available one at a
    /// time: [`Consistency::request_for`]).
    ///
    /// Implements Round 2, server side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients sent masked inputs, or the survivors are not
    /// connected in the graph; [`Error::ApiMisuse`] against an honest-but-curious server.
    #[must_use = "the consistency requests must be sent"]
    pub fn close_for_consistency(
        self,
    ) -> Result<(Consistency, Vec<msg::ConsistencyRequest>), Error> {
        let next = self.close_for_consistency_lazy()?;
        let requests = next.requests();
        Ok((next, requests))
    }

    /// [`MaskedInput::close_for_consistency`] without building every survivor's request: the
    /// driver fetches each with [`Consistency::request_for`] when it sends it, so a large
    /// SecAgg+ session never holds all of them at once. Builds the survivor tree (`O(n)`).
    ///
    /// # Errors
    /// As [`MaskedInput::close_for_consistency`].
    pub fn close_for_consistency_lazy(self) -> Result<Consistency, Error> {
        if self.params.threat_model() != ThreatModel::Malicious {
            return Err(wrong_model(&self.params));
        }
        enough(&self.params, self.survivors.len(), Round::MaskedInput)?;
        self.check_connected()?;
        Consistency::over(self, BTreeMap::new())
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
    pub(super) fn into_unmasking(
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
