//! The fuzz harness: decoding saved states (`docs/WIRE.md`, "State format").
//!
//! Random bytes never authenticate, so fuzzing sealed blobs alone would stop at the tag. The
//! target therefore seals the fuzzer's bytes itself, with the right header and binding, and
//! opens them: everything behind the tag (every field decoder and its bounds) sees arbitrary
//! input. It also opens the raw input as a blob, for the clear header's checks.

#[allow(clippy::wildcard_imports)]
use super::*;

use crate::protocol::state::{self, Expected, Header, Role, StateKey, Writer};
use crate::protocol::{client::state as client_state, server::state as server_state};

/// The host key of every state the target seals.
fn key() -> StateKey {
    StateKey::new([0x5a; 32])
}

/// The client whose states the target decodes.
const CLIENT: ClientId = ClientId(1);

fn identity(params: &Params) -> Option<client::Identity> {
    (params.threat_model() == ThreatModel::Malicious)
        .then(|| client::Identity::new(identity_of(CLIENT), pki_of(params)))
}

fn pki(params: &Params) -> Option<Pki> {
    (params.threat_model() == ThreatModel::Malicious).then(|| pki_of(params))
}

/// The nonce source of the target's seals: fixed, so that a state that opens must seal back
/// to the very same bytes (canonical encoding).
fn nonces() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0)
}

/// Seals `body` as the state of `role` at `stage` of `params`, with its true binding.
fn seal_body(params: &Params, role: Role, stage: u8, body: &[u8]) -> Vec<u8> {
    let (binding, party) = match role {
        Role::Client => {
            let identity = identity(params);
            (
                client_state::binding_for(params, identity.as_ref(), stage),
                CLIENT,
            )
        }
        Role::Server => (
            server_state::binding_for(params, pki(params).as_ref(), stage),
            ClientId(0),
        ),
    };
    let mut w = Writer::new(&binding, body.len());
    w.bytes(body);
    let header = Header {
        role,
        stage,
        session: *params.session(),
        party,
    };
    w.seal(header, &key(), &mut nonces())
}

/// Opens `blob` as a state of `role`; if it opens, sealing it again with the same nonce
/// must give `blob` back. Returns whether it opened.
fn open_and_reseal(params: &Params, role: Role, blob: &[u8]) -> bool {
    match role {
        Role::Client => {
            let opened = ClientSession::open(blob, &key(), params, CLIENT, identity(params), 0);
            match opened {
                Ok(session) => {
                    assert_eq!(
                        session.seal(&key(), &mut nonces()),
                        blob,
                        "an opened client state seals differently"
                    );
                    true
                }
                Err(e) => {
                    let _ = e.to_string();
                    false
                }
            }
        }
        Role::Server => match ServerSession::open(blob, &key(), params, pki(params)) {
            Ok(session) => {
                assert_eq!(
                    session.seal(&key(), &mut nonces()),
                    blob,
                    "an opened server state seals differently"
                );
                true
            }
            Err(e) => {
                let _ = e.to_string();
                false
            }
        },
    }
}

/// Target `decode_state`: byte 0 picks the session ([`session_params`]), byte 1 the role and
/// stage (`0..=4` a client's, `5..=9` the server's, modulo 10), the rest is a state's body,
/// which the target seals with the right header and binding and opens. Properties: no panic,
/// no allocation beyond the session's bound, and a state that opens seals back to the same
/// bytes. The input is also opened as a raw blob by both roles.
pub fn decode_state(data: &[u8]) {
    let _ = decode_state_opens(data);
}

/// [`decode_state`], telling whether the sealed body opened as a state.
pub fn decode_state_opens(data: &[u8]) -> bool {
    let [selector, kind, body @ ..] = data else {
        return false;
    };
    let params = session_params(usize::from(*selector));
    let (role, stage) = match kind % 10 {
        k @ 0..=4 => (Role::Client, k),
        k => (Role::Server, k - 5),
    };
    let blob = seal_body(&params, role, stage, body);
    let opened = open_and_reseal(&params, role, &blob);
    for role in [Role::Client, Role::Server] {
        open_and_reseal(&params, role, body);
    }
    opened
}

/// The body of a sealed state, as [`decode_state`] takes it.
fn body_of(params: &Params, role: Role, stage: u8, blob: &[u8]) -> Vec<u8> {
    let (binding, party, max_len) = match role {
        Role::Client => (
            client_state::binding_for(params, identity(params).as_ref(), stage),
            CLIENT,
            state::max_client_state_len(params),
        ),
        Role::Server => (
            server_state::binding_for(params, pki(params).as_ref(), stage),
            ClientId(0),
            state::max_server_state_len(params),
        ),
    };
    let expected = Expected {
        role,
        stage: Some(stage),
        params,
        party,
        max_len,
    };
    let opened = state::open(blob, &key(), &expected, &binding).expect("a real state opens");
    opened.body().to_vec()
}

/// Seeds of [`decode_state`]: every state of client 1 and of the server, at every round of
/// every fixed session, as `selector ‖ kind ‖ body`.
#[must_use]
pub fn decode_state_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for index in 0..SESSIONS {
        let params = session_params(index);
        let selector = u8::try_from(index).unwrap_or(0);
        let mut emit = |role: Role, stage: u8, blob: &[u8]| {
            let kind = match role {
                Role::Client => stage,
                Role::Server => stage + 5,
            };
            let mut seed = vec![selector, kind];
            seed.extend_from_slice(&body_of(&params, role, stage, blob));
            seeds.push(seed);
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut server = ServerSession::new(&params, pki(&params));
        let mut clients = BTreeMap::new();
        for u in ids(&params) {
            let identity = (params.threat_model() == ThreatModel::Malicious)
                .then(|| client::Identity::new(identity_of(u), pki_of(&params)));
            let (c, bytes) = ClientSession::start(&params, u, identity, &mut rng);
            server
                .receive(&params, u, &bytes)
                .expect("honest advertisement");
            clients.insert(u, c);
        }
        loop {
            emit(
                Role::Server,
                server.round().number(),
                &server.seal(&key(), &mut rng),
            );
            if let Some(c) = clients.get(&CLIENT) {
                emit(Role::Client, c.stage(), &c.seal(&key(), &mut rng));
            }
            let Closed::Next(next, envelopes) = server.close(&params).expect("honest round") else {
                break;
            };
            server = *next;
            for envelope in envelopes {
                for u in envelope.to {
                    let c = clients.remove(&u).expect("a roster member");
                    let step = if c.needs_input() {
                        c.handle_with_input(
                            &params,
                            &envelope.bytes,
                            &input_of(&params, u),
                            &mut rng,
                        )
                    } else {
                        c.handle(&params, &envelope.bytes, &mut rng)
                    };
                    let (c, reply) = step.expect("honest step");
                    server.receive(&params, u, &reply).expect("honest reply");
                    clients.insert(u, c);
                }
            }
        }
        if let Some(c) = clients.get(&CLIENT) {
            emit(Role::Client, c.stage(), &c.seal(&key(), &mut rng));
        }
    }
    seeds
}
