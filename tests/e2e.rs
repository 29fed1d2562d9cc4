//! Whole sessions through the in-memory driver: n in {3, 10, 100}, moduli from 2^1 to 2^64
//! and non-powers of two, with and without dropouts.
//!
//! Every run checks the sum two ways: against `Simulation::plain_sum` and against a sum
//! computed here in `u128` arithmetic, independently of the crate's modular code.

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::sim::Simulation;
use secagg::{ClientId, Modulus, Params, PlainInput, Round, SessionId};

/// `n` random input vectors of length `d` over `Z_m`.
fn random_inputs(n: usize, d: usize, m: Modulus, seed: u64) -> Vec<Vec<u64>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..d)
                .map(|_| u64::try_from(u128::from(rng.next_u64()) % m.value()).unwrap())
                .collect()
        })
        .collect()
}

/// `sum_{u in included} x_u mod m`, in `u128` so that nothing wraps before the reduction.
fn expected_sum(inputs: &[Vec<u64>], included: &[ClientId], m: Modulus) -> Vec<u64> {
    let d = inputs[0].len();
    (0..d)
        .map(|i| {
            let s = included.iter().fold(0u128, |acc, id| {
                let x = inputs[usize::try_from(id.0).unwrap() - 1][i];
                (acc + u128::from(x)) % m.value()
            });
            u64::try_from(s).unwrap()
        })
        .collect()
}

fn ids(range: impl IntoIterator<Item = u32>) -> Vec<ClientId> {
    range.into_iter().map(ClientId).collect()
}

/// The moduli every small run is checked with.
fn moduli() -> Vec<Modulus> {
    vec![
        Modulus::power_of_two(1).unwrap(),
        Modulus::power_of_two(16).unwrap(),
        Modulus::power_of_two(32).unwrap(),
        Modulus::power_of_two(64).unwrap(),
        Modulus::new(3).unwrap(),
        Modulus::new(1_000_003).unwrap(),
        Modulus::new(u64::MAX).unwrap(),
    ]
}

/// Runs one session and checks the output; returns the included ids.
fn run_and_check(
    n: usize,
    t: usize,
    m: Modulus,
    d: usize,
    drops: &[(u32, Round)],
    expected_included: &[ClientId],
    seed: u64,
) {
    let session = SessionId([u8::try_from(seed % 251).unwrap(); 32]);
    let params = Params::new(session, n, t, m, d).unwrap();
    let inputs = random_inputs(n, d, m, seed);
    let plain = inputs.iter().cloned().map(PlainInput::new).collect();
    let mut sim = Simulation::new(params, plain);
    for &(id, round) in drops {
        sim.drop_from(ClientId(id), round);
    }
    let report = sim.run(seed, &mut |_, _, _| {});
    let out = report
        .outcome
        .unwrap_or_else(|e| panic!("seed {seed}, n {n}, t {t}, {m:?}: {e}"));
    assert_eq!(out.included, expected_included, "seed {seed}, {m:?}");
    assert_eq!(out.sum, sim.plain_sum(&out.included), "seed {seed}, {m:?}");
    assert_eq!(
        out.sum,
        expected_sum(&inputs, &out.included, m),
        "seed {seed}, {m:?}"
    );
}

#[test]
fn three_clients_every_modulus() {
    for (k, m) in moduli().into_iter().enumerate() {
        let seed = 300 + u64::try_from(k).unwrap();
        run_and_check(3, 2, m, 50, &[], &ids(1..=3), seed);
    }
}

#[test]
fn three_clients_one_dropout_every_modulus() {
    for (k, m) in moduli().into_iter().enumerate() {
        let seed = 310 + u64::try_from(k).unwrap();
        // Client 2 sends its masked input but not its shares in Unmasking: it counts.
        run_and_check(3, 2, m, 50, &[(2, Round::Unmasking)], &ids(1..=3), seed);
        // Client 3 never sends its masked input: its pairwise masks are removed.
        run_and_check(3, 2, m, 50, &[(3, Round::MaskedInput)], &ids(1..=2), seed);
    }
}

#[test]
fn ten_clients_every_modulus() {
    for (k, m) in moduli().into_iter().enumerate() {
        let seed = 1000 + u64::try_from(k).unwrap();
        run_and_check(10, 6, m, 100, &[], &ids(1..=10), seed);
        run_and_check(10, 10, m, 20, &[], &ids(1..=10), seed + 50);
    }
}

