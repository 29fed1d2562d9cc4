//! Durable states (`docs/WIRE.md`, "State format"; `docs/PROTOCOL.md` §13.6): every client and
//! server state saved and restored between rounds behaves exactly as the original, a blob
//! that is not the one saved is a typed error, and a client restored from an older blob never
//! answers a request differently from what it already sent.

use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use proptest::prelude::*;
use rand_core::SeedableRng;
use secagg::protocol::client::Identity;
use secagg::protocol::session::{self, ClientSession, Closed, ServerSession};
use secagg::protocol::state::{StateKey, max_client_state_len, max_server_state_len};
use secagg::protocol::{client, messages as msg, server};
use secagg::{
    ClientId, ConfigError, Error, Expectations, IdentityKey, Misbehavior, Modulus, Params, Pki,
    SessionId, StateError, ThreatModel, wire,
};

const N: u32 = 8;
const D: usize = 12;

fn params(malicious: bool, sparse: bool, session: u8) -> Params {
    let m = Modulus::new(1_000_003).unwrap();
    let mut b = Params::builder(SessionId([session; 32]), N as usize, m, D);
    if sparse {
        b = b.neighbours(4);
    }
    if malicious {
        // Every client must advertise by default; let two drop before the roster.
        b = b.threat_model(ThreatModel::Malicious).min_roster(6);
    }
    b.build().unwrap()
}

fn identity_key(id: ClientId) -> IdentityKey {
    IdentityKey::from_seed(&[u8::try_from(id.0).unwrap(); 32])
}

fn pki() -> Pki {
    Pki::new((1..=N).map(|u| (ClientId(u), identity_key(ClientId(u)).public_key())))
}

fn identity(params: &Params, id: ClientId) -> Option<Identity> {
    (params.threat_model() == ThreatModel::Malicious)
        .then(|| Identity::new(identity_key(id), pki()))
}

fn input(id: ClientId) -> Vec<u64> {
    (0..D as u64).map(|j| u64::from(id.0) * 1000 + j).collect()
}

/// Everything a run sent, in order, and how it ended.
#[derive(Debug, PartialEq)]
struct Transcript {
    messages: Vec<(ClientId, Vec<u8>)>,
    envelopes: Vec<Vec<u8>>,
    /// Clients that stopped: only ever because too few clients remain.
    client_errors: Vec<(ClientId, Error)>,
    outcome: Result<(Vec<u64>, Vec<ClientId>), Error>,
}

