//! Saving and restoring a client's state between rounds: each round's state as sealed bytes
//! (`docs/WIRE.md`, "State format"; the framing is in [`crate::protocol::state`]).
//!
//! A client's state holds its secrets (its private keys, its self-mask seed and the shares
//! its peers sealed to it), so its bytes are always sealed under the host's [`StateKey`].

#[allow(clippy::wildcard_imports)]
use super::*;

use crate::error::{DecodeError, StateError};
use crate::protocol::state::{
    self, Binding, Expected, Role, StateKey, Writer, max_client_state_len, read_ids, read_nested,
    read_round,
};
use crate::wire::{Decode, Limits, Reader};

/// What a state is restored with besides its bytes: what the caller holds anyway.
pub(crate) struct Context {
    params: Params,
    id: ClientId,
    identity: Option<Identity>,
}

/// One client state that can be saved: its stage (the header's, one more per message the
/// client answered) and its fields.
pub(crate) trait Saved: Sized {
    /// The stage written in the state's header: the one numbering of a client's progress
    /// ([`ClientSession::stage`](crate::protocol::session::ClientSession::stage)).
    const STAGE: u8;

    fn context(&self) -> (&Params, ClientId, Option<&Identity>);

    fn write(&self, w: &mut Writer);

    fn read(r: &mut Reader<'_>, context: Context) -> Result<Self, DecodeError>;
}

fn binding(params: &Params, identity: Option<&Identity>) -> Binding {
    Binding::new(
        params,
        identity.map(|i| i.key.public_key().to_bytes()),
        identity.map(|i| &i.pki),
    )
}

fn seal<S: Saved, R: CryptoRng + ?Sized>(s: &S, key: &StateKey, rng: &mut R) -> Vec<u8> {
    let (params, id, identity) = s.context();
    let mut w = Writer::new(&binding(params, identity), 256);
    s.write(&mut w);
    let header = state::Header {
        role: Role::Client,
        stage: S::STAGE,
        session: *params.session(),
        party: id,
    };
    w.seal(header, key, rng)
}

fn open<S: Saved>(
    bytes: &[u8],
    key: &StateKey,
    params: &Params,
    id: ClientId,
    identity: Option<Identity>,
) -> Result<S, StateError> {
    let expected = Expected {
        role: Role::Client,
        stage: Some(S::STAGE),
        params,
        party: id,
        max_len: max_client_state_len(params),
    };
    // Done keeps no identity: its binding holds none.
    let bound = if S::STAGE == Done::STAGE {
        None
    } else {
        identity.as_ref()
    };
    let opened = state::open(bytes, key, &expected, &binding(params, bound))?;
    let mut r = opened.reader();
    let context = Context {
        params: params.clone(),
        id,
        identity,
    };
    let s = S::read(&mut r, context)?;
    r.finish()?;
    Ok(s)
}

/// The binding of client state `stage` (the fuzz harness seals its own bodies with it).
#[cfg(feature = "fuzzing")]
pub(crate) fn binding_for(params: &Params, identity: Option<&Identity>, stage: u8) -> Binding {
    binding(params, if stage == Done::STAGE { None } else { identity })
}

fn secret_scalar(r: &mut Reader<'_>) -> Result<SecretScalar, DecodeError> {
    SecretScalar::decode(r)
}

fn secret_key(r: &mut Reader<'_>) -> Result<SecretKey, DecodeError> {
    Ok(SecretKey::from_bytes(*r.array::<32>()?))
}

fn write_held(w: &mut Writer, held: &HeldShares) {
    w.bytes(held.to_plaintext().as_ref());
}

fn read_held(r: &mut Reader<'_>) -> Result<HeldShares, DecodeError> {
    HeldShares::from_plaintext(r.array::<64>()?).ok_or(DecodeError::NonCanonical("held shares"))
}

/// `id ‖ share key ‖ mask key ‖ state ‖ open key? ‖ held shares?` per peer, by id.
fn write_peers(w: &mut Writer, peers: &BTreeMap<ClientId, Peer>) {
    w.u32(peers.len());
    for (id, peer) in peers {
        w.bytes(&id.to_be_bytes());
        w.bytes(&peer.share_public_key.0);
        w.bytes(&peer.mask_public_key.0);
        match peer.state {
            PeerState::Alive => w.u8(0),
            PeerState::Dropped { at } => {
                w.u8(1);
                w.round(at);
            }
        }
        match &peer.open_key {
            None => w.u8(0),
            Some(key) => {
                w.u8(1);
                w.bytes(key.bytes());
            }
        }
        match &peer.held {
            None => w.u8(0),
            Some(held) => {
                w.u8(1);
                write_held(w, held);
            }
        }
    }
}

fn read_option<T>(
    r: &mut Reader<'_>,
    read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => read(r).map(Some),
        other => Err(DecodeError::BadOptionByte(other)),
    }
}

