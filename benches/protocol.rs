//! Cost of the protocol: whole simulated sessions (`session`), one client's rounds versus the
//! vector length (`client`), and the server's unmasking versus `n` and the dropout rate
//! (`server`).
//!
//! Run with `cargo bench --bench protocol`; add `-- --quick` for a fast pass. Every state a
//! measured step needs is built outside the timed region by running the earlier rounds
//! through the per-round API (states are single-use and not `Clone`).

// A bench is a measurement harness, not library code: a failed setup should stop the run
// loudly (`unwrap`/`expect`), and `criterion_group!` generates undocumented public items.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core::hint::black_box;
use core::time::Duration;
use std::collections::BTreeSet;
use std::time::Instant;

use chacha20::ChaCha20Rng;
use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rand_core::SeedableRng;

use secagg::harness::Harness;
use secagg::protocol::messages::SharesDelivery;
use secagg::protocol::session::{ClientSession, ServerSession, roster_for};
use secagg::protocol::{client, server};
use secagg::sim::Simulation;
use secagg::wire::ServerMessage;
use secagg::{ClientId, Modulus, Params, PlainInput, Round, SessionId};

/// 32-bit elements, as in most deployments of 16-bit inputs summed over many clients.
fn modulus() -> Modulus {
    Modulus::power_of_two(32).unwrap()
}

fn params(n: usize, d: usize) -> Params {
    Params::new(
        SessionId([0xbe; 32]),
        n,
        Params::majority_threshold(n),
        modulus(),
        d,
    )
    .unwrap()
}

/// Client ids `1..=n`.
fn ids(n: usize) -> Vec<ClientId> {
    (1..=n)
        .map(|i| ClientId(u32::try_from(i).unwrap()))
        .collect()
}

/// `round(n * percent / 100)` clients, spread evenly over `1..=n`: a fixed, reproducible set.
fn dropping(n: usize, percent: usize) -> BTreeSet<ClientId> {
    let k = (n * percent + 50) / 100;
    (0..k)
        .map(|i| ClientId(u32::try_from(1 + i * n / k).unwrap()))
        .collect()
}

/// A deterministic input below 2^16 for client `id`.
fn input(id: ClientId, d: usize) -> PlainInput {
    let base = u64::from(id.0);
    PlainInput::new(
        (0..u64::try_from(d).unwrap())
            .map(|i| (base * 7919 + i) & 0xffff)
            .collect(),
    )
}

/// Every client that reaches MaskedInputCollection: its state, its delivery, its input.
struct AtMaskedInput {
    clients: Vec<(client::ShareKeys, SharesDelivery, PlainInput)>,
}

/// The session of `n` clients on the harness, each holding [`input`].
fn harness<'h>(n: usize, d: usize, seed: u64) -> Harness<'h> {
    let inputs = ids(n).into_iter().map(|id| input(id, d)).collect();
    Harness::new(&params(n, d), inputs, seed)
}

/// Runs AdvertiseKeys and ShareKeys for `n` clients, all of which take part.
fn through_share_keys(n: usize, d: usize, seed: u64) -> AtMaskedInput {
    let mut session = harness(n, d, seed);
    session.step().unwrap();
    session.step().unwrap();
    assert!(session.rejected().is_empty());
    let clients = ids(n)
        .into_iter()
        .map(|id| match session.take_client(id) {
            Some((ClientSession::ShareKeys(c), Some(ServerMessage::SharesDelivery(delivery)))) => {
                assert_eq!(delivery.recipient, id);
                (c, delivery, input(id, d))
            }
            _ => panic!("client {id} holds its delivery"),
        })
        .collect();
    AtMaskedInput { clients }
}

/// Runs the session up to the server's `finish`: the clients in `dropped` go silent from
/// MaskedInputCollection on (the costly case: their pairwise masks must be removed), and
/// every survivor answers the unmasking request.
fn through_unmasking(n: usize, d: usize, dropped: &BTreeSet<ClientId>) -> server::Unmasking {
    let mut session = harness(n, d, 7);
    for &id in dropped {
        session.schedule_mut().drop_from(id, Round::MaskedInput);
    }
    for _ in 0..3 {
        session.step().unwrap();
    }
    session.send().unwrap();
    assert!(session.rejected().is_empty());
    let Some(ServerSession::Unmasking(server)) = session.take_server() else {
        panic!("the server collects unmasking responses");
    };
    server
}

