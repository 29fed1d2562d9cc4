//! Saving and restoring the server's state between and within rounds (`docs/WIRE.md`,
//! "State format"; the framing is in [`crate::protocol::state`]).
//!
//! The server's states are sealed like a client's. They hold no client's private key, but
//! the Unmasking state holds the shares survivors revealed, which are secret until the sum is
//! computed, and every state must come back exactly as saved: the AEAD gives both secrecy and
//! integrity, so one code path serves both roles. Derived fields (the roster digest, the
//! neighbourhood graph, the set of advertised keys) are recomputed on opening, never read.

#[allow(clippy::wildcard_imports)]
use super::*;

use rand_core::CryptoRng;

use crate::error::{DecodeError, StateError};
use crate::protocol::state::{
    self, Binding, Expected, Role, Snapshot, StateKey, Writer, max_server_state_len, read_ids,
    read_nested, read_packed,
};
use crate::wire::{Decode, Limits, Reader};

/// The party id of the server in a state header.
const SERVER: ClientId = ClientId(0);

/// One server state that can be saved: its stage (the round it collects) and its fields.
trait Saved: Sized {
    const STAGE: Round;

    fn context(&self) -> (&Params, Option<&Pki>);

    fn write(&self, w: &mut Writer);

    /// The bytes to reserve for the plaintext.
    fn len_hint(&self) -> usize {
        1024
    }

    fn read(r: &mut Reader<'_>, params: &Params, pki: Option<Pki>) -> Result<Self, DecodeError>;
}

fn snapshot<S: Saved>(s: &S) -> Snapshot {
    let (params, pki) = s.context();
    let mut w = Writer::new(&Binding::new(params, None, pki), s.len_hint());
    s.write(&mut w);
    let header = state::Header {
        role: Role::Server,
        stage: S::STAGE.number(),
        session: *params.session(),
        party: SERVER,
    };
    Snapshot::new(w, header)
}

/// What a state holding the sum so far writes beyond its other fields: the packed
/// accumulator (4 MB at `d = 10^6`, `m = 2^32`), reserved up front (the writer grows past
/// it for the roster and the shares, wiping each buffer it leaves).
fn accumulator_len(params: &Params) -> usize {
    wire::packed_len(params.vector_len(), params.modulus().bits()).saturating_add(1024)
}

fn open<S: Saved>(
    bytes: &[u8],
    key: &StateKey,
    params: &Params,
    pki: Option<Pki>,
) -> Result<S, StateError> {
    let expected = Expected {
        role: Role::Server,
        stage: Some(S::STAGE.number()),
        params,
        party: SERVER,
        max_len: max_server_state_len(params),
    };
    // Unmasking keeps no PKI: its binding holds none.
    let bound = if S::STAGE == Round::Unmasking {
        None
    } else {
        pki.as_ref()
    };
    let opened = state::open(bytes, key, &expected, &Binding::new(params, None, bound))?;
    let mut r = opened.reader();
    let s = S::read(&mut r, params, pki)?;
    r.finish()?;
    Ok(s)
}

/// The binding of server state `stage` (the fuzz harness seals its own bodies with it).
#[cfg(feature = "fuzzing")]
pub(crate) fn binding_for(params: &Params, pki: Option<&Pki>, stage: u8) -> Binding {
    let unmasking = stage == Round::Unmasking.number();
    Binding::new(params, None, if unmasking { None } else { pki })
}

fn write_roster(w: &mut Writer, params: &Params, roster: &BTreeMap<ClientId, msg::AdvertiseKeys>) {
    let roster = msg::Roster {
        session: *params.session(),
        entries: roster.values().cloned().collect(),
        slice: None,
    };
    w.nested(&wire::to_bytes(&roster));
}

/// Reads the roster and recomputes what the server derives from it: the set of advertised
/// keys, the digest and the graph.
struct RosterParts {
    roster: BTreeMap<ClientId, msg::AdvertiseKeys>,
    tree: RosterTree,
    digest: [u8; 32],
    graph: Graph,
}

fn read_roster_entries(
    r: &mut Reader<'_>,
    params: &Params,
) -> Result<BTreeMap<ClientId, msg::AdvertiseKeys>, DecodeError> {
    let roster: msg::Roster = read_nested(r, &Limits::for_params(params))?;
    if roster.session != *params.session() {
        return Err(DecodeError::NonCanonical("roster of another session"));
    }
    let mut entries = BTreeMap::new();
    for entry in roster.entries {
        if entries
            .last_key_value()
            .is_some_and(|(last, _)| *last >= entry.sender)
        {
            return Err(DecodeError::NonCanonical(
                "roster ids not strictly ascending",
            ));
        }
        entries.insert(entry.sender, entry);
    }
    Ok(entries)
}

fn read_roster(r: &mut Reader<'_>, params: &Params) -> Result<RosterParts, DecodeError> {
    let roster = read_roster_entries(r, params)?;
    let entries: Vec<msg::AdvertiseKeys> = roster.values().cloned().collect();
    let tree = RosterTree::new(&entries).ok_or(DecodeError::NonCanonical(
        "roster ids not strictly ascending",
    ))?;
    let digest = *tree.digest();
    let members: Vec<ClientId> = roster.keys().copied().collect();
    let graph = Graph::new(params.neighbourhood(), params.session(), &digest, &members);
    Ok(RosterParts {
        roster,
        tree,
        digest,
        graph,
    })
}

/// A set of ids, each in the roster.
fn read_members(
    r: &mut Reader<'_>,
    what: &'static str,
    roster: &BTreeMap<ClientId, msg::AdvertiseKeys>,
) -> Result<BTreeSet<ClientId>, DecodeError> {
    let ids = read_ids(r, what, roster.len())?;
    if ids.iter().any(|id| !roster.contains_key(id)) {
        return Err(DecodeError::NonCanonical("id outside the roster"));
    }
    Ok(ids.into_iter().collect())
}

fn read_scalars(
    r: &mut Reader<'_>,
    max: usize,
) -> Result<BTreeMap<ClientId, SecretScalar>, DecodeError> {
    let count = r.count("revealed shares", max, 4 + 32)?;
    let mut shares = BTreeMap::new();
    for _ in 0..count {
        let owner = ClientId::decode(r)?;
        if shares
            .last_key_value()
            .is_some_and(|(last, _)| *last >= owner)
        {
            return Err(DecodeError::NonCanonical(
                "share owners not strictly ascending",
            ));
        }
        shares.insert(owner, SecretScalar::decode(r)?);
    }
    Ok(shares)
}

fn write_scalars(w: &mut Writer, shares: &BTreeMap<ClientId, SecretScalar>) {
    w.u32(shares.len());
    for (owner, share) in shares {
        w.bytes(&owner.to_be_bytes());
        w.bytes(share.to_bytes().as_ref());
    }
}

impl Saved for AdvertiseKeys {
    const STAGE: Round = Round::AdvertiseKeys;

