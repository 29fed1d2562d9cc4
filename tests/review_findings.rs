//! The six findings of the independent review of 2026-11 (issue 10), one attack each, as it
//! was reproduced against the public API. Every test here failed on the code the review
//! read (the attack went through) and passes now (the attack is refused with a typed error).
//! The fixes are described in `docs/PROTOCOL.md` §12-§15.

use core::cell::RefCell;
use core::marker::PhantomData;
use std::collections::{BTreeMap, BTreeSet};

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::harness::{Fate, Harness};
use secagg::hazmat::prg::{SeededMask, Sign};
use secagg::protocol::graph::{Graph, roster_digest};
use secagg::protocol::session::{ClientSession, ServerSession};
use secagg::protocol::{client, messages as msg, server};
use secagg::wire::{ClientMessage, ServerMessage};
use secagg::{
    AbortReason, ClientId, ConfigError, Error, IdentityKey, Misbehavior, Modulus, Neighbourhood,
    Params, Party, Pki, PlainInput, PublicKey, Rejected, Round, SessionId, ThreatModel,
};

fn m32() -> Modulus {
    Modulus::power_of_two(32).unwrap()
}

fn identity_key(u: ClientId) -> IdentityKey {
    let mut seed = [0x5e; 32];
    seed[..4].copy_from_slice(&u.0.to_be_bytes());
    IdentityKey::from_seed(&seed)
}

fn pki(ids: impl IntoIterator<Item = ClientId>) -> Pki {
    Pki::new(ids.into_iter().map(|u| (u, identity_key(u).public_key())))
}

