//! SecAgg+ (Bell et al., CCS 2020) at a fixed degree k = 20 and vectors of d = 10,000
//! elements of `Z_{2^32}`:
//!
//! * `secagg_plus_client`: one client's `share_keys` and `masked_input` against the number of
//!   clients n = 100, 1,000, 10,000. Its masking work is O(k·d) whatever n; `share_keys` also
//!   checks its roster view (k + 1 entries and their proof, O(k log n)) and finds its
//!   neighbours (a Fisher-Yates shuffle of the n ranks up to 2^16 members), and in the
//!   malicious-server mode (`share_keys_malicious`) verifies the view's k + 1 Ed25519
//!   signatures.
//!   `share_keys_by_k` and `masked_input_by_k`: the same against k = 10, 20, 40 at n = 1,000.
//! * `secagg_plus_server`: the server's `Unmasking::finish` against n = 100, 1,000 and the
//!   dropout rate (0, 10%, 30% of the clients silent from MaskedInputCollection on, the case
//!   where their pairwise masks must be removed); and at 10% dropout against d = 1,000 to
//!   100,000 (n = 100) and against k = 10, 20, 40 (n = 300).
//!
//! * `secagg_plus_scale`: one client's ShareKeys at n = 1,000 and n = 10^6 with the finder's
//!   `(k, t)` for 5% dropout and 5% corruption, both threat models (`cargo bench --bench
//!   secagg_plus -- scale`; the setup at n = 10^6 builds the server's tree and ring, seconds);
//!   and the server's close of AdvertiseKeys (tree and ring, `server_close`) and one member's
//!   view (`server_roster_for`) at the same sizes.
//!
//! Run with `cargo bench --bench secagg_plus` (one to three minutes after the build, most of it
//! setup; criterion warns that ten samples of the slowest steps overrun their target time, as
//! intended); medians are in
//! `target/criterion/secagg_plus_*/*/*/new/estimates.json`. Every measured step's inputs are
//! built outside the timed region: client states are single-use, so a client is rebuilt with
//! the same keys (from its own seeded rng) for every iteration, against a roster built once;
//! the server's messages are recorded once per configuration and replayed into a fresh server
//! for every iteration of `finish`.

// A bench is a measurement harness, not library code: a failed setup should stop the run
// loudly (`unwrap`/`expect`), and `criterion_group!` generates undocumented public items.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use core::cell::RefCell;
use core::hint::black_box;
use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};

use chacha20::ChaCha20Rng;
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group,
    criterion_main,
};
use rand_core::SeedableRng;
use secagg::harness::{Fate, Harness, copy_response};
use secagg::protocol::graph::{Graph, roster_digest};
use secagg::protocol::{client, messages as msg, server};
use secagg::wire::ClientMessage;
use secagg::{
    ClientId, IdentityKey, Modulus, Params, Pki, PlainInput, Round, SessionId, ThreatModel,
};

/// The degree: each client has 20 neighbours, so 21 share holders and t = 11.
const K: usize = 20;
/// The vector length.
const D: usize = 10_000;

fn params(n: usize, threat: ThreatModel) -> Params {
    params_with(n, K, D, threat)
}

fn params_with(n: usize, k: usize, d: usize, threat: ThreatModel) -> Params {
    Params::builder(
        SessionId([0x5b; 32]),
        n,
        Modulus::power_of_two(32).unwrap(),
        d,
    )
    .neighbours(k)
    .threat_model(threat)
    .build()
    .unwrap()
}

fn ids(n: usize) -> Vec<ClientId> {
    (1..=n)
        .map(|i| ClientId(u32::try_from(i).unwrap()))
        .collect()
}

/// Client `u`'s own randomness: rebuilding a client from it gives the keys the roster holds.
fn client_rng(u: ClientId) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(1_000_000 + u64::from(u.0))
}

fn identity_key(u: ClientId) -> IdentityKey {
    let mut seed = [0x6d; 32];
    seed[..4].copy_from_slice(&u.0.to_be_bytes());
    IdentityKey::from_seed(&seed)
}

/// Client `u` of a session with `params`, with its keys from its own seeded rng.
fn advertise(
    params: &Params,
    pki: Option<&Pki>,
    u: ClientId,
) -> (client::AdvertiseKeys, msg::AdvertiseKeys) {
    let mut rng = client_rng(u);
    match pki {
        Some(pki) => {
            let identity = client::Identity::new(identity_key(u), pki.clone());
            client::AdvertiseKeys::with_identity(params, u, identity, &mut rng)
        }
        None => client::AdvertiseKeys::new(params, u, &mut rng),
    }
}

