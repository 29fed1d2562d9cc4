//! Local noise: what one client adds, calibrated so that any `t` clients together reach the
//! central noise level.

use rand_core::CryptoRng;

use super::accountant::Mechanism;
use super::{DiscreteGaussian, DpError, Skellam};

/// Which distribution the clients add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoiseKind {
    /// The discrete Gaussian (distributed discrete Gaussian mechanism).
    DiscreteGaussian,
    /// The Skellam distribution.
    Skellam,
}

/// The noise one client adds to every coordinate of its encoded vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalNoise {
    /// `N_Z(0, σ²)`.
    DiscreteGaussian(DiscreteGaussian),
    /// `Skellam(μ)`.
    Skellam(Skellam),
}

/// The largest power-of-two denominator used when turning a variance into a ratio.
const DENOMINATOR_BITS: u32 = 20;

/// `v` as `numerator / 2^k`, rounded *up* (so the noise is never below the request), with
/// the largest `k <= 20` that keeps the numerator at most `max_numerator`.
fn ratio_at_least(v: f64, max_numerator: u64) -> Result<(u64, u64), DpError> {
    if !(v.is_finite() && v > 0.0) {
        return Err(DpError::Parameter(
            "the local variance must be positive and finite",
        ));
    }
    for bits in (0..=DENOMINATOR_BITS).rev() {
        let den = 1u64 << bits;
        #[allow(clippy::cast_precision_loss)] // a power of two: exact
        let scaled = (v * den as f64).ceil();
        #[allow(clippy::cast_precision_loss)]
        if scaled <= max_numerator as f64 {
            // In range and a whole number: the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let num = scaled as u64;
            return Ok((num.max(1), den));
        }
    }
    Err(DpError::Variance)
}

impl LocalNoise {
    /// Calibrates local noise for a central standard deviation of
    /// `noise_multiplier × l2_sensitivity` (integer units) reached by any `min_contributors`
    /// clients: each client's variance is `(z Δ₂)² / t`, rounded up to an exact ratio.
    ///
    /// # Errors
    /// [`DpError::Parameter`] for a non-positive or non-finite multiplier or sensitivity,
    /// [`DpError::Count`] for `t = 0`, [`DpError::Variance`] when the variance is past the
    /// samplers' exact range.
    pub fn calibrate(
        kind: NoiseKind,
        noise_multiplier: f64,
        l2_sensitivity: f64,
        min_contributors: usize,
    ) -> Result<Self, DpError> {
        if !(noise_multiplier.is_finite() && noise_multiplier > 0.0) {
            return Err(DpError::Parameter("the noise multiplier must be positive"));
        }
        if !(l2_sensitivity.is_finite() && l2_sensitivity > 0.0) {
            return Err(DpError::Parameter("the sensitivity must be positive"));
        }
        if min_contributors == 0 {
            return Err(DpError::Count);
        }
        let central = noise_multiplier * l2_sensitivity;
        #[allow(clippy::cast_precision_loss)] // a client count is far below 2^53
        let local = central * central / min_contributors as f64;
        match kind {
            NoiseKind::DiscreteGaussian => {
                let (n, d) = ratio_at_least(local, 1 << 52)?;
                DiscreteGaussian::new(n, d).map(Self::DiscreteGaussian)
            }
            NoiseKind::Skellam => {
                let (n, d) = ratio_at_least(local, 1 << 44)?;
                Skellam::new(n, d).map(Self::Skellam)
            }
        }
    }

    /// Which distribution this is.
    #[must_use]
    pub fn kind(&self) -> NoiseKind {
        match self {
            Self::DiscreteGaussian(_) => NoiseKind::DiscreteGaussian,
            Self::Skellam(_) => NoiseKind::Skellam,
        }
    }

    /// One client's per-coordinate variance parameter, exactly as sampled.
    #[must_use]
    pub fn local_variance(&self) -> f64 {
        match self {
            Self::DiscreteGaussian(g) => g.variance(),
            Self::Skellam(s) => s.variance(),
        }
    }

    /// The mechanism the released sum of `contributors` clients' noise amounts to.
    #[must_use]
    pub fn mechanism(&self, contributors: usize) -> Mechanism {
        match self {
            Self::DiscreteGaussian(g) => Mechanism::DistributedDiscreteGaussian {
                local_variance: g.variance(),
                contributors,
            },
            #[allow(clippy::cast_precision_loss)] // a client count is far below 2^53
            Self::Skellam(s) => Mechanism::Skellam {
                variance: s.variance() * contributors as f64,
            },
        }
    }

    /// One sample.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        match self {
            Self::DiscreteGaussian(g) => g.sample(rng),
            Self::Skellam(s) => s.sample(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_rounds_up_and_splits_over_t() -> Result<(), DpError> {
        let noise = LocalNoise::calibrate(NoiseKind::DiscreteGaussian, 1.0, 100.0, 10)?;
        assert!(noise.local_variance() >= 1000.0);
        assert!(noise.local_variance() < 1000.0 + 1e-5);
        let s = LocalNoise::calibrate(NoiseKind::Skellam, 0.7, 3.0, 7)?;
        assert!(s.local_variance() >= 0.49 * 9.0 / 7.0);
        assert_eq!(
            LocalNoise::calibrate(NoiseKind::Skellam, 0.0, 3.0, 7),
            Err(DpError::Parameter("the noise multiplier must be positive"))
        );
        assert_eq!(
            LocalNoise::calibrate(NoiseKind::Skellam, 1e12, 1e12, 1),
            Err(DpError::Variance)
        );
        Ok(())
    }
}
