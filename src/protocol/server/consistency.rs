//! Round 3 (ConsistencyCheck), server side, malicious mode: send each survivor its
//! consistency request and collect the survivors' signatures over the survivor digest (Bonawitz et al., CCS 2017, Fig. 4, Round 3, server side;
//! `docs/PROTOCOL.md` §7, §12.1).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Consistency {
    /// The round over `masked` with the signatures received so far: builds the survivor tree
    /// over the roster, a member's status 1 if it is in `U_3`.
    pub(super) fn over(
        masked: MaskedInput,
        signatures: BTreeMap<ClientId, Signature>,
    ) -> Result<Self, Error> {
        let members: Vec<ClientId> = masked.roster.keys().copied().collect();
        let survivor_tree = SurvivorTree::new(&members, &masked.survivors)
            .ok_or(Error::Internal("a roster map holds ascending ids"))?;
        Ok(Self {
            masked,
            survivor_tree,
            signatures,
        })
    }

    /// The survivor digest the survivors sign.
    #[must_use]
    pub fn survivor_digest(&self) -> &[u8; 32] {
        self.survivor_tree.digest()
    }

    /// Every survivor's consistency request, in id order ([`Consistency::request_for`]).
    #[must_use]
    pub fn requests(&self) -> Vec<msg::ConsistencyRequest> {
        self.masked
            .survivors
            .iter()
            .filter_map(|&u| self.request_for(u))
            .collect()
    }

    /// What survivor `u` receives: on the complete graph the whole survivor set `U_3`
    /// (`4 |U_3|` bytes; the client builds the survivor tree from its roster); on a sparse
    /// graph its slice, the statuses of `u` and its neighbours with their proof against the
    /// survivor tree (`O(k log n)` bytes). `None` if `u` is not a survivor.
    #[must_use]
    pub fn request_for(&self, u: ClientId) -> Option<msg::ConsistencyRequest> {
        let m = &self.masked;
        request_of(&m.params, &m.survivors, &m.graph, &self.survivor_tree, u)
    }

    /// What builds each survivor's consistency request, apart from this state (a copy of
    /// `U_3`, the graph and the survivor tree): for a driver that builds requests while it
    /// feeds this state signatures.
    #[must_use]
    pub fn views(&self) -> SurvivorViews {
        SurvivorViews {
            params: self.masked.params.clone(),
            survivors: self.masked.survivors.clone(),
            graph: self.masked.graph.clone(),
            survivor_tree: self.survivor_tree.clone(),
        }
    }

    /// Receives one survivor's signature over the survivor digest, verified against the PKI
    /// if the server has one.
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
            let digest = self.survivor_tree.digest();
            let valid = pki.get(from).is_some_and(|key| {
                key.verify_survivors(masked.params.session(), digest, &message.signature)
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

/// Each survivor's consistency request of one session ([`Consistency::views`]).
#[derive(Clone, Debug)]
pub struct SurvivorViews {
    params: Params,
    survivors: BTreeSet<ClientId>,
    graph: Graph,
    survivor_tree: SurvivorTree,
}

impl SurvivorViews {
    /// Whether `u` is a survivor (in `U_3`), and so has a request.
    #[must_use]
    pub fn is_survivor(&self, u: ClientId) -> bool {
        self.survivors.contains(&u)
    }

    /// As [`Consistency::request_for`].
    #[must_use]
    pub fn request_for(&self, u: ClientId) -> Option<msg::ConsistencyRequest> {
        request_of(
            &self.params,
            &self.survivors,
            &self.graph,
            &self.survivor_tree,
            u,
        )
    }
}

/// The consistency request of survivor `u`: the whole `U_3` on the complete graph, else its
/// slice of the survivor tree.
fn request_of(
    params: &Params,
    survivors: &BTreeSet<ClientId>,
    graph: &Graph,
    survivor_tree: &SurvivorTree,
    u: ClientId,
) -> Option<msg::ConsistencyRequest> {
    if !survivors.contains(&u) {
        return None;
    }
    let session = *params.session();
    if graph.kind() == crate::vocabulary::Neighbourhood::Complete {
        return Some(msg::ConsistencyRequest {
            session,
            recipient: u,
            survivors: survivors.iter().copied().collect(),
            slice: None,
        });
    }
    // The view: `u` and its neighbours; the statuses of exactly these, with their proof.
    let view: Vec<ClientId> = graph.view(u).into_iter().collect();
    let (shown, dropped) = view.iter().partition(|v| survivors.contains(v));
    Some(msg::ConsistencyRequest {
        session,
        recipient: u,
        survivors: shown,
        slice: Some(msg::SurvivorSlice {
            dropped,
            proof: survivor_tree.prove(&view),
        }),
    })
}
