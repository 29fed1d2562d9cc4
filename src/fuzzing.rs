//! The logic of the fuzz targets in `fuzz/`. Each target is one call into this module, so a
//! crash the fuzzer finds reproduces as an ordinary test (`tests/fuzz_regressions.rs`).
//!
//! Not part of the API: compiled only with the `fuzzing` feature (which `fuzz/` enables),
//! and hidden from the docs. Every entry point takes arbitrary bytes,
//! decodes them by hand with [`Input`] (which never fails: reads past the end give zeros),
//! drives the library, and panics only when a property is violated: the library panicked, a
//! decoded message did not re-encode to its bytes, a typed error was not the one the input
//! calls for, or a session that completed returned a wrong sum.

// A harness panics by design: every assertion below is a property of the library.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::crypto::kx::SMALL_ORDER;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use curve25519_dalek::Scalar;
use rand_core::SeedableRng;

use crate::crypto::kx::PublicKey;
use crate::crypto::shamir::{self, Lagrange, SecretScalar, ShamirError, Share};
use crate::crypto::sign::{IdentityKey, Pki, Signature};
use crate::error::{Error, Misbehavior};
use crate::ids::{ClientId, SessionId, ShareIndex};
use crate::params::{Modulus, Params, ThreatModel};
use crate::protocol::client::{self, PlainInput};
use crate::protocol::messages::{self as msg, SEALED_SHARES_LEN};
use crate::protocol::server::Output;
use crate::protocol::session::{ClientSession, Closed, Envelope, ServerSession};
use crate::wire::{
    self, ClientMessage, DecodeError, DecodeWith, Encode, Kind, Limits, PackedMaskedInput, Reader,
    ServerMessage,
};

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

/// A cursor over fuzz input that never fails: once the input is used up, every read gives
/// zeros (and [`Input::is_empty`] says so).
#[derive(Clone, Debug)]
pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// Whether the input is used up.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, or 0.
    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// The next `N` bytes, zero-padded.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.byte();
        }
        out
    }

    /// The next big-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    /// The next big-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// A number below `n` (0 if `n` is 0), from one byte if `n <= 256`, else from two.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let raw = if n <= 256 {
            usize::from(self.byte())
        } else {
            usize::from(self.u16())
        };
        raw % n
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        head
    }

    /// A chunk prefixed by its big-endian `u16` length.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.take(n)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// How many fixed sessions [`session_params`] knows.
pub const SESSIONS: usize = 7;
/// How many parameter sets [`decode_params`] knows (the sessions, then decoding-only ones).
pub const DECODE_PARAMS: usize = SESSIONS + 4;

fn p2(bits: u32) -> Modulus {
    Modulus::power_of_two(bits).expect("bits in 1..=64")
}

fn modulus(m: u64) -> Modulus {
    Modulus::new(m).expect("m >= 2")
}

/// The small fixed sessions the session targets run (`index % SESSIONS`). The first three are
/// those of the protocol test vectors (`tests/vectors/v2/`): same ids, sizes and moduli.
#[must_use]
pub fn session_params(index: usize) -> Params {
    let b = |sid: u8, n, m, d| Params::builder(SessionId([sid; 32]), n, m, d);
    match index % SESSIONS {
        0 => b(0x11, 3, p2(16), 5).threshold(2).build(),
        1 => b(0x22, 6, modulus(1000), 4).neighbours(2).build(),
        2 => b(0x33, 4, p2(10), 3)
            .threat_model(ThreatModel::Malicious)
            .build(),
        3 => b(0x44, 5, modulus(7), 3).build(),
        // t = n: every share holder is needed.
        4 => b(0x55, 4, p2(64), 2).threshold(4).build(),
        5 => b(0x66, 7, modulus(u64::MAX), 2).neighbours(4).build(),
        _ => b(0x77, 6, modulus(12_289), 2)
            .neighbours(4)
            .threat_model(ThreatModel::Malicious)
            .build(),
    }
    .expect("valid fixed parameters")
}

/// The parameters the decoding targets decode under (`selector % DECODE_PARAMS`): the
/// sessions of [`session_params`], then a few shapes that only decoding needs (one-bit and
/// two-bit elements, a 34-bit odd modulus, the largest client count).
#[must_use]
pub fn decode_params(selector: u8) -> Params {
    let index = usize::from(selector) % DECODE_PARAMS;
    let sid = SessionId([0x99; 32]);
    let extra = match index.checked_sub(SESSIONS) {
        None => return session_params(index),
        Some(0) => Params::new(sid, 2, 2, p2(1), 17),
        Some(1) => Params::new(sid, 3, 2, modulus(3), 9),
        Some(2) => Params::new(sid, 16, 9, modulus((1 << 33) + 1), 6),
        Some(_) => Params::new(sid, crate::params::MAX_CLIENTS, 32_769, p2(32), 1),
    };
    extra.expect("valid fixed parameters")
}

fn ids(params: &Params) -> Vec<ClientId> {
    (1..=params.clients())
        .filter_map(|u| u32::try_from(u).ok())
        .map(ClientId)
        .collect()
}

fn reduce(m: Modulus, x: u64) -> u64 {
    u64::try_from(u128::from(x) % m.value()).unwrap_or(x)
}

/// The input of client `u`: element `j` is `(u * 7919 + j * 104729 + 1) mod m`.
fn input_of(params: &Params, u: ClientId) -> Vec<u64> {
    let m = params.modulus();
    (0..params.vector_len())
        .map(|j| {
            let j = u64::try_from(j).unwrap_or(0);
            let x = u128::from(u.0) * 7919 + u128::from(j) * 104_729 + 1;
            u64::try_from(x % m.value()).unwrap_or(0)
        })
        .collect()
}

fn rng_of(params: &Params, u: ClientId) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64((u64::from(params.session().0[0]) << 32) | u64::from(u.0))
}

fn identity_of(u: ClientId) -> IdentityKey {
    let mut seed = [0x1d; 32];
    if let Some(head) = seed.first_chunk_mut::<4>() {
        *head = u.to_be_bytes();
    }
    IdentityKey::from_seed(&seed)
}

fn pki_of(params: &Params) -> Pki {
    Pki::new(
        ids(params)
            .into_iter()
            .map(|u| (u, identity_of(u).public_key())),
    )
}

/// A client id chosen by the input: mostly one of the session's, sometimes one next to them
/// (0, `n + 1`) or far away.
fn pick_id(inp: &mut Input<'_>, n: usize) -> ClientId {
    let b = inp.byte();
    match b {
        0..=249 => ClientId(u32::try_from(usize::from(b) % (n + 2)).unwrap_or(0)),
        250..=252 => ClientId(u32::MAX - u32::from(b - 250)),
        _ => ClientId(u32::from(inp.u16()) << 8),
    }
}