fn by_server(round: Round, what: Misbehavior) -> Error {
    Error::Misbehaved {
        by: Party::Server,
        round,
        what,
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 1 (HIGH): a roster of the victim and t - 1 (or t) colluders, malicious SecAgg+.
// ---------------------------------------------------------------------------------------------

/// The finder's parameters of the review (`secagg params --clients 1000 --dropout 0.05
/// --corrupt 0.05 --malicious`: k = 52, t = 37) and smaller sparse sessions.
const TINY_ROSTER_CASES: [(usize, usize, usize); 4] =
    [(1000, 52, 37), (100, 12, 10), (40, 8, 7), (12, 4, 4)];

/// The server shows the victim a roster of itself and `colluders` corrupt clients, every
/// entry genuine and correctly signed. Returns what the victim's ShareKeys step did.
fn victim_shown_tiny_roster(
    params: &Params,
    colluders: usize,
) -> Result<(client::ShareKeys, msg::ShareKeys), Error> {
    let n = u32::try_from(params.clients()).unwrap();
    let victim = ClientId(1);
    // The corrupt clients are the last ids; the PKI knows everyone.
    let corrupt: Vec<ClientId> = (n + 1 - u32::try_from(colluders).unwrap()..=n)
        .map(ClientId)
        .collect();
    let pki = pki((1..=n).map(ClientId));
    let mut rng = ChaCha20Rng::seed_from_u64(params.threshold() as u64);
    let identity = client::Identity::new(identity_key(victim), pki.clone());
    let (victim_state, victim_ad) =
        client::AdvertiseKeys::with_identity(params, victim, identity, &mut rng);
    let mut entries = vec![victim_ad];
    for &c in &corrupt {
        let identity = client::Identity::new(identity_key(c), pki.clone());
        let (_, ad) = client::AdvertiseKeys::with_identity(params, c, identity, &mut rng);
        entries.push(ad);
    }
    let roster = msg::Roster {
        session: *params.session(),
        entries,
        slice: None,
    };
    victim_state.share_keys(&roster, &mut rng)
}

#[test]
fn rejects_roster_of_victim_and_colluders() {
    for (n, k, t) in TINY_ROSTER_CASES {
        let params = Params::builder(SessionId([0xa1; 32]), n, m32(), 4)
            .neighbours(k)
            .threshold(t)
            .threat_model(ThreatModel::Malicious)
            .build()
            .unwrap();
        // The default minimum against a malicious server: every client.
        assert_eq!(params.min_roster(), n);
        for colluders in [t - 1, t, k + 1, n - 2] {
            let got = victim_shown_tiny_roster(&params, colluders).map(|_| ());
            // Refused in ShareKeys, before any share is sealed: the typed error is all the
            // victim returns.
            assert_eq!(
                got,
                Err(by_server(
                    Round::ShareKeys,
                    Misbehavior::RosterTooSmall {
                        have: colluders + 1,
                        need: n
                    }
                )),
                "n = {n}, k = {k}, t = {t}, {colluders} colluders"
            );
        }
    }
}

/// A deployment that tolerates dropouts before the roster sets its own minimum; rosters
/// below it are refused, rosters at it accepted, and the minimum can never be low enough
/// to turn a sparse graph complete.
#[test]
fn min_roster_is_the_clients_own_and_keeps_the_graph_sparse() {
    let (n, k, t) = (40, 8, 7);
    let builder = || {
        Params::builder(SessionId([0xa2; 32]), n, m32(), 4)
            .neighbours(k)
            .threshold(t)
            .threat_model(ThreatModel::Malicious)
    };
    // k + 1 entries would make the graph complete: refused as a configuration.
    assert_eq!(
        builder().min_roster(k + 1).build(),
        Err(ConfigError::MinRoster {
            min_roster: k + 1,
            lowest: k + 2,
            clients: n
        })
    );
    assert!(builder().min_roster(n + 1).build().is_err());
    let params = builder().min_roster(30).build().unwrap();
    assert_eq!(
        victim_shown_tiny_roster(&params, 28).map(|_| ()),
        Err(by_server(
            Round::ShareKeys,
            Misbehavior::RosterTooSmall { have: 29, need: 30 }
        ))
    );
    let (_, out) = victim_shown_tiny_roster(&params, 29).unwrap();
    // Malicious mode: the victim's ShareKeys carries its signature over the roster it saw.
    assert!(out.roster_signature.is_some());
    assert_eq!(out.sealed.len(), k);
    // An honest server aborts instead of sending a roster below the minimum.
    let mut srv = server::AdvertiseKeys::new(&params);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    for u in (1..=29).map(ClientId) {
        let identity = client::Identity::new(identity_key(u), pki([u]));
        let (_, ad) = client::AdvertiseKeys::with_identity(&params, u, identity, &mut rng);
        srv.receive(u, ad).unwrap();
    }
    assert_eq!(
        srv.close().map(|_| ()),
        Err(Error::Abort(AbortReason::TooFewSurvivors {
            round: Round::AdvertiseKeys,
            have: 29,
            need: 30
        }))
    );
}

/// An honest session of `params` up to the deliveries: every client advertises (with its
/// identity against a malicious server) and shares its keys, in id order, from one generator
/// seeded with `seed`.
struct Shared {
    server: server::MaskedInput,
    roster: msg::Roster,
    deliveries: Vec<msg::SharesDelivery>,
    clients: BTreeMap<ClientId, client::ShareKeys>,
}

fn share_all(params: &Params, seed: u64) -> Shared {
    let n = u32::try_from(params.clients()).unwrap();
    let malicious = params.threat_model() == ThreatModel::Malicious;
    // The inputs are the tests' own, given when they mask.
    let unused = (1..=n)
        .map(|_| PlainInput::new(vec![0; params.vector_len()]))
        .collect();
    let sent = RefCell::new(Vec::new());
    let mut session = Harness::new(params, unused, seed)
        .on_client_message(|_, _, m| {
            if let ClientMessage::ShareKeys(out) = m {
                // Malicious mode, and only it: the client signs the roster it received.
                assert_eq!(out.roster_signature.is_some(), malicious);
            }
            Fate::Deliver
        })
        .on_server_message(|_, _, m| {
            sent.borrow_mut().push(m.clone());
            Fate::Deliver
        });
    if malicious {
        session = session.with_identities(identity_key);
    }
    session.step().unwrap();
    session.step().unwrap();
    assert!(session.rejected().is_empty(), "{:?}", session.rejected());
    let clients = (1..=n)
        .map(ClientId)
        .map(|u| match session.take_client(u) {
            Some((ClientSession::ShareKeys(c), _)) => (u, c),
            other => panic!("{u} holds {other:?}"),
        })
        .collect();
    let Some(ServerSession::MaskedInput(server)) = session.take_server() else {
        panic!("the server collects masked inputs");
    };
    drop(session);
    let sent = sent.into_inner();
    // The whole roster: on a sparse graph each member receives its view, and the views
    // together hold every entry.
    let mut entries: BTreeMap<ClientId, msg::AdvertiseKeys> = BTreeMap::new();
    for m in &sent {
        if let ServerMessage::Roster(r) = m {
            entries.extend(r.entries.iter().map(|e| (e.sender, e.clone())));
        }
    }
    assert!(!entries.is_empty(), "the roster comes first");
    let roster = msg::Roster {
        session: *params.session(),
        entries: entries.into_values().collect(),
        slice: None,
    };
    let deliveries = sent
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::SharesDelivery(d) => Some(d),
            _ => None,
        })
        .collect();
    Shared {
        server,
        roster,
        deliveries,
        clients,
    }
}

