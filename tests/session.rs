//! Whole sessions through the byte-level API (`protocol::session`): every message is encoded,
//! moved as bytes and decoded, as a deployment would.

use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::protocol::client::Identity;
use secagg::protocol::session::{ClientSession, Closed, ServerSession};
use secagg::{
    ClientId, Error, IdentityKey, MaskSuite, Misbehavior, Modulus, Params, Party, Pki, Round,
    SessionId, ThreatModel,
};

fn params(malicious: bool) -> Params {
    let m = Modulus::new(1_000_003).unwrap();
    let builder = Params::builder(SessionId([6; 32]), 8, m, 30).neighbours(4);
    let builder = if malicious {
        builder.threat_model(ThreatModel::Malicious)
    } else {
        builder
    };
    builder.build().unwrap()
}

/// Runs a session over bytes; client `silent` sends nothing after AdvertiseKeys.
fn run(params: &Params, silent: Option<u32>) -> (Vec<u64>, Vec<ClientId>, Vec<Vec<u64>>) {
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let ids: Vec<ClientId> = (1..=8).map(ClientId).collect();
    // Identity keys from known seeds, so the PKI and each client hold the same key.
    let key = |id: ClientId| IdentityKey::from_seed(&[u8::try_from(id.0).unwrap(); 32]);
    let pki = Pki::new(ids.iter().map(|&id| (id, key(id).public_key())));
    let malicious = params.threat_model() == ThreatModel::Malicious;
    let mut server = ServerSession::new(params, malicious.then(|| pki.clone()));
    let mut clients = BTreeMap::new();
    let mut inputs = Vec::new();
    for &id in &ids {
        let input: Vec<u64> = (0..30).map(|j| u64::from(id.0) * 1000 + j).collect();
        inputs.push(input.clone());
        let identity = malicious.then(|| Identity::new(key(id), pki.clone()));
        let (c, bytes) = ClientSession::start(params, id, identity, &mut rng);
        server.receive(params, id, &bytes).unwrap();
        clients.insert(id, c);
    }
    loop {
        match server.close(params).unwrap() {
            Closed::Done(out) => return (out.sum, out.included, inputs),
            Closed::Next(next, envelopes) => {
                server = *next;
                for envelope in envelopes {
                    for id in envelope.to {
                        if Some(id.0) == silent {
                            continue;
                        }
                        let c = clients.remove(&id).unwrap();
                        let input = &inputs[(id.0 - 1) as usize];
                        let (c, reply) = step(c, params, &envelope.bytes, input, &mut rng);
                        server.receive(params, id, &reply).unwrap();
                        clients.insert(id, c);
                    }
                }
            }
        }
    }
}

/// One client step: with the input exactly when the session asks for it.
fn step(
    c: ClientSession,
    params: &Params,
    bytes: &[u8],
    input: &[u64],
    rng: &mut ChaCha20Rng,
) -> (ClientSession, Vec<u8>) {
    if c.needs_input() {
        c.handle_with_input(params, bytes, input, rng).unwrap()
    } else {
        c.handle(params, bytes, rng).unwrap()
    }
}

fn expected(inputs: &[Vec<u64>], included: &[ClientId], m: u64) -> Vec<u64> {
    (0..30)
        .map(|j| {
            included
                .iter()
                .map(|id| inputs[(id.0 - 1) as usize][j])
                .fold(0, |a, x| (a + x) % m)
        })
        .collect()
}

#[test]
fn byte_level_session_sums_with_a_dropout() {
    let params = params(false);
    let (sum, included, inputs) = run(&params, Some(3));
    assert_eq!(included.len(), 7);
    assert!(!included.contains(&ClientId(3)));
    assert_eq!(sum, expected(&inputs, &included, 1_000_003));
}

#[test]
fn byte_level_malicious_session_runs_consistency_check() {
    let params = params(true);
    let (sum, included, inputs) = run(&params, Some(5));
    assert!(!included.contains(&ClientId(5)));
    assert_eq!(sum, expected(&inputs, &included, 1_000_003));
}

#[test]
fn aes_suite_session_sums() {
    let m = Modulus::new(1_000_003).unwrap();
    let params = Params::builder(SessionId([6; 32]), 8, m, 30)
        .neighbours(4)
        .mask_suite(MaskSuite::Aes128Ctr)
        .build()
        .unwrap();
    let (sum, included, inputs) = run(&params, Some(2));
    assert_eq!(sum, expected(&inputs, &included, 1_000_003));
}

#[test]
fn server_rejects_malformed_bytes_and_goes_on() {
    let params = params(false);
    let mut server = ServerSession::new(&params, None);
    let rejected = server
        .receive(&params, ClientId(1), &[1, 2, 3])
        .unwrap_err();
    assert!(matches!(rejected.reason, Misbehavior::Malformed(_)));
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (_, bytes) = ClientSession::start(&params, ClientId(1), None, &mut rng);
    server.receive(&params, ClientId(1), &bytes).unwrap();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        server
            .receive(&params, ClientId(2), &trailing)
            .unwrap_err()
            .reason,
        Misbehavior::Malformed(_)
    ));
}