// ---------------------------------------------------------------------------------------------
// Honest clients
// ---------------------------------------------------------------------------------------------

/// One honest client, driven through the byte-level [`ClientSession`].
struct Honest {
    id: ClientId,
    params: Params,
    limits: Limits,
    /// `None` once it has returned an error (the session is then over).
    session: Option<ClientSession>,
    rng: ChaCha20Rng,
    input: Vec<u64>,
    /// `y_u`, once it sent it.
    masked: Option<Vec<u64>>,
    /// Its advertisement.
    advert: msg::AdvertiseKeys,
    /// Its latest reply, not yet delivered.
    pending: Option<Vec<u8>>,
    /// Dropped out: it no longer reacts.
    silent: bool,
}

impl Honest {
    fn new(params: &Params, id: ClientId) -> Self {
        let mut rng = rng_of(params, id);
        let identity = (params.threat_model() == ThreatModel::Malicious)
            .then(|| client::Identity::new(identity_of(id), pki_of(params)));
        let input = input_of(params, id);
        let plain = PlainInput::new(input.clone());
        let (session, advert) = ClientSession::start(params, id, identity, plain, &mut rng);
        let limits = Limits::for_params(params);
        let Ok(ClientMessage::AdvertiseKeys(decoded)) = wire::from_bytes(&advert, &limits) else {
            panic!("a client's advertisement does not decode");
        };
        Self {
            id,
            params: params.clone(),
            limits,
            session: Some(session),
            rng,
            input,
            masked: None,
            pending: Some(advert),
            advert: decoded,
            silent: false,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.session, Some(ClientSession::Done(_)))
    }

    /// Hands the client the bytes of one server message; on success its reply is `pending`.
    /// An error ends its session.
    fn handle(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let (session, reply) = match session.handle(&self.params, bytes, &mut self.rng) {
            Ok(next) => next,
            Err(e) => {
                let _ = e.to_string();
                if let Error::Misbehaved {
                    what: Misbehavior::Malformed(d),
                    ..
                } = &e
                {
                    let decoded = wire::from_bytes::<ServerMessage>(bytes, &self.limits);
                    assert_eq!(decoded.err().as_ref(), Some(d), "Malformed for good bytes");
                }
                return Err(e);
            }
        };
        self.session = Some(session);
        self.check_reply(bytes, &reply);
        self.pending = Some(reply);
        Ok(())
    }

    /// Properties of every reply, whatever the server sent: it decodes under the session's
    /// limits, it is from this client, and its lists keep their security properties.
    fn check_reply(&mut self, request: &[u8], reply: &[u8]) {
        let id = self.id;
        let reply = wire::from_bytes::<ClientMessage>(reply, &self.limits);
        let Ok(reply) = reply else {
            panic!("a client's reply does not decode: {reply:?}");
        };
        assert_eq!(reply.sender(), id);
        let request = wire::from_bytes::<ServerMessage>(request, &self.limits);
        match (reply, request) {
            (ClientMessage::ShareKeys(out), Ok(ServerMessage::Roster(_))) => {
                let mut recipients = BTreeSet::new();
                for s in &out.sealed {
                    assert_eq!(s.sender, id);
                    assert_ne!(s.recipient, id, "a client seals shares to itself");
                    assert!(
                        recipients.insert(s.recipient),
                        "two sealed pairs to one peer"
                    );
                }
            }
            (ClientMessage::MaskedInput(out), Ok(ServerMessage::SharesDelivery(_))) => {
                assert_eq!(out.masked.len(), self.params.vector_len());
                self.masked = Some(out.masked);
            }
            (ClientMessage::ConsistencySignature(_), Ok(ServerMessage::ConsistencyRequest(_))) => {}
            (ClientMessage::UnmaskingResponse(out), Ok(ServerMessage::UnmaskingRequest(r))) => {
                check_unmasking_response(id, &r, &out);
            }
            (reply, request) => panic!("reply {:?} to {request:?}", reply.kind()),
        }
    }
}

