//! Float encoding: error bounds (property tests), clipping reports, weighted means, the
//! preflight check's exact numbers, and whole SecAgg+ sessions through the encoding.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "statistics and fixtures on small, known values"
)]

use chacha20::ChaCha20Rng;
use proptest::prelude::*;
use rand_core::SeedableRng;
use secagg::dp::NoiseKind;
use secagg::encoding::{EncoderConfig, Encoding, EncodingError, rotation_seed};
use secagg::sim::Simulation;
use secagg::{ClientId, Modulus, Params, PlainInput, SessionId};

const SID: SessionId = SessionId([8; 32]);

/// The sum of the encodings of `inputs`, computed by the session driver's checker.
fn sum(encoding: &Encoding, inputs: Vec<PlainInput>) -> Vec<u64> {
    let n = inputs.len().max(2);
    let mut inputs = inputs;
    let included: Vec<ClientId> = (1..=inputs.len() as u32).map(ClientId).collect();
    inputs.resize_with(n, || PlainInput::new(vec![0; encoding.vector_len()]));
    let params = Params::new(SID, n, n, encoding.modulus(), encoding.vector_len()).unwrap();
    Simulation::new(params, inputs).plain_sum(&included)
}

fn clip(x: &[f64], c: f64) -> Vec<f64> {
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let f = if norm > c { c / norm } else { 1.0 };
    x.iter().map(|v| v * f).collect()
}

