//! Float encoding: error bounds (property tests), clipping reports, weighted means, the
//! preflight check's exact numbers, and whole SecAgg+ sessions through the encoding.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "statistics and fixtures on small, known values"
)]

use core::convert::Infallible;

use chacha20::ChaCha20Rng;
use proptest::prelude::*;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};
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

/// A "generator" that returns only zero bits: every Bernoulli trial of stochastic rounding
/// compares its fraction with `U = 0`, so every positive fraction rounds *up*. It drives the
/// encoder deterministically into the draws its integer bounds must reject. (A test device
/// only: `CryptoRng` is a marker here, nothing about it is random.)
struct ZeroBits;

impl TryRng for ZeroBits {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0);
        Ok(())
    }
}

impl TryCryptoRng for ZeroBits {}

/// One encoding as signed integers: the encoded vector lifted to `(-m/2, m/2]`.
fn integers(encoding: &Encoding, input: PlainInput) -> Vec<i128> {
    let m = encoding.modulus().value();
    sum(encoding, vec![input])
        .into_iter()
        .map(|v| {
            let v = u128::from(v);
            if 2 * v > m {
                -((m - v) as i128)
            } else {
                v as i128
            }
        })
        .collect()
}

/// The sensitivity an encoding must enforce, computed here from docs/ENCODING.md §2 and
/// docs/PRIVACY.md (assumption 2), independently of the crate: `d'` the padded length,
/// `R = γ min(c, b√d')`, `N² = ⌊(R + √d')²⌋` (or the conditional-rounding bound),
/// `W = w_max · max(1, ⌊R / w_max⌋)`, `Δ₂² = N² + W²`, `len = d' (+1 weighted)` and
/// `Δ₁ = min(√len Δ₂, Δ₂²)`. Returns `(Δ₂², Δ₁, len)`.
struct Shape {
    dim: usize,
    scale: f64,
    l2_clip: Option<f64>,
    coordinate_clip: Option<f64>,
    rotate: bool,
    max_weight: Option<u32>,
    beta: f64,
}

impl Shape {
    fn expected(&self) -> (f64, f64, usize) {
        let padded = if self.rotate {
            self.dim.next_power_of_two()
        } else {
            self.dim
        };
        let root = (padded as f64).sqrt();
        let clip = match (self.l2_clip, self.coordinate_clip) {
            (Some(c), Some(b)) => c.min(b * root),
            (Some(c), None) => c,
            (None, Some(b)) => b * root,
            (None, None) => unreachable!(),
        };
        let r = self.scale * clip;
        let mut norm_sq = (r + root).powi(2);
        if self.beta > 0.0 {
            let conditional = r * r
                + padded as f64 / 4.0
                + (2.0 * (1.0 / self.beta).ln()).sqrt() * (r + root / 2.0);
            norm_sq = norm_sq.min(conditional);
        }
        let norm_sq = norm_sq.floor();
        let weight = self
            .max_weight
            .map_or(0.0, |w| f64::from(w) * (r / f64::from(w)).floor().max(1.0));
        let l2_sq = norm_sq + weight * weight;
        let len = padded + usize::from(self.max_weight.is_some());
        let l1 = ((len as f64).sqrt() * l2_sq.sqrt()).min(l2_sq);
        (l2_sq, l1, len)
    }

    fn config(&self) -> secagg::encoding::EncoderConfigBuilder {
        let mut b = EncoderConfig::builder(self.dim, self.scale).conditional_rounding(self.beta);
        if let Some(c) = self.l2_clip {
            b = b.l2_clip(c);
        }
        if let Some(c) = self.coordinate_clip {
            b = b.coordinate_clip(c);
        }
        if self.rotate {
            b = b.rotation(rotation_seed(&SID));
        }
        if let Some(w) = self.max_weight {
            b = b.weights(w);
        }
        b
    }
}

/// Shapes that exercise every part of the sensitivity: padding by rotation, the coordinate
/// clip setting `R`, the weight element with a large and with the minimal unit `k = 1`, and
/// conditional rounding.
fn shapes() -> Vec<Shape> {
    let s = |dim, scale, l2_clip, coordinate_clip, rotate, max_weight, beta| Shape {
        dim,
        scale,
        l2_clip,
        coordinate_clip,
        rotate,
        max_weight,
        beta,
    };
    vec![
        s(10, 64.0, Some(1.5), None, false, None, 0.0),
        s(13, 100.0, Some(2.0), Some(0.25), true, None, 0.0),
        s(20, 4096.0, Some(1.0), Some(0.5), true, Some(100), 0.0),
        s(7, 1.0, Some(1.0), None, false, Some(50), 0.0),
        s(60, 2.0, Some(1.0), Some(0.5), true, Some(4), 0.0),
        s(300, 16.0, None, Some(0.1), true, Some(10), 0.01),
    ]
}