/// SECURITY properties of a reply to an unmasking request: no peer has both of its shares
/// revealed, the client never reveals its own key share, and it reveals only what was asked.
fn check_unmasking_response(
    id: ClientId,
    request: &msg::UnmaskingRequest,
    out: &msg::UnmaskingResponse,
) {
    let self_mask: BTreeSet<ClientId> = out.self_mask_shares.iter().map(|(u, _)| *u).collect();
    let key: BTreeSet<ClientId> = out.key_shares.iter().map(|(u, _)| *u).collect();
    assert_eq!(
        self_mask.len(),
        out.self_mask_shares.len(),
        "repeated owner"
    );
    assert_eq!(key.len(), out.key_shares.len(), "repeated owner");
    assert!(
        self_mask.is_disjoint(&key),
        "both shares of one peer revealed"
    );
    assert!(!key.contains(&id), "own key share revealed");
    assert!(self_mask.iter().all(|u| request.survivors.contains(u)));
    assert!(key.iter().all(|u| request.dropped.contains(u)));
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// Properties of every message the server sends, whatever the clients sent it: it decodes
/// under the session's own limits, goes to the right clients, and its lists are well formed.
fn check_envelope(params: &Params, limits: &Limits, envelope: &Envelope) -> ServerMessage {
    let decoded = wire::from_bytes::<ServerMessage>(&envelope.bytes, limits);
    let Ok(m) = decoded else {
        panic!("a server message its clients cannot decode: {decoded:?}");
    };
    let distinct = |ids: &[ClientId]| ids.iter().collect::<BTreeSet<_>>().len() == ids.len();
    match &m {
        ServerMessage::Roster(r) => {
            assert!(r.entries.len() <= params.clients());
            let senders: Vec<ClientId> = r.entries.iter().map(|e| e.sender).collect();
            assert!(distinct(&senders));
            assert_eq!(envelope.to, senders);
            let mut keys = BTreeSet::new();
            for e in &r.entries {
                assert!(keys.insert(e.share_public_key), "repeated key in roster");
                assert!(keys.insert(e.mask_public_key), "repeated key in roster");
                assert!(!e.share_public_key.is_small_order());
                assert!(!e.mask_public_key.is_small_order());
            }
        }
        ServerMessage::SharesDelivery(d) => {
            assert_eq!(envelope.to, [d.recipient]);
            let senders: Vec<ClientId> = d.sealed.iter().map(|s| s.sender).collect();
            assert!(distinct(&senders));
            assert!(d.sealed.iter().all(|s| s.recipient == d.recipient));
            assert!(!senders.contains(&d.recipient));
        }
        ServerMessage::ConsistencyRequest(c) => {
            assert_eq!(envelope.to, [c.recipient]);
            assert!(distinct(&c.survivors));
            assert!(c.survivors.contains(&c.recipient));
        }
        ServerMessage::UnmaskingRequest(u) => {
            assert_eq!(envelope.to, [u.recipient]);
            assert!(distinct(&u.survivors) && distinct(&u.dropped));
            assert!(
                u.survivors.iter().all(|v| !u.dropped.contains(v)),
                "a client named both survivor and dropped"
            );
            assert!(u.survivors.contains(&u.recipient));
        }
    }
    m
}

/// One message the server sent.
#[derive(Clone, Debug)]
struct Sent {
    to: Vec<ClientId>,
    message: ServerMessage,
    bytes: Vec<u8>,
}

/// A [`ServerSession`] and honest clients running side by side; the fuzz input decides what
/// the server receives and when rounds close.
struct World {
    params: Params,
    limits: Limits,
    /// `None` once the session finished or aborted.
    server: Option<ServerSession>,
    clients: BTreeMap<ClientId, Honest>,
    /// The masked input the server accepted from each client.
    accepted: BTreeMap<ClientId, Vec<u64>>,
    /// Every message an honest client produced, for replays.
    history: Vec<Vec<u8>>,
    /// Every message the server sent, in order.
    sent: Vec<Sent>,
    /// The keys of every honest advertisement, for mutations.
    keys: Vec<PublicKey>,
    outcome: Option<Result<Output, Error>>,
}

impl World {
    fn new(params: &Params, with_pki: bool) -> Self {
        let pki =
            (params.threat_model() == ThreatModel::Malicious && with_pki).then(|| pki_of(params));
        let clients: BTreeMap<ClientId, Honest> = ids(params)
            .into_iter()
            .map(|u| (u, Honest::new(params, u)))
            .collect();
        let keys = clients
            .values()
            .flat_map(|c| [c.advert.share_public_key, c.advert.mask_public_key])
            .collect();
        let history = clients.values().filter_map(|c| c.pending.clone()).collect();
        Self {
            limits: Limits::for_params(params),
            params: params.clone(),
            server: Some(ServerSession::new(params, pki)),
            clients,
            accepted: BTreeMap::new(),
            history,
            sent: Vec::new(),
            keys,
            outcome: None,
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            n: self.params.clients(),
            modulus: self.params.modulus(),
            keys: &self.keys,
        }
    }

    /// Hands `bytes` to the server as coming from `from`.
    fn deliver(&mut self, from: ClientId, bytes: &[u8]) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let decoded = wire::from_bytes::<ClientMessage>(bytes, &self.limits);
        match server.receive(&self.params, from, bytes) {
            Ok(()) => {
                let Ok(message) = decoded else {
                    panic!("server accepted bytes that do not decode: {decoded:?}");
                };
                assert_eq!(message.sender(), from, "accepted for another sender");
                if let ClientMessage::MaskedInput(y) = message {
                    let first = self.accepted.insert(from, y.masked).is_none();
                    assert!(first, "server accepted two masked inputs from {from}");
                }
            }
            Err(rejected) => {
                let _ = rejected.to_string();
                assert_eq!(rejected.client, from);
                if let Err(e) = decoded {
                    assert_eq!(rejected.reason, Misbehavior::Malformed(e));
                }
            }
        }
    }

    fn deliver_pending(&mut self, id: ClientId) {
        let Some(bytes) = self.clients.get_mut(&id).and_then(|c| c.pending.take()) else {
            return;
        };
        self.deliver(id, &bytes);
    }

    fn deliver_all(&mut self) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.deliver_pending(id);
        }
    }

    fn drop_client(&mut self, id: ClientId) {
        if let Some(c) = self.clients.get_mut(&id) {
            c.silent = true;
            c.pending = None;
        }
    }

    /// Closes the server's round and hands what it sends to the honest clients.
    fn close(&mut self) {
        let Some(server) = self.server.take() else {
            return;
        };
        for c in self.clients.values_mut() {
            // What was not delivered before the deadline is lost.
            c.pending = None;
        }
        match server.close(&self.params) {
            Err(e) => {
                let _ = e.to_string();
                self.outcome = Some(Err(e));
            }
            Ok(Closed::Done(output)) => self.outcome = Some(Ok(output)),
            Ok(Closed::Next(server, envelopes)) => {
                self.server = Some(*server);
                for envelope in envelopes {
                    let message = check_envelope(&self.params, &self.limits, &envelope);
                    self.route(&envelope);
                    self.sent.push(Sent {
                        to: envelope.to,
                        message,
                        bytes: envelope.bytes,
                    });
                }
            }
        }
    }

    fn route(&mut self, envelope: &Envelope) {
        for id in &envelope.to {
            let Some(c) = self.clients.get_mut(id).filter(|c| !c.silent) else {
                continue;
            };
            if c.handle(&envelope.bytes).is_ok()
                && let Some(p) = &c.pending
            {
                self.history.push(p.clone());
            }
        }
    }

    /// Every client delivers what it has and the round closes, until the session ends.
    fn run_honestly(&mut self) {
        for _ in 0..6 {
            if self.server.is_none() {
                break;
            }
            self.deliver_all();
            self.close();
        }
    }

    /// Whenever the session completed, its output is the sum of the inputs of the clients it
    /// says it included, as far as the masked inputs it accepted are known: each included
    /// client contributes `x_u + (accepted y_u - honest y_u)`.
    fn check_outcome(&self) {
        let Some(Ok(output)) = &self.outcome else {
            return;
        };
        let m = self.params.modulus();
        assert_eq!(output.sum.len(), self.params.vector_len());
        assert!(output.sum.iter().all(|&x| m.contains(x)));
        let included: Vec<ClientId> = self.accepted.keys().copied().collect();
        assert_eq!(
            output.included, included,
            "included clients are not those whose masked input was accepted"
        );
        let mut expected = vec![0u64; self.params.vector_len()];
        for u in &output.included {
            // A client that never computed a masked input (the server took a forged one in
            // its name) contributes an unknown value: nothing to check.
            let Some((c, honest)) = self
                .clients
                .get(u)
                .and_then(|c| c.masked.as_ref().map(|y| (c, y)))
            else {
                return;
            };
            let Some(accepted) = self.accepted.get(u) else {
                return;
            };
            for (((e, x), a), y) in expected.iter_mut().zip(&c.input).zip(accepted).zip(honest) {
                *e = m.add(*e, m.add(*x, m.sub(*a, *y)));
            }
        }
        assert_eq!(output.sum, expected, "wrong sum for {:?}", output.included);
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

struct Ctx<'a> {
    n: usize,
    modulus: Modulus,
    keys: &'a [PublicKey],
}