/// An honest malicious-mode session up to the deliveries: client 1's ShareKeys state, its
/// delivery and the roster.
fn up_to_delivery() -> (Params, client::ShareKeys, msg::SharesDelivery, msg::Roster) {
    let params = Params::builder(SessionId([0xa3; 32]), 6, m32(), 4)
        .threat_model(ThreatModel::Malicious)
        .build()
        .unwrap();
    let mut shared = share_all(&params, 3);
    let delivery = shared.deliveries.swap_remove(0);
    assert_eq!(delivery.recipient, ClientId(1));
    assert_eq!(delivery.roster_signatures.len(), 5);
    let state = shared.clients.remove(&ClientId(1)).unwrap();
    (params, state, delivery, shared.roster)
}

/// A neighbour's shares delivered without its signature over the victim's roster digest, or
/// with its signature over another roster, stop the victim before it masks.
#[test]
fn rejects_masking_without_neighbours_roster_signatures() {
    let input = PlainInput::new(vec![1, 2, 3, 4]);
    // One signature withheld.
    let (_, state, mut delivery, _) = up_to_delivery();
    let (withheld, _) = delivery.roster_signatures.remove(2);
    assert_eq!(
        state.masked_input(&delivery, &input).map(|_| ()),
        Err(by_server(
            Round::MaskedInput,
            Misbehavior::BadSignature { peer: withheld }
        ))
    );
    // A neighbour's genuine signature, over a roster without the last entry.
    let (params, state, mut delivery, roster) = up_to_delivery();
    let mut elsewhere = roster.entries.clone();
    elsewhere.pop();
    let signer = delivery.roster_signatures[0].0;
    delivery.roster_signatures[0].1 =
        identity_key(signer).sign_roster(params.session(), &roster_digest(&elsewhere));
    assert_eq!(
        state.masked_input(&delivery, &input).map(|_| ()),
        Err(by_server(
            Round::MaskedInput,
            Misbehavior::BadSignature { peer: signer }
        ))
    );
    // The honest delivery masks.
    let (_, state, delivery, _) = up_to_delivery();
    assert!(state.masked_input(&delivery, &input).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Finding 2 (MEDIUM): honest-but-curious SecAgg+ on a survivor graph cut in two.
// ---------------------------------------------------------------------------------------------

/// Whether `set` is connected in `graph`, by a search of the test's own.
fn groups(graph: &Graph, set: &BTreeSet<ClientId>) -> usize {
    let mut unseen = set.clone();
    let mut count = 0;
    while let Some(start) = unseen.pop_first() {
        count += 1;
        let mut stack = vec![start];
        while let Some(u) = stack.pop() {
            for v in graph.neighbours(u) {
                if unseen.remove(&v) {
                    stack.push(v);
                }
            }
        }
    }
    count
}

/// n = 10, k = 4, t = 3: four clients that drop before their masked inputs, in two runs of
/// k / 2 on the ring, cut the survivors into two groups of three. Before the fix the session
/// completed and the server learned each group's sum; now it asks for no share.
#[test]
fn aborts_when_survivors_are_disconnected() {
    let params = Params::builder(SessionId([0xb2; 32]), 10, m32(), 3)
        .neighbours(4)
        .threshold(3)
        .build()
        .unwrap();
    let ids: Vec<ClientId> = (1..=10).map(ClientId).collect();
    let Shared {
        server: mut srv,
        roster,
        deliveries,
        clients: mut sharing,
    } = share_all(&params, 22);
    let graph = Graph::new(
        params.neighbourhood(),
        params.session(),
        &roster_digest(&roster.entries),
        &ids,
    );
    // The first four clients (in id order of subsets) whose removal cuts the rest in two
    // groups of three in which every survivor keeps t members in its neighbourhood.
    let all: BTreeSet<ClientId> = ids.iter().copied().collect();
    let dropped: BTreeSet<ClientId> = (0u32..1 << 10)
        .filter(|mask| mask.count_ones() == 4)
        .map(|mask| {
            ids.iter()
                .copied()
                .filter(|u| mask >> (u.0 - 1) & 1 == 1)
                .collect()
        })
        .find(|d: &BTreeSet<ClientId>| {
            let survivors: BTreeSet<ClientId> = all.difference(d).copied().collect();
            groups(&graph, &survivors) == 2
                && survivors
                    .iter()
                    .all(|&u| 1 + graph.neighbours(u).intersection(&survivors).count() >= 3)
        })
        .expect("a cut of the ring into two arcs of three");
    for d in deliveries {
        let u = d.recipient;
        if dropped.contains(&u) {
            continue;
        }
        let c = sharing.remove(&u).unwrap();
        let (_, out) = c
            .masked_input(&d, &PlainInput::new(vec![u64::from(u.0); 3]))
            .unwrap();
        srv.receive(u, out).unwrap();
    }
    assert_eq!(
        srv.close().map(|_| ()),
        Err(Error::Abort(AbortReason::DisconnectedSurvivors {
            components: 2
        }))
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 3 (MEDIUM): a reused session id and a stale masked input.
// ---------------------------------------------------------------------------------------------

/// Runs a complete-graph session of three clients with generator seed `seed` up to the
/// masked inputs; returns the server and the masked inputs.
fn masked_inputs(seed: u64) -> (server::MaskedInput, Vec<msg::MaskedInput>) {
    let params = Params::new(SessionId([0xb3; 32]), 3, 2, m32(), 4).unwrap();
    let mut shared = share_all(&params, seed);
    let masked = shared
        .deliveries
        .iter()
        .map(|d| {
            let u = d.recipient;
            let c = shared.clients.remove(&u).unwrap();
            let input = PlainInput::new(vec![u64::from(u.0) * 10; 4]);
            c.masked_input(d, &input).unwrap().1
        })
        .collect();
    (shared.server, masked)
}

/// A masked input of an earlier session under the same id is refused, and the session
/// still ends in the right sum of the others (before the fix it was summed: a wrong sum
/// reported as a right one).
#[test]
fn rejects_stale_masked_input_from_a_reused_session_id() {
    let (_, earlier) = masked_inputs(31);
    let (mut srv, current) = masked_inputs(32);
    let stale = earlier[0].clone();
    assert_eq!(stale.sender, ClientId(1));
    assert_ne!(stale.roster_digest, current[0].roster_digest);
    assert_eq!(
        srv.receive(ClientId(1), stale),
        Err(Rejected::new(
            ClientId(1),
            Round::MaskedInput,
            Misbehavior::WrongRoster
        ))
    );
    for m in &current[1..] {
        srv.receive(m.sender, m.clone()).unwrap();
    }

    assert!(srv.close().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Finding 4 (LOW): `Graph` with a degree whose `k + 1` overflows.
// ---------------------------------------------------------------------------------------------

#[test]
fn graph_with_huge_degree_is_complete() {
    let sid = SessionId([0xb4; 32]);
    for n in [5u32, 6] {
        let members: Vec<ClientId> = (1..=n).map(ClientId).collect();
        for k in [usize::MAX, usize::MAX - 1] {
            let kind = Neighbourhood::Harary { k };
            let graph = Graph::new(kind, &sid, &[7; 32], &members);
            assert_eq!(graph.kind(), Neighbourhood::Complete, "n = {n}, k = {k}");
            for &u in &members {
                let expected: BTreeSet<ClientId> =
                    members.iter().copied().filter(|&v| v != u).collect();
                assert_eq!(graph.neighbours(u), expected, "n = {n}, k = {k}");
                assert_eq!(
                    Graph::neighbours_of(kind, &sid, &[7; 32], &members, u),
                    expected
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Finding 5 (LOW): the same X25519 key under another encoding (bit 255 set).
// ---------------------------------------------------------------------------------------------

fn high_bit(key: PublicKey) -> PublicKey {
    let mut bytes = key.0;
    bytes[31] |= 0x80;
    PublicKey(bytes)
}

#[test]
fn typed_api_rejects_non_canonical_key_encodings() {
    let params = Params::new(SessionId([0xb5; 32]), 3, 2, m32(), 4).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut ads = Vec::new();
    let mut clients = Vec::new();
    for u in (1..=3).map(ClientId) {
        let (c, ad) = client::AdvertiseKeys::new(&params, u, &mut rng);
        ads.push(ad);
        clients.push(c);
    }
    // Server: client 2 advertises client 1's mask key with bit 255 set (the same key for
    // X25519), and its own key that way.
    let mut srv = server::AdvertiseKeys::new(&params);
    srv.receive(ClientId(1), ads[0].clone()).unwrap();
    let mut mirror = ads[1].clone();
    mirror.mask_public_key = high_bit(ads[0].mask_public_key);
    let refused = Err(Rejected::new(
        ClientId(2),
        Round::AdvertiseKeys,
        Misbehavior::NonCanonicalKey { peer: ClientId(2) },
    ));
    assert_eq!(srv.receive(ClientId(2), mirror), refused);
    let mut own = ads[1].clone();
    own.share_public_key = high_bit(own.share_public_key);
    assert_eq!(srv.receive(ClientId(2), own), refused);
    // Client: a roster entry of client 3 carrying client 1's own share key, bit 255 set.
    let mut entries = ads.clone();
    entries[2].share_public_key = high_bit(ads[0].share_public_key);
    let roster = msg::Roster {
        session: *params.session(),
        entries,
        slice: None,
    };
    let client1 = clients.remove(0);
    assert_eq!(
        client1.share_keys(&roster, &mut rng).map(|_| ()),
        Err(by_server(
            Round::ShareKeys,
            Misbehavior::NonCanonicalKey { peer: ClientId(3) }
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// Finding 6 (LOW): mask seeds outside zeroizing storage.
// ---------------------------------------------------------------------------------------------

/// `Probe::<T>::is_clone()` is the inherent method (true) when `T: Clone`, and the trait's
/// default (false) otherwise: a run-time view of a compile-time fact.
struct Probe<T>(PhantomData<T>);

trait NotClone {
    fn is_clone(&self) -> bool {
        false
    }
}

impl<T> NotClone for Probe<T> {}

impl<T: Clone> Probe<T> {
    #[allow(dead_code)]
    fn is_clone(&self) -> bool {
        true
    }
}

#[test]
fn mask_seeds_cannot_be_copied() {
    // The probe works: a Clone type is seen as one.
    assert!(Probe::<Vec<u8>>(PhantomData).is_clone());
    // A seeded mask is not Clone (its seed is private; see the compile_fail example on
    // `SeededMask`), so the only copies are those the library makes and wipes.
    assert!(!Probe::<SeededMask>(PhantomData).is_clone());
    let mask = SeededMask::new(&[7; 32], Sign::Sub);
    assert_eq!(mask.sign(), Sign::Sub);
    assert_eq!(format!("{mask:?}"), "SeededMask { sign: Sub, .. }");
}