/// Δ₂, Δ₁ and the length the accountant is given, for weighted, rotated and padded
/// encodings, against the independent computation above. (Replacing Δ₁ by Δ₂, or leaving
/// the weight element out of Δ₂, changes these by far more than the tolerance.)
#[test]
fn sensitivity_matches_an_independent_computation() {
    for (i, shape) in shapes().iter().enumerate() {
        let config = shape.config().build().unwrap();
        let (l2_sq, l1, len) = shape.expected();
        let got = config.sensitivity();
        assert_eq!(got.dim, len, "shape {i}");
        assert_eq!(config.vector_len(), len, "shape {i}");
        assert!(
            (got.l2 - l2_sq.sqrt()).abs() <= 1e-12 * l2_sq.sqrt(),
            "shape {i}: Δ₂ {} vs {}",
            got.l2,
            l2_sq.sqrt()
        );
        assert!(
            (got.l1 - l1).abs() <= 1e-12 * l1,
            "shape {i}: Δ₁ {} vs {l1}",
            got.l1
        );
    }
}

/// The smallest `α`-grid `(ε, δ)` conversion of docs/PRIVACY.md, for a per-round RDP curve
/// `rdp(α)`, written here independently of the crate.
fn oracle_epsilon(rdp: impl Fn(f64) -> f64, rounds: f64, delta: f64) -> f64 {
    (2..=256)
        .chain((9..=32).map(|i| i * 32))
        .map(f64::from)
        .map(|a| rounds * rdp(a) + ((a - 1.0) / a).ln() - (delta.ln() + a.ln()) / (a - 1.0))
        .fold(f64::INFINITY, f64::min)
        .max(0.0)
}

/// `Encoding::privacy` end to end: the encoder's own noise and sensitivity against ε
/// computed here from the shape's independent sensitivity, the calibration rule of
/// docs/PRIVACY.md (each client's variance at least `(zΔ₂)²/t`, rounded up to a multiple of
/// `2^-20`) and the Skellam and distributed discrete Gaussian formulas (Agarwal, Kairouz and
/// Liu, NeurIPS 2021; Kairouz, Liu and Steinke, ICML 2021, Proposition 14). The DDG case has
/// a local variance near 1/4 and 72 contributors, so `τ` matters.
#[test]
fn privacy_matches_an_independent_accountant() {
    use core::f64::consts::PI;
    let shape = &shapes()[4];
    let (l2_sq, l1, len) = shape.expected();
    let l2 = l2_sq.sqrt();
    let d = len as f64;
    for (kind, z, t) in [
        (NoiseKind::Skellam, 0.7, 5usize),
        (NoiseKind::Skellam, 3.0, 40),
        (NoiseKind::DiscreteGaussian, 0.5, 72),
        (NoiseKind::DiscreteGaussian, 1.2, 10),
    ] {
        let label = format!("{kind:?}, z {z}, t {t}");
        let enc = shape
            .config()
            .noise(kind, z, t)
            .build()
            .unwrap()
            .check(Modulus::power_of_two(40).unwrap(), 100)
            .unwrap();
        let local = enc.config().local_noise().unwrap().local_variance();
        let wanted = (z * l2).powi(2) / t as f64;
        assert!(
            local >= wanted && local <= wanted + 2f64.powi(-20) * (1.0 + 1e-9),
            "{label}: local variance {local} for {wanted}"
        );
        let n = t as f64;
        let rdp = |a: f64| match kind {
            NoiseKind::Skellam => {
                let mu = n * local;
                let tight = ((2.0 * a - 1.0) * l2_sq + 6.0 * l1) / (4.0 * mu * mu);
                let loose = 3.0 * l1 / (2.0 * mu);
                a * l2_sq / (2.0 * mu) + tight.min(loose)
            }
            _ => {
                let tau: f64 = (1..t)
                    .map(|k| {
                        let k = k as f64;
                        10.0 * (-2.0 * PI * PI * local * k / (k + 1.0)).exp()
                    })
                    .sum();
                let s2 = n * local;
                let s = s2.sqrt();
                let first = a * l2_sq / (2.0 * s2) + tau * d;
                let second = a / 2.0 * (l2_sq / s2 + 2.0 * l1 * tau / s + tau * tau * d);
                let third = a / 2.0 * (l2 / s + tau * d.sqrt()).powi(2);
                first.min(second).min(third)
            }
        };
        for (rounds, delta) in [(1u64, 1e-5), (20, 1e-6)] {
            let want = oracle_epsilon(rdp, rounds as f64, delta);
            let got = enc.privacy(rounds, delta).unwrap();
            assert!(
                (got.epsilon - want).abs() <= 1e-9 * want,
                "{label}, {rounds} rounds: ε {} vs {want}",
                got.epsilon
            );
            assert_eq!((got.rounds, got.delta), (rounds, delta));
        }
    }
    let plain = shape.config().build().unwrap();
    let plain = plain.check(Modulus::power_of_two(32).unwrap(), 10).unwrap();
    assert_eq!(
        plain.privacy(1, 1e-5).unwrap_err(),
        EncodingError::Config("no noise configured")
    );
}

