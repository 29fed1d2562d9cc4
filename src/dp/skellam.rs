//! Exact Poisson and Skellam samplers with rational parameters.
//!
//! The Poisson sampler is a rejection sampler whose acceptance probability is a product of
//! exact rational Bernoulli trials, so, like the discrete Gaussian, it needs no floating
//! point. With `λ = p / q` and mode `m = floor(λ)`, the Poisson mass relative to the mode is
//! `P(k) / P(m) = Π_{j=m+1..k} λ/j` above the mode and `Π_{j=k+1..m} j/λ` below it: every
//! factor is at most one. The proposal is flat on a window `[m - w, m + w]`
//! (`w = floor(sqrt(m)) + 1`) with geometric tails whose ratios bound those factors
//! outside the window; the acceptance probability is the mass ratio divided by the
//! proposal weight, again a product of factors at most one. About two thirds of proposals
//! are accepted and each costs `O(sqrt(λ))` trials.

use rand_core::CryptoRng;

use super::DpError;
use super::exact::{bernoulli, uniform_below};

/// The largest numerator of `λ` (and of the Skellam variance): `2^44`.
const MAX_NUMERATOR: u64 = 1 << 44;
/// The largest denominator: `2^20`.
const MAX_DENOMINATOR: u64 = 1 << 20;

/// `Poisson(p / q)`, sampled exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Poisson {
    p: u128,
    q: u128,
    /// `floor(λ)`, the mode.
    m: u128,
    /// Half-width of the flat window.
    w: u128,
    /// Proposal weights on a common denominator: window, right tail, left tail.
    weights: [u128; 3],
}

impl Poisson {
    /// `Poisson(p / q)` for `p <= 2^44`, `1 <= q <= 2^21`.
    pub(crate) fn new(p: u64, q: u64) -> Result<Self, DpError> {
        if q == 0 || p > MAX_NUMERATOR || q > 2 * MAX_DENOMINATOR {
            return Err(DpError::Variance);
        }
        let (p, q) = (u128::from(p), u128::from(q));
        let m = p / q;
        let w = m.isqrt() + 1;
        // Right tail ratio λ / (m + w + 1) = p / (q (m + w + 1)); total weight r / (1 - r).
        let right_den = q * (m + w + 1) - p;
        // Left tail ratio l / λ = l q / p with l = m - w; present only when l >= 1.
        let l = m.saturating_sub(w);
        let (left_num, left_den) = if l == 0 { (0, 1) } else { (l * q, p - l * q) };
        let window = 2 * w + 1;
        let weights = [
            window
                .checked_mul(right_den)
                .and_then(|x| x.checked_mul(left_den)),
            p.checked_mul(left_den),
            left_num.checked_mul(right_den),
        ];
        let [Some(a), Some(b), Some(c)] = weights else {
            return Err(DpError::Variance);
        };
        a.checked_add(b)
            .and_then(|s| s.checked_add(c))
            .ok_or(DpError::Variance)?;
        Ok(Self {
            p,
            q,
            m,
            w,
            weights: [a, b, c],
        })
    }

    /// One sample.
    pub(crate) fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> u64 {
        if self.p == 0 {
            return 0;
        }
        loop {
            if let Some(k) = self.propose_and_accept(rng)
                && let Ok(k) = u64::try_from(k)
            {
                return k;
            }
        }
    }

    fn propose_and_accept<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Option<u128> {
        let [a, b, c] = self.weights;
        let u = uniform_below(a + b + c, rng);
        let (m, w, p, q) = (self.m, self.w, self.p, self.q);
        if u < a {
            // Flat window: k = m - w + offset, negatives rejected.
            let k = (m + uniform_below(2 * w + 1, rng)).checked_sub(w)?;
            return self.mass_ratio(k, rng).then_some(k);
        }
        if u < a + b {
            // Right tail: k = m + w + g, g >= 1 geometric with ratio p / (q (m + w + 1)).
            let edge = m + w + 1;
            let g = geometric(p, q.checked_mul(edge)?, rng);
            let k = (m + w).checked_add(g)?;
            let inner = self.mass_ratio(m + w, rng);
            return (inner && (edge..=k).all(|j| bernoulli(edge, j, rng))).then_some(k);
        }
        // Left tail (only drawn when l = m - w >= 1): k = l - g, g >= 1 geometric with
        // ratio l q / p, negatives rejected.
        let l = m.checked_sub(w).filter(|l| *l >= 1)?;
        let g = geometric(l * q, p, rng);
        let k = l.checked_sub(g)?;
        let inner = self.mass_ratio(l, rng);
        (inner && (k + 1..=l).all(|j| bernoulli(j, l, rng))).then_some(k)
    }

