//! `Encoding::encode_one_pass` against the step-by-step reference (`encode`,
//! `encode_weighted`): the same encoded vector, the same clipping report and the same
//! generator state afterwards, bit for bit, over random configurations (every clip, the
//! rotation, weights and weight units, conditional rounding, both noises, moduli near the
//! preflight's smallest) and random inputs (tiny, whole, huge, signed zeros), from `f64` and
//! from `f32`; and the same errors in the same order.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "fixtures on small, known values"
)]

use core::convert::Infallible;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
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

/// All-zero "random" bits: every positive fraction rounds up, which drives both paths
/// through the redraw loop into the same outcome (a test device, nothing random about it).
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
