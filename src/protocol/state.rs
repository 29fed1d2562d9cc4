//! Saved states: every client and server state as sealed, versioned bytes, so that a party
//! can stop between rounds (a phone killed, a Flower stage in a fresh process, a server
//! restart) and resume exactly where it was (`docs/WIRE.md`, "State format").
//!
//! A saved state is
//!
//! ```text
//! version (1) ‖ role (1) ‖ stage (1) ‖ session id (32) ‖ party (u32 BE)   -- the header, in clear
//! ‖ nonce (24) ‖ XChaCha20-Poly1305(key, nonce, plaintext, aad = header)
//! ```
//!
//! under a key derived from the host's [`StateKey`] with
//! [`LABEL_STATE_KEY`](crate::crypto::kdf::LABEL_STATE_KEY), the session and the party (the
//! client's id, 0 for the server). The plaintext starts with the SHA-256 digests of the
//! session's parameters and of the identity material (the client's verifying key and the
//! PKI, or the server's PKI), then holds the state's own fields in a canonical encoding.
//!
//! Opening checks, in order and before any allocation beyond the input: the length against
//! the largest state the session's parameters allow, the header (version, role, stage,
//! session, party), the tag, the two digests, then the fields, each count against the
//! session's bounds. Every failure is a [`StateError`], never a panic.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::aead::{STATE_NONCE_LEN, TAG_LEN, open_state, seal_state};
use crate::crypto::sign::Pki;
use crate::error::{DecodeError, StateError};
use crate::ids::{ClientId, SessionId};
use crate::params::Params;
use crate::vocabulary::Round;
use crate::wire::{self, Decode, Limits, Reader};

pub use crate::crypto::aead::StateKey;

/// The version byte of saved states; its own number, apart from the wire version.
pub const STATE_VERSION: u8 = 2;

/// Bytes of the clear header: version, role, stage, session id, party.
pub const STATE_HEADER_LEN: usize = 1 + 1 + 1 + 32 + 4;

/// Bytes a sealed state adds to its plaintext: header, nonce and tag.
pub const STATE_OVERHEAD: usize = STATE_HEADER_LEN + STATE_NONCE_LEN + TAG_LEN;

/// Whose state a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Client = 1,
    Server = 2,
}

/// The clear header of a saved state, bound as associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) role: Role,
    /// The state's position in the party's sequence (a client: one more per message it
    /// answered; the server: the round it collects).
    pub(crate) stage: u8,
    pub(crate) session: SessionId,
    /// The client, or `ClientId(0)` for the server.
    pub(crate) party: ClientId,
}

impl Header {
    fn to_bytes(self) -> [u8; STATE_HEADER_LEN] {
        let mut out = [0u8; STATE_HEADER_LEN];
        let (fixed, rest) = out.split_at_mut(3);
        fixed.copy_from_slice(&[STATE_VERSION, self.role as u8, self.stage]);
        let (session, party) = rest.split_at_mut(32);
        session.copy_from_slice(self.session.as_bytes());
        party.copy_from_slice(&self.party.to_be_bytes());
        out
    }

    /// Reads the header of `bytes` without trusting it yet.
    fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), StateError> {
        let (header, sealed) = bytes
            .split_first_chunk::<STATE_HEADER_LEN>()
            .ok_or(StateError::TooShort)?;
        let (fixed, rest) = header
            .split_first_chunk::<3>()
            .ok_or(StateError::TooShort)?;
        let [version, role, stage] = *fixed;
        if version != STATE_VERSION {
            return Err(StateError::UnknownVersion(version));
        }
        let role = match role {
            1 => Role::Client,
            2 => Role::Server,
            _ => return Err(StateError::WrongKind { got: (role, stage) }),
        };
        let (session, party) = rest.split_first_chunk::<32>().ok_or(StateError::TooShort)?;
        let party: [u8; 4] = party.try_into().map_err(|_| StateError::TooShort)?;
        Ok((
            Self {
                role,
                stage,
                session: SessionId(*session),
                party: ClientId(u32::from_be_bytes(party)),
            },
            sealed,
        ))
    }
}

/// What a state is bound to besides its header: the session's parameters and the identity
/// material of the party (hashed into the plaintext, compared on opening).
pub(crate) struct Binding {
    params: [u8; 32],
    identity: [u8; 32],
}