#[test]
fn sum_with_dropouts_at_every_round() {
    for (k, m) in moduli().into_iter().enumerate() {
        let seed = 2000 + u64::try_from(k).unwrap();
        let drops = [
            (2, Round::AdvertiseKeys),
            (3, Round::ShareKeys),
            (4, Round::MaskedInput),
            (5, Round::Unmasking),
        ];
        run_and_check(10, 6, m, 100, &drops, &ids([1, 5, 6, 7, 8, 9, 10]), seed);
    }
}

#[test]
fn hundred_clients() {
    let m = Modulus::power_of_two(32).unwrap();
    run_and_check(100, 51, m, 1000, &[], &ids(1..=100), 4000);
}

#[test]
fn hundred_clients_with_dropouts_odd_modulus() {
    let m = Modulus::new(1_000_003).unwrap();
    let mut drops = Vec::new();
    for (k, id) in (11..=30).enumerate() {
        drops.push((id, [Round::ShareKeys, Round::MaskedInput][k % 2]));
    }
    drops.push((40, Round::AdvertiseKeys));
    drops.push((50, Round::Unmasking));
    let included: Vec<ClientId> = (1..=100)
        .filter(|id| {
            !drops
                .iter()
                .any(|&(d, r)| d == *id && r != Round::Unmasking)
        })
        .map(ClientId)
        .collect();
    assert_eq!(included.len(), 100 - 21);
    run_and_check(100, 51, m, 1000, &drops, &included, 4001);
}

#[test]
fn inputs_at_the_top_of_the_range_wrap() {
    // Every input is m - 1, so the sum wraps n - 1 times: -n mod m.
    for m in moduli() {
        let n = 5;
        let d = 33;
        let params = Params::new(SessionId([9; 32]), n, 3, m, d).unwrap();
        let inputs = (0..n)
            .map(|_| PlainInput::new(vec![m.max_element(); d]))
            .collect();
        let sim = Simulation::new(params, inputs);
        let out = sim.run(77, &mut |_, _, _| {}).outcome.unwrap();
        assert_eq!(out.included, ids(1..=5));
        let want = u64::try_from((u128::from(m.max_element()) * 5) % m.value()).unwrap();
        assert_eq!(out.sum, vec![want; d], "{m:?}");
    }
}

#[test]
fn seeded_inputs_and_concurrent_clients_give_the_same_session() {
    // Generated inputs and clients run on several threads: the sum is the plain sum of the
    // generated vectors (checked here in u128, from `seeded_input` itself), and the outcome
    // and every byte count do not depend on how many clients ran at once.
    for m in [
        Modulus::power_of_two(32).unwrap(),
        Modulus::new(1_000_003).unwrap(),
    ] {
        let (n, d) = (12, 5000);
        let params = Params::new(SessionId([4; 32]), n, 7, m, d).unwrap();
        let run = |threads: usize| {
            let mut sim = Simulation::seeded(params.clone(), 99).client_threads(threads);
            sim.drop_from(ClientId(3), Round::ShareKeys);
            sim.drop_from(ClientId(8), Round::MaskedInput);
            sim.run(5, &mut |_, _, _| {})
        };
        let one = run(1);
        let three = run(3);
        let (a, b) = (one.outcome.unwrap(), three.outcome.unwrap());
        let included: Vec<ClientId> = ids((1..=12).filter(|i| *i != 3 && *i != 8));
        assert_eq!(a.included, included);
        assert_eq!(a.sum, b.sum);
        assert_eq!(a.included, b.included);
        let inputs: Vec<Vec<u64>> = (1..=12)
            .map(|i| {
                let input = secagg::sim::seeded_input(&params, 99, ClientId(i));
                let sim = Simulation::new(params.clone(), vec![input]);
                // `plain_sum` of client 1 alone is its input.
                sim.plain_sum(&[ClientId(1)])
            })
            .collect();
        assert_eq!(a.sum, expected_sum(&inputs, &included, m), "{m:?}");
        assert!(inputs[0] != inputs[1], "clients get different inputs");
        for (x, y) in one.rounds.iter().zip(&three.rounds) {
            assert_eq!(x.clients, y.clients);
            assert_eq!(x.bytes_sent_per_client, y.bytes_sent_per_client);
            assert_eq!(x.bytes_received_per_client, y.bytes_received_per_client);
            assert_eq!(x.server_mask_expansions, y.server_mask_expansions);
        }
    }
}
