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

    /// Ends Round 0: the roster `U_1` goes to every client in it: on the complete graph the
    /// whole roster, one message for all; on a sparse graph each member's view (its entry and
    /// its neighbours', with their proof against the roster tree), one message per member
    /// (also available one at a time: [`ShareKeys::roster_for`]).
    ///
    /// Implements Round 0, server side: Bonawitz et al., CCS 2017, Fig. 4; the views are
    /// `docs/PROTOCOL.md` §6.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` clients, or fewer than the session's minimum
    /// roster ([`Params::min_roster`]), advertised keys: honest clients would refuse it.
    #[must_use = "the roster must be sent"]
    pub fn close(self) -> Result<(ShareKeys, Vec<msg::Roster>), Error> {
        let next = self.close_lazy()?;
        let rosters = next.rosters();
        Ok((next, rosters))
    }

    /// [`AdvertiseKeys::close`] without building every member's roster message: the driver
    /// fetches each with [`ShareKeys::roster_for`] when it sends it, so a large SecAgg+
    /// session never holds all views at once (`O(n k log n)` bytes).
    ///
    /// # Errors
    /// As [`AdvertiseKeys::close`].
    pub fn close_lazy(self) -> Result<ShareKeys, Error> {
        enough(&self.params, self.roster.len(), Round::AdvertiseKeys)?;
        if self.roster.len() < self.params.min_roster() {
            return Err(AbortReason::TooFewSurvivors {
                round: Round::AdvertiseKeys,
                have: self.roster.len(),
                need: self.params.min_roster(),
            }
            .into());
        }
        ShareKeys::open_round(self.params, self.pki, self.roster)
    }
}

impl ShareKeys {
    /// The ShareKeys state over `roster`: the tree, its digest and the graph.
    pub(super) fn open_round(
        params: Params,
        pki: Option<Pki>,
        roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    ) -> Result<Self, Error> {
        let entries: Vec<msg::AdvertiseKeys> = roster.values().cloned().collect();
        let tree =
            RosterTree::new(&entries).ok_or(Error::Internal("a roster map holds ascending ids"))?;
        let members: Vec<ClientId> = roster.keys().copied().collect();
        let digest = *tree.digest();
        let graph = Graph::new(params.neighbourhood(), params.session(), &digest, &members);
        Ok(Self {
            params,
            pki,
            roster,
            tree,
            roster_digest: digest,
            graph,
            inbox: BTreeMap::new(),
        })
    }

    /// The whole roster, on the complete graph (where every member receives it); `None` on a
    /// sparse graph, where each member receives its view ([`ShareKeys::roster_for`]).
    #[must_use]
    pub fn rosters_if_whole(&self) -> Option<msg::Roster> {
        (self.graph.kind() == crate::vocabulary::Neighbourhood::Complete).then(|| msg::Roster {
            session: *self.params.session(),
            entries: self.roster.values().cloned().collect(),
            slice: None,
        })
    }

    /// The roster messages of this round: the whole roster once on the complete graph,
    /// else one view per member, in id order.
    #[must_use]
    pub fn rosters(&self) -> Vec<msg::Roster> {
        if self.graph.kind() == crate::vocabulary::Neighbourhood::Complete {
            return Vec::from([msg::Roster {
                session: *self.params.session(),
                entries: self.roster.values().cloned().collect(),
                slice: None,
            }]);
        }
        self.roster
            .keys()
            .filter_map(|&u| self.roster_for(u))
            .collect()
    }

    /// What member `u` receives: on the complete graph the whole roster, on a sparse graph
    /// its view, `u` and its neighbours with their proof (`O(k log n)` bytes). `None` if `u`
    /// is not a member.
    #[must_use]
    pub fn roster_for(&self, u: ClientId) -> Option<msg::Roster> {
        view_of(&self.params, &self.roster, &self.tree, &self.graph, u)
    }

    /// What builds each member's roster message, apart from this state (a copy of the roster,
    /// its tree and graph): for a driver that builds views while it feeds this state messages.
    #[must_use]
    pub fn views(&self) -> RosterViews {
        RosterViews {
            params: self.params.clone(),
            roster: self.roster.clone(),
            tree: self.tree.clone(),
            graph: self.graph.clone(),
        }
    }
}

/// Each member's roster message of one session ([`ShareKeys::views`]).
#[derive(Clone, Debug)]
pub struct RosterViews {
    params: Params,
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    tree: RosterTree,
    graph: Graph,
}

impl RosterViews {
    /// As [`ShareKeys::roster_for`].
    #[must_use]
    pub fn roster_for(&self, u: ClientId) -> Option<msg::Roster> {
        view_of(&self.params, &self.roster, &self.tree, &self.graph, u)
    }
}

/// The roster message of member `u`: the whole roster on the complete graph, else its view.
fn view_of(
    params: &Params,
    roster: &BTreeMap<ClientId, msg::AdvertiseKeys>,
    tree: &RosterTree,
    graph: &Graph,
    u: ClientId,
) -> Option<msg::Roster> {
    if !roster.contains_key(&u) {
        return None;
    }
    let session = *params.session();
    if graph.kind() == crate::vocabulary::Neighbourhood::Complete {
        return Some(msg::Roster {
            session,
            entries: roster.values().cloned().collect(),
            slice: None,
        });
    }
    let view: Vec<ClientId> = graph.view(u).into_iter().collect();
    let entries = view.iter().filter_map(|v| roster.get(v).cloned()).collect();
    Some(msg::Roster {
        session,
        entries,
        slice: Some(msg::RosterSlice {
            recipient: u,
            proof: tree.prove(&view),
        }),
    })
}
