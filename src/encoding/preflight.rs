//! The preflight check: will the sum of `n` encodings fit in `Z_m`?
//!
//! Without noise the answer is a proof in exact integer arithmetic: every encoded
//! coordinate is bounded (the encoder enforces the bound), so the sum of `n` of them is at
//! most `n` times that, and it fits when that is at most `floor((m - 1) / 2)`, the largest
//! magnitude the centred lift represents. With noise, the summed noise of `n` clients is
//! bounded in probability: sub-Gaussian tails for the discrete Gaussian (each share is
//! `σ²`-sub-Gaussian; Canonne, Kamath and Steinke, NeurIPS 2020) and the Chernoff bound of
//! the Skellam distribution, with a union bound over the coordinates.

use crate::arith::Modulus;
use crate::dp::{LocalNoise, NoiseKind};

use super::EncodingError;
use super::codec::Encoding;
use super::config::EncoderConfig;

/// What a configuration needs from the modulus for a number of contributors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requirement {
    /// The most clients whose encodings can be in one sum.
    pub max_contributors: usize,
    /// Bound on one encoded update coordinate's magnitude (before noise).
    pub coordinate_bound: u64,
    /// Bound on the weight element (0 when unweighted).
    pub weight_bound: u64,
    /// Bound on any coordinate of the noiseless sum: `n · max(coordinate, weight)`.
    pub signal_bound: u128,
    /// The summed noise stays within `±noise_margin` on every coordinate except with at
    /// most the configured wrap probability (0 without noise).
    pub noise_margin: u128,
    /// The smallest modulus that works: `2 (signal_bound + noise_margin) + 1`.
    pub smallest_modulus: u128,
    /// The smallest power of two that works, as `log2` (may exceed 64, which no session
    /// supports).
    pub smallest_bits: u32,
}

/// A passed preflight check: the requirement and what the chosen modulus offers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// What the configuration needs.
    pub requirement: Requirement,
    /// The modulus checked.
    pub modulus: Modulus,
    /// `floor((m - 1) / 2)`: the largest magnitude the modulus represents.
    pub capacity: u128,
    /// Bound on the probability that some coordinate wraps (0 without noise: proven).
    pub wrap_probability: f64,
}

/// Bound on `P(some coordinate of the summed noise has |Z| > margin)`.
fn noise_tail(noise: &LocalNoise, contributors: usize, dims: usize, margin: u128) -> f64 {
    #[allow(clippy::cast_precision_loss)] // a bound: rounding of huge margins is harmless
    let (k, n, d) = (margin as f64 + 1.0, contributors as f64, dims as f64);
    let v = noise.local_variance() * n;
    let log_one_side = match noise.kind() {
        // Sum of n σ²-sub-Gaussian shares: P(Z >= k) <= exp(-k² / (2nσ²)).
        NoiseKind::DiscreteGaussian => -k * k / (2.0 * v),
        // Skellam(v): Chernoff with the MGF exp(v (cosh s - 1)), optimal s = asinh(k/v).
        NoiseKind::Skellam => {
            let x = k / v;
            let root_minus_one = x * x / ((1.0 + x * x).sqrt() + 1.0);
            -k * x.asinh() + v * root_minus_one
        }
    };
    (2.0 * d * log_one_side.exp()).min(1.0)
}

/// The smallest margin whose tail bound meets `target`.
fn noise_margin(noise: &LocalNoise, contributors: usize, dims: usize, target: f64) -> u128 {
    let meets = |m: u128| noise_tail(noise, contributors, dims, m) <= target;
    let mut hi: u128 = 1;
    while !meets(hi) {
        if hi >= 1 << 120 {
            return hi;
        }
        hi *= 2;
    }
    let mut lo = 0;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if meets(mid) { hi = mid } else { lo = mid + 1 }
    }
    lo
}

/// `log2` of the smallest power of two `2^b > smallest_modulus`: `2^b` then represents
/// `±(2^(b-1) - 1) >= ±need`.
fn bits_for(smallest_modulus: u128) -> u32 {
    u128::BITS - smallest_modulus.leading_zeros()
}

