//! The client's encoding in one pass over the update: [`Encoding::encode_one_pass`].
//!
//! [`Encoding::encode`] follows the pipeline of the module docs step by step, each step a
//! pass over a vector of its own (a padded copy, the scaled copy, the rounded integers, the
//! group elements). This path computes the same function element by element: a read-only
//! pass for the finiteness check and the L2 norm, then one pass that clips, weights, scales,
//! rounds and maps each coordinate into `Z_m`, written straight into the output. Only the
//! rotation, which mixes all coordinates, still needs a vector of its own.
//!
//! Bit for bit the same result from the same generator state: every floating-point
//! operation is the reference's, in the same order and on the same operands, and the
//! generator is read in the same order (all rounding draws, redraws included, then the
//! noise). `tests/encoding.rs` checks it over random inputs and configurations.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::arith::PlainInput;

use super::EncodingError;
use super::codec::{ClipReport, Encoding, MAX_ROUNDING_DRAWS};
use super::rotation;
use super::rounding::stochastic_round_to_int;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A float coordinate the encoder reads: `f64`, or `f32` (widened to `f64` exactly, so an
/// `f32` update encodes exactly as its `f64` copy would).
pub trait Coordinate: Copy + sealed::Sealed {
    /// The value as an `f64`.
    fn widen(self) -> f64;
}

impl Coordinate for f64 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
}

impl Coordinate for f32 {
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

/// The per-coordinate factors applied before the coordinate clip, in the reference's order.
#[derive(Clone, Copy)]
struct Factors {
    /// `c / ‖x‖` when the L2 clip applies.
    l2: Option<f64>,
    /// `w / w_max` for a weighted encoding.
    weight: Option<f64>,
}

impl Factors {
    #[inline(always)]
    fn apply(self, mut x: f64) -> f64 {
        if let Some(f) = self.l2 {
            x *= f;
        }
        if let Some(f) = self.weight {
            x *= f;
        }
        x
    }
}

impl Encoding {
    /// [`Self::encode`] (`weight = None`) or [`Self::encode_weighted`] (`weight = Some(w)`)
    /// in one pass over the input, without the intermediate vectors; `f32` or `f64` input.
    ///
    /// For the same generator state it returns the same [`PlainInput`] and [`ClipReport`]
    /// as the reference path, bit for bit, and leaves the generator in the same state
    /// (module docs). Only the rotation, when configured, keeps a vector of its own
    /// (zeroized).
    ///
    /// # Errors
    /// As [`Self::encode`] and [`Self::encode_weighted`], in the same order:
    /// [`EncodingError::Weight`], [`EncodingError::InputLength`],
    /// [`EncodingError::NonFinite`] (the first offending index), [`EncodingError::Rounding`].
    pub fn encode_one_pass<T: Coordinate, R: CryptoRng + ?Sized>(
        &self,
        input: &[T],
        weight: Option<u32>,
        rng: &mut R,
    ) -> Result<(PlainInput, ClipReport), EncodingError> {
        let weight_factor = match (weight, self.config.max_weight) {
            (None, None) => None,
            (Some(w), Some(max)) if w <= max => Some(f64::from(w) / f64::from(max)),
            (_, max) => {
                return Err(EncodingError::Weight {
                    max: max.unwrap_or(0),
                });
            }
        };
        let expected = self.config.dim;
        if input.len() != expected {
            return Err(EncodingError::InputLength {
                got: input.len(),
                expected,
            });
        }
        if let Some(index) = input.iter().position(|x| !x.widen().is_finite()) {
            return Err(EncodingError::NonFinite { index });
        }
        // The reference's sum over the padded copy: the padding adds only `+0.0` terms.
        let norm = input
            .iter()
            .map(|x| x.widen() * x.widen())
            .sum::<f64>()
            .sqrt();
        let mut report = ClipReport {
            norm,
            l2_clipped: false,
            coordinates_clipped: 0,
        };
        let mut factors = Factors {
            l2: None,
            weight: weight_factor,
        };
        if let Some(c) = self.config.l2_clip
            && norm > c
        {
            factors.l2 = Some(c / norm);
            report.l2_clipped = true;
        }
        // Full capacity from the start (the weight element included): never reallocated,
        // so zeroizing it on drop leaves no copy behind.
        let mut out = Zeroizing::new(Vec::with_capacity(self.config.bounds.len));
        report.coordinates_clipped = match &self.signs {
            None => self.round_into(input, |x| factors.apply(x.widen()), &mut out, rng)?,
            Some(signs) => {
                let padded = self.config.bounds.padded;
                let mut v = Zeroizing::new(Vec::with_capacity(padded));
                v.extend(input.iter().map(|x| factors.apply(x.widen())));
                v.resize(padded, 0.0);
                rotation::rotate(&mut v, signs);
                self.round_into(&v, |x| x, &mut out, rng)?
            }
        };
        self.finish_group(&mut out, weight, rng);
        // Moves the buffer, not its contents: `out` is left empty.
        Ok((PlainInput::new(core::mem::take(&mut *out)), report))
    }