fn read_peers(
    r: &mut Reader<'_>,
    params: &Params,
    me: ClientId,
) -> Result<BTreeMap<ClientId, Peer>, DecodeError> {
    const LEAST: usize = 4 + 32 + 32 + 1 + 1 + 1;
    let count = r.count("peers", params.share_holders(), LEAST)?;
    let mut peers = BTreeMap::new();
    let mut last = None;
    for _ in 0..count {
        let id = ClientId::decode(r)?;
        if last.is_some_and(|l| l >= id) || id == me {
            return Err(DecodeError::NonCanonical("peers not strictly ascending"));
        }
        last = Some(id);
        let share_public_key = PublicKey::decode(r)?;
        let mask_public_key = PublicKey::decode(r)?;
        let state = match r.u8()? {
            0 => PeerState::Alive,
            1 => PeerState::Dropped { at: read_round(r)? },
            other => return Err(DecodeError::BadOptionByte(other)),
        };
        let open_key = read_option(r, |r| Ok(DerivedKey(*r.array::<32>()?)))?;
        let held = read_option(r, read_held)?;
        peers.insert(
            id,
            Peer {
                share_public_key,
                mask_public_key,
                state,
                open_key,
                held,
            },
        );
    }
    Ok(peers)
}

fn read_members(r: &mut Reader<'_>, params: &Params) -> Result<Vec<ClientId>, DecodeError> {
    read_ids(r, "roster members", params.clients())
}

/// The roster's size `n'` is at least `t` (the roster checks made it so; `n` bounds it on
/// reading), and the member list's length when there is one.
fn check_roster_size(
    params: &Params,
    size: usize,
    members: &[ClientId],
) -> Result<(), DecodeError> {
    if size < params.threshold() || (!members.is_empty() && members.len() != size) {
        return Err(DecodeError::NonCanonical("roster size"));
    }
    Ok(())
}

impl Saved for AdvertiseKeys {
    const STAGE: u8 = 0;

    fn context(&self) -> (&Params, ClientId, Option<&Identity>) {
        (&self.params, self.id, self.identity.as_ref())
    }

    fn write(&self, w: &mut Writer) {
        w.bytes(self.share_key.to_bytes().as_ref());
        w.bytes(self.mask_key_secret.to_bytes().as_ref());
        w.bytes(self.self_mask_seed.to_bytes().as_ref());
        w.nested(&crate::wire::to_bytes(&self.advertised));
    }

    fn read(r: &mut Reader<'_>, c: Context) -> Result<Self, DecodeError> {
        let share_key = secret_key(r)?;
        let mask_key_secret = secret_scalar(r)?;
        let self_mask_seed = secret_scalar(r)?;
        let advertised: msg::AdvertiseKeys = read_nested(r, &Limits::for_params(&c.params))?;
        if advertised.session != *c.params.session()
            || advertised.sender != c.id
            || advertised.share_public_key != share_key.public_key()
        {
            return Err(DecodeError::NonCanonical("advertisement of other keys"));
        }
        Ok(Self {
            params: c.params,
            id: c.id,
            identity: c.identity,
            share_key,
            mask_key_secret,
            self_mask_seed,
            advertised,
        })
    }
}

impl Saved for ShareKeys {
    const STAGE: u8 = 1;

    fn context(&self) -> (&Params, ClientId, Option<&Identity>) {
        (&self.params, self.id, self.identity.as_ref())
    }

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.roster_digest);
        w.u32(self.roster_size);
        w.ids(self.members.iter());
        w.bytes(self.mask_key.to_bytes().as_ref());
        w.bytes(self.self_mask_seed.to_bytes().as_ref());
        write_held(w, &self.own);
        write_peers(w, &self.peers);
    }

    fn read(r: &mut Reader<'_>, c: Context) -> Result<Self, DecodeError> {
        let roster_digest = *r.array::<32>()?;
        let roster_size = r.count("roster size", c.params.clients(), 0)?;
        let members = read_members(r, &c.params)?;
        check_roster_size(&c.params, roster_size, &members)?;
        let mask_key = secret_key(r)?;
        let self_mask_seed = secret_scalar(r)?;
        let own = read_held(r)?;
        let peers = read_peers(r, &c.params, c.id)?;
        Ok(Self {
            params: c.params,
            id: c.id,
            identity: c.identity,
            roster_digest,
            roster_size,
            members,
            mask_key,
            self_mask_seed,
            own,
            peers,
        })
    }
}

impl Saved for MaskedInput {
    const STAGE: u8 = 2;

    fn context(&self) -> (&Params, ClientId, Option<&Identity>) {
        (&self.params, self.id, self.identity.as_ref())
    }