    fn context(&self) -> (&Params, Option<&Pki>) {
        (&self.params, self.pki.as_ref())
    }

    fn write(&self, w: &mut Writer) {
        write_roster(w, &self.params, &self.roster);
    }

    fn read(r: &mut Reader<'_>, params: &Params, pki: Option<Pki>) -> Result<Self, DecodeError> {
        let roster = read_roster_entries(r, params)?;
        let keys = roster
            .values()
            .flat_map(|e| [e.share_public_key, e.mask_public_key])
            .collect();
        Ok(Self {
            params: params.clone(),
            pki,
            roster,
            keys,
        })
    }
}

impl Saved for ShareKeys {
    const STAGE: Round = Round::ShareKeys;

    fn context(&self) -> (&Params, Option<&Pki>) {
        (&self.params, self.pki.as_ref())
    }

    fn write(&self, w: &mut Writer) {
        write_roster(w, &self.params, &self.roster);
        w.u32(self.inbox.len());
        for (sender, (sealed, roster_signature)) in &self.inbox {
            let message = msg::ShareKeys {
                session: *self.params.session(),
                sender: *sender,
                sealed: sealed.clone(),
                roster_signature: *roster_signature,
            };
            w.nested(&wire::to_bytes(&message));
        }
    }

    fn read(r: &mut Reader<'_>, params: &Params, pki: Option<Pki>) -> Result<Self, DecodeError> {
        let RosterParts {
            roster,
            tree,
            digest,
            graph,
        } = read_roster(r, params)?;
        let limits = Limits::for_params(params);
        let count = r.count("share-keys messages", roster.len(), 4)?;
        let mut inbox = BTreeMap::new();
        for _ in 0..count {
            let m: msg::ShareKeys = read_nested(r, &limits)?;
            if m.session != *params.session()
                || !roster.contains_key(&m.sender)
                || inbox
                    .last_key_value()
                    .is_some_and(|(last, _)| *last >= m.sender)
            {
                return Err(DecodeError::NonCanonical("share-keys senders"));
            }
            inbox.insert(m.sender, (m.sealed, m.roster_signature));
        }
        Ok(Self {
            params: params.clone(),
            pki,
            roster,
            tree,
            roster_digest: digest,
            graph,
            inbox,
        })
    }
}

impl Saved for MaskedInput {
    const STAGE: Round = Round::MaskedInput;

    fn context(&self) -> (&Params, Option<&Pki>) {
        (&self.params, self.pki.as_ref())
    }

    fn len_hint(&self) -> usize {
        accumulator_len(&self.params)
    }

    fn write(&self, w: &mut Writer) {
        write_roster(w, &self.params, &self.roster);
        w.ids(self.share_keys_senders.iter());
        w.ids(self.survivors.iter());
        w.packed(&self.accumulator, &self.params);
    }

