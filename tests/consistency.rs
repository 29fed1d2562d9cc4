//! ConsistencyCheck over the survivor tree (`docs/PROTOCOL.md` §7, §12.2, §13.1): on a sparse
//! graph each survivor receives the statuses of exactly itself and its neighbours with a
//! proof, and signs the survivor digest. What a client refuses, what a server showing two
//! digests obtains, what a whole session sums to, and how many bytes a request takes.
//!
//! The sessions here run the per-round API with an honest server (`server::*`); a test plays
//! the malicious server by building other survivor trees ([`SurvivorTree`]) and slices of
//! them, as a server could.

use std::collections::{BTreeMap, BTreeSet};

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::finder::{FinderInput, find};
use secagg::protocol::client::{self, Identity};
use secagg::protocol::graph::Graph;
use secagg::protocol::messages as msg;
use secagg::protocol::roster_tree::SurvivorTree;
use secagg::protocol::server;
use secagg::protocol::state::StateKey;
use secagg::sim::Simulation;
use secagg::wire::{self, Limits};
use secagg::{
    AbortReason, ClientId, Error, IdentityKey, Misbehavior, Modulus, Neighbourhood, Params, Party,
    Pki, PlainInput, Round, SessionId, ThreatModel,
};

const D: usize = 4;
const SESSION: SessionId = SessionId([0x5e; 32]);

fn modulus() -> Modulus {
    Modulus::power_of_two(16).unwrap()
}

fn ids(n: u32) -> Vec<ClientId> {
    (1..=n).map(ClientId).collect()
}

fn identity_key(u: ClientId) -> IdentityKey {
    let mut seed = [0x7c; 32];
    seed[..4].copy_from_slice(&u.0.to_be_bytes());
    IdentityKey::from_seed(&seed)
}

fn pki(n: u32) -> Pki {
    Pki::new(
        ids(n)
            .into_iter()
            .map(|u| (u, identity_key(u).public_key())),
    )
}

fn identity(u: ClientId, n: u32) -> Identity {
    Identity::new(identity_key(u), pki(n))
}

fn input_of(u: ClientId) -> Vec<u64> {
    (0..D as u64)
        .map(|i| (u64::from(u.0) * 31 + i) % 65_536)
        .collect()
}

fn by_server(round: Round, what: Misbehavior) -> Error {
    Error::Misbehaved {
        by: Party::Server,
        round,
        what,
    }
}

/// A malicious SecAgg+ session of `n` clients on a Harary graph of degree `k` (default
/// threshold, more than two thirds of the `k + 1` holders), run up to the masked inputs with
/// an honest server; the clients in `silent` send no ShareKeys message.
struct Masked {
    n: u32,
    params: Params,
    /// The honest server, until a test closes the round.
    server: Option<server::MaskedInput>,
    clients: BTreeMap<ClientId, client::MaskedInput>,
    /// Each client's view (itself and its neighbours), from the roster it was sent.
    views: BTreeMap<ClientId, Vec<ClientId>>,
}

fn masked(n: u32, k: usize, silent: &[ClientId], seed: u64) -> Masked {
    let params = Params::builder(SESSION, n as usize, modulus(), D)
        .threat_model(ThreatModel::Malicious)
        .neighbours(k)
        .build()
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut srv = server::AdvertiseKeys::with_pki(&params, pki(n));
    let mut advertised = BTreeMap::new();
    for u in ids(n) {
        let (c, out) = client::AdvertiseKeys::with_identity(&params, u, identity(u, n), &mut rng);
        srv.receive(u, out).unwrap();
        advertised.insert(u, c);
    }
    let mut srv = srv.close_lazy().unwrap();
    let mut sharing = BTreeMap::new();
    let mut views = BTreeMap::new();
    for (u, c) in advertised {
        let roster = srv.roster_for(u).unwrap();
        assert!(roster.slice.is_some(), "a sparse graph sends views");
        views.insert(u, roster.entries.iter().map(|e| e.sender).collect());
        let (c, out) = c.share_keys(&roster, &mut rng).unwrap();
        if !silent.contains(&u) {
            srv.receive(u, out).unwrap();
            sharing.insert(u, c);
        }
    }
    let (mut srv, deliveries) = srv.close().unwrap();
    let mut clients = BTreeMap::new();
    for d in deliveries {
        let u = d.recipient;
        let c = sharing.remove(&u).unwrap();
        let (c, out) = c.masked_input(&d, &PlainInput::new(input_of(u))).unwrap();
        srv.receive(u, out).unwrap();
        clients.insert(u, c);
    }
    Masked {
        n,
        params,
        server: Some(srv),
        clients,
        views,
    }
}

