//! A fully deterministic session driven through the per-round API, in which every message
//! travels as bytes: encoded with `wire::to_bytes`, decoded with `wire::from_bytes`, checked
//! to decode to the very message that was encoded and to be as long as `Encode::encoded_len`
//! says, and only then handed to its receiver.
//!
//! Shared by `tests/wire.rs` and `tests/vectors.rs` (`#[path]` include).

#![allow(dead_code, unreachable_pub)]

use core::fmt::Debug;
use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::hazmat::sign::Pki;
use secagg::protocol::messages as msg;
use secagg::protocol::{client, server};
use secagg::wire::{self, DecodeWith, Encode, Limits, PackedMaskedInput};
use secagg::{ClientId, IdentityKey, Modulus, Output, Params, PlainInput, SessionId, ThreatModel};

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

/// The three sessions pinned by the vector files.
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

struct Run {
    spec: Spec,
    limits: Limits,
    bits: u32,
    messages: Vec<(String, Vec<u8>)>,
}

impl Run {
    /// Sends `message` through the codec and returns what the receiver decodes.
    fn trip<M>(&mut self, name: String, message: M) -> M
    where
        M: Encode + DecodeWith<Limits> + PartialEq + Debug,
    {
        let bytes = wire::to_bytes(&message);
        check(&name, &bytes, Encode::encoded_len(&message));
        let back: M = wire::from_bytes(&bytes, &self.limits)
            .unwrap_or_else(|e| panic!("{name}: {e} (seed {})", self.spec.seed));
        assert_eq!(back, message, "{name}: decodes to another message");
        self.messages.push((name, bytes));
        back
    }

    fn trip_masked(&mut self, name: String, message: msg::MaskedInput) -> msg::MaskedInput {
        let packed = PackedMaskedInput::new(&message, self.spec.params.modulus());
        let bytes = wire::to_bytes(&packed);
        check(&name, &bytes, packed.encoded_len());
        let back: msg::MaskedInput = wire::from_bytes(&bytes, &self.limits)
            .unwrap_or_else(|e| panic!("{name}: {e} (seed {})", self.spec.seed));
        assert_eq!(back, message, "{name}: decodes to another message");
        self.messages.push((name, bytes));
        back
    }
}

enum Ready {
    Plain(client::MaskedInput),
    Checked(client::Consistency),
}

/// Runs `spec` to the end; panics (naming the seed) on any failure.
pub fn run(spec: &Spec) -> Transcript {
    let params = spec.params.clone();
    let limits = Limits::for_params(&params);
    let mut run = Run {
        spec: spec.clone(),
        limits,
        bits: params.modulus().bits(),
        messages: Vec::new(),
    };
    let ids = spec.ids();
    let mut rngs: BTreeMap<ClientId, ChaCha20Rng> = ids.iter().map(|&u| (u, spec.rng(u))).collect();
    let malicious = params.threat_model() == ThreatModel::Malicious;
    let identities: Option<(BTreeMap<ClientId, IdentityKey>, Pki)> = malicious.then(|| {
        let keys: BTreeMap<ClientId, IdentityKey> = ids
            .iter()
            .map(|&u| (u, IdentityKey::generate(rngs.get_mut(&u).unwrap())))
            .collect();
        let pki = Pki::new(keys.iter().map(|(u, k)| (*u, k.public_key())));
        (keys, pki)
    });

    // Round 0: AdvertiseKeys.
    let (mut srv, mut identities) = match identities {
        Some((keys, pki)) => (
            server::AdvertiseKeys::with_pki(&params, pki.clone()),
            Some((keys, pki)),
        ),
        None => (server::AdvertiseKeys::new(&params), None),
    };
    let mut advertised = BTreeMap::new();
    for &u in &ids {
        let rng = rngs.get_mut(&u).unwrap();
        let (state, out) = match identities.as_mut() {
            Some((keys, pki)) => {
                let identity = client::Identity::new(keys.remove(&u).unwrap(), pki.clone());
                client::AdvertiseKeys::with_identity(&params, u, identity, rng)
            }
            None => client::AdvertiseKeys::new(&params, u, rng),
        };
        let out = run.trip(format!("round0/advertise_keys/client{}", u.0), out);
        srv.receive(u, out).unwrap();
        advertised.insert(u, state);
    }
    let (mut srv, roster) = srv.close().unwrap();
    let roster = run.trip("round1/roster".to_owned(), roster);

    // Round 1: ShareKeys.
    let mut sharing = BTreeMap::new();
    for (u, state) in advertised {
        let (state, out) = state
            .share_keys(&roster, rngs.get_mut(&u).unwrap())
            .unwrap();
        let out = run.trip(format!("round1/share_keys/client{}", u.0), out);
        srv.receive(u, out).unwrap();
        sharing.insert(u, state);
    }
    let (mut srv, deliveries) = srv.close().unwrap();

    // Round 2: MaskedInputCollection.
    let mut ready = BTreeMap::new();
    for delivery in deliveries {
        let u = delivery.recipient;
        let delivery = run.trip(format!("round2/shares_delivery/client{}", u.0), delivery);
        if spec.drop_before_masked_input.contains(&u) {
            continue;
        }
        let state = sharing.remove(&u).unwrap();
        let input = PlainInput::new(spec.input(u));
        let (state, out) = state.masked_input(&delivery, &input).unwrap();
        let out = run.trip_masked(format!("round2/masked_input/client{}", u.0), out);
        srv.receive(u, out).unwrap();
        ready.insert(u, Ready::Plain(state));
    }

    // Round 3 (malicious-server mode only): ConsistencyCheck.
    let (mut srv, requests) = if malicious {
        let (mut srv, requests) = srv.close_for_consistency().unwrap();
        for request in requests {
            let u = request.recipient;
            let request = run.trip(format!("round3/consistency_request/client{}", u.0), request);
            let Some(Ready::Plain(state)) = ready.remove(&u) else {
                panic!("no client {u}");
            };
            let (state, out) = state.consistency(&request).unwrap();
            let out = run.trip(format!("round3/consistency_signature/client{}", u.0), out);
            srv.receive(u, out).unwrap();
            ready.insert(u, Ready::Checked(state));
        }
        srv.close().unwrap()
    } else {
        srv.close().unwrap()
    };

    // Round 4: Unmasking.
    for request in requests {
        let u = request.recipient;
        let request = run.trip(format!("round4/unmasking_request/client{}", u.0), request);
        let (_done, out) = match ready.remove(&u).unwrap() {
            Ready::Plain(state) => state.unmasking(&request),
            Ready::Checked(state) => state.unmasking(&request),
        }
        .unwrap();
        let out = run.trip(format!("round4/unmasking_response/client{}", u.0), out);
        srv.receive(u, out).unwrap();
    }
    let output = srv.finish().unwrap();

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
        messages: run.messages,
        output,
        limits,
    }
}

fn check(name: &str, bytes: &[u8], len: usize) {
    assert_eq!(bytes.len(), len, "{name}: Encode::encoded_len");
}