/// A deterministic input below 2^16 for client `u`.
fn input(u: ClientId, d: usize) -> PlainInput {
    let base = u64::from(u.0);
    PlainInput::new(
        (0..u64::try_from(d).unwrap())
            .map(|i| (base * 7919 + i) & 0xffff)
            .collect(),
    )
}

/// The graph of the whole roster `entries`, as the server derives it.
fn graph_of(params: &Params, entries: &[msg::AdvertiseKeys]) -> Graph {
    let members: Vec<ClientId> = entries.iter().map(|e| e.sender).collect();
    Graph::new(
        params.neighbourhood(),
        params.session(),
        &roster_digest(entries),
        &members,
    )
}

/// A session of n clients as one client sees it: the server after AdvertiseKeys (which
/// gives each client its roster view), built once.
struct Population {
    params: Params,
    pki: Option<Pki>,
    server: server::ShareKeys,
    graph: Graph,
}

impl Population {
    fn new(n: usize, threat: ThreatModel) -> Self {
        Self::with(params(n, threat))
    }

    fn with(params: Params) -> Self {
        let n = params.clients();
        let threat = params.threat_model();
        let pki = (threat == ThreatModel::Malicious).then(|| {
            Pki::new(
                ids(n)
                    .into_iter()
                    .map(|u| (u, identity_key(u).public_key())),
            )
        });
        // The server checks that signatures are present; every client verifies them.
        let mut srv = server::AdvertiseKeys::new(&params);
        let mut entries = Vec::new();
        for u in ids(n) {
            let (_, out) = advertise(&params, pki.as_ref(), u);
            entries.push(out.clone());
            srv.receive(u, out).unwrap();
        }
        let server = srv.close_lazy().unwrap();
        let graph = graph_of(&params, &entries);
        Self {
            params,
            pki,
            server,
            graph,
        }
    }

    /// What `u` receives in ShareKeys: its view of the roster.
    fn roster(&self, u: ClientId) -> msg::Roster {
        self.server.roster_for(u).unwrap()
    }

    /// Client `u` with the keys the roster holds for it.
    fn advertise(&self, u: ClientId) -> (client::AdvertiseKeys, msg::AdvertiseKeys) {
        advertise(&self.params, self.pki.as_ref(), u)
    }

    /// The shares `u`'s neighbours sealed to it, as the server delivers them.
    fn delivery_for(&self, u: ClientId) -> msg::SharesDelivery {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut roster_signatures = Vec::new();
        let sealed = self
            .graph
            .neighbours(u)
            .into_iter()
            .map(|v| {
                let (c, _) = self.advertise(v);
                let (_, out) = c.share_keys(&self.roster(v), &mut rng).unwrap();
                // Malicious mode: each neighbour's signature over the roster goes along.
                roster_signatures.extend(out.roster_signature.map(|s| (v, s)));
                out.sealed.into_iter().find(|s| s.recipient == u).unwrap()
            })
            .collect();
        msg::SharesDelivery {
            session: *self.params.session(),
            recipient: u,
            sealed,
            roster_signatures,
        }
    }
}

/// Client 1's ShareKeys and MaskedInputCollection in `pop`, as `share_keys{suffix}/x` and
/// `masked_input{suffix}/x`.
fn client_rounds(
    group: &mut BenchmarkGroup<'_, WallTime>,
    pop: &Population,
    suffix: &str,
    x: usize,
) {
    let u = ClientId(1);
    let roster = pop.roster(u);
    // ShareKeys: check the roster view and derive the neighbourhood, k agreements, two
    // Shamir splits over k + 1 holders, k seals.
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    group.bench_with_input(
        BenchmarkId::new(format!("share_keys{suffix}"), x),
        &x,
        |b, _| {
            b.iter_batched(
                || pop.advertise(u).0,
                |c| c.share_keys(black_box(&roster), &mut rng).unwrap(),
                BatchSize::SmallInput,
            );
        },
    );

    // MaskedInputCollection: open k ciphertexts, k agreements, k + 1 masks of d elements.
    let delivery = pop.delivery_for(u);
    let x_u = input(u, pop.params.vector_len());
    let mut setup_rng = ChaCha20Rng::seed_from_u64(8);
    group.bench_with_input(
        BenchmarkId::new(format!("masked_input{suffix}"), x),
        &x,
        |b, _| {
            b.iter_batched(
                || {
                    let c = pop.advertise(u).0;
                    c.share_keys(&roster, &mut setup_rng).unwrap().0
                },
                |c| c.masked_input(black_box(&delivery), &x_u).unwrap(),
                BatchSize::SmallInput,
            );
        },
    );
}