impl EncoderConfig {
    /// What this configuration needs from the modulus for `max_contributors` clients: the
    /// smallest modulus (and power of two) for which the sum cannot wrap, or, with noise,
    /// wraps with probability at most the configured target.
    ///
    /// To pick the fewest bits for a target precision `p` (the quantization step), build
    /// the configuration with scale `1 / p` and read
    /// [`smallest_bits`](Requirement::smallest_bits).
    ///
    /// # Errors
    /// [`EncodingError::Config`] for zero contributors or fewer than the noise's
    /// `min_contributors`.
    pub fn requirement(&self, max_contributors: usize) -> Result<Requirement, EncodingError> {
        if max_contributors == 0 {
            return Err(EncodingError::Config("at least one contributor"));
        }
        if self
            .noise_spec()
            .is_some_and(|s| s.min_contributors > max_contributors)
        {
            return Err(EncodingError::Config(
                "noise min_contributors exceeds the maximum number of contributors",
            ));
        }
        let b = &self.bounds;
        // usize -> u128 never truncates.
        let n = max_contributors as u128;
        let signal_bound = n * u128::from(b.coordinate.max(b.weight));
        let noise_margin = self.local_noise().map_or(0, |noise| {
            noise_margin(noise, max_contributors, b.len, self.wrap_probability)
        });
        let smallest_modulus = signal_bound
            .saturating_add(noise_margin)
            .saturating_mul(2)
            .saturating_add(1);
        Ok(Requirement {
            max_contributors,
            coordinate_bound: b.coordinate,
            weight_bound: b.weight,
            signal_bound,
            noise_margin,
            smallest_modulus,
            smallest_bits: bits_for(smallest_modulus),
        })
    }

    /// The preflight check, run before any protocol message: proves that the sum of up to
    /// `max_contributors` encodings cannot wrap around `modulus` (no noise), or that the
    /// noise makes it wrap with probability at most the configured target.
    ///
    /// # Errors
    /// [`EncodingError::WouldWrap`] or [`EncodingError::NoiseMayWrap`] with the numbers and
    /// the smallest modulus that would work; the errors of [`Self::requirement`].
    pub fn check(
        self,
        modulus: Modulus,
        max_contributors: usize,
    ) -> Result<Encoding, EncodingError> {
        let budget = self.budget(modulus, max_contributors)?;
        Ok(Encoding::new(self, budget))
    }

    /// The arithmetic of [`Self::check`] alone: the budget it would accept, without building
    /// the [`Encoding`] (whose rotation signs are a vector of the padded length).
    ///
    /// # Errors
    /// As [`Self::check`].
    pub fn budget(
        &self,
        modulus: Modulus,
        max_contributors: usize,
    ) -> Result<Budget, EncodingError> {
        let requirement = self.requirement(max_contributors)?;
        let capacity = (modulus.value() - 1) / 2;
        let wrap_probability = match self.local_noise() {
            None if requirement.signal_bound <= capacity => 0.0,
            None => {
                return Err(EncodingError::WouldWrap {
                    need: requirement.signal_bound,
                    capacity,
                    smallest_modulus: requirement.smallest_modulus,
                    smallest_bits: requirement.smallest_bits,
                });
            }
            Some(noise) => {
                let p = capacity
                    .checked_sub(requirement.signal_bound)
                    .map_or(1.0, |slack| {
                        noise_tail(noise, max_contributors, self.bounds.len, slack)
                    });
                if p > self.wrap_probability {
                    return Err(EncodingError::NoiseMayWrap {
                        probability: p,
                        target: self.wrap_probability,
                        smallest_modulus: requirement.smallest_modulus,
                        smallest_bits: requirement.smallest_bits,
                    });
                }
                p
            }
        };
        Ok(Budget {
            requirement,
            modulus,
            capacity,
            wrap_probability,
        })
    }
}
