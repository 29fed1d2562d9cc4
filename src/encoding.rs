//! From float vectors to elements of `Z_m` and back: clipping, a randomized Hadamard
//! rotation, scaling, unbiased stochastic rounding, weights for federated averaging,
//! optional distributed-DP noise, and the preflight check that the sum cannot wrap.
//!
//! Clients hold float model updates; secure aggregation sums integers mod `m`. This module
//! is the bridge, done so that nothing happens silently:
//!
//! * NaN and infinities are rejected ([`EncodingError::NonFinite`]);
//! * clipping to an L2 bound and/or a per-coordinate bound is reported in a [`ClipReport`];
//! * the preflight check ([`EncoderConfig::check`]) proves with exact integer arithmetic
//!   that the sum of `n` clients' encodings cannot wrap around the modulus, or bounds the
//!   probability that noise tails make it wrap, and otherwise fails with the numbers and
//!   the smallest modulus that would work;
//! * a weighted mean (FedAvg) carries each client's weight as one more element, bounded by
//!   a declared maximum, and the decoder divides by the released total weight.
//!
//! The pipeline of one client (`d` inputs, padded to `d'` coordinates):
//!
//! 1. reject non-finite values; clip to the L2 bound `c` (if set);
//! 2. weighted: multiply by `w / w_max` (so the norm stays within `c`);
//! 3. rotate (if set): `y = H D x / sqrt(d')`, `D` random signs from a public seed shared
//!    by the session, `H` the Walsh–Hadamard matrix, `d'` the next power of two;
//! 4. clip each coordinate to `[-b, b]` (if set), in the rotated basis;
//! 5. multiply by the scale `γ` and round each coordinate to `floor` or `ceil` with the
//!    probability that makes it unbiased, drawn exactly from the caller's CSPRNG; redraw
//!    while the integer vector's squared norm exceeds the declared bound (conditional
//!    rounding, Kairouz, Liu and Steinke, ICML 2021, §4.1), so the sensitivity is exact;
//! 6. append the weight element `w · k` (`k` the weight unit);
//! 7. add local noise (if set) and map each signed value `v` to `v mod m` (negative values
//!    become `m + v`).
//!
//! The decoder lifts each coordinate of the sum to `(-m/2, m/2]`, divides by `γ`, undoes
//! the rotation, drops the padding and divides by the number of contributors or by the
//! total weight. Error bounds are in `docs/ENCODING.md`.
//!
//! Requires the `std` feature (floating-point square roots and logarithms).

#![cfg(feature = "std")]

use core::fmt;

use crate::dp::DpError;

mod codec;
mod config;
mod fused;
mod preflight;
mod rotation;
mod rounding;

pub use codec::{ClipReport, Encoding};
pub use config::{EncoderConfig, EncoderConfigBuilder, NoiseSpec, rotation_seed};
pub use fused::Coordinate;
pub use preflight::{Budget, Requirement};

/// What can go wrong when configuring, checking, encoding or decoding.
///
/// No variant carries a client's values: only indices, lengths and public bounds.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EncodingError {
    /// An invalid configuration value; the text names it.
    Config(&'static str),
    /// The noise could not be set up.
    Noise(DpError),
    /// The scale is so large that an encoded coordinate could pass `2^62`.
    ScaleTooLarge,
    /// The input vector has the wrong length.
    InputLength {
        /// The length given.
        got: usize,
        /// The configured length.
        expected: usize,
    },
    /// The input holds a NaN or an infinity at this index (rejected, never clipped).
    NonFinite {
        /// The first offending index.
        index: usize,
    },
    /// A weight above the declared maximum, a missing weight on a weighted encoding, or a
    /// weight given to an unweighted one.
    Weight {
        /// The declared maximum weight (0 when the encoding is unweighted).
        max: u32,
    },
    /// Conditional rounding found no rounding within the norm bound after many draws
    /// (each draw fails with probability at most `β`; this does not happen in practice).
    Rounding,
    /// The sum of `n` encodings can exceed what the modulus represents: no noise, so this
    /// is exact.
    WouldWrap {
        /// The largest absolute coordinate of the sum.
        need: u128,
        /// The largest absolute value the modulus represents, `floor((m - 1) / 2)`.
        capacity: u128,
        /// The smallest modulus that would work, `2 · need + 1`.
        smallest_modulus: u128,
        /// The smallest power of two that would work, as `log2`.
        smallest_bits: u32,
    },
    /// With noise, the bound on the probability of a wrap exceeds the target.
    NoiseMayWrap {
        /// The bound on the probability that any coordinate wraps.
        probability: f64,
        /// The target.
        target: f64,
        /// The smallest modulus that would meet the target.
        smallest_modulus: u128,
        /// The smallest power of two that would, as `log2`.
        smallest_bits: u32,
    },
    /// The aggregate has the wrong length.
    SumLength {
        /// The length given.
        got: usize,
        /// The encoded length.
        expected: usize,
    },
    /// Decoding a mean of zero contributors.
    NoContributors,
    /// The noise is calibrated for sums of at least `min` clients, but a session's threshold
    /// lets the protocol release a sum of `got` (see [`Encoding::check_params`]), or a sum
    /// of `got` contributors was given to decode.
    TooFewContributors {
        /// The noise's `min_contributors`.
        min: usize,
        /// The session threshold, or the number of contributors given to decode.
        got: usize,
    },
    /// The released total weight is zero or negative (noise can do this when the true
    /// total is small); no weighted mean can be formed.
    NonPositiveWeight,
}

impl From<DpError> for EncodingError {
    fn from(e: DpError) -> Self {
        Self::Noise(e)
    }
}

impl fmt::Display for EncodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(what) => write!(f, "encoding: invalid configuration: {what}"),
            Self::Noise(e) => write!(f, "encoding: noise: {e}"),
            Self::ScaleTooLarge => {
                write!(f, "encoding: scale too large: coordinates could pass 2^62")
            }
            Self::InputLength { got, expected } => {
                write!(f, "encoding: input has {got} values, expected {expected}")
            }
            Self::NonFinite { index } => {
                write!(f, "encoding: input value {index} is NaN or infinite")
            }
            Self::Weight { max } => write!(
                f,
                "encoding: weight missing, unexpected or above the declared maximum {max}"
            ),
            Self::Rounding => write!(f, "encoding: conditional rounding failed repeatedly"),
            Self::WouldWrap {
                need,
                capacity,
                smallest_modulus,
                smallest_bits,
            } => write!(
                f,
                "preflight: the sum can reach ±{need} but the modulus represents only ±{capacity}; smallest modulus {smallest_modulus} (2^{smallest_bits})"
            ),
            Self::NoiseMayWrap {
                probability,
                target,
                smallest_modulus,
                smallest_bits,
            } => write!(
                f,
                "preflight: noise may wrap the sum with probability up to {probability:e} (target {target:e}); smallest modulus {smallest_modulus} (2^{smallest_bits})"
            ),
            Self::SumLength { got, expected } => {
                write!(f, "decoding: sum has {got} elements, expected {expected}")
            }
            Self::NoContributors => write!(f, "decoding: no contributors"),
            Self::TooFewContributors { min, got } => write!(
                f,
                "encoding: noise calibrated for sums of at least {min} contributors, but a sum can hold {got}"
            ),
            Self::NonPositiveWeight => {
                write!(f, "decoding: released total weight is not positive")
            }
        }
    }
}

impl core::error::Error for EncodingError {}