/// Conditional rounding with β = 1/2: every encoding of an input on the clip sphere whose
/// scaled coordinates all have fraction 1/2 stays within `N² = ⌊R² + d'/4 + √(2 ln 2)(R +
/// √d'/2)⌋ = 9725` (R = 98, d' = 16), below the worst case `(R + √d')² = 10404`. An
/// unconditioned rounding leaves it with probability `P(Bin(16, 1/2) ≥ 11) ≈ 0.105` per
/// draw (the squared norm is `9608 + 24.5 (2u - 16)` for `u` coordinates rounded up), so
/// among 300 encodings about 31 would; the bound must hold for all of them. With every
/// coordinate rounded up (norm² 10000) no draw can meet it: `EncodingError::Rounding`,
/// whereas the worst-case bound (β = 0) accepts that draw.
#[test]
fn conditional_rounding_enforces_the_beta_bound() {
    let shape = Shape {
        dim: 16,
        scale: 1.0,
        l2_clip: Some(98.0),
        coordinate_clip: None,
        rotate: false,
        max_weight: None,
        beta: 0.5,
    };
    let bound = (98.0f64 * 98.0 + 4.0 + (2.0 * 2f64.ln()).sqrt() * (98.0 + 2.0)).floor();
    assert_eq!(bound, 9725.0);
    let (l2_sq, _, _) = shape.expected();
    assert_eq!(l2_sq, bound);
    let m = Modulus::power_of_two(32).unwrap();
    let enc = shape.config().build().unwrap().check(m, 2).unwrap();
    assert_eq!(enc.config().sensitivity().l2, bound.sqrt());
    let x = [24.5; 16];
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let mut largest = 0;
    for i in 0..300 {
        let (input, report) = enc.encode(&x, &mut rng).unwrap();
        assert!(!report.clipped());
        let y = integers(&enc, input);
        assert!(y.iter().all(|v| *v == 24 || *v == 25), "draw {i}: {y:?}");
        let norm_sq: i128 = y.iter().map(|v| v * v).sum();
        assert!(norm_sq <= 9725, "draw {i}: squared norm {norm_sq} > 9725");
        largest = largest.max(norm_sq);
    }
    // The bound binds between 10 round-ups (9706, allowed) and 11 (9755, refused): in 300
    // draws some reach 10 (probability 0.12 each).
    assert_eq!(largest, 9706);
    assert_eq!(
        enc.encode(&x, &mut ZeroBits).unwrap_err(),
        EncodingError::Rounding
    );
    let worst_case = Shape { beta: 0.0, ..shape };
    let enc = worst_case.config().build().unwrap().check(m, 2).unwrap();
    let (input, _) = enc.encode(&x, &mut ZeroBits).unwrap();
    assert_eq!(integers(&enc, input), vec![25; 16]);
}

