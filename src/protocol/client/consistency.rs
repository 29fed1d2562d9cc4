//! Round 3 (ConsistencyCheck), client side, malicious-server mode: check the survivor
//! statuses of this client's neighbourhood and sign the survivor digest (Bonawitz et al.,
//! CCS 2017, Fig. 4, Round 3; `docs/PROTOCOL.md` §7, §12.2).

#[allow(clippy::wildcard_imports)]
use super::*;

/// What a checked consistency request gives a client: the survivor digest it signs, and the
/// statuses of itself and its neighbours under that digest.
struct CheckedSurvivors {
    digest: [u8; 32],
    statuses: BTreeMap<ClientId, bool>,
}

fn fault(what: Misbehavior) -> Error {
    server_fault(Round::Consistency, what)
}

impl MaskedInput {
    /// Implements Round 3 (ConsistencyCheck), client side: Bonawitz et al., CCS 2017, Fig. 4
    /// (malicious-server mode only).
    ///
    /// Checks the survivor statuses of this client's neighbourhood (from the whole survivor
    /// list `U_3`, or from its slice of the survivor tree with the proof) and signs
    /// `(session, survivor digest)` with the identity key.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for a request of another session or recipient,
    /// one that repeats an id, names a client outside the roster (or, for a slice, outside
    /// this client's neighbourhood), omits a neighbour from a slice, whose proof does not
    /// verify or opens a tree of another size than the roster's, that omits this client or
    /// names a neighbour that dropped at ShareKeys a survivor; [`Error::Abort`] if fewer than
    /// `t` of the neighbourhood survive; [`Error::ApiMisuse`] against an honest-but-curious
    /// server.
    #[must_use = "the signature must be sent"]
    pub fn consistency(
        mut self,
        request: &msg::ConsistencyRequest,
    ) -> Result<(Consistency, msg::ConsistencySignature), Error> {
        let round = Round::Consistency;
        let Some(identity) = hardening(&self.params, &self.identity)? else {
            return Err(wrong_model(&self.params));
        };
        check_session(&self.params, &request.session, round)?;
        if request.recipient != self.id {
            return Err(fault(Misbehavior::WrongRecipient));
        }
        let checked = match &request.slice {
            None => self.check_whole(&request.survivors)?,
            Some(slice) => self.check_slice(&request.survivors, slice)?,
        };
        self.check_statuses(&checked.statuses)?;
        // SECURITY: sign the survivor digest, a collision-resistant commitment to every
        // roster member's status: a server that shows two honest neighbours different
        // statuses for one client needs two digests, and this client signs one.
        let signature = identity
            .key
            .sign_survivors(self.params.session(), &checked.digest);
        let out = msg::ConsistencySignature {
            session: *self.params.session(),
            sender: self.id,
            signature,
        };
        // The member list served only to build the survivor tree; the statuses replace it.
        self.members = Vec::new();
        Ok((
            Consistency {
                inner: self,
                survivor_digest: checked.digest,
                statuses: checked.statuses,
            },
            out,
        ))
    }

    /// The whole survivor list `U_3`: the client builds the survivor tree itself, from the
    /// roster it holds (the whole roster, or on the complete graph its neighbourhood, which
    /// is the roster).
    fn check_whole(&self, survivors: &[ClientId]) -> Result<CheckedSurvivors, Error> {
        let neighbourhood = self.neighbourhood();
        let members: &[ClientId] = if !self.members.is_empty() {
            &self.members
        } else if neighbourhood.len() == self.roster_size {
            &neighbourhood
        } else {
            // SECURITY: a client that received its view knows only its neighbourhood's ids,
            // so it cannot build the survivor tree a whole list describes: it needs a slice
            // with a proof, or it would sign a digest it never computed.
            return Err(fault(Misbehavior::SurvivorBadProof));
        };
        let mut set = BTreeSet::new();
        for &v in survivors {
            if !set.insert(v) {
                return Err(fault(Misbehavior::RepeatedId { peer: v }));
            }
            if members.binary_search(&v).is_err() {
                return Err(fault(Misbehavior::UnknownPeer { peer: v }));
            }
        }
        let digest = roster_tree::survivor_digest_of(members, &set)
            .ok_or(Error::Internal("roster members are strictly ascending"))?;
        let statuses = neighbourhood
            .iter()
            .map(|&v| (v, set.contains(&v)))
            .collect();
        Ok(CheckedSurvivors { digest, statuses })
    }