#[test]
fn client_refuses_malformed_or_unexpected_bytes() {
    let params = params(false);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (c, advertised) = ClientSession::start(&params, ClientId(1), None, &mut rng);
    let err = c.handle(&params, &[0xff; 40], &mut rng).unwrap_err();
    assert!(matches!(
        err,
        Error::Misbehaved {
            by: Party::Server,
            what: Misbehavior::Malformed(_),
            ..
        }
    ));
    // A client message sent back to a client is of the wrong direction: malformed too.
    let (c, _) = ClientSession::start(&params, ClientId(1), None, &mut rng);
    assert!(c.handle(&params, &advertised, &mut rng).is_err());
}

/// `ClientSession::round` and `ServerSession::round` mean the same thing: after the server
/// has sent a round's messages, both name that round, in both threat models (before, an
/// honest-but-curious client waiting for its unmasking request said "consistency").
#[test]
fn client_and_server_name_the_same_round() {
    let key = |id: ClientId| IdentityKey::from_seed(&[u8::try_from(id.0).unwrap(); 32]);
    for malicious in [false, true] {
        let params = params(malicious);
        let ids: Vec<ClientId> = (1..=8).map(ClientId).collect();
        let pki = Pki::new(ids.iter().map(|&id| (id, key(id).public_key())));
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut server = ServerSession::new(&params, malicious.then(|| pki.clone()));
        let mut clients = BTreeMap::new();
        for &id in &ids {
            let identity = malicious.then(|| Identity::new(key(id), pki.clone()));
            let (c, bytes) = ClientSession::start(&params, id, identity, &mut rng);
            server.receive(&params, id, &bytes).unwrap();
            clients.insert(id, c);
        }
        let mut rounds = Vec::new();
        while let Closed::Next(next, envelopes) = server.close(&params).unwrap() {
            server = *next;
            rounds.push(server.round());
            for envelope in envelopes {
                for id in envelope.to {
                    let c = clients.remove(&id).unwrap();
                    assert_eq!(c.round(), server.round(), "malicious: {malicious}");
                    let input = vec![u64::from(id.0); 30];
                    let (c, reply) = step(c, &params, &envelope.bytes, &input, &mut rng);
                    server.receive(&params, id, &reply).unwrap();
                    clients.insert(id, c);
                }
            }
        }
        let mut expected = vec![Round::ShareKeys, Round::MaskedInput];
        if malicious {
            expected.push(Round::Consistency);
        }
        expected.push(Round::Unmasking);
        assert_eq!(rounds, expected, "malicious: {malicious}");
    }
}

/// The server at its MaskedInputCollection round (everyone answered before) and each
/// client's masked input, as bytes: deterministic, so two calls give the same server.
fn at_masked_input(params: &Params) -> (ServerSession, BTreeMap<ClientId, Vec<u8>>) {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let n = u32::try_from(params.clients()).unwrap();
    let d = params.vector_len();
    let mut server = ServerSession::new(params, None);
    let mut clients = BTreeMap::new();
    for id in (1..=n).map(ClientId) {
        let (c, bytes) = ClientSession::start(params, id, None, &mut rng);
        server.receive(params, id, &bytes).unwrap();
        clients.insert(id, c);
    }
    let mut masked = BTreeMap::new();
    while server.round() != Round::MaskedInput {
        let Closed::Next(next, envelopes) = server.close(params).unwrap() else {
            panic!("the session ended before MaskedInputCollection");
        };
        server = *next;
        for envelope in envelopes {
            for id in envelope.to {
                let c = clients.remove(&id).unwrap();
                let input: Vec<u64> = (0..d as u64)
                    .map(|j| (u64::from(id.0) * 7919 + j) % 1000)
                    .collect();
                let (c, reply) = step(c, params, &envelope.bytes, &input, &mut rng);
                if server.round() == Round::MaskedInput {
                    masked.insert(id, reply);
                } else {
                    server.receive(params, id, &reply).unwrap();
                }
                clients.insert(id, c);
            }
        }
    }
    (server, masked)
}