/// The coordinate bound is enforced in integer arithmetic, not trusted from float
/// clipping: `187 · (3 / 187)` is `3.0000000000000004` in `f64`, so the L2 clip of `[187]`
/// to `c = 3` leaves a coordinate just above `R = 3`, which rounds up to 4 with probability
/// `2^-51`. The bound is `B = 3` (docs/ENCODING.md §2), and the preflight's proof that a
/// sum cannot wrap uses it. Forcing every rounding up must end in `EncodingError::Rounding`,
/// never in an encoded 4; an honest generator gives 3.
#[test]
fn coordinate_bound_survives_float_error() {
    let x = [187.0];
    assert!(
        x[0] * (3.0 / x[0]) > 3.0,
        "the float error this test relies on"
    );
    let enc = EncoderConfig::builder(1, 1.0)
        .l2_clip(3.0)
        .build()
        .unwrap()
        .check(Modulus::power_of_two(8).unwrap(), 42)
        .unwrap();
    assert_eq!(enc.budget().requirement.coordinate_bound, 3);
    assert_eq!(
        enc.encode(&x, &mut ZeroBits).unwrap_err(),
        EncodingError::Rounding
    );
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (input, report) = enc.encode(&x, &mut rng).unwrap();
    assert!(report.l2_clipped);
    assert_eq!(integers(&enc, input), vec![3]);
}

/// Stochastic rounding rounds up a fraction `f` with probability exactly `f`, however small:
/// `f = 2^-12` needs more than 64 random bits' worth of comparison in the exact Bernoulli
/// trial (fractions below `2^-11` do). Among 400 000 encodings of `5 + 2^-12` about 97.7
/// (sd 9.9) are 6; six standard deviations either side. With all-zero bits, a fraction of
/// `2^-40` must round up (`U = 0 < f`), for both signs.
#[test]
fn tiny_fractions_round_up_at_their_rate() {
    let enc = EncoderConfig::builder(1, 1.0)
        .l2_clip(100.0)
        .build()
        .unwrap()
        .check(Modulus::power_of_two(32).unwrap(), 2)
        .unwrap();
    let f = 2f64.powi(-12);
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let (trials, batch) = (400_000u32, 1000u32);
    let mut ups = 0;
    for _ in 0..trials / batch {
        let inputs = (0..batch)
            .map(|_| enc.encode(&[5.0 + f], &mut rng).unwrap().0)
            .collect();
        // Each encoding is 5 or 6: the batch's sum counts the 6s.
        ups += sum(&enc, inputs)[0] - 5 * u64::from(batch);
    }
    let ups = ups as f64;
    let mean = f * f64::from(trials);
    let sd = (mean * (1.0 - f)).sqrt();
    assert!(
        (ups - mean).abs() < 6.0 * sd,
        "{ups} round-ups, expected {mean} ± {sd}"
    );
    let tiny = 2f64.powi(-40);
    let (input, _) = enc.encode(&[5.0 + tiny], &mut ZeroBits).unwrap();
    assert_eq!(integers(&enc, input), vec![6]);
    let (input, _) = enc.encode(&[-5.0 - tiny], &mut ZeroBits).unwrap();
    assert_eq!(integers(&enc, input), vec![-6]);
}

/// `min_contributors` is tied to the session: `Encoding::check_params` accepts a session
/// whose (per-neighbourhood) threshold is at least the noise's `min_contributors` and
/// refuses one below it, on the complete graph and on a Harary graph; it refuses a session
/// of another modulus or length; and `decode` refuses a noisy sum of fewer contributors.
#[test]
fn min_contributors_is_tied_to_the_threshold() {
    let (n, t) = (50, 20);
    let noisy = EncoderConfig::builder(8, 256.0)
        .l2_clip(1.0)
        .noise(NoiseKind::DiscreteGaussian, 1.0, t)
        .build()
        .unwrap();
    let bits = noisy.requirement(n).unwrap().smallest_bits;
    let m = Modulus::power_of_two(bits).unwrap();
    let enc = noisy.check(m, n).unwrap();
    let len = enc.vector_len();
    let complete = |clients, threshold| Params::new(SID, clients, threshold, m, len).unwrap();
    let harary = |k| {
        Params::builder(SID, n, m, len)
            .neighbours(k)
            .build()
            .unwrap()
    };

    assert_eq!(enc.check_params(&complete(30, 20)), Ok(()));
    assert_eq!(enc.check_params(&complete(50, 26)), Ok(()));
    assert_eq!(
        enc.check_params(&complete(30, 19)),
        Err(EncodingError::TooFewContributors { min: 20, got: 19 })
    );
    // Harary of degree 8: 9 share holders, threshold 5 per neighbourhood.
    assert_eq!(harary(8).threshold(), 5);
    assert_eq!(
        enc.check_params(&harary(8)),
        Err(EncodingError::TooFewContributors { min: 20, got: 5 })
    );
    // Degree 40: 41 holders, threshold 21.
    assert_eq!(harary(40).threshold(), 21);
    assert_eq!(enc.check_params(&harary(40)), Ok(()));
    // More clients than the preflight check proved the modulus for.
    assert!(matches!(
        enc.check_params(&complete(51, 40)),
        Err(EncodingError::Config(_))
    ));
    let other_modulus = Params::new(SID, n, 26, Modulus::power_of_two(bits + 1).unwrap(), len);
    assert!(matches!(
        enc.check_params(&other_modulus.unwrap()),
        Err(EncodingError::Config(_))
    ));
    let other_len = Params::new(SID, n, 26, m, len + 1).unwrap();
    assert!(matches!(
        enc.check_params(&other_len),
        Err(EncodingError::Config(_))
    ));

    let zero = vec![0; len];
    assert_eq!(
        enc.decode(&zero, t - 1).unwrap_err(),
        EncodingError::TooFewContributors { min: 20, got: 19 }
    );
    assert_eq!(enc.decode(&zero, t).unwrap(), vec![0.0; 8]);

    // Without noise there is nothing to tie.
    let plain = EncoderConfig::builder(8, 256.0)
        .l2_clip(1.0)
        .build()
        .unwrap()
        .check(m, n)
        .unwrap();
    assert_eq!(plain.check_params(&harary(8)), Ok(()));
    assert_eq!(plain.decode(&zero, 1).unwrap(), vec![0.0; 8]);
}