    /// A slice of the survivor tree: the statuses of exactly this client and its
    /// neighbours, and the proof that opens the tree at them.
    fn check_slice(
        &self,
        survivors: &[ClientId],
        slice: &msg::SurvivorSlice,
    ) -> Result<CheckedSurvivors, Error> {
        let mut statuses = BTreeMap::new();
        let listed = survivors.iter().map(|&v| (v, true));
        for (v, survived) in listed.chain(slice.dropped.iter().map(|&v| (v, false))) {
            if statuses.insert(v, survived).is_some() {
                return Err(fault(Misbehavior::RepeatedId { peer: v }));
            }
            // SECURITY: the slice opens this client and its neighbours only: no status of
            // another client is signed for without being checked.
            if v != self.id && !self.peers.contains_key(&v) {
                return Err(fault(Misbehavior::UnknownPeer { peer: v }));
            }
        }
        // SECURITY: and every one of them: every status this client acts on (its whole
        // neighbourhood's) is under the digest it signs.
        if !statuses.contains_key(&self.id) {
            return Err(fault(Misbehavior::SelfNotSurvivor));
        }
        if let Some(&peer) = self.peers.keys().find(|v| !statuses.contains_key(v)) {
            return Err(fault(Misbehavior::PeerUnaccounted { peer }));
        }
        // The proof's leaves are in id order, as the map's.
        let ordered: Vec<(ClientId, bool)> = statuses.iter().map(|(&v, &s)| (v, s)).collect();
        let verified = roster_tree::verify_survivors(&slice.proof, &ordered)
            .map_err(|_| fault(Misbehavior::SurvivorBadProof))?;
        // SECURITY: the survivor tree has one leaf per roster member, so its size is the
        // roster's `n'` that this client verified in ShareKeys.
        if verified.count != self.roster_size {
            return Err(fault(Misbehavior::SurvivorWrongSize {
                have: verified.count,
                need: self.roster_size,
            }));
        }
        Ok(CheckedSurvivors {
            digest: verified.digest,
            statuses,
        })
    }

    /// The statuses of the neighbourhood must be ones an honest server could show.
    fn check_statuses(&self, statuses: &BTreeMap<ClientId, bool>) -> Result<(), Error> {
        for (&v, peer) in &self.peers {
            // SECURITY: a neighbour whose shares never reached us cannot have sent a masked
            // input that the server can unmask.
            if peer.state != PeerState::Alive && statuses.get(&v) == Some(&true) {
                return Err(fault(Misbehavior::PeerReappeared { peer: v }));
            }
        }
        // SECURITY: this client knows it sent its masked input.
        if statuses.get(&self.id) != Some(&true) {
            return Err(fault(Misbehavior::SelfNotSurvivor));
        }
        // SECURITY: never reveal for a neighbourhood with fewer than t survivors.
        let survived = statuses
            .iter()
            .filter(|&(v, &s)| s && (*v == self.id || self.peers.contains_key(v)))
            .count();
        enough(&self.params, survived, Round::Consistency)
    }

    /// This client and its neighbours, ascending.
    fn neighbourhood(&self) -> Vec<ClientId> {
        let mut ids = Vec::with_capacity(self.peers.len().saturating_add(1));
        ids.extend(self.peers.keys().copied().filter(|&v| v < self.id));
        ids.push(self.id);
        ids.extend(self.peers.keys().copied().filter(|&v| v > self.id));
        ids
    }
}