impl Masked {
    /// A copy of client `u`'s state (saved and restored), so that one state can answer
    /// many requests in a test.
    fn client(&self, u: ClientId) -> client::MaskedInput {
        let key = StateKey::new([3; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(u64::from(u.0));
        let bytes = self.clients[&u].seal(&key, &mut rng);
        client::MaskedInput::open(&bytes, &key, &self.params, u, Some(identity(u, self.n))).unwrap()
    }

    fn members(&self) -> Vec<ClientId> {
        ids(self.n)
    }
}

/// The request a server with the survivor tree over `members` (statuses from `survivors`)
/// sends `u` to reveal the statuses of `reveal`: its slice.
fn slice(
    u: ClientId,
    members: &[ClientId],
    survivors: &BTreeSet<ClientId>,
    reveal: &[ClientId],
) -> msg::ConsistencyRequest {
    let tree = SurvivorTree::new(members, survivors).unwrap();
    let (shown, dropped) = reveal.iter().partition(|v| survivors.contains(v));
    msg::ConsistencyRequest {
        session: SESSION,
        recipient: u,
        survivors: shown,
        slice: Some(msg::SurvivorSlice {
            dropped,
            proof: tree.prove(reveal),
        }),
    }
}

fn refusal(c: client::MaskedInput, request: &msg::ConsistencyRequest) -> Error {
    match c.consistency(request) {
        Ok(_) => panic!("the client signed {request:?}"),
        Err(e) => e,
    }
}

fn at_consistency(what: Misbehavior) -> Error {
    by_server(Round::Consistency, what)
}

/// Every malformed slice is refused with its typed error; the honest one is signed.
#[test]
fn a_client_refuses_every_wrong_slice() {
    let n = 16;
    let dropped_at_share_keys = ClientId(5);
    let mut s = masked(n, 6, &[dropped_at_share_keys], 1);
    let members = s.members();
    let u3: BTreeSet<ClientId> = s.clients.keys().copied().collect();
    assert!(!u3.contains(&dropped_at_share_keys));
    // A survivor whose neighbour dropped at ShareKeys.
    let u = *s
        .views
        .iter()
        .find(|(u, view)| **u != dropped_at_share_keys && view.contains(&dropped_at_share_keys))
        .unwrap()
        .0;
    let view = s.views[&u].clone();
    let (cons, requests) = s
        .server
        .take()
        .unwrap()
        .close_for_consistency()
        .map(|(c, r)| {
            (
                c,
                r.into_iter()
                    .map(|r| (r.recipient, r))
                    .collect::<BTreeMap<_, _>>(),
            )
        })
        .unwrap();
    let honest = requests[&u].clone();
    assert_eq!(honest, slice(u, &members, &u3, &view));
    assert_eq!(cons.request_for(u), Some(honest.clone()));
    // The honest slice: signed, over the server's survivor digest.
    let (_, signature) = s.client(u).consistency(&honest).unwrap();
    assert!(
        identity_key(u)
            .public_key()
            .verify_survivors(&SESSION, cons.survivor_digest(), &signature.signature)
            .is_ok()
    );

    // A tampered proof: truncated, extended, an unknown tag.
    let mut proofs = Vec::new();
    let good = honest.slice.as_ref().unwrap().proof.clone();
    proofs.push(good[..good.len() - 1].to_vec());
    proofs.push([good.as_slice(), &[0]].concat());
    proofs.push([&[9u8][..], &good[1..]].concat());
    for proof in proofs {
        let mut r = honest.clone();
        r.slice.as_mut().unwrap().proof = proof;
        assert_eq!(
            refusal(s.client(u), &r),
            at_consistency(Misbehavior::SurvivorBadProof)
        );
    }
    // A proof that also opens a client outside the neighbourhood.
    let outsider = *members.iter().find(|v| !view.contains(v)).unwrap();
    let mut wider = view.clone();
    wider.push(outsider);
    wider.sort_unstable();
    assert_eq!(
        refusal(s.client(u), &slice(u, &members, &u3, &wider)),
        at_consistency(Misbehavior::UnknownPeer { peer: outsider })
    );
    // A proof that leaves a neighbour out (one alive, one dropped at ShareKeys).
    for missing in [
        *view.iter().find(|v| **v != u && u3.contains(v)).unwrap(),
        dropped_at_share_keys,
    ] {
        let narrower: Vec<ClientId> = view.iter().copied().filter(|v| *v != missing).collect();
        assert_eq!(
            refusal(s.client(u), &slice(u, &members, &u3, &narrower)),
            at_consistency(Misbehavior::PeerUnaccounted { peer: missing })
        );
    }
    // The neighbour that dropped at ShareKeys shown as a survivor.
    let mut revived = u3.clone();
    revived.insert(dropped_at_share_keys);
    assert_eq!(
        refusal(s.client(u), &slice(u, &members, &revived, &view)),
        at_consistency(Misbehavior::PeerReappeared {
            peer: dropped_at_share_keys
        })
    );
    // The client itself shown dropped.
    let mut without_u = u3.clone();
    without_u.remove(&u);
    assert_eq!(
        refusal(s.client(u), &slice(u, &members, &without_u, &view)),
        at_consistency(Misbehavior::SelfNotSurvivor)
    );
    // A survivor tree over a roster of another size n' (one more member, outside the view).
    let mut more = members.clone();
    more.push(ClientId(1_000));
    let mut more_u3 = u3.clone();
    more_u3.insert(ClientId(1_000));
    assert_eq!(
        refusal(s.client(u), &slice(u, &more, &more_u3, &view)),
        at_consistency(Misbehavior::SurvivorWrongSize { have: 17, need: 16 })
    );
    // One client both survived and dropped.
    let mut twice = honest.clone();
    let again = *view.iter().find(|v| **v != u && u3.contains(v)).unwrap();
    twice.slice.as_mut().unwrap().dropped.push(again);
    assert_eq!(
        refusal(s.client(u), &twice),
        at_consistency(Misbehavior::RepeatedId { peer: again })
    );
    // The whole survivor list to a client that holds only its view: it cannot build the
    // tree, so it cannot know the digest it would sign.
    let whole = msg::ConsistencyRequest {
        survivors: u3.iter().copied().collect(),
        slice: None,
        ..honest.clone()
    };
    assert_eq!(
        refusal(s.client(u), &whole),
        at_consistency(Misbehavior::SurvivorBadProof)
    );
    // Too few survivors in the neighbourhood (a valid tree): an abort, not a signature.
    let few: BTreeSet<ClientId> = u3
        .iter()
        .copied()
        .filter(|v| !view.contains(v) || *v == u)
        .collect();
    let have = 1;
    assert_eq!(
        refusal(s.client(u), &slice(u, &members, &few, &view)),
        Error::Abort(AbortReason::TooFewSurvivors {
            round: Round::Consistency,
            have,
            need: s.params.threshold(),
        })
    );
}

/// A server that shows neighbour `v` as survived to `u` and as dropped to `w` (two survivor
/// digests) cannot make `u` reveal `v`'s self-mask share and `w` its key share both: `w`
/// holds one signature over its digest (its own) and refuses.
#[test]
fn two_digests_cannot_unmask_a_client() {
    let n = 16;
    let s = masked(n, 6, &[], 2);
    let members = s.members();
    let u3: BTreeSet<ClientId> = s.clients.keys().copied().collect();
    let t = s.params.threshold();
    let v = ClientId(1);
    let holders_of_v = s.views[&v].clone();
    let (u, w) = {
        let mut others = holders_of_v.iter().copied().filter(|x| *x != v);
        (others.next().unwrap(), others.next().unwrap())
    };
    let mut without_v = u3.clone();
    without_v.remove(&v);
    // ConsistencyCheck: everyone is shown U_3 but w, which is shown v dropped.
    let mut digests = BTreeMap::new();
    let mut signatures = BTreeMap::new();
    let mut checked = BTreeMap::new();
    let key = StateKey::new([4; 32]);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for &x in s.clients.keys() {
        let shown = if x == w { &without_v } else { &u3 };
        let request = slice(x, &members, shown, &s.views[&x]);
        let (c, out) = s.client(x).consistency(&request).unwrap();
        digests.insert(
            x,
            SurvivorTree::new(&members, shown)
                .unwrap()
                .digest()
                .to_owned(),
        );
        signatures.insert(x, out.signature);
        checked.insert(x, c.seal(&key, &mut rng));
    }
    assert_ne!(digests[&u], digests[&w]);
    let restore = |x: ClientId| {
        client::Consistency::open(&checked[&x], &key, &s.params, x, Some(identity(x, n))).unwrap()
    };
    let request = |x: ClientId, dropped: &[ClientId], signers: &dyn Fn(ClientId) -> bool| {
        let view = &s.views[&x];
        msg::UnmaskingRequest {
            session: SESSION,
            recipient: x,
            survivors: view
                .iter()
                .copied()
                .filter(|y| !dropped.contains(y))
                .collect(),
            dropped: dropped.to_vec(),
            signatures: view
                .iter()
                .filter(|y| signers(**y))
                .map(|y| (*y, signatures[y]))
                .collect(),
        }
    };
    // u, shown v survived, holds t signatures over its digest and reveals v's self-mask share.
    let (_, response) = restore(u)
        .unmasking(&request(u, &[], &|y| digests[&y] == digests[&u]))
        .unwrap();
    assert!(response.self_mask_shares.iter().any(|(o, _)| *o == v));
    // w, shown v dropped, is asked for v's key share: with every signature of its
    // neighbourhood, the first over the other digest fails; with only those over its own
    // digest, it holds one.
    let first_other = *s.views[&w].iter().find(|y| **y != w).unwrap();
    assert_eq!(
        restore(w)
            .unmasking(&request(w, &[v], &|_| true))
            .unwrap_err(),
        by_server(
            Round::Unmasking,
            Misbehavior::BadSignature { peer: first_other }
        )
    );
    assert_eq!(
        restore(w)
            .unmasking(&request(w, &[v], &|y| digests[&y] == digests[&w]))
            .unwrap_err(),
        by_server(
            Round::Unmasking,
            Misbehavior::TooFewSignatures { have: 1, need: t }
        )
    );
    // And a client that signed U_3 refuses a request naming v dropped: the request
    // contradicts the statuses it verified.
    assert_eq!(
        restore(u)
            .unmasking(&request(u, &[v], &|y| digests[&y] == digests[&u]))
            .unwrap_err(),
        by_server(
            Round::Unmasking,
            Misbehavior::InconsistentSurvivors { peer: v }
        )
    );
}

/// A whole malicious SecAgg+ session of 200 clients (k = 40) with dropouts at every round:
/// the right sum, each consistency request a slice within its bound.
#[test]
fn malicious_secagg_plus_with_dropouts_at_every_round_sums_right() {
    let n = 200;
    let params = Params::builder(SESSION, n, modulus(), D)
        .threat_model(ThreatModel::Malicious)
        .neighbours(40)
        .min_roster(n - 2)
        .build()
        .unwrap();
    let mut sim = Simulation::seeded(params.clone(), 7).client_threads(1);
    let drops = [
        (Round::AdvertiseKeys, [3, 104]),
        (Round::ShareKeys, [41, 150]),
        (Round::MaskedInput, [77, 188]),
        (Round::Consistency, [12, 120]),
        (Round::Unmasking, [60, 170]),
    ];
    for (round, clients) in drops {
        for u in clients {
            sim.drop_from(ClientId(u), round);
        }
    }
    let report = sim.run(7, &mut |_, _, _| {});
    let output = report.outcome.unwrap();
    // U_3: everyone but those dropped before sending a masked input.
    assert_eq!(output.included.len(), n - 6);
    assert_eq!(output.sum, sim.plain_sum(&output.included));
    let consistency = report
        .rounds
        .iter()
        .find(|r| r.round == Round::Consistency)
        .unwrap();
    // Each survivor received a slice of the 41 statuses of its neighbourhood with its proof,
    // within the stated bound. (At this size the whole list, 43 + 4 |U_3| = 819 bytes, would
    // be shorter: a proof costs about 37 log2(n' / (k + 1)) bytes per status, so slices pay
    // off from a few thousand clients; a client holding only its view cannot use a whole
    // list, since it cannot build the survivor tree.)
    let got = consistency.bytes_received_per_client;
    assert!(
        (51 + 4 * 41) as f64 <= got && got <= slice_bound(40, n) as f64,
        "{got} bytes"
    );
    assert!(got <= Limits::for_params(&params).max_message_bytes as f64);
}

/// The stated bound on a slice of `k + 1` statuses among `n'` members: the statuses
/// (`51 + 4 (k + 1)` bytes with the header and counts) and a proof of at most
/// `(k + 1) (38 ceil(log2 n') + 39)` bytes: per revealed leaf, its tag and, at each of about
/// `log2 n'` levels where its path has a non-empty sibling, a branch byte and a 37-byte
/// opaque sibling (plus a small margin for the levels where random ids share a prefix).
fn slice_bound(k: usize, members: usize) -> usize {
    let levels = usize::try_from(members.next_power_of_two().trailing_zeros()).unwrap();
    51 + 4 * (k + 1) + (k + 1) * (38 * levels + 39)
}

/// The ConsistencyCheck request at n = 10^4 with `(k, t)` from the finder: `O(k log n)` bytes,
/// under the session's message limit and 32 KiB, where the whole list took 40 KB. Built as the
/// server builds it (`server::Consistency::request_for`): the survivor tree over the roster
/// and the view of the graph.
#[test]
fn a_slice_at_ten_thousand_clients_is_small() {
    let n = 10_000;
    let found = find(&FinderInput::new(n, 0.1, 0.05, ThreatModel::Malicious)).unwrap();
    let k = found.k;
    assert!(k + 1 < n, "the finder picks a sparse graph");
    let params = Params::builder(SESSION, n, modulus(), D)
        .threat_model(ThreatModel::Malicious)
        .neighbours(k)
        .threshold(found.t)
        .build()
        .unwrap();
    let limit = Limits::for_params(&params).max_message_bytes;
    // Ids 1..=n as the simulator numbers them, and ids spread over the whole u32 range.
    let spread = |i: u32| ClientId(i.wrapping_mul(2_654_435_761));
    for members in [(1..=10_000u32).map(ClientId).collect::<Vec<_>>(), {
        let mut m: Vec<ClientId> = (1..=10_000u32).map(spread).collect();
        m.sort_unstable();
        m
    }] {
        // A tenth dropped.
        let survivors: BTreeSet<ClientId> = members
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 10 != 3)
            .map(|(_, v)| *v)
            .collect();
        let graph = Graph::new(Neighbourhood::Harary { k }, &SESSION, &[0x42; 32], &members);
        let tree = SurvivorTree::new(&members, &survivors).unwrap();
        let mut largest = 0;
        for &u in survivors.iter().step_by(997) {
            let view: Vec<ClientId> = graph.view(u).into_iter().collect();
            assert_eq!(view.len(), k + 1);
            let (shown, dropped) = view.iter().partition(|v| survivors.contains(v));
            let request = msg::ConsistencyRequest {
                session: SESSION,
                recipient: u,
                survivors: shown,
                slice: Some(msg::SurvivorSlice {
                    dropped,
                    proof: tree.prove(&view),
                }),
            };
            let bytes = wire::to_bytes(&request).len();
            largest = largest.max(bytes);
        }
        let whole = 43 + 4 * survivors.len();
        eprintln!(
            "n = {n}, k = {k}, t = {}: largest slice {largest} bytes (bound {}, limit {limit}), whole list {whole} bytes",
            found.t,
            slice_bound(k, n)
        );
        assert!(largest <= slice_bound(k, n));
        assert!(largest <= limit);
        assert!(largest <= 32 * 1024);
        assert!(whole > 36_000);
    }
}

/// Known answers for the survivor digest from an independent implementation: Python 3
/// `hashlib`, written from `docs/PROTOCOL.md` §6.1 and §7 alone (the same script reproduces
/// the roster digest `a7634df5…862ec7` of §6.2).
#[test]
fn survivor_digest_known_answers() {
    let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let digest = |members: &[u32], dropped: &[u32]| {
        let members: Vec<ClientId> = members.iter().map(|&v| ClientId(v)).collect();
        let survivors: BTreeSet<ClientId> = members
            .iter()
            .copied()
            .filter(|v| !dropped.contains(&v.0))
            .collect();
        let tree = SurvivorTree::new(&members, &survivors).unwrap();
        assert_eq!(
            secagg::protocol::roster_tree::survivor_digest_of(&members, &survivors),
            Some(*tree.digest())
        );
        hex(*tree.digest())
    };
    let sixteen: Vec<u32> = (1..=16).collect();
    assert_eq!(
        digest(&sixteen, &[4, 9]),
        "d050616ef0bca724f7fc3e487ee829abbab0675fbdbe66db086bfd5ce6660f68"
    );
    assert_eq!(
        digest(&[3, 70, 1000, 65_536, 3_000_000_000, u32::MAX], &[1000]),
        "ecb54f7e129edf65cf6347b9075deb0e30d3a6e481a4087605186f1f5772ae01"
    );
}

/// The lazy ShareKeys close gives, recipient by recipient and in any order, exactly the
/// deliveries of the eager one (sealed pairs and roster signatures), each once, and the same
/// next state; a client silent in ShareKeys gets none.
#[test]
fn lazy_deliveries_are_the_eager_ones() {
    let n = 40;
    let params = Params::builder(SESSION, n as usize, modulus(), D)
        .threat_model(ThreatModel::Malicious)
        .neighbours(8)
        .build()
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut srv = server::AdvertiseKeys::with_pki(&params, pki(n));
    let mut advertised = Vec::new();
    for u in ids(n) {
        let (c, out) = client::AdvertiseKeys::with_identity(&params, u, identity(u, n), &mut rng);
        srv.receive(u, out).unwrap();
        advertised.push((u, c));
    }
    let mut srv = srv.close_lazy().unwrap();
    let silent = ClientId(5);
    for (u, c) in advertised {
        let roster = srv.roster_for(u).unwrap();
        let (_, out) = c.share_keys(&roster, &mut rng).unwrap();
        if u != silent {
            srv.receive(u, out).unwrap();
        }
    }
    let key = StateKey::new([4; 32]);
    let bytes = srv.seal(&key, &mut rng);
    let copy = server::ShareKeys::open(&bytes, &key, &params, Some(pki(n))).unwrap();
    let (eager_next, eager) = srv.close().unwrap();
    let (lazy_next, mut lazy) = copy.close_lazy().unwrap();
    let recipients: Vec<ClientId> = lazy.recipients().collect();
    assert_eq!(recipients.len(), n as usize - 1);
    assert!(!recipients.contains(&silent));
    assert_eq!(eager.len(), recipients.len());
    for d in eager.iter().rev() {
        assert!(!d.roster_signatures.is_empty());
        assert_eq!(lazy.take(d.recipient).as_ref(), Some(d));
        assert_eq!(lazy.take(d.recipient), None, "taken once");
    }
    assert_eq!(lazy.recipients().count(), 0);
    assert_eq!(lazy.take(silent), None);
    assert_eq!(
        eager_next.seal(&key, &mut ChaCha20Rng::seed_from_u64(1)),
        lazy_next.seal(&key, &mut ChaCha20Rng::seed_from_u64(1))
    );
}