/// The preflight's noise margin against docs/ENCODING.md §5 evaluated here: the smallest `T`
/// with `2 · len · P₁(T + 1) <= 10^-9`, `P₁(k)` the one-sided tail bound of the summed noise
/// of `n` clients — `exp(-k²/(2nσ²))` for discrete Gaussian shares, the Chernoff bound
/// `exp(-k asinh(k/v) + v(√(1 + (k/v)²) - 1))` of Skellam with `v = nμ`. Halving the union
/// bound (forgetting one side) moves `T` by tens of units here.
#[test]
fn noise_margin_matches_the_tail_bounds() {
    let n = 20;
    for kind in [NoiseKind::DiscreteGaussian, NoiseKind::Skellam] {
        let config = EncoderConfig::builder(100, 256.0)
            .l2_clip(1.0)
            .rotation(rotation_seed(&SID))
            .coordinate_clip(0.5)
            .noise(kind, 1.0, 10)
            .build()
            .unwrap();
        let v = config.local_noise().unwrap().local_variance() * n as f64;
        let len = config.vector_len() as f64;
        let log_tail = |k: f64| match kind {
            NoiseKind::DiscreteGaussian => -k * k / (2.0 * v),
            _ => -k * (k / v).asinh() + v * ((1.0 + (k / v).powi(2)).sqrt() - 1.0),
        };
        let want = (0u128..)
            .find(|t| 2.0 * len * log_tail(*t as f64 + 1.0).exp() <= 1e-9)
            .unwrap();
        let got = config.requirement(n).unwrap().noise_margin;
        assert!(got.abs_diff(want) <= 1, "{kind:?}: margin {got} vs {want}");
    }
}

/// With weights, the weight element `W = w_max k` can exceed the coordinate bound `B`
/// (here `B = ⌈γ b⌉ = 2048` and `W = 100 · ⌊4096/100⌋ = 4000`), so the preflight's signal
/// bound is `n · max(B, W)`. At the smallest modulus it names (2^17 for 10 clients, where
/// `n B` alone would fit 2^16), ten clients at the maximum weight decode to the exact
/// weighted mean: the total weight does not wrap.
#[test]
fn preflight_counts_the_weight_element() {
    let n = 10;
    let config = EncoderConfig::builder(20, 4096.0)
        .l2_clip(1.0)
        .rotation(rotation_seed(&SID))
        .coordinate_clip(0.5)
        .weights(100)
        .build()
        .unwrap();
    let req = config.requirement(n).unwrap();
    assert_eq!((req.coordinate_bound, req.weight_bound), (2048, 4000));
    assert_eq!(req.signal_bound, 10 * 4000);
    assert_eq!(req.smallest_bits, 17);
    let enc = config
        .check(Modulus::power_of_two(req.smallest_bits).unwrap(), n)
        .unwrap();
    let x: Vec<f64> = (0..20).map(|j| if j == 3 { 0.125 } else { 0.0 }).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let inputs = (0..n)
        .map(|_| enc.encode_weighted(&x, 100, &mut rng).unwrap().0)
        .collect();
    let mean = enc.decode(&sum(&enc, inputs), n).unwrap();
    assert!(l2(&mean, &x) <= 32f64.sqrt() / 4096.0 + 1e-9, "{mean:?}");
}

