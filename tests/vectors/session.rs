//! A fully deterministic session driven on `secagg::harness`, in which every message
//! travels as bytes: encoded with `wire::to_bytes`, decoded with `wire::from_bytes`, checked
//! to decode to the very message that was encoded and to be as long as `Encode::encoded_len`
//! says, and only then handed to its receiver.
//!
//! Shared by `tests/wire.rs` and `tests/vectors.rs` (`#[path]` include).

#![allow(dead_code, unreachable_pub)]

use core::cell::RefCell;
use core::fmt::Debug;
use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::harness::{Fate, Harness};
use secagg::wire::{
    self, ClientMessage, DecodeWith, Encode, Limits, PackedMaskedInput, ServerMessage,
};
use secagg::{
    ClientId, IdentityKey, Modulus, Output, Params, PlainInput, Round, SessionId, ThreatModel,
};

/// What to run.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The session parameters.
    pub params: Params,
    /// Client `u` draws all its randomness from `ChaCha20Rng::seed_from_u64(seed * 1000 + u)`.
    pub seed: u64,
    /// Clients that go silent after ShareKeys (they never send a masked input).
    pub drop_before_masked_input: Vec<ClientId>,
}

impl Spec {
    /// The input of client `u`: element `j` is `(u * 7919 + j * 104729 + 1) mod m`.
    pub fn input(&self, u: ClientId) -> Vec<u64> {
        let m = self.params.modulus().value();
        (0..self.params.vector_len())
            .map(|j| {
                let x = (u128::from(u.0) * 7919 + j as u128 * 104_729 + 1) % m;
                u64::try_from(x).unwrap()
            })
            .collect()
    }

    pub fn rng(&self, u: ClientId) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(self.seed * 1000 + u64::from(u.0))
    }

    pub fn ids(&self) -> Vec<ClientId> {
        (1..=self.params.clients())
            .map(|u| ClientId(u32::try_from(u).unwrap()))
            .collect()
    }
}

/// Every message of a run, in the order sent, with the output.
#[derive(Debug)]
pub struct Transcript {
    /// `(name, bytes)`, named `round<r>/<kind>/client<u>` (`round1/roster` for the roster).
    pub messages: Vec<(String, Vec<u8>)>,
    pub output: Output,
    pub limits: Limits,
}

impl Transcript {
    pub fn get(&self, name: &str) -> &[u8] {
        &self
            .messages
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no message {name}"))
            .1
    }
}

/// The sessions pinned by the vector files.
pub fn complete_n3() -> Spec {
    let params = Params::new(
        SessionId([0x11; 32]),
        3,
        2,
        Modulus::power_of_two(16).unwrap(),
        5,
    )
    .unwrap();
    Spec {
        params,
        seed: 1,
        drop_before_masked_input: vec![ClientId(3)],
    }
}

pub fn sparse_n6_k2() -> Spec {
    let params = Params::builder(SessionId([0x22; 32]), 6, Modulus::new(1000).unwrap(), 4)
        .neighbours(2)
        .build()
        .unwrap();
    Spec {
        params,
        seed: 2,
        drop_before_masked_input: vec![ClientId(4)],
    }
}

pub fn malicious_n4() -> Spec {
    let params = Params::builder(
        SessionId([0x33; 32]),
        4,
        Modulus::power_of_two(10).unwrap(),
        3,
    )
    .threat_model(ThreatModel::Malicious)
    .build()
    .unwrap();
    Spec {
        params,
        seed: 3,
        drop_before_masked_input: vec![ClientId(4)],
    }
}

/// SecAgg+ against a malicious server: each survivor's consistency request is its slice of
/// the survivor tree (its neighbourhood's statuses with the proof).
pub fn malicious_sparse_n8_k4() -> Spec {
    let params = Params::builder(
        SessionId([0x44; 32]),
        8,
        Modulus::power_of_two(12).unwrap(),
        3,
    )
    .threat_model(ThreatModel::Malicious)
    .neighbours(4)
    .build()
    .unwrap();
    Spec {
        params,
        seed: 4,
        drop_before_masked_input: vec![ClientId(6)],
    }
}

/// Sends `message` through the codec (`bytes`, expected `len` long) and returns what the
/// receiver decodes, which must be the message itself.
fn trip<M>(name: &str, seed: u64, limits: &Limits, bytes: &[u8], len: usize, message: &M) -> M
where
    M: DecodeWith<Limits> + PartialEq + Debug,
{
    check(name, bytes, len);
    let back: M =
        wire::from_bytes(bytes, limits).unwrap_or_else(|e| panic!("{name}: {e} (seed {seed})"));
    assert_eq!(&back, message, "{name}: decodes to another message");
    back
}

