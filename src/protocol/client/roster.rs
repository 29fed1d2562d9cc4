//! The roster checks of Round 1 (ShareKeys), client side (`docs/PROTOCOL.md` §12.2): what an
//! honest client requires of the roster before it shares anything. The checks run in the
//! order of that table; the first failure is the error.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What a checked roster gives a client: its neighbours, every member's id (malicious mode,
/// from a whole roster only: ConsistencyCheck can then build the survivor tree from a whole
/// survivor list), the roster's digest and its size `n'`.
pub(super) struct CheckedRoster {
    pub(super) peers: BTreeMap<ClientId, Peer>,
    pub(super) members: Vec<ClientId>,
    pub(super) digest: [u8; 32],
    pub(super) size: usize,
}

fn fault(what: Misbehavior) -> Error {
    server_fault(Round::ShareKeys, what)
}

impl AdvertiseKeys {
    /// Checks the roster, whole or a view; returns this client's neighbours, the roster's
    /// digest and, in the malicious-server mode with a whole roster, every member's id,
    /// ascending.
    pub(super) fn check_roster(&self, roster: &msg::Roster) -> Result<CheckedRoster, Error> {
        check_session(&self.params, &roster.session, Round::ShareKeys)?;
        let pki = hardening(&self.params, &self.identity)?.map(|identity| &identity.pki);
        if roster.entries.len() > self.params.clients() {
            return Err(fault(Misbehavior::UnexpectedMessage));
        }
        if roster.slice.is_none() {
            // A whole roster's size is its length: refuse a small one before anything else.
            self.check_size(roster.entries.len())?;
        }
        self.check_entries(roster, pki)?;
        check_distinct_keys(roster)?;
        let ids = distinct_members(roster, self.id)?;
        // The roster's digest and size, and the rank of each entry held: a whole roster is
        // its own proof; a view carries one against the tree.
        let (digest, size, ranks) = match &roster.slice {
            None => {
                let digest = roster_digest(&roster.entries);
                (digest, ids.len(), (0..ids.len()).collect::<Vec<usize>>())
            }
            Some(slice) => {
                if slice.recipient != self.id {
                    return Err(fault(Misbehavior::WrongRecipient));
                }
                // The proof's leaves are in id order, so it only verifies for entries in
                // that order, which is then the order of `ids` and of the ranks.
                let verified = roster_tree::verify(&slice.proof, &roster.entries)
                    .map_err(|_| fault(Misbehavior::RosterBadProof))?;
                (verified.digest, verified.count, verified.ranks)
            }
        };
        // SECURITY: the size checked is the tree's, which the digest (and so the graph, and
        // in the malicious mode every neighbour's roster signature) commits to.
        self.check_size(size)?;
        let own = ids
            .binary_search(&self.id)
            .map_err(|_| fault(Misbehavior::RosterMissingSelf))?;
        let own_rank = *ranks
            .get(own)
            .ok_or(Error::Internal("one rank per entry"))?;
        // SecAgg+: keep only the neighbours, from the graph this client derives itself from
        // the roster's digest and its own configured degree (never from what the server
        // claims), and require the view to hold exactly them.
        let wanted: Vec<usize> = match neighbour_ranks(
            self.params.neighbourhood(),
            self.params.session(),
            &digest,
            size,
            own_rank,
        ) {
            Some(ranks) => ranks,
            None => (0..size).filter(|&r| r != own_rank).collect(),
        };
        let mut neighbours = BTreeSet::new();
        for r in &wanted {
            // SECURITY: every neighbour the graph names must be in the view: a server that
            // leaves one out would choose this client's neighbourhood.
            let at = ranks
                .binary_search(r)
                .map_err(|_| fault(Misbehavior::RosterWrongView))?;
            neighbours.insert(*ids.get(at).ok_or(Error::Internal("one id per rank"))?);
        }
        if roster.slice.is_some() && ranks.len() != wanted.len() + 1 {
            return Err(fault(Misbehavior::RosterWrongView));
        }
        let peers = self.neighbours(roster, &neighbours)?;
        enough(&self.params, peers.len() + 1, Round::ShareKeys)?;
        // Only ConsistencyCheck reads the member list, and only a whole roster has it.
        let members = if pki.is_some() && roster.slice.is_none() {
            ids
        } else {
            Vec::new()
        };
        Ok(CheckedRoster {
            peers,
            members,
            digest,
            size,
        })
    }

    /// A roster of at most `n` members, at least `t`, at least the session's minimum.
    fn check_size(&self, len: usize) -> Result<(), Error> {
        if len > self.params.clients() {
            return Err(fault(Misbehavior::UnexpectedMessage));
        }
        enough(&self.params, len, Round::ShareKeys)?;
        // SECURITY: the roster is at least the session's minimum, which this client knows
        // from its own configuration. A malicious server that shrinks the roster to a victim
        // and its colluders would otherwise receive the victim's shares and, with its
        // pairwise masks all known to the colluders, its input. `Params` keeps the minimum
        // above `k + 1` on a sparse malicious session, so the graph never turns complete.
        if len < self.params.min_roster() {
            return Err(fault(Misbehavior::RosterTooSmall {
                have: len,
                need: self.params.min_roster(),
            }));
        }
        Ok(())
    }