impl Ctx<'_> {
    fn id(&self, inp: &mut Input<'_>) -> ClientId {
        pick_id(inp, self.n)
    }

    /// A public key: one of the session's, one of small order, or any 32 bytes with the top
    /// bit clear.
    fn key(&self, inp: &mut Input<'_>) -> PublicKey {
        match inp.byte() % 3 {
            0 if !self.keys.is_empty() => {
                let i = inp.below(self.keys.len());
                self.keys.get(i).copied().unwrap_or(PublicKey([0; 32]))
            }
            1 => {
                // The crate's own blocklist, so the fuzzer tries exactly what it rejects.
                let i = inp.below(SMALL_ORDER.len());
                PublicKey(SMALL_ORDER.get(i).copied().unwrap_or([0; 32]))
            }
            _ => {
                let mut k = inp.array::<32>();
                if let Some(last) = k.last_mut() {
                    *last &= 0x7f;
                }
                PublicKey(k)
            }
        }
    }
}

/// One structural change to a list: remove, duplicate, swap, insert a fresh item, truncate
/// or reverse.
fn mutate_list<T: Clone>(
    list: &mut Vec<T>,
    inp: &mut Input<'_>,
    fresh: impl FnOnce(&mut Input<'_>) -> T,
) {
    let len = list.len();
    let i = inp.below(len.max(1));
    match inp.byte() % 6 {
        0 if i < len => {
            list.remove(i);
        }
        1 => {
            if let Some(x) = list.get(i).cloned() {
                list.insert(i, x);
            }
        }
        2 => {
            let j = inp.below(len.max(1));
            if i < len && j < len {
                list.swap(i, j);
            }
        }
        3 => {
            let x = fresh(inp);
            list.insert(i.min(len), x);
        }
        4 => list.truncate(i),
        _ => list.reverse(),
    }
}

fn flip_session(session: &mut SessionId, inp: &mut Input<'_>) {
    let i = inp.below(32);
    if let Some(b) = session.0.get_mut(i) {
        *b ^= inp.byte().max(1);
    }
}

fn flip_byte(bytes: &mut [u8], inp: &mut Input<'_>) {
    let i = inp.below(bytes.len());
    if let Some(b) = bytes.get_mut(i) {
        *b ^= inp.byte().max(1);
    }
}

/// A few byte-level changes to an encoded message: flips, overwrites (counts, kinds),
/// truncation, insertion.
fn flip_bytes(bytes: &mut Vec<u8>, inp: &mut Input<'_>) {
    for _ in 0..=inp.byte() % 4 {
        let len = bytes.len();
        let at = if len == 0 {
            0
        } else {
            usize::from(inp.u16()) % len
        };
        match inp.byte() % 5 {
            0 | 1 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= inp.byte().max(1);
                }
            }
            2 => bytes.truncate(at),
            3 => bytes.insert(at, inp.byte()),
            _ => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = inp.byte();
                }
            }
        }
    }
}

fn mutate_signature(signature: &mut Option<Signature>, inp: &mut Input<'_>) {
    match (inp.byte() % 3, signature.as_mut()) {
        (0, _) => *signature = None,
        (1, Some(s)) => flip_byte(&mut s.0, inp),
        _ => *signature = Some(Signature(inp.array())),
    }
}

fn mutate_advert(a: &mut msg::AdvertiseKeys, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    match inp.byte() % 8 {
        0 => a.sender = ctx.id(inp),
        1 => core::mem::swap(&mut a.share_public_key, &mut a.mask_public_key),
        2 => a.share_public_key = a.mask_public_key,
        3 => a.share_public_key = ctx.key(inp),
        4 => a.mask_public_key = ctx.key(inp),
        5 => flip_byte(&mut a.self_mask_commitment, inp),
        6 => mutate_signature(&mut a.signature, inp),
        _ => flip_session(&mut a.session, inp),
    }
}

fn sealed(sender: ClientId, recipient: ClientId, inp: &mut Input<'_>) -> msg::SealedShares {
    msg::SealedShares {
        sender,
        recipient,
        ciphertext: inp.array::<SEALED_SHARES_LEN>().to_vec(),
    }
}

/// Changes the sealed pairs of a ShareKeys (`fixed` is the sender) or a SharesDelivery
/// (`fixed` is the recipient).
fn mutate_sealed(
    list: &mut Vec<msg::SealedShares>,
    fixed: ClientId,
    delivery: bool,
    inp: &mut Input<'_>,
    ctx: &Ctx<'_>,
) {
    let i = inp.below(list.len());
    match inp.byte() % 4 {
        0 => mutate_list(list, inp, |inp| {
            let other = ctx.id(inp);
            if delivery {
                sealed(other, fixed, inp)
            } else {
                sealed(fixed, other, inp)
            }
        }),
        1 => {
            let other = ctx.id(inp);
            if let Some(s) = list.get_mut(i) {
                if delivery {
                    s.sender = other;
                } else {
                    s.recipient = other;
                }
            }
        }
        2 => {
            let j = inp.below(list.len());
            let cj = list.get(j).map(|s| s.ciphertext.clone());
            if let (Some(c), Some(s)) = (cj, list.get_mut(i)) {
                s.ciphertext = c;
            }
        }
        _ => {
            if let Some(s) = list.get_mut(i) {
                flip_byte(&mut s.ciphertext, inp);
            }
        }
    }
}

fn mutate_shares(list: &mut Vec<(ClientId, SecretScalar)>, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    let mut plain: Vec<(ClientId, [u8; 32])> =
        list.iter().map(|(u, s)| (*u, *s.to_bytes())).collect();
    let i = inp.below(plain.len());
    match inp.byte() % 4 {
        0 | 1 => mutate_list(&mut plain, inp, |inp| (ctx.id(inp), inp.array())),
        2 => {
            let u = ctx.id(inp);
            if let Some(s) = plain.get_mut(i) {
                s.0 = u;
            }
        }
        _ => {
            let j = inp.below(plain.len());
            let value = match inp.byte() % 3 {
                0 => plain.get(j).map_or([0; 32], |s| s.1),
                1 => [0; 32],
                _ => inp.array(),
            };
            if let Some(s) = plain.get_mut(i) {
                s.1 = value;
            }
        }
    }
    *list = plain
        .into_iter()
        .map(|(u, b)| (u, SecretScalar(Scalar::from_bytes_mod_order(b))))
        .collect();
}