    /// Clips, scales and rounds each coordinate of `source` (after `pre`), redrawing the
    /// whole rounding while it leaves the bounds (as [`Encoding::encode`] does), and writes
    /// each rounded value mod `m` into `out`. Returns the number of clipped coordinates.
    fn round_into<S: Copy, R: CryptoRng + ?Sized>(
        &self,
        source: &[S],
        pre: impl Fn(S) -> f64,
        out: &mut Vec<u64>,
        rng: &mut R,
    ) -> Result<usize, EncodingError> {
        let bounds = &self.config.bounds;
        let limit = bounds.coordinate;
        let (clip, scale) = (self.config.coordinate_clip, self.config.scale);
        let m = self.signed_modulus();
        // Every accepted |r| is at most the coordinate bound; below m (as the preflight makes
        // it), v mod m is v or m + v, computed in u64 with wrap-around.
        let small = i128::from(limit) < m;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 2^64 wraps to 0
        let m_wrapped = m as u64;
        for _ in 0..MAX_ROUNDING_DRAWS {
            // A rejected draw's elements are overwritten by the next draw: `out` never
            // reallocates (its capacity is the whole encoding), so no copy is left behind.
            out.clear();
            let mut norm_sq: u128 = 0;
            let mut clipped = 0;
            let mut in_range = true;
            for &s in source {
                let mut x = pre(s);
                if let Some(b) = clip
                    && x.abs() > b
                {
                    x = x.signum() * b;
                    clipped += 1;
                }
                let r = stochastic_round_to_int(x * scale, rng);
                let Some(r) = r.filter(|r| r.unsigned_abs() <= limit) else {
                    in_range = false;
                    break;
                };
                norm_sq = norm_sq.saturating_add(u128::from(r.unsigned_abs()).pow(2));
                out.push(if small {
                    // mod m by design: r < 0 becomes m + r (mod 2^64, = m + r since |r| < m).
                    #[allow(clippy::cast_sign_loss)]
                    let bits = r as u64;
                    bits.wrapping_add(if r < 0 { m_wrapped } else { 0 })
                } else {
                    reduce(i128::from(r), m)
                });
            }
            if in_range && norm_sq <= bounds.norm_sq {
                return Ok(clipped);
            }
        }
        out.clear();
        Err(EncodingError::Rounding)
    }

    /// Appends the weight element and adds the local noise, both mod `m`, in the
    /// reference's order (the noise after every rounding draw, element by element).
    fn finish_group<R: CryptoRng + ?Sized>(
        &self,
        out: &mut Vec<u64>,
        weight: Option<u32>,
        rng: &mut R,
    ) {
        let m = self.signed_modulus();
        if let Some(w) = weight {
            let unit = i128::from(self.config.bounds.weight_unit);
            out.push(reduce(i128::from(w) * unit, m));
        }
        if let Some(noise) = self.config.local_noise() {
            for v in out.iter_mut() {
                // (v mod m + e) mod m = (v + e) mod m: the reference reduces the noisy sum.
                let noisy = i128::from(*v) + i128::from(noise.sample(rng));
                *v = reduce(noisy, m);
            }
        }
    }

    /// The modulus as an `i128` (at most `2^64`: the conversion cannot fail).
    fn signed_modulus(&self) -> i128 {
        i128::try_from(self.budget.modulus.value()).unwrap_or(i128::MAX)
    }
}

/// `v mod m` in `[0, m)` for `0 < m <= 2^64`, as the reference computes it. mod m by design:
/// negative values become `m + v`. Values within `(-m, m)`, always so without noise, skip
/// the (slow) 128-bit division.
#[inline(always)]
fn reduce(v: i128, m: i128) -> u64 {
    let reduced = if (0..m).contains(&v) {
        v
    } else if (-m..0).contains(&v) {
        v + m
    } else {
        v.rem_euclid(m)
    };
    u64::try_from(reduced).unwrap_or(0)
}