/// Runs a byte-level session in which client `u` goes silent from the round
/// `drops[u]` (0 AdvertiseKeys .. 3 Unmasking). With `restart`, every client and the server
/// are sealed and opened again (from bytes alone, as a fresh process would) after every step.
fn run(params: &Params, drops: &BTreeMap<ClientId, u8>, restart: bool) -> Transcript {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    // Sealing draws nonces from its own generator, so the protocol's draws are the same
    // with and without restarts.
    let mut seal_rng = ChaCha20Rng::seed_from_u64(8);
    let key = StateKey::new([42; 32]);
    let server_pki = (params.threat_model() == ThreatModel::Malicious).then(pki);
    let mut server = ServerSession::new(params, server_pki.clone());
    let mut clients: BTreeMap<ClientId, (ClientSession, u8)> = BTreeMap::new();
    let mut t = Transcript {
        messages: Vec::new(),
        envelopes: Vec::new(),
        client_errors: Vec::new(),
        outcome: Err(Error::Internal("not finished")),
    };
    let silent = |id: ClientId, round: u8| drops.get(&id).is_some_and(|r| *r <= round);
    let restore_server = |server: ServerSession, seal_rng: &mut ChaCha20Rng| {
        if !restart {
            return server;
        }
        let bytes = server.seal(&key, seal_rng);
        assert!(bytes.len() <= max_server_state_len(params));
        ServerSession::open(&bytes, &key, params, server_pki.clone()).unwrap()
    };
    for u in 1..=N {
        let id = ClientId(u);
        let (c, bytes) = ClientSession::start(params, id, identity(params, id), &mut rng);
        clients.insert(id, (c, 0));
        if silent(id, 0) {
            continue;
        }
        t.messages.push((id, bytes.clone()));
        server.receive(params, id, &bytes).unwrap();
        server = restore_server(server, &mut seal_rng);
    }
    let mut round = 0u8;
    loop {
        let closed = match server.close(params) {
            Ok(closed) => closed,
            Err(e) => {
                t.outcome = Err(e);
                return t;
            }
        };
        let (next, envelopes) = match closed {
            Closed::Done(out) => {
                t.outcome = Ok((out.sum, out.included));
                return t;
            }
            Closed::Next(next, envelopes) => (next, envelopes),
        };
        server = restore_server(*next, &mut seal_rng);
        // ConsistencyCheck (malicious mode) is not a dropout round of its own.
        if server.round() != secagg::Round::Consistency {
            round += 1;
        }
        for envelope in envelopes {
            t.envelopes.push(envelope.bytes.clone());
            for id in envelope.to {
                if silent(id, round) {
                    continue;
                }
                let (c, _) = clients.remove(&id).unwrap();
                let step = if c.needs_input() {
                    c.handle_with_input(params, &envelope.bytes, &input(id), &mut rng)
                } else {
                    c.handle(params, &envelope.bytes, &mut rng)
                };
                let (mut c, reply) = match step {
                    Ok(next) => next,
                    Err(e) => {
                        assert!(matches!(e, Error::Abort(_)), "{id:?} refused: {e}");
                        t.client_errors.push((id, e));
                        continue;
                    }
                };
                let stage = c.stage();
                if restart {
                    let bytes = c.seal(&key, &mut seal_rng);
                    assert!(bytes.len() <= max_client_state_len(params));
                    c = ClientSession::open(&bytes, &key, params, id, identity(params, id), stage)
                        .unwrap();
                }
                clients.insert(id, (c, stage));
                t.messages.push((id, reply.clone()));
                if server.receive(params, id, &reply).is_ok() {
                    server = restore_server(server, &mut seal_rng);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Saving and restoring every party after every step changes nothing: the same bytes on
    /// the wire, the same sum, over random dropouts, both graphs and both threat models.
    #[test]
    fn restored_sessions_behave_as_the_originals(
        malicious in any::<bool>(),
        sparse in any::<bool>(),
        drops in proptest::collection::btree_map(1..=N, 0u8..=3, 0..3),
    ) {
        let params = params(malicious, sparse, 3);
        let drops = drops.into_iter().map(|(u, r)| (ClientId(u), r)).collect();
        let plain = run(&params, &drops, false);
        let restarted = run(&params, &drops, true);
        prop_assert_eq!(&plain, &restarted);
        if let Ok((sum, included)) = &plain.outcome {
            let expected: Vec<u64> = (0..D)
                .map(|j| included.iter().map(|id| input(*id)[j]).sum::<u64>() % 1_000_003)
                .collect();
            prop_assert_eq!(sum, &expected);
        }
    }
}

/// A client in the middle of a session (after MaskedInputCollection) and the bytes of every
/// earlier state, with the unmasking request the server would send it.
struct Midway {
    params: Params,
    states: Vec<Vec<u8>>,
    session: ClientSession,
    request: msg::UnmaskingRequest,
    others: Vec<msg::UnmaskingRequest>,
}

fn midway(key: &StateKey) -> Midway {
    let params = params(false, false, 5);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut server = server::AdvertiseKeys::new(&params);
    let mut states: Vec<client::AdvertiseKeys> = Vec::new();
    for u in 1..=N {
        let (c, m) = client::AdvertiseKeys::new(&params, ClientId(u), &mut rng);
        server.receive(ClientId(u), m).unwrap();
        states.push(c);
    }
    let mut sealed = vec![states[0].seal(key, &mut rng)];
    let (server, rosters) = server.close().unwrap();
    let mut server = server;
    let mut next = Vec::new();
    for c in states {
        let roster = session::roster_for(&rosters, c.id()).unwrap();
        let (c, m) = c.share_keys(roster, &mut rng).unwrap();
        server.receive(m.sender, m).unwrap();
        next.push(c);
    }
    sealed.push(next[0].seal(key, &mut rng));
    let (mut server, deliveries) = server.close().unwrap();
    let mut masked = Vec::new();
    for (c, delivery) in next.into_iter().zip(&deliveries) {
        let x = secagg::PlainInput::new(input(delivery.recipient));
        let (c, m) = c.masked_input(delivery, &x).unwrap();
        server.receive(m.sender, m).unwrap();
        masked.push(c);
    }
    let first = masked.remove(0);
    sealed.push(first.seal(key, &mut rng));
    let (_, requests) = server.close().unwrap();
    let request = requests
        .into_iter()
        .find(|r| r.recipient == ClientId(1))
        .unwrap();
    // Requests an honest client would also answer, had it not answered `request`: each
    // names one more peer as dropped.
    let others = (2..=N)
        .map(|v| msg::UnmaskingRequest {
            survivors: request
                .survivors
                .iter()
                .copied()
                .filter(|u| *u != ClientId(v))
                .collect(),
            dropped: vec![ClientId(v)],
            ..request.clone()
        })
        .collect();
    Midway {
        params,
        states: sealed,
        session: ClientSession::MaskedInput(first),
        request,
        others,
    }
}

/// The rollback test of issue 12: after the unmasking response is sent and the new state
/// stored, the host restores the older blob and presents a contradicting request. The
/// session refuses the old blob; the finished state refuses the request and repeats its one
/// response for the one request it answered.
#[test]
fn rollback_never_answers_a_contradicting_request() {
    let key = StateKey::new([1; 32]);
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let Midway {
        params,
        states,
        session,
        request,
        others,
    } = midway(&key);
    let id = ClientId(1);
    let older = session.seal(&key, &mut rng);
    let (done, response) = session
        .handle(&params, &wire::to_bytes(&request), &mut rng)
        .unwrap();
    assert_eq!(done.stage(), 4);
    let newest = done.seal(&key, &mut rng);

    // Every older blob is refused once the host recorded stage 4.
    for old in states.iter().chain([&older]) {
        let refused = ClientSession::open(old, &key, &params, id, None, done.stage());
        assert!(
            matches!(refused, Err(StateError::RolledBack { newest: 4, .. })),
            "{refused:?}"
        );
    }
    // The stored state answers the same request identically, and refuses every other.
    let restored = ClientSession::open(&newest, &key, &params, id, None, 4).unwrap();
    let (restored, again) = restored
        .handle(&params, &wire::to_bytes(&request), &mut rng)
        .unwrap();
    assert_eq!(again, response);
    for other in &others {
        let restored = ClientSession::open(&newest, &key, &params, id, None, 4).unwrap();
        let err = restored
            .handle(&params, &wire::to_bytes(other), &mut rng)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Misbehaved {
                    what: Misbehavior::ContradictingRequest,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // The per-round API too.
    let ClientSession::Done(done) = restored else {
        panic!("a finished session stays finished");
    };
    assert!(done.answer_again(&others[0]).is_err());
    assert_eq!(
        wire::to_bytes(&done.answer_again(&request).unwrap()),
        response
    );
    // Without the host's record the old blob opens, and then (only then) the client could
    // answer a contradicting request: what PROTOCOL.md §13.6 asks the host to prevent.
    let rolled = ClientSession::open(&older, &key, &params, id, None, 0).unwrap();
    assert!(
        rolled
            .handle(&params, &wire::to_bytes(&others[0]), &mut rng)
            .is_ok()
    );
}

/// Every way a blob can be the wrong one is a typed error: another key, session, client,
/// round, parameters or identity; truncated, extended, or any one bit flipped.
#[test]
fn wrong_or_tampered_blobs_are_typed_errors() {
    let other_session = params(false, false, 6);
    let key = StateKey::new([2; 32]);
    let Midway { params, states, .. } = midway(&key);
    let id = ClientId(1);
    let blob = &states[2];
    let open = |bytes: &[u8], key: &StateKey, params: &Params, id: ClientId| {
        client::MaskedInput::open(bytes, key, params, id, None).map(|_| ())
    };
    assert_eq!(open(blob, &key, &params, id), Ok(()));
    assert_eq!(
        open(blob, &StateKey::new([3; 32]), &params, id),
        Err(StateError::Unauthentic)
    );
    assert_eq!(
        open(blob, &key, &params, ClientId(2)),
        Err(StateError::WrongClient)
    );
    assert_eq!(
        open(blob, &key, &other_session, id),
        Err(StateError::WrongSession)
    );
    let other_params = Params::builder(SessionId([5; 32]), N as usize, params.modulus(), D)
        .threshold(params.threshold() + 1)
        .build()
        .unwrap();
    assert_eq!(
        open(blob, &key, &other_params, id),
        Err(StateError::OtherParams)
    );
    assert_eq!(
        client::MaskedInput::open(
            blob,
            &key,
            &params,
            id,
            Some(Identity::new(identity_key(id), pki()))
        )
        .map(|_| ()),
        Err(StateError::OtherIdentity)
    );
    assert_eq!(
        client::ShareKeys::open(blob, &key, &params, id, None).map(|_| ()),
        Err(StateError::WrongRound)
    );
    assert!(matches!(
        server::MaskedInput::open(blob, &key, &params, None),
        Err(StateError::WrongKind { .. })
    ));
    for len in 0..blob.len() {
        assert!(
            open(&blob[..len], &key, &params, id).is_err(),
            "truncated to {len}"
        );
    }
    let mut extended = blob.clone();
    extended.push(0);
    assert_eq!(
        open(&extended, &key, &params, id),
        Err(StateError::Unauthentic)
    );
    let huge = vec![0u8; max_client_state_len(&params) + 1];
    assert!(matches!(
        open(&huge, &key, &params, id),
        Err(StateError::TooLong { .. })
    ));
    for byte in 0..blob.len() {
        for bit in [0, 3, 7] {
            let mut flipped = blob.clone();
            flipped[byte] ^= 1 << bit;
            let err = open(&flipped, &key, &params, id).unwrap_err();
            // The header's fields have their own errors; everything else fails the tag.
            if byte >= 39 {
                assert_eq!(err, StateError::Unauthentic, "byte {byte} bit {bit}");
            }
        }
    }
}

/// Sealed states never show a secret in clear: a client's private key material does not
/// appear in its blob, and two seals of one state differ (fresh nonces).
#[test]
fn sealed_client_state_hides_its_secrets() {
    let key = StateKey::new([4; 32]);
    let params = params(false, false, 1);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (c, advert) = client::AdvertiseKeys::new(&params, ClientId(1), &mut rng);
    let a = c.seal(&key, &mut rng);
    let b = c.seal(&key, &mut rng);
    assert_ne!(a, b);
    // The public keys are not in the blob either: only the header is clear.
    assert!(
        !a.windows(32)
            .any(|w| w == advert.share_public_key.0 || w == advert.mask_public_key.0)
    );
    let back = client::AdvertiseKeys::open(&b, &key, &params, ClientId(1), None).unwrap();
    assert_eq!(format!("{back:?}"), format!("{c:?}"));
    // The key's Debug shows no byte of it (nor any digit at all).
    assert!(!format!("{key:?}").contains(|c: char| c.is_ascii_digit()));
}

#[test]
fn params_round_trip_and_clients_keep_their_own_floors() {
    for (malicious, sparse) in [(false, false), (false, true), (true, false), (true, true)] {
        let p = params(malicious, sparse, 9);
        let bytes = p.to_bytes();
        assert_eq!(Params::from_bytes(&bytes), Ok(p.clone()));
        assert!(matches!(
            Params::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ConfigError::Malformed(_))
        ));
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(
            Params::from_bytes(&longer),
            Err(ConfigError::Malformed(_))
        ));
        let mut other_version = bytes;
        other_version[0] = 9;
        assert!(matches!(
            Params::from_bytes(&other_version),
            Err(ConfigError::Malformed(_))
        ));
    }
    let p = params(false, true, 9);
    let own = Expectations {
        session: SessionId([9; 32]),
        threat_model: ThreatModel::HonestButCurious,
        min_threshold: p.threshold(),
        min_neighbours: 4,
        max_clients: 100,
        max_vector_len: 1000,
        require_majority: true,
    };
    assert_eq!(
        Params::from_bytes_expecting(&p.to_bytes(), &own),
        Ok(p.clone())
    );
    for (expectations, what) in [
        (
            Expectations {
                min_threshold: p.threshold() + 1,
                ..own.clone()
            },
            "threshold",
        ),
        (
            Expectations {
                min_neighbours: 6,
                ..own.clone()
            },
            "neighbours",
        ),
        (
            Expectations {
                threat_model: ThreatModel::Malicious,
                ..own.clone()
            },
            "threat model",
        ),
        (
            Expectations {
                session: SessionId([1; 32]),
                ..own.clone()
            },
            "session",
        ),
        (
            Expectations {
                max_clients: 7,
                ..own.clone()
            },
            "clients",
        ),
    ] {
        assert_eq!(
            Params::from_bytes_expecting(&p.to_bytes(), &expectations),
            Err(ConfigError::Unexpected { what })
        );
    }
    // A server that drops the majority (t = 2 of 5 holders, valid against an
    // honest-but-curious server) is refused by a client that requires one, and accepted by
    // one that does not: the policy is the client's, not part of the bytes.
    let minority = Params::builder(*p.session(), N as usize, p.modulus(), D)
        .neighbours(4)
        .threshold(2)
        .build()
        .unwrap();
    assert_eq!(
        Params::from_bytes_expecting(
            &minority.to_bytes(),
            &Expectations {
                min_threshold: 2,
                ..own.clone()
            }
        ),
        Err(ConfigError::Unexpected {
            what: "majority threshold"
        })
    );
    assert_eq!(
        Params::from_bytes_expecting(
            &minority.to_bytes(),
            &Expectations {
                min_threshold: 2,
                require_majority: false,
                ..own.clone()
            }
        ),
        Ok(minority)
    );
    // A threshold below the safe minimum never decodes, whatever the client expects.
    let mut unsafe_t = p.to_bytes();
    unsafe_t[37..41].copy_from_slice(&1u32.to_be_bytes());
    assert!(matches!(
        Params::from_bytes(&unsafe_t),
        Err(ConfigError::Threshold { .. })
    ));
}

#[test]
fn pki_round_trips_and_rejects_bad_encodings() {
    let pki = pki();
    let bytes = pki.to_bytes();
    assert_eq!(bytes.len(), 4 + 36 * N as usize);
    let back = Pki::from_bytes(&bytes, N as usize).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert!(Pki::from_bytes(&bytes, N as usize - 1).is_err());
    assert!(Pki::from_bytes(&bytes[..bytes.len() - 1], N as usize).is_err());
    let mut unsorted = bytes.clone();
    unsorted[4..8].copy_from_slice(&9u32.to_be_bytes());
    assert!(Pki::from_bytes(&unsorted, N as usize).is_err());
    let mut count = bytes;
    count[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(Pki::from_bytes(&count, usize::MAX).is_err());
}

/// The byte-level client asks for its input exactly at the shares delivery, takes a borrowed
/// slice, and refuses the wrong call without panicking.
#[test]
fn input_is_given_at_the_round_that_needs_it() {
    let params = params(false, false, 2);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (c, _) = ClientSession::start(&params, ClientId(1), None, &mut rng);
    assert!(!c.needs_input());
    let err = c
        .handle_with_input(&params, &[0], &[0; D], &mut rng)
        .unwrap_err();
    assert_eq!(err, Error::ApiMisuse(secagg::ApiMisuse::InputNotNeeded));
    let key = StateKey::new([5; 32]);
    let Midway { params, states, .. } = midway(&key);
    let share_keys = ClientSession::open(&states[1], &key, &params, ClientId(1), None, 1).unwrap();
    assert!(share_keys.needs_input());
    let err = share_keys.handle(&params, &[0], &mut rng).unwrap_err();
    assert_eq!(err, Error::ApiMisuse(secagg::ApiMisuse::InputNeeded));
}

/// Without dropouts every combination finishes, restarted or not, with the same bytes.
#[test]
fn every_mode_finishes_after_restarts() {
    for (malicious, sparse) in [(false, false), (false, true), (true, false), (true, true)] {
        let params = params(malicious, sparse, 4);
        let restarted = run(&params, &BTreeMap::new(), true);
        let (_, included) = restarted.outcome.as_ref().unwrap();
        assert_eq!(included.len(), N as usize);
        assert_eq!(restarted, run(&params, &BTreeMap::new(), false));
    }
}