/// One structural change to a client message, chosen by the input.
fn mutate_client(m: &mut ClientMessage, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    match m {
        ClientMessage::AdvertiseKeys(a) => mutate_advert(a, inp, ctx),
        ClientMessage::ShareKeys(s) => match inp.byte() % 4 {
            0 => s.sender = ctx.id(inp),
            1 => flip_session(&mut s.session, inp),
            _ => mutate_sealed(&mut s.sealed, s.sender, false, inp, ctx),
        },
        ClientMessage::MaskedInput(y) => {
            let i = inp.below(y.masked.len());
            match inp.byte() % 4 {
                0 => y.sender = ctx.id(inp),
                1 => flip_session(&mut y.session, inp),
                2 => {
                    let d = reduce(ctx.modulus, inp.u64());
                    for x in &mut y.masked {
                        *x = ctx.modulus.add(*x, d);
                    }
                }
                _ => {
                    let v = reduce(ctx.modulus, inp.u64());
                    if let Some(x) = y.masked.get_mut(i) {
                        *x = v;
                    }
                }
            }
        }
        ClientMessage::ConsistencySignature(c) => match inp.byte() % 3 {
            0 => c.sender = ctx.id(inp),
            1 => flip_session(&mut c.session, inp),
            _ => flip_byte(&mut c.signature.0, inp),
        },
        ClientMessage::UnmaskingResponse(r) => match inp.byte() % 6 {
            0 => r.sender = ctx.id(inp),
            1 => flip_session(&mut r.session, inp),
            2 => core::mem::swap(&mut r.self_mask_shares, &mut r.key_shares),
            3 => {
                // Move one share to the other list.
                let i = inp.below(r.self_mask_shares.len());
                if i < r.self_mask_shares.len() {
                    let s = r.self_mask_shares.remove(i);
                    r.key_shares.push(s);
                } else if !r.key_shares.is_empty() {
                    let s = r.key_shares.remove(0);
                    r.self_mask_shares.push(s);
                }
            }
            4 => mutate_shares(&mut r.self_mask_shares, inp, ctx),
            _ => mutate_shares(&mut r.key_shares, inp, ctx),
        },
    }
}

