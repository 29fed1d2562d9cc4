//! Round 0 (AdvertiseKeys), server side: admit each client's keys, then send the roster
//! (Bonawitz et al., CCS 2017, Fig. 4, Round 0, server side; `docs/PROTOCOL.md` §7, §12.1).

#[allow(clippy::wildcard_imports)]
use super::*;

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
    /// Implements Round 0, server side: Bonawitz et al., CCS 2017, Fig. 4.
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
    /// Implements Round 0, server side: Bonawitz et al., CCS 2017, Fig. 4.
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