/// One client's rounds against n, at fixed k and d.
fn client(c: &mut Criterion) {
    let mut group = c.benchmark_group("secagg_plus_client");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600));
    let u = ClientId(1);
    for n in [100usize, 1_000, 10_000] {
        let pop = Population::new(n, ThreatModel::HonestButCurious);
        assert_eq!(pop.params.threshold(), 11);
        client_rounds(&mut group, &pop, "", n);
    }
    // Against k, at n = 1,000 and d = 10,000: k agreements and seals in ShareKeys, k
    // agreements and k + 1 masks in MaskedInputCollection.
    for k in [10usize, 20, 40] {
        let pop = Population::with(params_with(1_000, k, D, ThreatModel::HonestButCurious));
        client_rounds(&mut group, &pop, "_by_k", k);
    }
    // Against a malicious server, ShareKeys also verifies the signature of every entry of
    // its view.
    for n in [100usize, 1_000, 10_000] {
        let pop = Population::new(n, ThreatModel::Malicious);
        let roster = pop.roster(u);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        group.bench_with_input(BenchmarkId::new("share_keys_malicious", n), &n, |b, _| {
            b.iter_batched(
                || pop.advertise(u).0,
                |c| c.share_keys(black_box(&roster), &mut rng).unwrap(),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// The client messages of one honest-but-curious session up to the server's `finish`.
struct Transcript {
    params: Params,
    advertised: Vec<(ClientId, msg::AdvertiseKeys)>,
    shares: Vec<(ClientId, msg::ShareKeys)>,
    masked: Vec<(ClientId, msg::MaskedInput)>,
    responses: Vec<(ClientId, msg::UnmaskingResponse)>,
    dropped: usize,
}

/// `percent` of the n clients, spread evenly over the ids, that go silent after ShareKeys,
/// skipping any whose loss would leave some neighbourhood below t (with k = 20, t = 11, a
/// uniformly random 30% would do that to a few of 1,000 neighbourhoods, and the session would
/// abort: k = 20 is too small for that rate). The cost of `finish` depends on how many drop
/// and on their surviving neighbours, not on which they are.
fn dropping(params: &Params, graph: &Graph, percent: usize) -> BTreeSet<ClientId> {
    let n = params.clients();
    let want = (n * percent + 50) / 100;
    let spare = params.share_holders() - params.threshold();
    let mut lost: BTreeMap<ClientId, usize> = BTreeMap::new();
    let mut dropped = BTreeSet::new();
    let order = (0..n).map(|i| ClientId(u32::try_from(1 + (i * 37) % n).unwrap()));
    for u in order {
        if dropped.len() == want {
            break;
        }
        let mut h = graph.neighbours(u);
        h.insert(u);
        if h.iter().all(|v| lost.get(v).copied().unwrap_or(0) < spare) {
            for v in h {
                *lost.entry(v).or_default() += 1;
            }
            dropped.insert(u);
        }
    }
    assert_eq!(dropped.len(), want, "{percent}% of {n}");
    dropped
}

impl Transcript {
    /// Runs the session on the harness (each client drawing from [`client_rng`]) and keeps
    /// every message the server received.
    fn record(params: Params, percent: usize) -> Self {
        let n = params.clients();
        let d = params.vector_len();
        let sent = RefCell::new(Self {
            params: params.clone(),
            advertised: Vec::with_capacity(n),
            shares: Vec::with_capacity(n),
            masked: Vec::with_capacity(n),
            responses: Vec::with_capacity(n),
            dropped: 0,
        });
        let inputs = ids(n).into_iter().map(|u| input(u, d)).collect();
        let rngs = ids(n).into_iter().map(|u| (u, client_rng(u))).collect();
        let mut session = Harness::new(&params, inputs, 11)
            .with_client_rngs(rngs)
            .on_client_message(|_, u, m| {
                let mut t = sent.borrow_mut();
                match m {
                    ClientMessage::AdvertiseKeys(m) => t.advertised.push((u, m.clone())),
                    ClientMessage::ShareKeys(m) => t.shares.push((u, m.clone())),
                    ClientMessage::MaskedInput(m) => t.masked.push((u, m.clone())),
                    ClientMessage::UnmaskingResponse(m) => t.responses.push((u, copy_response(m))),
                    ClientMessage::ConsistencySignature(_) => {}
                }
                Fate::Deliver
            });
        session.step().unwrap();
        let entries: Vec<msg::AdvertiseKeys> = sent
            .borrow()
            .advertised
            .iter()
            .map(|(_, m)| m.clone())
            .collect();
        let dropped = dropping(&params, &graph_of(&params, &entries), percent);
        for &u in &dropped {
            // Silent after ShareKeys.
            session.schedule_mut().drop_from(u, Round::MaskedInput);
        }
        // The recorded session finishes, with every survivor's input.
        let out = session.run().unwrap();
        assert!(session.rejected().is_empty());
        assert_eq!(out.included.len(), n - dropped.len());
        drop(session);
        let mut t = sent.into_inner();
        t.dropped = dropped.len();
        t
    }

    /// A fresh server that has received every recorded message, ready to `finish`.
    fn replay(&self) -> server::Unmasking {
        let mut srv = server::AdvertiseKeys::new(&self.params);
        for (u, m) in &self.advertised {
            srv.receive(*u, m.clone()).unwrap();
        }
        let (mut srv, _) = srv.close().unwrap();
        for (u, m) in &self.shares {
            srv.receive(*u, m.clone()).unwrap();
        }
        let (mut srv, _) = srv.close().unwrap();
        for (u, m) in &self.masked {
            srv.receive(*u, m.clone()).unwrap();
        }
        let (mut srv, _) = srv.close().unwrap();
        for (u, r) in &self.responses {
            srv.receive(*u, copy_response(r)).unwrap();
        }
        srv
    }
}

/// The server's `Unmasking::finish` against n and the dropout rate, at fixed k and d: one
/// self-mask per survivor, and per dropped client a key rebuilt and checked plus one pairwise
/// mask per surviving neighbour.
fn server(c: &mut Criterion) {
    let mut group = c.benchmark_group("secagg_plus_server");
    // `finish` takes from milliseconds to a few hundred; each iteration needs a fresh replayed
    // server (outside the timed region). Ten samples of one or a few iterations each.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(500));
    // Against n and the dropout rate (k = 20, d = 10,000); against d (n = 100, k = 20) and
    // against k (n = 300, d = 10,000) at 10% dropout.
    let mut shapes = Vec::new();
    for n in [100usize, 1_000] {
        for percent in [0usize, 10, 30] {
            shapes.push((
                format!("unmasking_finish_{percent}pct_dropout"),
                n,
                n,
                K,
                D,
                percent,
            ));
        }
    }
    for d in [1_000usize, 10_000, 100_000] {
        shapes.push((format!("unmasking_finish_by_d_n100_k{K}"), d, 100, K, d, 10));
    }
    for k in [10usize, 20, 40] {
        shapes.push((format!("unmasking_finish_by_k_n300_d{D}"), k, 300, k, D, 10));
    }
    for (name, x, n, k, d, percent) in shapes {
        let params = params_with(n, k, d, ThreatModel::HonestButCurious);
        let transcript = Transcript::record(params, percent);
        let expansions = transcript.replay().finish().unwrap().mask_expansions;
        eprintln!(
            "n = {n}, k = {k}, d = {d}, {percent}% dropout: {} dropped, server expands \
             {expansions} masks",
            transcript.dropped
        );
        group.bench_with_input(BenchmarkId::new(name, x), &x, |b, _| {
            b.iter_batched(
                || transcript.replay(),
                |srv| srv.finish().unwrap(),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

/// The entry of a client that is not measured: distinct canonical keys derived from its id
/// (any valid key works for a peer: the measured client only agrees keys with it), and a
/// placeholder signature where one is required (the server here has no PKI and checks only
/// that one is present; the measured client's neighbours are re-signed below).
fn stand_in(params: &Params, v: ClientId) -> msg::AdvertiseKeys {
    let key = |tag: u8| {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&v.0.to_be_bytes());
        k[4] = tag;
        k[5..9].copy_from_slice(&v.0.wrapping_mul(0x9e37_79b9).to_le_bytes());
        k[31] = 0x40;
        secagg::PublicKey(k)
    };
    msg::AdvertiseKeys {
        session: *params.session(),
        sender: v,
        share_public_key: key(1),
        mask_public_key: key(2),
        self_mask_commitment: [7; 32],
        signature: (params.threat_model() == ThreatModel::Malicious)
            .then_some(secagg::Signature([0; 64])),
    }
}

/// One client's ShareKeys against n = 1,000 and n = 10^6 at the finder's `(k, t)` for 5%
/// dropout and 5% corruption (`secagg params`), in both threat models: the view it receives
/// (its bytes are printed) and `share_keys` on it. Only client 1 has real keys; the other
/// entries are stand-ins (`stand_in`), and client 1's neighbours are signed with their
/// identity keys after the server built the tree (signatures are not in the tree).
fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("secagg_plus_scale");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600));
    let u = ClientId(1);
    for (n, k, t, threat, name) in [
        (
            1_000usize,
            30usize,
            17usize,
            ThreatModel::HonestButCurious,
            "share_keys",
        ),
        (
            1_000_000,
            38,
            22,
            ThreatModel::HonestButCurious,
            "share_keys",
        ),
        (
            1_000,
            52,
            37,
            ThreatModel::Malicious,
            "share_keys_malicious",
        ),
        (
            1_000_000,
            78,
            55,
            ThreatModel::Malicious,
            "share_keys_malicious",
        ),
    ] {
        let params = Params::builder(
            SessionId([0x5c; 32]),
            n,
            Modulus::power_of_two(32).unwrap(),
            16,
        )
        .neighbours(k)
        .threshold(t)
        .threat_model(threat)
        .build()
        .unwrap();
        let malicious = threat == ThreatModel::Malicious;
        let own_identity = || client::Identity::new(identity_key(u), Pki::new([]));
        let mut srv = server::AdvertiseKeys::new(&params);
        let own = if malicious {
            client::AdvertiseKeys::with_identity(&params, u, own_identity(), &mut client_rng(u)).1
        } else {
            client::AdvertiseKeys::new(&params, u, &mut client_rng(u)).1
        };
        srv.receive(u, own.clone()).unwrap();
        let stand_ins = || (2..=u32::try_from(n).unwrap()).map(ClientId);
        for v in stand_ins() {
            srv.receive(v, stand_in(&params, v)).unwrap();
        }
        let server = srv.close_lazy().unwrap();
        let mut view = server.roster_for(u).unwrap();
        if !malicious {
            // The server's side of the round, honest-but-curious: closing AdvertiseKeys
            // (the roster tree and the whole ring), then one member's view.
            group.bench_with_input(BenchmarkId::new("server_close", n), &n, |b, _| {
                b.iter_batched(
                    || {
                        let mut srv = server::AdvertiseKeys::new(&params);
                        srv.receive(u, own.clone()).unwrap();
                        for v in stand_ins() {
                            srv.receive(v, stand_in(&params, v)).unwrap();
                        }
                        srv
                    },
                    |srv| srv.close_lazy().unwrap(),
                    BatchSize::PerIteration,
                );
            });
            group.bench_with_input(BenchmarkId::new("server_roster_for", n), &n, |b, _| {
                b.iter(|| server.roster_for(black_box(ClientId(2))).unwrap());
            });
        }
        drop(server);
        let mut pki = Vec::new();
        for e in &mut view.entries {
            pki.push((e.sender, identity_key(e.sender).public_key()));
            if malicious && e.sender != u {
                e.signature = Some(identity_key(e.sender).sign_advertisement(e));
            }
        }
        let pki = Pki::new(pki);
        println!(
            "secagg_plus_scale/{name}/{n}: k = {k}, t = {t}: the view is {} bytes ({} entries, \
             a proof of {} bytes)",
            secagg::wire::to_bytes(&view).len(),
            view.entries.len(),
            view.slice.as_ref().map_or(0, |s| s.proof.len()),
        );
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
            b.iter_batched(
                || {
                    let mut rng = client_rng(u);
                    if malicious {
                        let identity = client::Identity::new(identity_key(u), pki.clone());
                        client::AdvertiseKeys::with_identity(&params, u, identity, &mut rng).0
                    } else {
                        client::AdvertiseKeys::new(&params, u, &mut rng).0
                    }
                },
                |c| c.share_keys(black_box(&view), &mut rng).unwrap(),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = client, server, scale
}
criterion_main!(benches);
