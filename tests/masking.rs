//! What the server *sees*, not only the sum: masked inputs must look uniform and carry no
//! trace of the input, for both mask suites (ChaCha20, AES-128-CTR) and both graphs
//! (SecAgg's complete graph, SecAgg+'s Harary graph).
//!
//! Every session test here also checks the sum, but a session whose masks were switched off
//! (clients send plaintext, the server removes nothing) still sums correctly; these tests
//! fail on it. The statistical checks have false-alarm probabilities below `10^-9` each, and
//! every random input comes from a seeded `ChaCha20Rng` (the seed is in every message).
//!
//! Bonawitz et al., CCS 2017, §3 and Theorem 6.2: the server's view of a masked input
//! `y_u = x_u + PRG(b_u) + Σ ±PRG(s_uv)` is uniform in `Z_m^d` and independent of `x_u`.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "statistics on small, known counts"
)]

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::harness::{Fate, Harness};
use secagg::hazmat::prg::{self, Sign};
use secagg::wire::ClientMessage;
use secagg::{ClientId, MaskSuite, Modulus, Output, Params, PlainInput, SessionId};

const SUITES: [MaskSuite; 2] = [MaskSuite::ChaCha20, MaskSuite::Aes128Ctr];

/// A graph to run: `None` for the complete graph, `Some(k)` for a Harary graph of degree `k`.
const GRAPHS: [Option<usize>; 2] = [None, Some(4)];

/// What the server received in Round 2 (`y_u` by sender), and the session's output.
struct View {
    masked: Vec<(ClientId, Vec<u64>)>,
    output: Output,
}

/// Runs one session with the public per-round API (as in the README), nobody dropping, and
/// keeps every `MaskedInput` message the server received.
fn run_session(params: &Params, inputs: &[Vec<u64>], seed: u64) -> View {
    let mut masked = Vec::new();
    let plain = inputs.iter().cloned().map(PlainInput::new).collect();
    let mut session = Harness::new(params, plain, seed).on_client_message(|_, id, message| {
        if let ClientMessage::MaskedInput(m) = message {
            masked.push((id, m.masked.clone()));
        }
        Fate::Deliver
    });
    let output = session.run().unwrap();
    assert!(session.rejected().is_empty(), "{:?}", session.rejected());
    drop(session);
    View { masked, output }
}

fn params(n: usize, m: Modulus, d: usize, suite: MaskSuite, graph: Option<usize>) -> Params {
    let b = Params::builder(SessionId([0x5a; 32]), n, m, d).mask_suite(suite);
    match graph {
        None => b.build().unwrap(),
        Some(k) => b.neighbours(k).build().unwrap(),
    }
}

/// Coordinates where `a` and `b` agree.
fn agreements(a: &[u64], b: &[u64]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x == y).count()
}

/// `Σ x_u mod m`, in `u128`, independently of the crate's modular code.
fn plain_sum(inputs: &[Vec<u64>], m: Modulus) -> Vec<u64> {
    (0..inputs[0].len())
        .map(|i| {
            let s = inputs.iter().map(|x| u128::from(x[i])).sum::<u128>() % m.value();
            u64::try_from(s).unwrap()
        })
        .collect()
}

/// Pearson's chi-square statistic of `values` (elements of `Z_{2^32}`) over 16 equal buckets
/// (the top four bits). Under uniformity it is chi-square with 15 degrees of freedom:
/// `P(X > 75) < 10^-9`.
fn chi_square_16(values: &[u64]) -> f64 {
    let mut counts = [0usize; 16];
    for v in values {
        counts[usize::try_from(v >> 28).unwrap()] += 1;
    }
    let expected = values.len() as f64 / 16.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

const CHI_SQUARE_15_AT_1E_9: f64 = 75.0;

/// Structured inputs that masks must hide: two clients with the all-zero vector (the same
/// input), one with the all-ones-in-the-top-bit vector, a ramp, and seeded random vectors.
fn structured_inputs(n: usize, d: usize, seed: u64) -> Vec<Vec<u64>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n)
        .map(|u| match u {
            0 | 1 => vec![0; d],
            2 => vec![1 << 31; d],
            3 => (0..d as u64).collect(),
            _ => (0..d).map(|_| u64::from(rng.next_u32())).collect(),
        })
        .collect()
}

/// Every masked input differs from its input, and from every other masked input, in
/// almost every coordinate; the pool of masked elements passes a chi-square test of
/// uniformity and a per-bit balance test; and the sum is still right. Both suites, both
/// graphs, including two clients with the same (all-zero) input.
#[test]
fn masked_inputs_look_uniform_and_unlike_the_input() {
    let (n, d) = (8, 256);
    let m = Modulus::power_of_two(32).unwrap();
    for (s, suite) in SUITES.into_iter().enumerate() {
        for (g, graph) in GRAPHS.into_iter().enumerate() {
            let seed = 1600 + 10 * s as u64 + g as u64;
            let label = format!("{suite:?}, graph {graph:?}, seed {seed}");
            let inputs = structured_inputs(n, d, seed);
            let view = run_session(&params(n, m, d, suite, graph), &inputs, seed);
            assert_eq!(view.output.sum, plain_sum(&inputs, m), "{label}");
            assert_eq!(view.masked.len(), n, "{label}");

            // A uniform y_u equals x_u in a coordinate with probability 2^-32: two or more
            // agreements among 256 have probability below 10^-14.
            for ((id, y), x) in view.masked.iter().zip(&inputs) {
                assert!(y.iter().all(|v| m.contains(*v)), "{label}: {id:?}");
                let same = agreements(y, x);
                assert!(same <= 1, "{label}: {id:?} sent {same}/{d} input values");
            }
            for (i, (a, ya)) in view.masked.iter().enumerate() {
                for (b, yb) in &view.masked[i + 1..] {
                    let same = agreements(ya, yb);
                    assert!(same <= 1, "{label}: {a:?} and {b:?} agree in {same}/{d}");
                }
            }

            let pool: Vec<u64> = view.masked.iter().flat_map(|(_, y)| y.clone()).collect();
            let chi = chi_square_16(&pool);
            assert!(chi < CHI_SQUARE_15_AT_1E_9, "{label}: chi-square {chi}");
            // Each bit is set with probability 1/2: the count over 2048 elements has sd
            // sqrt(512) ≈ 22.6; six sd is 136.
            for bit in 0..32 {
                let ones = pool.iter().filter(|v| (*v >> bit) & 1 == 1).count() as f64;
                let half = pool.len() as f64 / 2.0;
                assert!(
                    (ones - half).abs() < 6.0 * (half / 2.0).sqrt(),
                    "{label}: bit {bit} set in {ones} of {}",
                    pool.len()
                );
            }
        }
    }
}