/// An explicit weight unit `k = 1` (no noise): the weight element is bounded by `w_max`
/// itself, so the preflight asks for the modulus of the update alone, and the weighted mean
/// still decodes exactly (the total weight is an integer sum). Here `B = ⌈γ b⌉ = 2048`,
/// `W = 4000` by default (one more bit for ten clients) and `W = 100` with `k = 1`.
#[test]
fn weight_unit_one_needs_only_the_updates_modulus() {
    let n = 10;
    let builder = || {
        EncoderConfig::builder(20, 4096.0)
            .l2_clip(1.0)
            .rotation(rotation_seed(&SID))
            .coordinate_clip(0.5)
            .weights(100)
    };
    let default = builder().build().unwrap().requirement(n).unwrap();
    let config = builder().weight_unit(1).build().unwrap();
    let req = config.requirement(n).unwrap();
    assert_eq!((req.coordinate_bound, req.weight_bound), (2048, 100));
    assert_eq!(req.signal_bound, 10 * 2048);
    assert_eq!((default.smallest_bits, req.smallest_bits), (17, 16));
    let enc = config
        .check(Modulus::power_of_two(req.smallest_bits).unwrap(), n)
        .unwrap();
    let x: Vec<f64> = (0..20)
        .map(|j| if j == 3 { 0.125 } else { -0.0625 })
        .collect();
    let y: Vec<f64> = x.iter().map(|v| -v).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(18);
    // Weights 30 (x) and 10 (y), five clients each: the weighted mean is x / 2.
    let inputs = (0..n)
        .map(|i| {
            let (v, w) = if i % 2 == 0 { (&x, 30) } else { (&y, 10) };
            enc.encode_weighted(v, w, &mut rng).unwrap().0
        })
        .collect();
    let mean = enc.decode(&sum(&enc, inputs), n).unwrap();
    let want: Vec<f64> = x.iter().map(|v| v / 2.0).collect();
    // Each of the n roundings moves a (rotated) coordinate by less than one unit: the sum's
    // error has L2 norm below n·√32 units, divided by γ and by W_tot / w_max = 2.
    let bound = n as f64 * 32f64.sqrt() / 4096.0 / 2.0;
    assert!(l2(&mean, &want) <= bound, "{mean:?}");
    assert!(matches!(
        builder().weight_unit(0).build(),
        Err(EncodingError::Config(_))
    ));
}

mod one_pass {
    //! `Encoding::encode_one_pass` against the step-by-step reference (`encode`,
    //! `encode_weighted`): the same encoded vector, the same clipping report and the same
    //! generator state afterwards, bit for bit, over random configurations (every clip, the
    //! rotation, weights and weight units, conditional rounding, both noises, moduli near the
    //! preflight's smallest) and random inputs (tiny, whole, huge, signed zeros), from `f64` and
    //! from `f32`; and the same errors in the same order. In this file with the encoder tests
    //! above, so the two share their test devices (`ZeroBits`).