    fn read(r: &mut Reader<'_>, params: &Params, pki: Option<Pki>) -> Result<Self, DecodeError> {
        let RosterParts {
            roster,
            digest,
            graph,
            ..
        } = read_roster(r, params)?;
        let share_keys_senders = read_members(r, "share-keys senders", &roster)?;
        let survivors = read_members(r, "survivors", &roster)?;
        let accumulator = read_packed(r, params)?;
        Ok(Self {
            params: params.clone(),
            pki,
            roster,
            roster_digest: digest,
            graph,
            share_keys_senders,
            survivors,
            accumulator,
        })
    }
}

impl Saved for Consistency {
    const STAGE: Round = Round::Consistency;

    fn context(&self) -> (&Params, Option<&Pki>) {
        self.masked.context()
    }

    fn write(&self, w: &mut Writer) {
        self.masked.write(w);
        w.u32(self.signatures.len());
        for (signer, signature) in &self.signatures {
            w.bytes(&signer.to_be_bytes());
            w.bytes(&signature.0);
        }
    }

    fn read(r: &mut Reader<'_>, params: &Params, pki: Option<Pki>) -> Result<Self, DecodeError> {
        let masked = MaskedInput::read(r, params, pki)?;
        let count = r.count("signatures", masked.survivors.len(), 4 + 64)?;
        let mut signatures = BTreeMap::new();
        for _ in 0..count {
            let signer = ClientId::decode(r)?;
            if !masked.survivors.contains(&signer)
                || signatures
                    .last_key_value()
                    .is_some_and(|(last, _)| *last >= signer)
            {
                return Err(DecodeError::NonCanonical("signers"));
            }
            signatures.insert(signer, Signature::decode(r)?);
        }
        // The survivor tree is rebuilt, not stored: it is a function of the roster and `U_3`.
        Self::over(masked, signatures).map_err(|_| DecodeError::NonCanonical("roster ids"))
    }
}

impl Saved for Unmasking {
    const STAGE: Round = Round::Unmasking;

    fn context(&self) -> (&Params, Option<&Pki>) {
        (&self.params, None)
    }

    fn len_hint(&self) -> usize {
        accumulator_len(&self.params)
    }

    fn write(&self, w: &mut Writer) {
        write_roster(w, &self.params, &self.roster);
        w.ids(self.survivors.iter());
        w.ids(self.dropped.iter());
        w.ids(self.responders.iter());
        w.packed(&self.accumulator, &self.params);
        w.u32(self.responses.len());
        for (responder, revealed) in &self.responses {
            w.bytes(&responder.to_be_bytes());
            write_scalars(w, &revealed.self_mask);
            write_scalars(w, &revealed.key);
        }
    }

    fn read(r: &mut Reader<'_>, params: &Params, _pki: Option<Pki>) -> Result<Self, DecodeError> {
        let RosterParts { roster, graph, .. } = read_roster(r, params)?;
        let survivors = read_members(r, "survivors", &roster)?;
        let dropped = read_members(r, "dropped", &roster)?;
        let responders = read_members(r, "responders", &roster)?;
        let accumulator = read_packed(r, params)?;
        let holders = params.share_holders();
        let count = r.count("responses", responders.len(), 4 + 4 + 4)?;
        let mut responses = BTreeMap::new();
        for _ in 0..count {
            let responder = ClientId::decode(r)?;
            if !responders.contains(&responder)
                || responses
                    .last_key_value()
                    .is_some_and(|(last, _)| *last >= responder)
            {
                return Err(DecodeError::NonCanonical("responders"));
            }
            let self_mask = read_scalars(r, holders)?;
            let key = read_scalars(r, holders)?;
            responses.insert(responder, RevealedShares { self_mask, key });
        }
        Ok(Self {
            params: params.clone(),
            roster,
            graph,
            survivors,
            dropped,
            responders,
            accumulator,
            responses,
        })
    }
}

/// `seal` / `open` for each round's state, with one doc.
macro_rules! durable {
    ($($state:ident),*) => {$(
        impl $state {
            /// Saves this state: its sealed bytes under `key` (`docs/WIRE.md`, "State
            /// format"), with a fresh nonce from `rng`. Save after every accepted message
            /// batch and every round close.
            #[must_use]
            pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StateKey, rng: &mut R) -> Vec<u8> {
                snapshot(self).seal(key, rng)
            }

            /// This state written out, to be sealed later ([`Snapshot::seal`] gives the
            /// bytes of [`seal`](Self::seal)).
            #[must_use]
            pub fn snapshot(&self) -> Snapshot {
                snapshot(self)
            }

            /// Restores a state saved by `seal`, with the session's parameters and (in the
            /// malicious-server mode) the PKI it was saved with.
            ///
            /// # Errors
            /// [`StateError`] for bytes too long for the session, of another version, role,
            /// round or session, that do not authenticate under `key`, saved under other
            /// parameters or PKI, or that do not decode.
            pub fn open(
                bytes: &[u8],
                key: &StateKey,
                params: &Params,
                pki: Option<Pki>,
            ) -> Result<Self, StateError> {
                open(bytes, key, params, pki)
            }
        }
    )*};
}

durable!(
    AdvertiseKeys,
    ShareKeys,
    MaskedInput,
    Consistency,
    Unmasking
);