impl Binding {
    /// The binding of a party's state: `identity` is the party's own verifying key (a
    /// client in the malicious mode) and `pki` the PKI it holds, if any.
    pub(crate) fn new(params: &Params, identity: Option<[u8; 32]>, pki: Option<&Pki>) -> Self {
        let params = Sha256::new()
            .chain_update(b"secagg/v1/state-params")
            .chain_update(params.to_bytes())
            .finalize()
            .into();
        let mut h = Sha256::new().chain_update(b"secagg/v1/state-identity");
        match identity {
            Some(key) => {
                h.update([1]);
                h.update(key);
            }
            None => h.update([0]),
        }
        match pki {
            Some(pki) => {
                h.update([1]);
                h.update(pki.to_bytes());
            }
            None => h.update([0]),
        }
        Self {
            params,
            identity: h.finalize().into(),
        }
    }
}

/// The plaintext of a state being written: zeroized when dropped, since a client's holds
/// its secrets, and every buffer it outgrows is zeroized too ([`Writer::room`]).
pub(crate) struct Writer(Zeroizing<Vec<u8>>);

impl Writer {
    pub(crate) fn new(binding: &Binding, capacity: usize) -> Self {
        let mut out = Zeroizing::new(Vec::with_capacity(capacity.saturating_add(64)));
        out.extend_from_slice(&binding.params);
        out.extend_from_slice(&binding.identity);
        Self(out)
    }

    /// Makes room for `additional` more bytes. A `Vec` that grows by itself frees its old
    /// buffer unwiped; here the bytes move to a larger buffer and the old one is wiped (it
    /// is a `Zeroizing` dropped), so no copy of the plaintext is left behind.
    fn room(&mut self, additional: usize) {
        let needed = self.0.len().saturating_add(additional);
        if needed <= self.0.capacity() {
            return;
        }
        let capacity = needed.max(self.0.capacity().saturating_mul(2));
        let mut larger = Zeroizing::new(Vec::with_capacity(capacity));
        larger.extend_from_slice(&self.0);
        // SECURITY: the old buffer held the plaintext so far; replacing it drops it through
        // `Zeroizing`, which wipes it before it is freed.
        self.0 = larger;
    }

    pub(crate) fn u8(&mut self, x: u8) {
        self.room(1);
        self.0.push(x);
    }

    pub(crate) fn u32(&mut self, x: usize) {
        self.room(4);
        self.0
            .extend_from_slice(&u32::try_from(x).unwrap_or(u32::MAX).to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.room(b.len());
        self.0.extend_from_slice(b);
    }

    /// A length-prefixed byte string (a nested wire message).
    pub(crate) fn nested(&mut self, b: &[u8]) {
        self.u32(b.len());
        self.bytes(b);
    }

    pub(crate) fn ids<'a>(&mut self, ids: impl ExactSizeIterator<Item = &'a ClientId>) {
        self.u32(ids.len());
        for id in ids {
            self.bytes(&id.to_be_bytes());
        }
    }

    pub(crate) fn round(&mut self, round: Round) {
        self.u8(round.number());
    }

    /// Bit-packs a vector of the session's modulus (as masked inputs are on the wire).
    pub(crate) fn packed(&mut self, values: &[u64], params: &Params) {
        let bits = params.modulus().bits();
        self.room(wire::packed_len(values.len(), bits));
        wire::pack(values, bits, &mut self.0);
    }

    /// Seals the plaintext under `key` with `header` as associated data.
    pub(crate) fn seal<R: CryptoRng + ?Sized>(
        self,
        header: Header,
        key: &StateKey,
        rng: &mut R,
    ) -> Vec<u8> {
        let aad = header.to_bytes();
        let mut out = Vec::with_capacity(STATE_OVERHEAD.saturating_add(self.0.len()));
        out.extend_from_slice(&aad);
        // A plaintext is bounded by the session's parameters, far below XChaCha20-Poly1305's
        // 256 GiB limit, so sealing cannot fail.
        if seal_state(
            key,
            (&header.session, header.party),
            &aad,
            &self.0,
            rng,
            &mut out,
        )
        .is_err()
        {
            unreachable!("a state is far below the cipher's length limit");
        }
        out
    }
}