/// The same inputs in two sessions (fresh keys) give masked vectors that differ in almost
/// every coordinate: what the server sees depends on the masks, not on the input.
#[test]
fn same_input_in_two_sessions_gives_unrelated_masked_vectors() {
    let (n, d) = (6, 128);
    let m = Modulus::power_of_two(32).unwrap();
    for suite in SUITES {
        for graph in GRAPHS {
            let p = params(n, m, d, suite, graph);
            let inputs = structured_inputs(n, d, 7);
            let first = run_session(&p, &inputs, 11);
            let second = run_session(&p, &inputs, 12);
            for ((id, a), (_, b)) in first.masked.iter().zip(&second.masked) {
                let same = agreements(a, b);
                assert!(
                    same <= 1,
                    "{suite:?}, {graph:?}: {id:?} agrees in {same}/{d}"
                );
            }
            assert_eq!(first.output.sum, second.output.sum);
        }
    }
}

/// Moduli that are not `2^32`: `2^64` (the unstaged kernel), `2^12` (few bits) and an odd
/// prime (rejection sampling). The masked input of the all-zero input is the mask itself:
/// it must not be zero, and its mean over `Z_m` must be near `(m - 1) / 2`.
#[test]
fn masks_cover_other_moduli() {
    let (n, d) = (5, 512);
    for m in [
        Modulus::power_of_two(64).unwrap(),
        Modulus::power_of_two(12).unwrap(),
        Modulus::new(1_000_003).unwrap(),
    ] {
        for suite in SUITES {
            for graph in GRAPHS {
                let label = format!("{m:?}, {suite:?}, {graph:?}");
                let inputs = vec![vec![0; d]; n];
                let view = run_session(&params(n, m, d, suite, graph), &inputs, 21);
                assert_eq!(view.output.sum, vec![0; d], "{label}");
                let mf = m.value() as f64;
                for (id, y) in &view.masked {
                    // For m = 2^12 a uniform element is 0 with probability 1/4096.
                    let zeros = y.iter().filter(|v| **v == 0).count();
                    assert!(zeros <= 4, "{label}: {id:?} has {zeros} zero elements");
                    // Mean of d uniform elements over m: 1/2 ± sqrt(1/(12 d)); six sd.
                    let mean = y.iter().map(|v| *v as f64 / mf).sum::<f64>() / d as f64;
                    let sd = (1.0 / (12.0 * d as f64)).sqrt();
                    assert!((mean - 0.5).abs() < 6.0 * sd, "{label}: {id:?} mean {mean}");
                }
            }
        }
    }
}

/// The building block on its own: a pair of opposite pairwise masks cancels, *and* one mask
/// moves a vector far from where it was. An all-zero mask (or a kernel that adds nothing)
/// passes the first check and fails the second; a test of cancellation alone cannot tell.
#[test]
fn pairwise_masks_cancel_and_each_mask_is_far_from_zero() {
    let d = 5000u64; // more than one chunk of 4096
    for m in [
        Modulus::power_of_two(32).unwrap(),
        Modulus::power_of_two(64).unwrap(),
        Modulus::new(65_521).unwrap(),
    ] {
        for suite in SUITES {
            let label = format!("{m:?}, {suite:?}");
            let mut rng = ChaCha20Rng::seed_from_u64(31);
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let x: Vec<u64> = (0..d).map(|i| i % 7).collect();

            let mut one = x.clone();
            prg::apply_mask_with(suite, &seed, m, Sign::Add, &mut one);
            m.reduce_lazy(&mut one);
            let same = agreements(&one, &x);
            let allowed = if m.value() < (1 << 20) { 4 } else { 1 };
            assert!(
                same <= allowed,
                "{label}: masked equals input in {same}/{d}"
            );

            let mut pair = one.clone();
            prg::apply_mask_with(suite, &seed, m, Sign::Sub, &mut pair);
            m.reduce_lazy(&mut pair);
            assert_eq!(pair, x, "{label}: opposite masks must cancel");

            // The two suites expand the same seed to different masks.
            let mut other = x.clone();
            let other_suite = if suite == MaskSuite::ChaCha20 {
                MaskSuite::Aes128Ctr
            } else {
                MaskSuite::ChaCha20
            };
            prg::apply_mask_with(other_suite, &seed, m, Sign::Add, &mut other);
            m.reduce_lazy(&mut other);
            assert!(agreements(&one, &other) <= allowed, "{label}: suites agree");
        }
    }
}