fn l2(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

fn vectors(n: usize, d: usize) -> impl Strategy<Value = Vec<Vec<f64>>> {
    prop::collection::vec(prop::collection::vec(-3.0f64..3.0, d), n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// One client, no rotation: every coordinate is within one quantization step `1/γ` of
    /// the clipped input (docs/ENCODING.md, bound (1)).
    #[test]
    fn single_coordinate_error_below_one_step(
        x in prop::collection::vec(-5.0f64..5.0, 1..40),
        scale_bits in 0u32..20,
        seed in any::<u64>(),
    ) {
        let scale = f64::from(1u32 << scale_bits);
        let enc = EncoderConfig::builder(x.len(), scale).l2_clip(2.0).build().unwrap()
            .check(Modulus::power_of_two(40).unwrap(), 2).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (input, _) = enc.encode(&x, &mut rng).unwrap();
        let mean = enc.decode(&sum(&enc, vec![input]), 1).unwrap();
        for (got, want) in mean.iter().zip(clip(&x, 2.0)) {
            prop_assert!((got - want).abs() < 1.0 / scale + 1e-9, "seed {seed}: {got} vs {want}");
        }
    }

    /// `n` clients with rotation and weights off: the mean's L2 error is below
    /// `sqrt(d') / γ` (bound (2)), whatever the inputs.
    #[test]
    fn mean_error_below_bound_with_rotation(
        xs in vectors(5, 13),
        seed in any::<u64>(),
    ) {
        let scale = 256.0;
        let enc = EncoderConfig::builder(13, scale).l2_clip(1.5).rotation([seed as u8; 32])
            .build().unwrap().check(Modulus::power_of_two(32).unwrap(), 5).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let inputs = xs.iter().map(|x| enc.encode(x, &mut rng).unwrap().0).collect();
        let mean = enc.decode(&sum(&enc, inputs), 5).unwrap();
        let mut want = vec![0.0; 13];
        for x in &xs {
            for (w, v) in want.iter_mut().zip(clip(x, 1.5)) { *w += v / 5.0; }
        }
        prop_assert!(l2(&mean, &want) <= 16f64.sqrt() / scale + 1e-9, "seed {seed}");
    }

    /// Weighted mean: the error is below `n sqrt(d') w_max / (γ Σw)` (bound (3)).
    #[test]
    fn weighted_mean_error_below_bound(
        xs in vectors(4, 6),
        weights in prop::collection::vec(1u32..=50, 4),
        seed in any::<u64>(),
    ) {
        let (scale, max) = (1024.0, 50u32);
        let enc = EncoderConfig::builder(6, scale).l2_clip(1.0).weights(max).build().unwrap()
            .check(Modulus::power_of_two(32).unwrap(), 4).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let inputs = xs.iter().zip(&weights)
            .map(|(x, w)| enc.encode_weighted(x, *w, &mut rng).unwrap().0).collect();
        let mean = enc.decode(&sum(&enc, inputs), 4).unwrap();
        let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
        let mut want = vec![0.0; 6];
        for (x, w) in xs.iter().zip(&weights) {
            for (a, v) in want.iter_mut().zip(clip(x, 1.0)) { *a += v * f64::from(*w) / total; }
        }
        let bound = 4.0 * 6f64.sqrt() * f64::from(max) / (scale * total);
        prop_assert!(l2(&mean, &want) <= bound + 1e-9, "seed {seed}");
    }

    /// Whatever the inputs, a configuration that passes the preflight check never wraps:
    /// `n` clients all at the extreme decode to the extreme.
    #[test]
    fn passed_preflight_never_wraps(
        n in 2usize..30,
        bits in 8u32..24,
        sign in prop::bool::ANY,
        seed in any::<u64>(),
    ) {
        let m = Modulus::power_of_two(bits).unwrap();
        // The largest power-of-two scale that passes.
        let enc = (0..30).rev().find_map(|s| {
            EncoderConfig::builder(3, f64::from(1u32 << s)).coordinate_clip(1.0).build().unwrap()
                .check(m, n).ok()
        });
        let Some(enc) = enc else { return Ok(()) };
        let x = if sign { [1.0, 1.0, 1.0] } else { [-1.0, -1.0, -1.0] };
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let inputs = (0..n).map(|_| enc.encode(&x, &mut rng).unwrap().0).collect();
        let mean = enc.decode(&sum(&enc, inputs), n).unwrap();
        for v in mean {
            prop_assert!((v - x[0]).abs() < 1e-9, "bits {bits}, n {n}: {v}");
        }
    }
}

#[test]
fn stochastic_rounding_is_unbiased_end_to_end() {
    // A coarse scale (step 1/4): the mean of many independent encodings of x approaches x.
    let x = [0.1, -0.3, 0.9];
    let enc = EncoderConfig::builder(3, 4.0)
        .l2_clip(10.0)
        .build()
        .unwrap()
        .check(Modulus::power_of_two(32).unwrap(), 2)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let trials = 20_000;
    let mut acc = [0.0; 3];
    for _ in 0..trials {
        let (input, _) = enc.encode(&x, &mut rng).unwrap();
        let mean = enc.decode(&sum(&enc, vec![input]), 1).unwrap();
        for (a, v) in acc.iter_mut().zip(mean) {
            *a += v / f64::from(trials);
        }
    }
    for (a, want) in acc.iter().zip(x) {
        // Per-draw sd at most 1/8 (step 1/4, Bernoulli sd <= 1/2); 6 sd of the mean.
        assert!(
            (a - want).abs() < 6.0 * 0.125 / f64::from(trials).sqrt(),
            "{a} vs {want}"
        );
    }
}

#[test]
fn rejects_nan_and_infinity_with_index() {
    let enc = EncoderConfig::builder(3, 16.0)
        .l2_clip(1.0)
        .build()
        .unwrap()
        .check(Modulus::power_of_two(16).unwrap(), 4)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (bad, index) in [
        ([0.0, f64::NAN, 1.0], 1),
        ([f64::INFINITY, 0.0, 0.0], 0),
        ([0.0, 0.0, f64::NEG_INFINITY], 2),
    ] {
        assert_eq!(
            enc.encode(&bad, &mut rng).unwrap_err(),
            EncodingError::NonFinite { index }
        );
    }
    assert_eq!(
        enc.encode(&[0.0; 2], &mut rng).unwrap_err(),
        EncodingError::InputLength {
            got: 2,
            expected: 3
        }
    );
}

#[test]
fn reports_every_clip() {
    let enc = EncoderConfig::builder(4, 100.0)
        .l2_clip(1.0)
        .coordinate_clip(0.5)
        .build()
        .unwrap()
        .check(Modulus::power_of_two(24).unwrap(), 10)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (_, r) = enc.encode(&[0.1, 0.2, 0.0, 0.1], &mut rng).unwrap();
    assert!(!r.clipped());
    let (_, r) = enc.encode(&[3.0, 4.0, 0.0, 0.0], &mut rng).unwrap();
    assert!(r.l2_clipped && (r.norm - 5.0).abs() < 1e-12);
    // After the L2 clip: (0.6, 0.8, 0, 0); both coordinates pass 0.5.
    assert_eq!(r.coordinates_clipped, 2);
    let (_, r) = enc.encode(&[0.7, 0.0, 0.0, 0.0], &mut rng).unwrap();
    assert!(!r.l2_clipped && r.coordinates_clipped == 1);
}

#[test]
fn rejects_weights_out_of_bounds() {
    let m = Modulus::power_of_two(32).unwrap();
    let weighted = EncoderConfig::builder(2, 64.0)
        .l2_clip(1.0)
        .weights(10)
        .build()
        .unwrap()
        .check(m, 5)
        .unwrap();
    let plain = EncoderConfig::builder(2, 64.0)
        .l2_clip(1.0)
        .build()
        .unwrap()
        .check(m, 5)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    assert_eq!(
        weighted
            .encode_weighted(&[0.0, 1.0], 11, &mut rng)
            .unwrap_err(),
        EncodingError::Weight { max: 10 }
    );
    assert_eq!(
        weighted.encode(&[0.0, 1.0], &mut rng).unwrap_err(),
        EncodingError::Weight { max: 10 }
    );
    assert_eq!(
        plain.encode_weighted(&[0.0, 1.0], 1, &mut rng).unwrap_err(),
        EncodingError::Weight { max: 0 }
    );
    assert_eq!(weighted.vector_len(), 3);
    let zero = vec![0; 3];
    assert_eq!(
        weighted.decode(&zero, 5).unwrap_err(),
        EncodingError::NonPositiveWeight
    );
}

#[test]
fn preflight_gives_exact_numbers() {
    // 100 clients, |x| <= 1 at scale 2^25: the sum reaches 100 · 2^25 = 3_355_443_200,
    // but 2^32 represents only ±(2^31 - 1).
    let config = EncoderConfig::builder(10, f64::from(1u32 << 25))
        .l2_clip(1.0)
        .build()
        .unwrap();
    let err = config
        .clone()
        .check(Modulus::power_of_two(32).unwrap(), 100)
        .unwrap_err();
    assert_eq!(
        err,
        EncodingError::WouldWrap {
            need: 3_355_443_200,
            capacity: 2_147_483_647,
            smallest_modulus: 6_710_886_401,
            smallest_bits: 33,
        }
    );
    // The smallest modulus it names works, and one less does not.
    assert!(
        config
            .clone()
            .check(Modulus::new(6_710_886_401).unwrap(), 100)
            .is_ok()
    );
    assert!(
        config
            .clone()
            .check(Modulus::new(6_710_886_400).unwrap(), 100)
            .is_err()
    );
    assert!(
        config
            .check(Modulus::power_of_two(33).unwrap(), 100)
            .is_ok()
    );
}

#[test]
fn preflight_bounds_noise_tails() {
    let config = EncoderConfig::builder(100, 256.0)
        .l2_clip(1.0)
        .rotation(rotation_seed(&SID))
        .coordinate_clip(0.5)
        .noise(NoiseKind::DiscreteGaussian, 1.0, 10)
        .build()
        .unwrap();
    let req = config.requirement(20).unwrap();
    assert_eq!(req.coordinate_bound, 128);
    assert_eq!(req.signal_bound, 20 * 128);
    // Noise sd per coordinate over 20 clients: sqrt(20/10) · Δ₂ with Δ₂ = 256 + sqrt(128).
    let sd = (2.0f64).sqrt() * (256.0 + 128f64.sqrt());
    let margin = req.noise_margin as f64;
    assert!(
        margin > 6.0 * sd && margin < 8.0 * sd,
        "{margin} vs sd {sd}"
    );
    let bits = req.smallest_bits;
    assert!(
        config
            .clone()
            .check(Modulus::power_of_two(bits).unwrap(), 20)
            .is_ok()
    );
    let err = config
        .check(Modulus::power_of_two(bits - 2).unwrap(), 20)
        .unwrap_err();
    assert!(matches!(err, EncodingError::NoiseMayWrap { probability, .. } if probability > 1e-9));
}

#[test]
fn rejects_bad_configs() {
    let b = |d, s| EncoderConfig::builder(d, s);
    assert_eq!(
        b(3, 1.0).build().unwrap_err(),
        EncodingError::Config("set an L2 or coordinate clip")
    );
    assert!(matches!(
        b(0, 1.0).l2_clip(1.0).build(),
        Err(EncodingError::Config(_))
    ));
    assert!(matches!(
        b(3, f64::NAN).l2_clip(1.0).build(),
        Err(EncodingError::Config(_))
    ));
    assert!(matches!(
        b(3, 1.0).l2_clip(-1.0).build(),
        Err(EncodingError::Config(_))
    ));
    assert!(matches!(
        b(3, 1.0).l2_clip(1.0).weights(0).build(),
        Err(EncodingError::Config(_))
    ));
    assert_eq!(
        b(3, 1e30).l2_clip(1.0).build().unwrap_err(),
        EncodingError::ScaleTooLarge
    );
    let noisy = b(3, 1.0)
        .l2_clip(1.0)
        .noise(NoiseKind::Skellam, 1.0, 50)
        .build()
        .unwrap();
    assert!(matches!(
        noisy.requirement(10),
        Err(EncodingError::Config(_))
    ));
}

/// A whole SecAgg+ session: 30 clients with a Harary graph of degree 8, two dropouts,
/// weighted means with Skellam noise; the decoded mean is close to the true weighted mean.
#[test]
fn secagg_plus_session_decodes_weighted_mean() {
    let n = 30;
    let d = 20;
    let config = EncoderConfig::builder(d, 4096.0)
        .l2_clip(1.0)
        .rotation(rotation_seed(&SID))
        .coordinate_clip(0.5)
        .weights(100)
        .noise(NoiseKind::Skellam, 0.5, 20)
        .build()
        .unwrap();
    let bits = config.requirement(n).unwrap().smallest_bits;
    let enc = config
        .check(Modulus::power_of_two(bits).unwrap(), n)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let xs: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..d)
                .map(|j| ((i * d + j) as f64 * 0.37).sin() * 0.2)
                .collect()
        })
        .collect();
    let weights: Vec<u32> = (0..n).map(|i| 10 + (i as u32 * 7) % 90).collect();
    let inputs = xs
        .iter()
        .zip(&weights)
        .map(|(x, w)| enc.encode_weighted(x, *w, &mut rng).unwrap().0)
        .collect();
    let params = Params::builder(SID, n, enc.modulus(), enc.vector_len())
        .neighbours(8)
        .build()
        .unwrap();
    let mut sim = Simulation::new(params, inputs);
    sim.drop_from(ClientId(3), secagg::Round::ShareKeys);
    sim.drop_from(ClientId(7), secagg::Round::MaskedInput);
    let out = sim.run(1, &mut |_, _, _| {}).outcome.unwrap();
    let included: Vec<usize> = out.included.iter().map(|c| c.0 as usize - 1).collect();
    let mean = enc.decode(&out.sum, included.len()).unwrap();
    let total: f64 = included.iter().map(|&i| f64::from(weights[i])).sum();
    let mut want = vec![0.0; d];
    for &i in &included {
        for (a, v) in want.iter_mut().zip(&xs[i]) {
            *a += v * f64::from(weights[i]) / total;
        }
    }
    // Δ₂ = sqrt((4096 + sqrt(32))² + (40 · 100)²) ≈ 5730, so the summed noise has sd
    // 0.5 · 5730 · sqrt(28/20) ≈ 3390 units = 0.83 after unscaling, divided by the total
    // weight over w_max (≈ 15): about 0.055 per coordinate. Noise must be there, and small.
    let err = l2(&mean, &want) / (d as f64).sqrt();
    assert!(err > 0.01 && err < 0.2, "rms error {err}");
}

/// `secagg plan` with its defaults proves the fit; a scale too large fails with exit 1 and
/// names the smallest modulus.
#[test]
fn plan_command_reports_budget_and_verdict() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_secagg"))
            .arg("plan")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--json"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"fits\":true"), "{text}");
    assert!(text.contains("\"scale\":16777216"), "{text}");
    assert!(text.contains("\"signal_bound\":1677721600"), "{text}");
    let out = run(&["--dim", "10", "--scale", "33554432"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("smallest modulus 6710886401 (2^33)"),
        "{text}"
    );
    let out = run(&[
        "--noise",
        "skellam:1",
        "--rotate",
        "--coord-clip",
        "0.1",
        "--json",
    ]);
    assert!(out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("\"noise\":\"Skellam\"")
    );
    assert_eq!(run(&["--bits", "0"]).status.code(), Some(2));
    assert_eq!(run(&["--noise", "laplace:1"]).status.code(), Some(2));
}