/// Whole sessions through the in-memory driver: n clients, d = 10,000, 10% dropping out at
/// MaskedInputCollection.
fn session(c: &mut Criterion) {
    let d = 10_000;
    let mut group = c.benchmark_group("session");
    // A session costs from tens of milliseconds (n = 10) to seconds (n = 100): ten samples of
    // one run each at most, so the group's time is set by the sample count. Criterion warns
    // that ten samples do not fit in the target time for the larger n; that is expected.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(500));
    for n in [10usize, 50, 100] {
        let inputs = ids(n).into_iter().map(|id| input(id, d)).collect();
        let mut sim = Simulation::new(params(n, d), inputs);
        for id in dropping(n, 10) {
            sim.drop_from(id, Round::MaskedInput);
        }
        let check = sim.run(1, &mut |_, _, _| {});
        let out = check.outcome.expect("the benchmarked session succeeds");
        assert_eq!(out.sum, sim.plain_sum(&out.included));
        group.bench_with_input(BenchmarkId::new("simulate_10pct_dropout", n), &n, |b, _| {
            b.iter(|| sim.run(black_box(1), &mut |_, _, _| {}).outcome.unwrap());
        });
    }
    group.finish();
}

/// One client's cost per round, n = 20: `advertise_keys` and `share_keys` (independent of
/// d), and `masked_input` versus d.
fn client(c: &mut Criterion) {
    let n = 20;
    let mut group = c.benchmark_group("client");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    // AdvertiseKeys: two key pairs, the self-mask seed and its commitment.
    let params = params(n, 1_000);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    group.bench_function(BenchmarkId::new("advertise_keys", n), |b| {
        b.iter(|| client::AdvertiseKeys::new(&params, ClientId(1), &mut rng));
    });

    // ShareKeys: n - 1 agreements, two Shamir splits over n holders and n - 1 seals. Client i
    // draws its keys from the rng seeded 1000 + i, so client 1's state can be rebuilt for
    // every iteration with the keys the fixed roster holds.
    let client_rng = |id: ClientId| ChaCha20Rng::seed_from_u64(1000 + u64::from(id.0));
    let mut srv = server::AdvertiseKeys::new(&params);
    for id in ids(n) {
        let (_, msg) = client::AdvertiseKeys::new(&params, id, &mut client_rng(id));
        srv.receive(id, msg).unwrap();
    }
    let (_, rosters) = srv.close().unwrap();
    let roster = roster_for(&rosters, ClientId(1)).unwrap();
    group.bench_function(BenchmarkId::new("share_keys", n), |b| {
        b.iter_batched(
            || client::AdvertiseKeys::new(&params, ClientId(1), &mut client_rng(ClientId(1))).0,
            |c| c.share_keys(roster, &mut rng).unwrap(),
            BatchSize::SmallInput,
        );
    });

    // MaskedInputCollection: open n - 1 ciphertexts, n - 1 agreements, then n masks of d
    // elements. One setup runs the earlier rounds for all n clients, and each of their
    // masked_input calls is timed on its own (all n do the same work).
    for d in [1_000usize, 100_000] {
        group.throughput(Throughput::Elements(u64::try_from(d).unwrap()));
        group.bench_with_input(BenchmarkId::new("masked_input", d), &d, |b, &d| {
            let mut seed = 100;
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    seed += 1;
                    let at = through_share_keys(n, d, seed);
                    let mut outputs = Vec::with_capacity(n);
                    for (c, delivery, input) in at.clients {
                        if done == iters {
                            break;
                        }
                        let start = Instant::now();
                        let out = c.masked_input(&delivery, &input).unwrap();
                        total += start.elapsed();
                        outputs.push(out);
                        done += 1;
                    }
                    // The outputs and the server state are dropped here, untimed.
                    drop(outputs);
                }
                total
            });
        });
    }
    group.finish();
}

/// The server's last step, `Unmasking::finish`: rebuild the survivors' self-mask seeds and the
/// dropped clients' mask keys, and remove every mask, versus n and the dropout rate.
fn server(c: &mut Criterion) {
    let d = 10_000;
    let mut group = c.benchmark_group("server");
    // Every iteration needs a fresh session run up to Unmasking (about a second of client
    // work at n = 100, outside the timed region), while `finish` itself takes from under a
    // millisecond to a few hundred. So: one iteration per sample, ten samples, and a token
    // time budget; criterion's warning that ten samples do not fit in it is expected.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    for n in [10usize, 50, 100] {
        for percent in [0usize, 10, 30] {
            let dropped = dropping(n, percent);
            let out = through_unmasking(n, d, &dropped).finish().unwrap();
            assert_eq!(out.included.len(), n - dropped.len());
            group.bench_with_input(
                BenchmarkId::new(format!("unmasking_finish_{percent}pct_dropout"), n),
                &n,
                |b, &n| {
                    b.iter_batched(
                        || through_unmasking(n, d, &dropped),
                        |srv| srv.finish().unwrap(),
                        BatchSize::PerIteration,
                    );
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = session, client, server
}
criterion_main!(benches);
