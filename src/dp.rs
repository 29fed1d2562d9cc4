//! Distributed differential privacy: integer noise that clients add before masking, and an
//! accountant for what the released sum then guarantees.
//!
//! Secure aggregation hides each client's vector from the server; it does not hide a
//! client's *contribution* to the sum, which the server learns. Distributed DP closes that
//! gap: every client adds a little integer noise to its encoded vector, so that the noise
//! of any `t` contributors — the smallest sum the server can release — together reaches the
//! level that central DP would need (Kairouz, Liu and Steinke, ICML 2021). Two noise
//! distributions are offered, both sampled exactly from a [`rand_core::CryptoRng`] with
//! integer arithmetic only:
//!
//! * [`DiscreteGaussian`]: Canonne, Kamath and Steinke, NeurIPS 2020, Algorithm 3;
//! * [`Skellam`]: the difference of two Poisson variables (Agarwal, Kairouz and Liu,
//!   NeurIPS 2021), closed under summation.
//!
//! The accountant ([`epsilon`], feature `std`) turns the noise actually added, after
//! quantization, into Rényi DP for one round, composes it over rounds and converts it to
//! `(ε, δ)`. The assumptions behind the numbers are stated in `docs/PRIVACY.md`.

use core::fmt;

mod exact;
mod gaussian;
mod skellam;

#[cfg(feature = "std")]
mod accountant;
#[cfg(feature = "std")]
mod noise;

#[cfg(feature = "std")]
pub use accountant::{Mechanism, Privacy, Sensitivity, epsilon, rdp};
pub use gaussian::DiscreteGaussian;
#[cfg(feature = "std")]
pub use noise::{LocalNoise, NoiseKind};
pub use skellam::Skellam;

/// What can go wrong when setting up noise or accounting for it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DpError {
    /// A variance outside what the exact samplers accept (zero, or past `2^44`–`2^52`
    /// integer units depending on the distribution, or a denominator past `2^20`).
    Variance,
    /// `δ` is not in `(0, 1)`.
    Delta,
    /// Zero rounds or zero contributors.
    Count,
    /// A sensitivity or noise parameter that is negative, zero where it must not be, or not
    /// finite.
    Parameter(&'static str),
    /// The distributed discrete Gaussian analysis needs a local standard deviation of at
    /// least 1/2 (Kairouz, Liu and Steinke, ICML 2021, Theorem 1).
    LocalNoiseTooSmall {
        /// The local variance given.
        local_variance: f64,
    },
}

impl fmt::Display for DpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variance => write!(
                f,
                "noise variance out of the sampler's exact range (numerator 1..=2^44 or 2^52, denominator 1..=2^20)"
            ),
            Self::Delta => write!(f, "delta must be in (0, 1)"),
            Self::Count => write!(f, "rounds and contributors must be at least 1"),
            Self::Parameter(what) => write!(f, "invalid parameter: {what}"),
            Self::LocalNoiseTooSmall { local_variance } => write!(
                f,
                "local noise variance {local_variance} is below 1/4: the distributed discrete Gaussian bound needs sigma >= 1/2"
            ),
        }
    }
}

impl core::error::Error for DpError {}