/// A client message's round, vector name, bytes (a masked input bit-packed), and encoded
/// length.
fn client_bytes(m: &ClientMessage, modulus: Modulus) -> (u32, &'static str, Vec<u8>, usize) {
    let bytes = m.to_bytes(modulus);
    match m {
        ClientMessage::AdvertiseKeys(m) => (0, "advertise_keys", bytes, m.encoded_len()),
        ClientMessage::ShareKeys(m) => (1, "share_keys", bytes, m.encoded_len()),
        ClientMessage::MaskedInput(m) => (
            2,
            "masked_input",
            bytes,
            PackedMaskedInput::new(m, modulus).encoded_len(),
        ),
        ClientMessage::ConsistencySignature(m) => {
            (3, "consistency_signature", bytes, m.encoded_len())
        }
        ClientMessage::UnmaskingResponse(m) => (4, "unmasking_response", bytes, m.encoded_len()),
    }
}

/// A server message's round, vector name, and encoded length.
fn server_name(m: &ServerMessage) -> (u32, &'static str, usize) {
    match m {
        ServerMessage::Roster(m) => (1, "roster", m.encoded_len()),
        ServerMessage::SharesDelivery(m) => (2, "shares_delivery", m.encoded_len()),
        ServerMessage::ConsistencyRequest(m) => (3, "consistency_request", m.encoded_len()),
        ServerMessage::UnmaskingRequest(m) => (4, "unmasking_request", m.encoded_len()),
    }
}

/// A message as the transcript keeps it: `(round, client (0 for the roster), sent by the
/// client, name, bytes)`. Sorted, they come in the order of the vector files: each round's
/// messages by client, a request before its answer.
type Sent = (u32, u32, bool, String, Vec<u8>);

/// Runs `spec` to the end on the harness, every message through the codec on its way;
/// panics (naming the seed) on any failure.
pub fn run(spec: &Spec) -> Transcript {
    let params = spec.params.clone();
    let limits = Limits::for_params(&params);
    let modulus = params.modulus();
    let ids = spec.ids();
    let mut rngs: BTreeMap<ClientId, ChaCha20Rng> = ids.iter().map(|&u| (u, spec.rng(u))).collect();
    let malicious = params.threat_model() == ThreatModel::Malicious;
    let mut keys: BTreeMap<ClientId, IdentityKey> = if malicious {
        ids.iter()
            .map(|&u| (u, IdentityKey::generate(rngs.get_mut(&u).unwrap())))
            .collect()
    } else {
        BTreeMap::new()
    };
    let sent: RefCell<Vec<Sent>> = RefCell::new(Vec::new());
    let inputs = ids
        .iter()
        .map(|&u| PlainInput::new(spec.input(u)))
        .collect();
    let mut session = Harness::new(&params, inputs, 0)
        .with_client_rngs(rngs)
        .on_client_message(|_, u, m| {
            let (round, kind, bytes, len) = client_bytes(m, modulus);
            let name = format!("round{round}/{kind}/client{}", u.0);
            *m = trip(&name, spec.seed, &limits, &bytes, len, &*m);
            sent.borrow_mut().push((round, u.0, true, name, bytes));
            Fate::Deliver
        })
        .on_server_message(|_, u, m| {
            let (round, kind, len) = server_name(m);
            let (name, client) = match m {
                ServerMessage::Roster(_) => (format!("round{round}/{kind}"), 0),
                _ => (format!("round{round}/{kind}/client{}", u.0), u.0),
            };
            let bytes = wire::to_bytes(&*m);
            *m = trip(&name, spec.seed, &limits, &bytes, len, &*m);
            let mut sent = sent.borrow_mut();
            // The roster goes to every client: its vector once.
            if !sent.iter().any(|s| s.3 == name) {
                sent.push((round, client, false, name, bytes));
            }
            Fate::Deliver
        });
    if malicious {
        session = session.with_identities(|u| keys.remove(&u).unwrap());
    }
    for &u in &spec.drop_before_masked_input {
        session = session.drop_from(u, Round::MaskedInput);
    }
    let output = session.run().unwrap();
    assert!(session.rejected().is_empty(), "{:?}", session.rejected());
    drop(session);
    let mut sent = sent.into_inner();
    sent.sort_by_key(|s| (s.0, s.1, s.2));
    let messages = sent.into_iter().map(|s| (s.3, s.4)).collect();

    let m = params.modulus();
    let mut expected = vec![0u64; params.vector_len()];
    for &u in &output.included {
        for (s, x) in expected.iter_mut().zip(spec.input(u)) {
            *s = m.add(*s, x);
        }
    }
    assert_eq!(output.sum, expected, "wrong sum (seed {})", spec.seed);
    let survivors: Vec<ClientId> = ids
        .iter()
        .copied()
        .filter(|u| !spec.drop_before_masked_input.contains(u))
        .collect();
    assert_eq!(output.included, survivors);
    Transcript {
        messages,
        output,
        limits,
    }
}

fn check(name: &str, bytes: &[u8], len: usize) {
    assert_eq!(bytes.len(), len, "{name}: Encode::encoded_len");
}