/// One structural change to a server message, chosen by the input.
fn mutate_server(m: &mut ServerMessage, inp: &mut Input<'_>, ctx: &Ctx<'_>) {
    match m {
        ServerMessage::Roster(r) => {
            let i = inp.below(r.entries.len());
            match inp.byte() % 5 {
                0 => {
                    let j = inp.below(r.entries.len());
                    let copy = r.entries.get(j).cloned();
                    mutate_list(&mut r.entries, inp, |inp| {
                        let mut e = copy.unwrap_or(msg::AdvertiseKeys {
                            session: r.session,
                            sender: ClientId(0),
                            share_public_key: PublicKey([9; 32]),
                            mask_public_key: PublicKey([10; 32]),
                            self_mask_commitment: [0; 32],
                            signature: None,
                        });
                        e.sender = ctx.id(inp);
                        e
                    });
                }
                1 => flip_session(&mut r.session, inp),
                _ => {
                    if let Some(e) = r.entries.get_mut(i) {
                        mutate_advert(e, inp, ctx);
                    }
                }
            }
        }
        ServerMessage::SharesDelivery(d) => match inp.byte() % 4 {
            0 => d.recipient = ctx.id(inp),
            1 => flip_session(&mut d.session, inp),
            _ => mutate_sealed(&mut d.sealed, d.recipient, true, inp, ctx),
        },
        ServerMessage::ConsistencyRequest(c) => match inp.byte() % 4 {
            0 => c.recipient = ctx.id(inp),
            1 => flip_session(&mut c.session, inp),
            _ => mutate_list(&mut c.survivors, inp, |inp| ctx.id(inp)),
        },
        ServerMessage::UnmaskingRequest(u) => match inp.byte() % 9 {
            0 => u.recipient = ctx.id(inp),
            1 => flip_session(&mut u.session, inp),
            2 | 3 => mutate_list(&mut u.survivors, inp, |inp| ctx.id(inp)),
            4 | 5 => mutate_list(&mut u.dropped, inp, |inp| ctx.id(inp)),
            6 => {
                // Move one id to the other list.
                let i = inp.below(u.survivors.len());
                if i < u.survivors.len() {
                    let v = u.survivors.remove(i);
                    u.dropped.push(v);
                } else if !u.dropped.is_empty() {
                    let v = u.dropped.remove(0);
                    u.survivors.push(v);
                }
            }
            7 => mutate_list(&mut u.signatures, inp, |inp| {
                (ctx.id(inp), Signature(inp.array()))
            }),
            _ => {
                let i = inp.below(u.signatures.len());
                let signer = ctx.id(inp);
                if let Some(s) = u.signatures.get_mut(i) {
                    if inp.byte() & 1 == 0 {
                        s.0 = signer;
                    } else {
                        flip_byte(&mut s.1.0, inp);
                    }
                }
            }
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Targets: decoding
// ---------------------------------------------------------------------------------------------

/// Decodes `message` as the envelope `M` both with [`wire::from_bytes`] and from a [`Reader`]
/// that allows trailing bytes; whatever decodes must re-encode to exactly the bytes consumed,
/// and be as long as [`Encode::encoded_len`] says (which sizes buffers and counts traffic).
fn decode_round_trip<M>(
    message: &[u8],
    limits: &Limits,
    encode: impl Fn(&M) -> Vec<u8>,
    accounted: impl Fn(&M) -> usize,
) where
    M: DecodeWith<Limits> + PartialEq + core::fmt::Debug,
{
    let whole = wire::from_bytes::<M>(message, limits);
    match &whole {
        Ok(m) => {
            assert_eq!(encode(m), message, "decoded message re-encodes differently");
            assert_eq!(accounted(m), message.len(), "Encode::encoded_len disagrees");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let mut r = Reader::new(message);
    let prefix = M::decode_with(&mut r, limits);
    let consumed = message.len() - r.remaining();
    match prefix {
        Ok(m) => {
            assert_eq!(encode(&m), message.get(..consumed).unwrap_or_default());
            // The whole input decodes exactly when nothing is left over (and it is within the
            // length limit).
            if consumed == message.len() && message.len() <= limits.max_message_bytes {
                assert_eq!(whole.as_ref(), Ok(&m));
            } else {
                assert!(whole.is_err());
            }
        }
        Err(e) => {
            if message.len() <= limits.max_message_bytes {
                assert_eq!(
                    whole.as_ref().err(),
                    Some(&e),
                    "from_bytes and Reader disagree"
                );
            }
        }
    }
}

/// Target `decode_client_message`: the first byte picks the session parameters
/// ([`decode_params`]), the rest is decoded as a [`ClientMessage`] under its [`Limits`].
pub fn decode_client_message(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let params = decode_params(selector);
    let limits = Limits::for_params(&params);
    decode_round_trip::<ClientMessage>(
        message,
        &limits,
        |m| m.to_bytes(limits.modulus),
        |m| match m {
            ClientMessage::AdvertiseKeys(m) => m.encoded_len(),
            ClientMessage::ShareKeys(m) => m.encoded_len(),
            ClientMessage::MaskedInput(m) => {
                PackedMaskedInput::new(m, limits.modulus).encoded_len()
            }
            ClientMessage::ConsistencySignature(m) => m.encoded_len(),
            ClientMessage::UnmaskingResponse(m) => m.encoded_len(),
        },
    );
    if let Ok(m) = wire::from_bytes::<ClientMessage>(message, &limits) {
        assert!(m.kind().is_from_client());
        assert_eq!(message.get(1).copied(), Some(m.kind().byte()));
    }
}

/// Target `decode_server_message`: as [`decode_client_message`], for a [`ServerMessage`].
pub fn decode_server_message(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let params = decode_params(selector);
    let limits = Limits::for_params(&params);
    decode_round_trip::<ServerMessage>(message, &limits, wire::to_bytes, Encode::encoded_len);
    if let Ok(m) = wire::from_bytes::<ServerMessage>(message, &limits) {
        assert!(!m.kind().is_from_client());
        assert_eq!(Encode::encoded_len(&m), message.len());
    }
}

/// The bytes of `ceil(len * bits / 8)`, or `None` if that overflows.
fn packed_bytes(len: usize, bits: u32) -> Option<usize> {
    u128::try_from(len)
        .ok()?
        .checked_mul(u128::from(bits))
        .and_then(|b| usize::try_from(b.div_ceil(8)).ok())
}

/// Target `unpack_vector`: bit-packed vectors of any width 1..=64 (powers of two and other
/// moduli) and any length. Either arbitrary bytes are unpacked (then `Ok` repacks to them, and
/// every error is the one the bytes call for), or arbitrary elements are packed and must
/// unpack to themselves.
pub fn unpack_vector(data: &[u8]) {
    let mut inp = Input::new(data);
    let selector = inp.byte();
    let m = if selector & 0x80 == 0 {
        p2(1 + u32::from(selector % 64))
    } else {
        Modulus::new(inp.u64()).unwrap_or_else(|_| p2(1 + u32::from(selector % 64)))
    };
    let len = match inp.byte() % 4 {
        0 => usize::from(inp.byte()),
        1 | 2 => usize::from(inp.u16()),
        _ => usize::try_from(inp.u64()).unwrap_or(usize::MAX),
    };
    let bits = m.bits();
    let limits = Limits {
        max_clients: 1,
        vector_len: len,
        modulus: m,
        max_message_bytes: usize::MAX,
    };
    let session = SessionId([0x5a; 32]);
    let mut message = vec![wire::VERSION, Kind::MaskedInput.byte()];
    message.extend_from_slice(session.as_bytes());
    message.extend_from_slice(&7u32.to_be_bytes());
    // The roster digest the message is bound to.
    message.extend_from_slice(&[0xd1; 32]);
    let header = message.len();

    if inp.byte() & 1 == 0 {
        let packed = inp.rest();
        message.extend_from_slice(packed);
        let expected = packed_bytes(len, bits);
        match wire::from_bytes::<msg::MaskedInput>(&message, &limits) {
            Ok(y) => {
                assert_eq!(y.masked.len(), len);
                assert!(y.masked.iter().all(|&x| m.contains(x)));
                assert_eq!(Some(packed.len()), expected);
                let again = wire::to_bytes(&PackedMaskedInput::new(&y, m));
                assert_eq!(again, message, "unpacked vector repacks differently");
            }
            Err(DecodeError::TooShort { .. }) => {
                assert!(expected.is_none_or(|e| packed.len() < e));
            }
            Err(DecodeError::TrailingBytes { count }) => {
                assert_eq!(expected.map(|e| e + count), Some(packed.len()));
            }
            Err(DecodeError::ElementOutOfRange { index }) => {
                assert!(index < len && m.power_of_two_bits().is_none());
                assert!(expected.is_some_and(|e| packed.len() >= e));
            }
            Err(DecodeError::NonZeroPadding) => {
                // Padding is checked before trailing bytes.
                assert!(expected.is_some_and(|e| packed.len() >= e));
                assert!(
                    len.checked_mul(usize::try_from(bits).unwrap_or(64))
                        .is_some_and(|b| b % 8 != 0)
                );
            }
            Err(e) => panic!("unexpected error unpacking a vector: {e}"),
        }
    } else {
        // Pack arbitrary elements (at most what the input holds) and unpack them.
        let n = len.min(inp.rest.len() / 8 + 1).min(4096);
        let values: Vec<u64> = (0..n).map(|_| reduce(m, inp.u64())).collect();
        let y = msg::MaskedInput {
            session,
            sender: ClientId(7),
            roster_digest: [0xd1; 32],
            masked: values,
        };
        let bytes = wire::to_bytes(&PackedMaskedInput::new(&y, m));
        assert_eq!(Some(bytes.len() - header), packed_bytes(n, bits));
        let limits = Limits {
            vector_len: n,
            ..limits
        };
        let back = wire::from_bytes::<msg::MaskedInput>(&bytes, &limits);
        assert_eq!(back.as_ref(), Ok(&y), "packed vector unpacks differently");
    }
}

// ---------------------------------------------------------------------------------------------
// Target: Shamir
// ---------------------------------------------------------------------------------------------

/// The error [`shamir::reconstruct`] must return for these indices, if any (the order of its
/// checks: threshold, count, zero index, then the smallest repeated index).
fn expected_shamir_error(indices: &[ShareIndex], threshold: usize) -> Option<ShamirError> {
    if threshold == 0 {
        return Some(ShamirError::ZeroThreshold);
    }
    if indices.len() < threshold {
        return Some(ShamirError::TooFewShares {
            have: indices.len(),
            need: threshold,
        });
    }
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    if sorted.first().is_some_and(|x| x.0 == 0) {
        return Some(ShamirError::ZeroIndex);
    }
    sorted
        .windows(2)
        .find_map(|w| match w {
            [a, b] if a == b => Some(*a),
            _ => None,
        })
        .map(ShamirError::DuplicateIndex)
}

/// `f(0)` of the polynomial of least degree through the shares, by Neville's scheme: an
/// independent check of the Lagrange coefficients.
fn neville_at_zero(shares: &[Share]) -> Scalar {
    let xs: Vec<Scalar> = shares.iter().map(|s| Scalar::from(s.index.0)).collect();
    let mut p: Vec<Scalar> = shares.iter().map(|s| s.value.0).collect();
    let k = p.len();
    for width in 1..k {
        for i in 0..k - width {
            let (xi, xj) = (xs[i], xs[i + width]);
            // p_{i..j}(0) = (x_j p_{i..j-1}(0) - x_i p_{i+1..j}(0)) / (x_j - x_i)
            p[i] = (xj * p[i] - xi * p[i + 1]) * (xj - xi).invert();
        }
    }
    p.first().copied().unwrap_or(Scalar::ZERO)
}

fn copy_share(s: &Share) -> Share {
    Share {
        index: s.index,
        value: s.value.duplicate(),
    }
}

/// Target `shamir_reconstruct`: arbitrary share sets (any indices, canonical or not, any
/// threshold) give `Ok` or exactly the typed error they call for, never a panic; an `Ok`
/// agrees with an independent interpolation; shares of a real split rebuild the secret from
/// any `t` distinct ones, and not when one is altered.
pub fn shamir_reconstruct(data: &[u8]) {
    let mut inp = Input::new(data);
    if inp.byte() & 1 == 0 {
        arbitrary_shares(&mut inp);
    } else {
        split_shares(&mut inp);
    }
}

fn share_index(inp: &mut Input<'_>, position: usize) -> ShareIndex {
    ShareIndex(match inp.byte() % 4 {
        0 => inp.u64(),
        1 => u64::try_from(position + 1).unwrap_or(0),
        _ => u64::from(inp.byte()),
    })
}

fn arbitrary_shares(inp: &mut Input<'_>) {
    let threshold = usize::from(inp.byte() % 32);
    let count = usize::from(inp.byte() % 24);
    let mut shares = Vec::with_capacity(count);
    for position in 0..count {
        let index = share_index(inp, position);
        let bytes: [u8; 32] = inp.array();
        let value = match SecretScalar::from_canonical_bytes(bytes) {
            Ok(v) => v,
            Err(e) => {
                assert_eq!(e, ShamirError::NonCanonical);
                assert!(bool::from(Scalar::from_canonical_bytes(bytes).is_none()));
                SecretScalar(Scalar::from_bytes_mod_order(bytes))
            }
        };
        shares.push(Share { index, value });
    }
    let indices: Vec<ShareIndex> = shares.iter().map(|s| s.index).collect();
    let result = shamir::reconstruct(&shares, threshold);
    match (expected_shamir_error(&indices, threshold), result) {
        (Some(e), r) => assert_eq!(r.err(), Some(e)),
        (None, Ok(secret)) => assert_eq!(secret.0, neville_at_zero(&shares)),
        (None, Err(e)) => panic!("reconstruction refused valid shares: {e}"),
    }
    // Lagrange coefficients with one value too few or too many.
    if let Ok(lagrange) = Lagrange::new(&indices, threshold) {
        let one = SecretScalar(Scalar::ONE);
        let fewer = vec![&one; indices.len().saturating_sub(1)];
        assert_eq!(
            lagrange.reconstruct(fewer).err(),
            Some(ShamirError::LengthMismatch)
        );
        let more = vec![&one; indices.len() + 1];
        assert_eq!(
            lagrange.reconstruct(more).err(),
            Some(ShamirError::LengthMismatch)
        );
    }
}

fn split_shares(inp: &mut Input<'_>) {
    let secret = SecretScalar(Scalar::from_bytes_mod_order(inp.array()));
    let threshold = usize::from(inp.byte() % 9);
    let n = threshold + usize::from(inp.byte() % 8);
    let mut rng = ChaCha20Rng::from_seed(inp.array());
    let indices: Vec<ShareIndex> = (0..n).map(|i| share_index(inp, i)).collect();
    let shares = match shamir::split(&secret, threshold, &indices, &mut rng) {
        Ok(shares) => {
            assert_eq!(expected_shamir_error(&indices, threshold), None);
            shares
        }
        Err(e) => {
            assert_eq!(expected_shamir_error(&indices, threshold), Some(e));
            return;
        }
    };
    assert_eq!(shares.len(), n);
    // A subset (in any order, possibly with repeats), a claimed threshold, maybe one change.
    let mut subset: Vec<Share> = Vec::new();
    for _ in 0..inp.byte() % 16 {
        if let Some(s) = shares.get(inp.below(n)) {
            subset.push(copy_share(s));
        }
    }
    let claimed = match inp.byte() % 4 {
        0 => subset.len(),
        1 => usize::from(inp.byte() % 16),
        _ => threshold,
    };
    let altered = inp.byte().is_multiple_of(4) && !subset.is_empty();
    if altered {
        let i = inp.below(subset.len());
        let delta = Scalar::from_bytes_mod_order(inp.array());
        let delta = if delta == Scalar::ZERO {
            Scalar::ONE
        } else {
            delta
        };
        if let Some(s) = subset.get_mut(i) {
            s.value.0 += delta;
        }
    }
    let subset_indices: Vec<ShareIndex> = subset.iter().map(|s| s.index).collect();
    let result = shamir::reconstruct(&subset, claimed);
    match (expected_shamir_error(&subset_indices, claimed), result) {
        (Some(e), r) => assert_eq!(r.err(), Some(e)),
        (None, Err(e)) => panic!("reconstruction refused valid shares: {e}"),
        (None, Ok(rebuilt)) => {
            assert_eq!(rebuilt.0, neville_at_zero(&subset));
            if altered {
                // The altered value has a non-zero Lagrange coefficient.
                assert!(
                    rebuilt != secret,
                    "an altered share still rebuilt the secret"
                );
            } else if subset.len() >= threshold {
                assert!(
                    rebuilt == secret,
                    "{} distinct shares of a {threshold}-of-{n} split",
                    subset.len()
                );
            } else {
                // Fewer than t points of a random degree t - 1 polynomial: the chance that
                // they interpolate to the secret is 2^-252.
                assert!(rebuilt != secret, "fewer than t shares rebuilt the secret");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Targets: sessions
// ---------------------------------------------------------------------------------------------

/// Target `server_session`: a [`ServerSession`] fed arbitrary client messages, dropouts and
/// round closes, with honest clients ([`ClientSession`]) running alongside.
///
/// The first byte picks the session ([`session_params`]; bit 4: the server verifies
/// signatures against the PKI). Then each op byte (`% 8`): 0 close the round, 1 drop a client,
/// 2 deliver one honest client's pending message, 3 deliver all of them, 4 deliver raw bytes
/// as from a chosen id, 5 deliver an honest message with byte-level changes, 6 with one
/// structural change, 7 replay any earlier honest message. When the input ends, every client
/// delivers and rounds close until the session ends. It never panics; every message the
/// server sends is well formed; and whenever it completes, its output is the sum of the
/// inputs of the clients it says it included.
pub fn server_session(data: &[u8]) {
    let mut inp = Input::new(data);
    let selector = inp.byte();
    let params = session_params(usize::from(selector & 0x0f));
    let mut world = World::new(&params, selector & 0x10 != 0);
    let no_ops = inp.is_empty();
    let n = params.clients();
    for _ in 0..96 {
        if inp.is_empty() || world.server.is_none() {
            break;
        }
        match inp.byte() % 8 {
            0 => world.close(),
            1 => world.drop_client(pick_id(&mut inp, n)),
            2 => world.deliver_pending(pick_id(&mut inp, n)),
            3 => world.deliver_all(),
            4 => {
                let from = pick_id(&mut inp, n);
                let bytes = inp.chunk();
                world.deliver(from, bytes);
            }
            op @ (5 | 6) => {
                let owner = pick_id(&mut inp, n);
                let from = if inp.byte() & 1 == 0 {
                    owner
                } else {
                    pick_id(&mut inp, n)
                };
                let source = world
                    .clients
                    .get(&owner)
                    .and_then(|c| c.pending.clone())
                    .or_else(|| {
                        let i = inp.below(world.history.len());
                        world.history.get(i).cloned()
                    });
                let Some(mut bytes) = source else { continue };
                if op == 5 {
                    flip_bytes(&mut bytes, &mut inp);
                } else if let Ok(mut m) = wire::from_bytes::<ClientMessage>(&bytes, &world.limits) {
                    mutate_client(&mut m, &mut inp, &world.ctx());
                    bytes = m.to_bytes(params.modulus());
                }
                world.deliver(from, &bytes);
            }
            _ => {
                let from = pick_id(&mut inp, n);
                let i = inp.below(world.history.len());
                if let Some(bytes) = world.history.get(i).cloned() {
                    world.deliver(from, &bytes);
                }
            }
        }
    }
    world.run_honestly();
    world.check_outcome();
    if no_ops {
        let output = world
            .outcome
            .as_ref()
            .map(|o| o.as_ref().map(|o| &o.included));
        assert_eq!(
            output,
            Some(Ok(&ids(&params))),
            "an honest session did not complete"
        );
    }
}

/// The server messages of an honest run of session `index` in which client `dropped` (none
/// if 0) goes silent before sending its masked input.
fn honest_transcript(index: usize, dropped: usize) -> Vec<Sent> {
    let params = session_params(index);
    let mut world = World::new(&params, true);
    world.deliver_all();
    world.close();
    world.deliver_all();
    world.close();
    if let Some(u) = dropped
        .checked_sub(1)
        .and_then(|u| ids(&params).get(u).copied())
    {
        world.drop_client(u);
    }
    world.run_honestly();
    world.check_outcome();
    if dropped == 0 {
        assert!(
            matches!(world.outcome, Some(Ok(_))),
            "honest session failed"
        );
    }
    world.sent
}

#[cfg(feature = "std")]
fn transcript(index: usize, dropped: usize) -> Vec<Sent> {
    type Cache = std::sync::OnceLock<Vec<Vec<Vec<Sent>>>>;
    static CACHE: Cache = std::sync::OnceLock::new();
    let all = CACHE.get_or_init(|| {
        (0..SESSIONS)
            .map(|i| {
                (0..=session_params(i).clients())
                    .map(|d| honest_transcript(i, d))
                    .collect()
            })
            .collect()
    });
    all.get(index)
        .and_then(|s| s.get(dropped))
        .cloned()
        .unwrap_or_default()
}

#[cfg(not(feature = "std"))]
fn transcript(index: usize, dropped: usize) -> Vec<Sent> {
    honest_transcript(index, dropped)
}

/// The message an honest server sends `c` next, from the transcript.
fn honest_next<'t>(c: &Honest, transcript: &'t [Sent]) -> Option<&'t Sent> {
    transcript.iter().find(|s| {
        s.to.contains(&c.id)
            && matches!(
                (&c.session, &s.message),
                (
                    Some(ClientSession::AdvertiseKeys(..)),
                    ServerMessage::Roster(_)
                ) | (
                    Some(ClientSession::ShareKeys(..)),
                    ServerMessage::SharesDelivery(_)
                ) | (
                    Some(ClientSession::MaskedInput(_)),
                    ServerMessage::ConsistencyRequest(_) | ServerMessage::UnmaskingRequest(_)
                ) | (
                    Some(ClientSession::Consistency(_)),
                    ServerMessage::UnmaskingRequest(_)
                )
            )
    })
}

/// Target `client_session`: one honest [`ClientSession`] fed arbitrary server messages at
/// arbitrary points.
///
/// The first byte picks the session ([`session_params`]), the second the client under test,
/// the third which other client drops before its masked input in the honest run the server
/// messages come from. Then each op byte (`% 6`): 0 the honest next message, 1 raw bytes,
/// 2 any message of the honest run (another round's, another client's), 3 a message with
/// byte-level changes, 4 and 5 one with a structural change. When the input ends, the client
/// gets the honest next messages until it is done or refuses. It never panics, its replies
/// decode and keep their security properties, and with no changes it completes.
pub fn client_session(data: &[u8]) {
    let mut inp = Input::new(data);
    let index = usize::from(inp.byte()) % SESSIONS;
    let params = session_params(index);
    let n = params.clients();
    let me = ids(&params)
        .get(inp.below(n))
        .copied()
        .unwrap_or(ClientId(1));
    let dropped = inp.below(n + 1);
    let dropped = if usize::try_from(me.0).ok() == Some(dropped) {
        0
    } else {
        dropped
    };
    let transcript = transcript(index, dropped);
    let keys: Vec<PublicKey> = transcript
        .iter()
        .filter_map(|s| match &s.message {
            ServerMessage::Roster(r) => Some(r),
            _ => None,
        })
        .flat_map(|r| r.entries.iter())
        .flat_map(|e| [e.share_public_key, e.mask_public_key])
        .collect();
    let ctx = Ctx {
        n,
        modulus: params.modulus(),
        keys: &keys,
    };
    let mut c = Honest::new(&params, me);
    let mut deviated = false;
    for _ in 0..48 {
        if inp.is_empty() || c.session.is_none() {
            break;
        }
        let op = inp.byte() % 6;
        deviated |= op != 0;
        let base = if op == 2 || (op != 0 && inp.byte() & 3 == 0) {
            transcript.get(inp.below(transcript.len()))
        } else {
            honest_next(&c, &transcript)
        };
        let bytes = match op {
            0 | 2 => base.map(|s| s.bytes.clone()),
            1 => Some(inp.chunk().to_vec()),
            3 => base.map(|s| {
                let mut bytes = s.bytes.clone();
                flip_bytes(&mut bytes, &mut inp);
                bytes
            }),
            _ => base.map(|s| {
                let mut m = s.message.clone();
                mutate_server(&mut m, &mut inp, &ctx);
                wire::to_bytes(&m)
            }),
        };
        if let Some(bytes) = bytes {
            let _ = c.handle(&bytes);
        }
    }
    for _ in 0..5 {
        let Some(s) = honest_next(&c, &transcript) else {
            break;
        };
        if c.handle(&s.bytes).is_err() {
            break;
        }
    }
    let complete = transcript
        .iter()
        .any(|s| s.to.contains(&me) && matches!(s.message, ServerMessage::UnmaskingRequest(_)));
    if !deviated && complete {
        assert!(
            c.is_done(),
            "an honest client did not complete an honest session"
        );
    }
}