    /// `Bernoulli(P(k) / P(m))`: a product of exact trials, each at most one.
    fn mass_ratio<R: CryptoRng + ?Sized>(&self, k: u128, rng: &mut R) -> bool {
        let (m, p, q) = (self.m, self.p, self.q);
        if k >= m {
            (m + 1..=k).all(|j| q.checked_mul(j).is_some_and(|d| bernoulli(p, d, rng)))
        } else {
            (k + 1..=m).all(|j| bernoulli(j * q, p, rng))
        }
    }
}

/// `1 + ` the number of successes of `Bernoulli(num / den)` before the first failure:
/// `P(g) ∝ (num / den)^g` for `g >= 1`.
fn geometric<R: CryptoRng + ?Sized>(num: u128, den: u128, rng: &mut R) -> u128 {
    let mut g = 1u128;
    while bernoulli(num, den, rng) {
        g = g.saturating_add(1);
    }
    g
}

/// The Skellam distribution with variance `μ`: the difference of two independent
/// `Poisson(μ / 2)` variables (Agarwal, Kairouz and Liu, NeurIPS 2021). Sums of independent
/// Skellam variables are Skellam with the variances added, so `t` clients each adding
/// `Skellam(μ / t)` give exactly `Skellam(μ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skellam {
    num: u64,
    den: u64,
    half: Poisson,
}

impl Skellam {
    /// The Skellam distribution with variance `μ = numerator / denominator`.
    ///
    /// # Errors
    /// [`DpError::Variance`] unless `1 <= numerator <= 2^44` and
    /// `1 <= denominator <= 2^20`.
    pub fn new(numerator: u64, denominator: u64) -> Result<Self, DpError> {
        if numerator == 0 || denominator == 0 || denominator > MAX_DENOMINATOR {
            return Err(DpError::Variance);
        }
        let half = Poisson::new(numerator, 2 * denominator)?;
        Ok(Self {
            num: numerator,
            den: denominator,
            half,
        })
    }

    /// `μ` as the exact pair `(numerator, denominator)`.
    #[must_use]
    pub fn variance_ratio(&self) -> (u64, u64) {
        (self.num, self.den)
    }

    /// `μ` as a float (for accounting and reports).
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // both parts are below 2^53: exact
    pub fn variance(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// One sample.
    pub fn sample<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> i64 {
        let a = self.half.sample(rng);
        let b = self.half.sample(rng);
        // Both are far below 2^63 (λ <= 2^44; a sample past 2^62 has probability below
        // exp(-2^61)), so the difference fits; saturate rather than wrap regardless.
        let a = i64::try_from(a).unwrap_or(i64::MAX);
        let b = i64::try_from(b).unwrap_or(i64::MAX);
        a.saturating_sub(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn moments(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn poisson_mass_matches_small_lambda() {
        // λ = 3/2: compare the frequencies of 0..=5 with the exact mass.
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let pois = Poisson::new(3, 2).unwrap();
        let n = 200_000;
        let mut counts = [0usize; 6];
        for _ in 0..n {
            let k = usize::try_from(pois.sample(&mut rng)).unwrap();
            if k < 6 {
                counts[k] += 1;
            }
        }
        let lambda = 1.5f64;
        let mut pk = (-lambda).exp();
        for (k, &c) in counts.iter().enumerate() {
            if k > 0 {
                pk *= lambda / k as f64;
            }
            let sd = (pk * (1.0 - pk) / n as f64).sqrt();
            let got = c as f64 / n as f64;
            assert!((got - pk).abs() < 6.0 * sd, "k={k}: {got} vs {pk}");
        }
    }

    #[test]
    fn poisson_moments_for_several_lambdas() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        for (p, q) in [(1u64, 3u64), (7, 1), (1000, 3), (250_000, 1)] {
            let pois = Poisson::new(p, q).unwrap();
            let n = 40_000;
            let xs: Vec<f64> = (0..n).map(|_| pois.sample(&mut rng) as f64).collect();
            let (mean, var) = moments(&xs);
            let lambda = p as f64 / q as f64;
            let se_mean = (lambda / n as f64).sqrt();
            assert!(
                (mean - lambda).abs() < 6.0 * se_mean,
                "λ={lambda}: mean {mean}"
            );
            // Var of the sample variance ≈ (λ + 2λ²) / n for a Poisson.
            let se_var = ((lambda + 2.0 * lambda * lambda) / n as f64).sqrt();
            assert!((var - lambda).abs() < 6.0 * se_var, "λ={lambda}: var {var}");
        }
    }

    #[test]
    fn rejects_out_of_range_parameters() {
        assert_eq!(Skellam::new(0, 1), Err(DpError::Variance));
        assert_eq!(Skellam::new(1, 0), Err(DpError::Variance));
        assert_eq!(Skellam::new(MAX_NUMERATOR + 1, 1), Err(DpError::Variance));
        assert!(Skellam::new(MAX_NUMERATOR, MAX_DENOMINATOR).is_ok());
    }
}