/// A server session's state written out and not yet sealed
/// ([`ServerSession::snapshot`](crate::protocol::session::ServerSession::snapshot)): taking
/// it copies the state's fields, [`Snapshot::seal`] encrypts them, later and elsewhere (a
/// server that holds its session behind a lock seals outside it). The plaintext holds the
/// session's secrets (the shares revealed in Unmasking): it is wiped on drop, and `Debug`
/// prints only its length.
pub struct Snapshot {
    writer: Writer,
    header: Header,
}

impl core::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Snapshot")
            .field("stage", &self.header.stage)
            .field("plaintext_len", &self.writer.0.len())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(crate) fn new(writer: Writer, header: Header) -> Self {
        Self { writer, header }
    }

    /// Seals it under `key` with a fresh nonce from `rng`: the bytes the state's `seal`
    /// gives (`docs/WIRE.md`, "State format").
    #[must_use]
    pub fn seal<R: CryptoRng + ?Sized>(self, key: &StateKey, rng: &mut R) -> Vec<u8> {
        self.writer.seal(self.header, key, rng)
    }
}

/// What opening a state expects: the role, the session and party, and the largest state the
/// session allows.
pub(crate) struct Expected<'a> {
    pub(crate) role: Role,
    /// The stage of the type being opened (`None`: any).
    pub(crate) stage: Option<u8>,
    pub(crate) params: &'a Params,
    pub(crate) party: ClientId,
    pub(crate) max_len: usize,
}

/// An opened state: its authenticated plaintext, past the binding.
pub(crate) struct Opened {
    plaintext: Zeroizing<Vec<u8>>,
}

impl Opened {
    /// The state's fields, past the binding.
    pub(crate) fn body(&self) -> &[u8] {
        self.plaintext.get(64..).unwrap_or_default()
    }

    /// A reader over the state's fields.
    pub(crate) fn reader(&self) -> Reader<'_> {
        Reader::new(self.body())
    }
}

/// Checks the length and header of `bytes`, opens it and checks its binding.
pub(crate) fn open(
    bytes: &[u8],
    key: &StateKey,
    expected: &Expected<'_>,
    binding: &Binding,
) -> Result<Opened, StateError> {
    if bytes.len() > expected.max_len {
        return Err(StateError::TooLong {
            got: bytes.len(),
            max: expected.max_len,
        });
    }
    if bytes.len() < STATE_OVERHEAD {
        return Err(StateError::TooShort);
    }
    let (header, sealed) = Header::parse(bytes)?;
    if header.role != expected.role {
        return Err(StateError::WrongKind {
            got: (header.role as u8, header.stage),
        });
    }
    if expected.stage.is_some_and(|stage| stage != header.stage) {
        return Err(StateError::WrongRound);
    }
    if header.session != *expected.params.session() {
        return Err(StateError::WrongSession);
    }
    if header.party != expected.party {
        return Err(StateError::WrongClient);
    }
    let aad = header.to_bytes();
    let plaintext = open_state(key, (&header.session, header.party), &aad, sealed)
        .map_err(|_| StateError::Unauthentic)?;
    let (params, rest) = plaintext
        .split_first_chunk::<32>()
        .ok_or(StateError::Malformed(DecodeError::TooShort {
            needed: 64,
            remaining: plaintext.len(),
        }))?;
    let (identity, _) =
        rest.split_first_chunk::<32>()
            .ok_or(StateError::Malformed(DecodeError::TooShort {
                needed: 64,
                remaining: plaintext.len(),
            }))?;
    if *params != binding.params {
        return Err(StateError::OtherParams);
    }
    if *identity != binding.identity {
        return Err(StateError::OtherIdentity);
    }
    Ok(Opened { plaintext })
}

/// The stage in the clear header of `bytes`, which must hold a state of `role`: for
/// dispatch only, nothing is trusted before [`open`] authenticates it.
pub(crate) fn peek(bytes: &[u8], role: Role) -> Result<u8, StateError> {
    let (header, _) = Header::parse(bytes)?;
    if header.role != role {
        return Err(StateError::WrongKind {
            got: (header.role as u8, header.stage),
        });
    }
    Ok(header.stage)
}

