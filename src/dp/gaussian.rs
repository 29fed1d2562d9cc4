//! The discrete Laplace and discrete Gaussian distributions on the integers, sampled exactly
//! (Canonne, Kamath and Steinke, NeurIPS 2020, arXiv 2004.00010, Algorithms 2 and 3).

use rand_core::CryptoRng;

use super::DpError;
use super::exact::{
    bernoulli, bernoulli_exp, bernoulli_exp_minus_one, bernoulli_exp_parts, div_wide, square_wide,
    uniform_below,
};

/// The largest variance numerator accepted: `2^52`.
const MAX_NUMERATOR: u64 = 1 << 52;
/// The largest variance denominator accepted: `2^20`.
const MAX_DENOMINATOR: u64 = 1 << 20;

/// A discrete Laplace sample with integer scale `t >= 1`: `P(x) ∝ exp(-|x| / t)`.
/// Algorithm 2 of Canonne, Kamath and Steinke (2020) with `s = t / 1`. Returns the sign
/// (`true` for negative) and the magnitude; `None` only if the magnitude would pass
/// `2^128` (probability below `exp(-2^63)`), which the caller treats as a rejection.
fn discrete_laplace<R: CryptoRng + ?Sized>(t: u64, rng: &mut R) -> Option<(bool, u128)> {
    let t = u128::from(t);
    loop {
        let u = uniform_below(t, rng);
        if !bernoulli_exp(u, t, rng) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp_minus_one(rng) {
            v = v.saturating_add(1);
        }
        let x = t.checked_mul(v)?.checked_add(u)?;
        let negative = bernoulli(1, 2, rng);
        if negative && x == 0 {
            continue;
        }
        return Some((negative, x));
    }
}

/// The discrete Gaussian `N_Z(0, σ²)`: `P(x) ∝ exp(-x² / (2σ²))` on the integers, with
/// `σ² = numerator / denominator` an exact rational.
///
/// [`sample`](Self::sample) is Algorithm 3 of Canonne, Kamath and Steinke (NeurIPS 2020):
/// a discrete Laplace proposal of scale `t = floor(σ) + 1`, accepted with probability
/// `exp(-(|y| - σ²/t)² / (2σ²))`, drawn with exact rational arithmetic (a 256-bit square
/// divided by a 128-bit denominator). The output distribution is exact except on events of
/// probability below `exp(-2^40)` (a magnitude that overflows the integer types), where the
/// proposal is rejected and drawn again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscreteGaussian {
    num: u64,
    den: u64,
    /// `floor(σ) + 1`.
    t: u64,
    /// `2 · num · den · t²`: the denominator of the acceptance exponent.
    q: u128,
}

impl DiscreteGaussian {
    /// The discrete Gaussian with variance parameter `σ² = numerator / denominator`.
    ///
    /// # Errors
    /// [`DpError::Variance`] unless `1 <= numerator <= 2^52` and
    /// `1 <= denominator <= 2^20`.
    pub fn new(numerator: u64, denominator: u64) -> Result<Self, DpError> {
        if numerator == 0
            || denominator == 0
            || numerator > MAX_NUMERATOR
            || denominator > MAX_DENOMINATOR
        {
            return Err(DpError::Variance);
        }
        // floor(sqrt(n / d)) = floor(sqrt(floor(n / d))) for positive integers.
        let t = (numerator / denominator).isqrt() + 1;
        let q = 2u128
            .checked_mul(u128::from(numerator))
            .and_then(|x| x.checked_mul(u128::from(denominator)))
            .and_then(|x| x.checked_mul(u128::from(t)))
            .and_then(|x| x.checked_mul(u128::from(t)))
            .filter(|q| q >> 127 == 0)
            .ok_or(DpError::Variance)?;
        Ok(Self {
            num: numerator,
            den: denominator,
            t,
            q,
        })
    }

    /// `σ²` as the exact pair `(numerator, denominator)`.
    #[must_use]
    pub fn variance_ratio(&self) -> (u64, u64) {
        (self.num, self.den)
    }

    /// `σ²` as a float (for accounting and reports).
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // both parts are below 2^53: exact
    pub fn variance(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// One sample.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        loop {
            let Some((negative, y)) = discrete_laplace(self.t, rng) else {
                continue;
            };
            // γ = (|y| t den - num)² / (2 num den t²) = (|y| - σ²/t)² / (2σ²).
            let Some(scaled) = y
                .checked_mul(u128::from(self.t))
                .and_then(|x| x.checked_mul(u128::from(self.den)))
            else {
                continue;
            };
            let a = scaled.abs_diff(u128::from(self.num));
            let (high, low) = square_wide(a);
            let Some((whole, rem)) = div_wide(high, low, self.q) else {
                continue; // γ >= 2^128: acceptance probability below exp(-2^128)
            };
            if !bernoulli_exp_parts(whole, rem, self.q, rng) {
                continue;
            }
            let Ok(y) = i64::try_from(y) else { continue };
            return if negative { -y } else { y };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn rejects_out_of_range_variance() {
        assert_eq!(DiscreteGaussian::new(0, 1), Err(DpError::Variance));
        assert_eq!(DiscreteGaussian::new(1, 0), Err(DpError::Variance));
        assert_eq!(
            DiscreteGaussian::new(MAX_NUMERATOR + 1, 1),
            Err(DpError::Variance)
        );
        assert!(DiscreteGaussian::new(MAX_NUMERATOR, MAX_DENOMINATOR).is_ok());
        assert!(DiscreteGaussian::new(MAX_NUMERATOR, 1).is_ok());
    }

    #[test]
    fn discrete_laplace_is_symmetric_with_right_scale() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let n = 100_000;
        let t = 3u64;
        let mut zeros = 0;
        let mut sum = 0i64;
        for _ in 0..n {
            let (neg, x) = discrete_laplace(t, &mut rng).unwrap();
            let x = i64::try_from(x).unwrap();
            zeros += usize::from(x == 0);
            sum += if neg { -x } else { x };
        }
        // P(0) = (1 - e^{-1/t}) / (1 + e^{-1/t})
        let e = (-1.0f64 / t as f64).exp();
        let p0 = (1.0 - e) / (1.0 + e);
        let sd = (p0 * (1.0 - p0) / n as f64).sqrt();
        assert!((zeros as f64 / n as f64 - p0).abs() < 6.0 * sd);
        assert!((sum as f64 / n as f64).abs() < 0.1);
    }
}