/// A masked input sent as bytes is summed straight from them (`MaskedInputRef`, no `y_u`
/// allocated): for every message, good or broken, that path answers what decoding it whole
/// and calling `receive_message` answers, and both servers end in the same state. On a
/// modulus of whole bytes (2^32) and one that is not (1,000,003: 20 bits, with padding).
#[test]
fn masked_input_read_in_place_agrees_with_the_decoded_path() {
    use secagg::wire::{self, Limits};
    for m in [
        Modulus::power_of_two(32).unwrap(),
        Modulus::new(1_000_003).unwrap(),
    ] {
        let params = Params::builder(SessionId([8; 32]), 6, m, 31)
            .build()
            .unwrap();
        let (mut in_place, masked) = at_masked_input(&params);
        let (mut decoded, _) = at_masked_input(&params);
        let limits = Limits::for_params(&params);
        let good = masked[&ClientId(1)].clone();
        let packed_at = 2 + 32 + 4 + 32;
        let mut cases: Vec<(&str, ClientId, Vec<u8>)> = Vec::new();
        let mut bad = |what, from, edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            edit(&mut bytes);
            cases.push((what, from, bytes));
        };
        bad("truncated", ClientId(1), &|b| {
            b.pop();
        });
        bad("a byte after it", ClientId(1), &|b| b.push(0));
        bad("another sender", ClientId(1), &|b| {
            b[34..38].copy_from_slice(&2u32.to_be_bytes())
        });
        bad("another roster", ClientId(1), &|b| b[40] ^= 1);
        bad("another session", ClientId(1), &|b| b[5] ^= 1);
        bad("the first element all ones", ClientId(1), &|b| {
            // 20 or 32 bits of ones: >= m for 1,000,003 (a valid element of 2^32).
            b[packed_at] = 0xff;
            b[packed_at + 1] = 0xff;
            b[packed_at + 2] |= 0x0f;
        });
        bad("the top padding bit", ClientId(1), &|b| {
            *b.last_mut().unwrap() |= 0x80
        });
        bad("over the length limit", ClientId(1), &|b| {
            b.resize(limits.max_message_bytes + 1, 0)
        });
        bad("from the wrong client", ClientId(2), &|_| {});
        cases.push(("client 1's", ClientId(1), good.clone()));
        cases.push(("client 1's again", ClientId(1), good.clone()));
        for (&id, bytes) in masked.iter().skip(1) {
            cases.push(("the others'", id, bytes.clone()));
        }
        let mut rejected = 0;
        for (what, from, bytes) in &cases {
            let got = in_place.receive(&params, *from, bytes);
            let want = wire::from_bytes::<wire::ClientMessage>(bytes, &limits)
                .map_err(Misbehavior::Malformed)
                .map(|message| decoded.receive_message(*from, message));
            // The decoding error, or the session's answer to the decoded message.
            let want = match want {
                Ok(answer) => answer.map_err(|r| (r.client, r.round, r.reason)),
                Err(reason) => Err((*from, Round::MaskedInput, reason)),
            };
            let got = got.map_err(|r| (r.client, r.round, r.reason));
            assert_eq!(got, want, "{what}, modulus {m:?}");
            rejected += usize::from(got.is_err());
        }
        // Every broken message and the repeat; with 2^32 the all-ones element is valid (and
        // client 1's first accepted message is then the edited one).
        assert!(rejected >= 9, "{rejected} rejected, modulus {m:?}");
        // A vector read against another modulus (2^64 here) is checked against `m` again.
        if m.power_of_two_bits().is_none() {
            let (mut server, masked) = at_masked_input(&params);
            let Ok(wire::ClientMessage::MaskedInput(mut message)) =
                wire::from_bytes::<wire::ClientMessage>(&masked[&ClientId(3)], &limits)
            else {
                panic!("a masked input");
            };
            message.masked[4] = 1_000_003;
            let mut wide = limits;
            wide.modulus = Modulus::power_of_two(64).unwrap();
            wide.max_message_bytes = usize::MAX;
            let bytes = wire::to_bytes(&wire::PackedMaskedInput::new(&message, wide.modulus));
            let read = wire::MaskedInputRef::from_bytes(&bytes, &wide).unwrap();
            let ServerSession::MaskedInput(s) = &mut server else {
                panic!("at MaskedInputCollection");
            };
            let refused = s.receive_packed(ClientId(3), &read).unwrap_err();
            assert_eq!(refused.reason, Misbehavior::ElementOutOfRange);
        }
        let key = secagg::protocol::state::StateKey::new([5; 32]);
        let sealed = in_place.seal(&key, &mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(
            sealed,
            decoded.seal(&key, &mut ChaCha20Rng::seed_from_u64(1)),
            "the same state, modulus {m:?}"
        );
        // A snapshot sealed later gives the same bytes; its `Debug` shows no plaintext.
        let snapshot = in_place.snapshot();
        let shown = format!("{snapshot:?}");
        assert!(shown.starts_with("Snapshot") && shown.len() < 80, "{shown}");
        assert_eq!(
            snapshot.seal(&key, &mut ChaCha20Rng::seed_from_u64(1)),
            sealed
        );
        let reopened = ServerSession::open(&sealed, &key, &params, None).unwrap();
        assert_eq!(reopened.round(), Round::MaskedInput);
    }
}