    /// Every entry received: of this session, canonical keys, this client exactly once and
    /// as it advertised, no other entry with one of its keys, and (malicious mode) signed.
    fn check_entries(&self, roster: &msg::Roster, pki: Option<&Pki>) -> Result<(), Error> {
        let mut seen_self = false;
        for entry in &roster.entries {
            check_session(&self.params, &entry.session, Round::ShareKeys)?;
            // SECURITY: one encoding per key, so that the byte comparisons below (own keys,
            // repeated keys) are key comparisons, as they are for decoded messages.
            if !entry.share_public_key.is_canonical() || !entry.mask_public_key.is_canonical() {
                return Err(fault(Misbehavior::NonCanonicalKey { peer: entry.sender }));
            }
            let own_key = entry.share_public_key == self.advertised.share_public_key
                || entry.mask_public_key == self.advertised.mask_public_key;
            if entry.sender == self.id {
                // SECURITY: our own keys must be exactly what we advertised, so the server
                // cannot substitute a key it knows the secret of for us.
                if seen_self {
                    return Err(fault(Misbehavior::RosterSelfRepeated));
                }
                if *entry != self.advertised {
                    return Err(fault(Misbehavior::RosterWrongSelfKeys));
                }
                seen_self = true;
            } else if own_key {
                return Err(fault(Misbehavior::RosterSelfRepeated));
            }
            if let Some(pki) = pki {
                check_signed(entry, pki)?;
            }
        }
        if !seen_self {
            return Err(fault(Misbehavior::RosterMissingSelf));
        }
        Ok(())
    }

    /// The entries of `neighbours`, none with a small-order key.
    fn neighbours(
        &self,
        roster: &msg::Roster,
        neighbours: &BTreeSet<ClientId>,
    ) -> Result<BTreeMap<ClientId, Peer>, Error> {
        let peers: BTreeMap<ClientId, Peer> = roster
            .entries
            .iter()
            .filter(|e| neighbours.contains(&e.sender))
            .map(|e| {
                let peer = Peer {
                    share_public_key: e.share_public_key,
                    mask_public_key: e.mask_public_key,
                    state: PeerState::Alive,
                    open_key: None,
                    held: None,
                };
                (e.sender, peer)
            })
            .collect();
        // SECURITY: a small-order key makes the "shared" secret public. Only neighbours'
        // keys are ever used, so only theirs are checked (the server checks them all).
        for (&peer, p) in &peers {
            if p.share_public_key.is_small_order() || p.mask_public_key.is_small_order() {
                return Err(fault(Misbehavior::NonContributoryKey { peer }));
            }
        }
        Ok(peers)
    }
}

/// SECURITY: against a malicious server, every entry this client receives (the whole
/// roster, or its view: its own entry and its neighbours') must carry its owner's identity
/// signature, so the server cannot inject keys it made up. Entries outside a view seed the
/// graph through the tree's root only; what a server gains by varying them (a search over
/// graphs) is bounded in `docs/PROTOCOL.md` §13.3.
fn check_signed(entry: &msg::AdvertiseKeys, pki: &Pki) -> Result<(), Error> {
    let verified = entry
        .signature
        .as_ref()
        .zip(pki.get(entry.sender))
        .is_some_and(|(signature, key)| key.verify_advertisement(entry, signature).is_ok());
    if !verified {
        return Err(fault(Misbehavior::BadSignature { peer: entry.sender }));
    }
    Ok(())
}

/// SECURITY: a repeated key would let one party hold two roster places (or a peer mirror our
/// key); every key must be distinct. Sorted, so O(n log n) for any roster. Their 64-bit
/// prefixes are sorted first; only if two prefixes are equal (a repeated key, or a chance
/// collision) are the whole keys compared.
fn check_distinct_keys(roster: &msg::Roster) -> Result<(), Error> {
    let keys = || {
        roster
            .entries
            .iter()
            .flat_map(|e| [&e.share_public_key.0, &e.mask_public_key.0])
    };
    let mut prefixes: Vec<u64> = keys()
        .map(|k| u64::from_le_bytes(*k.first_chunk().unwrap_or(&[0; 8])))
        .collect();
    prefixes.sort_unstable();
    if prefixes.windows(2).any(|w| w.first() == w.get(1)) {
        let mut whole: Vec<&[u8; 32]> = keys().collect();
        whole.sort_unstable();
        if whole.windows(2).any(|w| w.first() == w.get(1)) {
            return Err(fault(Misbehavior::RosterDuplicateKey));
        }
    }
    Ok(())
}

/// The members' ids, ascending, none repeated.
fn distinct_members(roster: &msg::Roster, me: ClientId) -> Result<Vec<ClientId>, Error> {
    let mut members: Vec<ClientId> = roster.entries.iter().map(|e| e.sender).collect();
    members.sort_unstable();
    if let Some(w) = members.windows(2).find(|w| w.first() == w.get(1)) {
        let peer = w.first().copied().unwrap_or(me);
        return Err(fault(Misbehavior::RosterDuplicateId { peer }));
    }
    Ok(members)
}