    fn write(&self, w: &mut Writer) {
        write_held(w, &self.own);
        write_peers(w, &self.peers);
        w.u32(self.roster_size);
        w.ids(self.members.iter());
    }

    fn read(r: &mut Reader<'_>, c: Context) -> Result<Self, DecodeError> {
        let own = read_held(r)?;
        let peers = read_peers(r, &c.params, c.id)?;
        let roster_size = r.count("roster size", c.params.clients(), 0)?;
        let members = read_members(r, &c.params)?;
        check_roster_size(&c.params, roster_size, &members)?;
        Ok(Self {
            params: c.params,
            id: c.id,
            own,
            peers,
            identity: c.identity,
            roster_size,
            members,
        })
    }
}

impl Saved for Consistency {
    const STAGE: u8 = 3;

    fn context(&self) -> (&Params, ClientId, Option<&Identity>) {
        self.inner.context()
    }

    /// The inner state, the survivor digest signed, and `count ‖ (id ‖ status)` per member
    /// of the neighbourhood, ascending.
    fn write(&self, w: &mut Writer) {
        self.inner.write(w);
        w.bytes(&self.survivor_digest);
        w.u32(self.statuses.len());
        for (v, &survived) in &self.statuses {
            w.bytes(&v.to_be_bytes());
            w.u8(u8::from(survived));
        }
    }

    fn read(r: &mut Reader<'_>, c: Context) -> Result<Self, DecodeError> {
        let inner = MaskedInput::read(r, c)?;
        let survivor_digest = *r.array::<32>()?;
        let count = r.count("statuses", inner.params.share_holders(), 5)?;
        let mut statuses = BTreeMap::new();
        let mut last = None;
        for _ in 0..count {
            let v = ClientId::decode(r)?;
            if last.is_some_and(|l| l >= v) {
                return Err(DecodeError::NonCanonical("statuses not strictly ascending"));
            }
            last = Some(v);
            let survived = match r.u8()? {
                0 => false,
                1 => true,
                other => return Err(DecodeError::BadOptionByte(other)),
            };
            statuses.insert(v, survived);
        }
        // Exactly this client and its neighbours, as ConsistencyCheck verified them.
        let neighbourhood = statuses.len() == inner.peers.len().saturating_add(1)
            && statuses
                .keys()
                .all(|v| *v == inner.id || inner.peers.contains_key(v));
        if !neighbourhood {
            return Err(DecodeError::NonCanonical(
                "statuses of another neighbourhood",
            ));
        }
        Ok(Self {
            inner,
            survivor_digest,
            statuses,
        })
    }
}

impl Saved for Done {
    const STAGE: u8 = 4;

    fn context(&self) -> (&Params, ClientId, Option<&Identity>) {
        (&self.params, self.id, None)
    }

    fn write(&self, w: &mut Writer) {
        w.bytes(&self.request);
        w.nested(&self.response);
    }

    fn read(r: &mut Reader<'_>, c: Context) -> Result<Self, DecodeError> {
        let request = *r.array::<32>()?;
        let limits = Limits::for_params(&c.params);
        let len = r.count("response bytes", limits.max_message_bytes, 1)?;
        let response = Zeroizing::new(r.bytes(len)?.to_vec());
        // The response must be one this client could have sent.
        let decoded: msg::UnmaskingResponse = crate::wire::from_bytes(&response, &limits)?;
        if decoded.session != *c.params.session() || decoded.sender != c.id {
            return Err(DecodeError::NonCanonical("response of another client"));
        }
        Ok(Self {
            params: c.params,
            id: c.id,
            request,
            response,
        })
    }
}

/// `seal` / `open` for each round's state, with one doc.
macro_rules! durable {
    ($($state:ident),*) => {$(
        impl $state {
            /// Saves this state: its sealed bytes under `key` (`docs/WIRE.md`, "State
            /// format"), with a fresh nonce from `rng`. Store them before sending the message
            /// this state answered with.
            #[must_use]
            pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StateKey, rng: &mut R) -> Vec<u8> {
                seal(self, key, rng)
            }

            /// Restores a state saved by `seal`: the caller gives what it holds anyway (the
            /// session's parameters, its id and, against a malicious server, its identity),
            /// and the state must have been saved with exactly those.
            ///
            /// # Errors
            /// [`StateError`] for bytes too long for the session, of another version, role,
            /// round, session or client, that do not authenticate under `key` (a wrong key or
            /// any changed byte), saved under other parameters or identity, or that do not
            /// decode.
            pub fn open(
                bytes: &[u8],
                key: &StateKey,
                params: &Params,
                id: ClientId,
                identity: Option<Identity>,
            ) -> Result<Self, StateError> {
                open(bytes, key, params, id, identity)
            }
        }
    )*};
}

durable!(AdvertiseKeys, ShareKeys, MaskedInput, Consistency, Done);