/// Reads a list of client ids, strictly ascending, at most `max`.
pub(crate) fn read_ids(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
) -> Result<Vec<ClientId>, DecodeError> {
    let count = r.count(what, max, 4)?;
    let mut ids: Vec<ClientId> = Vec::with_capacity(count);
    for _ in 0..count {
        let id = ClientId::decode(r)?;
        if ids.last().is_some_and(|last| *last >= id) {
            return Err(DecodeError::NonCanonical("ids not strictly ascending"));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// The round numbered `number` ([`Round::number`]).
pub(crate) fn round_numbered(number: u8) -> Option<Round> {
    [
        Round::AdvertiseKeys,
        Round::ShareKeys,
        Round::MaskedInput,
        Round::Consistency,
        Round::Unmasking,
    ]
    .into_iter()
    .find(|r| r.number() == number)
}

/// Reads a round byte.
pub(crate) fn read_round(r: &mut Reader<'_>) -> Result<Round, DecodeError> {
    round_numbered(r.u8()?).ok_or(DecodeError::NonCanonical("round"))
}

/// Reads a length-prefixed nested wire message, decoded under the session's limits.
pub(crate) fn read_nested<M: wire::DecodeWith<Limits>>(
    r: &mut Reader<'_>,
    limits: &Limits,
) -> Result<M, DecodeError> {
    let len = r.count("nested message bytes", limits.max_message_bytes, 1)?;
    wire::from_bytes(r.bytes(len)?, limits)
}

/// Reads a vector of `d` elements bit-packed at the session's modulus.
pub(crate) fn read_packed(r: &mut Reader<'_>, params: &Params) -> Result<Vec<u64>, DecodeError> {
    wire::unpack(r, params.vector_len(), params.modulus())
}

/// `a * b`, saturating.
fn times(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

/// `a + b + ...`, saturating.
fn sum(parts: &[usize]) -> usize {
    parts.iter().fold(0, |acc, p| acc.saturating_add(*p))
}

/// Bytes of one nested message other than a masked input, in a session of `clients`
/// clients: a length prefix and the longest such message.
fn nested_max(clients: usize) -> usize {
    // States hold whole rosters, never views.
    sum(&[4, wire::longest_message(clients, 0, 0)])
}

/// The largest sealed client state of the session: `O(n + h)` bytes for `n` clients and `h`
/// share holders (`docs/WIRE.md`, "State format").
#[must_use]
pub fn max_client_state_len(params: &Params) -> usize {
    let n = params.clients();
    let h = params.share_holders();
    // id, two public keys, a state (2), an open key (33), held shares (65).
    const PEER: usize = 4 + 32 + 32 + 2 + 33 + 65;
    let body = [
        // AdvertiseKeys: three secrets and the advertisement.
        sum(&[96, nested_max(n)]),
        // ShareKeys, MaskedInput, Consistency: roster digest and size, members, secrets, own
        // shares, peers, the survivor digest and the neighbourhood's statuses.
        sum(&[
            32 + 4,
            sum(&[4, times(n, 4)]),
            32 + 32 + 64,
            4,
            times(h, PEER),
            32,
            sum(&[4, times(h, 5)]),
        ]),
        // Done: the answered request's digest and the response.
        sum(&[1, 32, nested_max(h)]),
    ]
    .into_iter()
    .max()
    .unwrap_or(usize::MAX);
    sum(&[STATE_OVERHEAD, 64, body])
}

/// The largest sealed server state of the session: `O(n h + d)` bytes for `n` clients, `h`
/// share holders and vectors of `d` elements.
#[must_use]
pub fn max_server_state_len(params: &Params) -> usize {
    let n = params.clients();
    let h = params.share_holders();
    let packed = wire::packed_len(params.vector_len(), params.modulus().bits());
    let nested = nested_max(n);
    // Per ShareKeys message kept: at most `h` sealed pairs and a signature, bounded by the
    // longest message of a session of `h` clients.
    let share_keys = nested_max(h);
    let body = sum(&[
        nested,
        sum(&[4, times(n, share_keys)]),
        times(4, sum(&[4, times(n, 4)])),
        packed,
        sum(&[4, times(n, 4 + 64)]),
        // Revealed shares: per responder an id, two counts and at most `h` shares.
        sum(&[4, times(n, sum(&[12, times(h, 4 + 32)]))]),
    ]);
    sum(&[STATE_OVERHEAD, 64, body])
}
