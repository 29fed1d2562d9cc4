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