    #![allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "fixtures on small, known values"
    )]

    use chacha20::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    use super::ZeroBits;
    use secagg::dp::NoiseKind;
    use secagg::encoding::{ClipReport, EncoderConfig, Encoding, EncodingError};
    use secagg::{Modulus, PlainInput};

    /// One random configuration, checked against a modulus a few bits above the smallest the
    /// preflight accepts; `None` when the noise's tail bound refuses every modulus up to 2^64.
    fn random_encoding(rng: &mut ChaCha20Rng) -> Option<(Encoding, Option<u32>)> {
        let dim = 1 + (rng.next_u32() % 300) as usize;
        let noise = rng.next_u32() % 5;
        // With noise, a coarse scale: the samplers' cost grows with the variance.
        let max_scale_bits = if noise < 2 { 6 } else { 25 };
        let scale = 2f64.powi((rng.next_u32() % max_scale_bits).cast_signed())
            * (1.0 + f64::from(rng.next_u32() % 7));
        let mut b = EncoderConfig::builder(dim, scale);
        let which = rng.next_u32() % 3;
        if which != 1 {
            b = b.l2_clip(0.25 + f64::from(rng.next_u32() % 40));
        }
        if which != 0 {
            b = b.coordinate_clip(0.05 + f64::from(rng.next_u32() % 16) / 4.0);
        }
        if rng.next_u32().is_multiple_of(3) {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            b = b.rotation(seed);
        }
        let max_weight = (rng.next_u32().is_multiple_of(2)).then(|| 1 + rng.next_u32() % 1000);
        if let Some(w) = max_weight {
            b = b.weights(w);
            if rng.next_u32().is_multiple_of(2) {
                b = b.weight_unit(1 + u64::from(rng.next_u32() % 5));
            }
        }
        if rng.next_u32().is_multiple_of(3) {
            // Tight: redraws happen.
            b = b.conditional_rounding(0.05 + f64::from(rng.next_u32() % 40) / 100.0);
        }
        match noise {
            0 => b = b.noise(NoiseKind::DiscreteGaussian, 0.5, 3),
            1 => b = b.noise(NoiseKind::Skellam, 0.7, 2),
            _ => {}
        }
        let config = b.build().ok()?;
        let clients = 2 + (rng.next_u32() % 50) as usize;
        let bits = config.requirement(clients).ok()?.smallest_bits + rng.next_u32() % 3;
        let modulus = Modulus::power_of_two(bits.min(64)).ok()?;
        let encoding = config.check(modulus, clients).ok()?;
        Some((encoding, max_weight))
    }

    /// A random input of `dim` coordinates: mostly moderate values, with tiny, whole, huge and
    /// signed-zero coordinates mixed in (clipping, exact rounding, long Bernoulli draws).
    fn random_input(rng: &mut ChaCha20Rng, dim: usize) -> Vec<f64> {
        let spread = 2f64.powi((rng.next_u32() % 12).cast_signed() - 6);
        let huge = if rng.next_u32().is_multiple_of(2) {
            1e6
        } else {
            spread
        };
        (0..dim)
            .map(|_| {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let sign = if rng.next_u32().is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                };
                match rng.next_u32() % 16 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => sign * 1e-300,
                    3 => sign * f64::from(rng.next_u32() % 8),
                    4 => sign * huge * u,
                    5 => sign * 2f64.powi(-40),
                    _ => sign * spread * u,
                }
            })
            .collect()
    }

    fn reference<R: rand_core::CryptoRng + ?Sized>(
        enc: &Encoding,
        x: &[f64],
        weight: Option<u32>,
        rng: &mut R,
    ) -> Result<(PlainInput, ClipReport), EncodingError> {
        match weight {
            Some(w) => enc.encode_weighted(x, w, rng),
            None => enc.encode(x, rng),
        }
    }

    fn assert_same(
        case: u64,
        a: Result<(PlainInput, ClipReport), EncodingError>,
        b: Result<(PlainInput, ClipReport), EncodingError>,
    ) {
        match (a, b) {
            (Ok((xa, ra)), Ok((xb, rb))) => {
                assert_eq!(
                    xa.as_slice(),
                    xb.as_slice(),
                    "case {case}: encodings differ"
                );
                assert_eq!(ra.norm.to_bits(), rb.norm.to_bits(), "case {case}: norms");
                assert_eq!(ra, rb, "case {case}: reports");
            }
            (Err(ea), Err(eb)) => assert_eq!(ea, eb, "case {case}: errors"),
            (a, b) => panic!(
                "case {case}: one path failed: {:?} vs {:?}",
                a.map(|r| r.1),
                b.map(|r| r.1)
            ),
        }
    }

    #[test]
    fn one_pass_equals_the_reference_bit_for_bit() {
        let mut cases = ChaCha20Rng::seed_from_u64(2026);
        let (mut compared, mut with_noise, mut rotated) = (0, 0, 0);
        let (mut clipped, mut unclipped) = (0, 0);
        for case in 0..600u64 {
            let Some((enc, max_weight)) = random_encoding(&mut cases) else {
                continue;
            };
            let x = random_input(&mut cases, enc.config().dim());
            let weight = max_weight.map(|w| cases.next_u32() % (w + 1));
            let seed = cases.next_u64();
            let (mut r1, mut r2) = (
                ChaCha20Rng::seed_from_u64(seed),
                ChaCha20Rng::seed_from_u64(seed),
            );
            let want = reference(&enc, &x, weight, &mut r1);
            let got = enc.encode_one_pass(&x, weight, &mut r2);
            if let Ok((_, report)) = &want {
                clipped += usize::from(report.clipped());
                unclipped += usize::from(!report.clipped());
            }
            assert_same(case, want, got);
            // The generator was read exactly as far.
            assert_eq!(
                r1.next_u64(),
                r2.next_u64(),
                "case {case}: generator states"
            );
            compared += 1;
            with_noise += usize::from(enc.config().local_noise().is_some());
            rotated += usize::from(enc.vector_len() > enc.config().dim() + 1);
        }
        println!(
            "{compared} compared, {with_noise} with noise, {rotated} rotated, \
             {clipped} clipped, {unclipped} not"
        );
        assert!(compared >= 300 && with_noise >= 40 && rotated >= 40);
        assert!(clipped >= 40 && unclipped >= 40);
    }

    #[test]
    fn one_pass_from_f32_equals_the_reference_on_the_widened_input() {
        let mut cases = ChaCha20Rng::seed_from_u64(32);
        let mut compared = 0;
        for case in 0..200u64 {
            let Some((enc, max_weight)) = random_encoding(&mut cases) else {
                continue;
            };
            let x: Vec<f32> = random_input(&mut cases, enc.config().dim())
                .iter()
                .map(|v| *v as f32)
                .collect();
            let widened: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
            let weight = max_weight.map(|w| cases.next_u32() % (w + 1));
            let seed = cases.next_u64();
            let want = reference(
                &enc,
                &widened,
                weight,
                &mut ChaCha20Rng::seed_from_u64(seed),
            );
            let got = enc.encode_one_pass(&x, weight, &mut ChaCha20Rng::seed_from_u64(seed));
            assert_same(case, want, got);
            compared += 1;
        }
        assert!(compared >= 100);
    }

    #[test]
    fn one_pass_fails_as_the_reference_does() {
        let m = Modulus::power_of_two(32).unwrap();
        let enc = EncoderConfig::builder(4, 16.0)
            .l2_clip(1.0)
            .weights(10)
            .build()
            .unwrap()
            .check(m, 4)
            .unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let ok = [0.1, 0.2, 0.3, 0.4];
        let cases: [(&[f64], Option<u32>); 6] = [
            (&ok, None),
            (&ok, Some(11)),
            (&ok[..3], Some(1)),
            (&[0.0, f64::NAN, f64::INFINITY, 0.0], Some(1)),
            (&[f64::NEG_INFINITY, 0.0, 0.0, 0.0], Some(1)),
            // Length before finiteness, weight before both.
            (&[f64::NAN], Some(11)),
        ];
        let want = [
            EncodingError::Weight { max: 10 },
            EncodingError::Weight { max: 10 },
            EncodingError::InputLength {
                got: 3,
                expected: 4,
            },
            EncodingError::NonFinite { index: 1 },
            EncodingError::NonFinite { index: 0 },
            EncodingError::Weight { max: 10 },
        ];
        for ((x, w), e) in cases.iter().zip(want) {
            assert_eq!(reference(&enc, x, *w, &mut rng).unwrap_err(), e);
            assert_eq!(enc.encode_one_pass(x, *w, &mut rng).unwrap_err(), e);
        }
        let unweighted = EncoderConfig::builder(1, 1.0)
            .l2_clip(3.0)
            .build()
            .unwrap()
            .check(Modulus::power_of_two(8).unwrap(), 42)
            .unwrap();
        assert_eq!(
            unweighted
                .encode_one_pass(&[1.0], Some(1), &mut rng)
                .unwrap_err(),
            EncodingError::Weight { max: 0 }
        );
        // 187 · (3 / 187) > 3 in f64: forced up, the coordinate passes its bound on every draw.
        assert_eq!(
            unweighted
                .encode_one_pass(&[187.0], None, &mut ZeroBits)
                .unwrap_err(),
            EncodingError::Rounding
        );
        assert_eq!(
            unweighted.encode(&[187.0], &mut ZeroBits).unwrap_err(),
            EncodingError::Rounding
        );
        // Conditional rounding with β = 1/2 (tests/encoding.rs): all up is over the norm bound.
        let tight = EncoderConfig::builder(16, 1.0)
            .l2_clip(98.0)
            .conditional_rounding(0.5)
            .build()
            .unwrap()
            .check(m, 2)
            .unwrap();
        assert_eq!(
            tight
                .encode_one_pass(&[24.5; 16], None, &mut ZeroBits)
                .unwrap_err(),
            EncodingError::Rounding
        );
        let (a, _) = tight
            .encode(&[24.5; 16], &mut ChaCha20Rng::seed_from_u64(9))
            .unwrap();
        let (b, _) = tight
            .encode_one_pass(&[24.5; 16], None, &mut ChaCha20Rng::seed_from_u64(9))
            .unwrap();
        assert_eq!(a.as_slice(), b.as_slice());
    }
}
