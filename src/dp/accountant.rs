//! Rényi-DP accounting for the noise that reaches the released sum, composed over rounds
//! and converted to `(ε, δ)`.
//!
//! All quantities are in the integer units of the encoded vectors: the sensitivities are
//! those of one client's vector *after* clipping, scaling and rounding, and the variances
//! are those of the integer noise actually sampled.

use core::f64::consts::PI;

use super::DpError;

/// The largest L1/L2 sensitivity a client's encoded vector can have, and its length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sensitivity {
    /// Bound on the L2 norm of one client's encoded integer vector.
    pub l2: f64,
    /// Bound on its L1 norm (Skellam and the distributed discrete Gaussian use it).
    pub l1: f64,
    /// Its length `d` (the distributed discrete Gaussian bound grows with it).
    pub dim: usize,
}

/// The noise in the released sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mechanism {
    /// Continuous Gaussian noise `N(0, variance)` on every coordinate: central DP's
    /// reference point, not something this crate can add.
    Gaussian {
        /// Per-coordinate variance.
        variance: f64,
    },
    /// The sum of `contributors` independent discrete Gaussians `N_Z(0, local_variance)` on
    /// every coordinate (Kairouz, Liu and Steinke, ICML 2021).
    DistributedDiscreteGaussian {
        /// Each client's variance parameter `σ²`.
        local_variance: f64,
        /// How many clients' noise is in the sum (the smallest number the server can
        /// release: the threshold `t`).
        contributors: usize,
    },
    /// Skellam noise of total variance `variance` on every coordinate: the sum of the
    /// contributors' Skellam shares (Agarwal, Kairouz and Liu, NeurIPS 2021).
    Skellam {
        /// Total per-coordinate variance `μ` in the released sum.
        variance: f64,
    },
}

/// `(ε, δ)` after some rounds, and the Rényi order that gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Privacy {
    /// ε.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// The Rényi order α at which the conversion was tightest.
    pub order: f64,
    /// How many rounds were composed.
    pub rounds: u64,
}

/// The Rényi orders searched: the integers `2..=256`, then `288..=1024` in steps of 32.
const ORDERS: (u32, u32, u32) = (256, 32, 1024);

fn orders() -> impl Iterator<Item = f64> {
    let (dense, step, last) = ORDERS;
    (2..=dense)
        .chain((dense / step + 1..=last / step).map(move |i| i * step))
        .map(f64::from)
}

fn positive(x: f64, what: &'static str) -> Result<f64, DpError> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(DpError::Parameter(what))
    }
}

/// `τ = 10 Σ_{k=1}^{n-1} exp(-2π²σ² k/(k+1))`: how far the sum of `n` discrete Gaussians
/// of variance `σ²` is from one discrete Gaussian (Kairouz, Liu and Steinke, ICML 2021,
/// Theorem 1).
fn tau(local_variance: f64, contributors: usize) -> f64 {
    let c = 2.0 * PI * PI * local_variance;
    // The terms fall from exp(-c/2) (k = 1) towards exp(-c): when the largest underflows to
    // 0, every term is 0 and so is the sum, without a pass over the contributors.
    if (-c / 2.0).exp() == 0.0 {
        return 0.0;
    }
    let sum: f64 = (1..contributors)
        .map(|k| {
            #[allow(clippy::cast_precision_loss)] // k <= n is far below 2^53
            let k = k as f64;
            (-c * k / (k + 1.0)).exp()
        })
        .sum();
    10.0 * sum
}

/// Rényi DP of one release at order `alpha > 1`: the mechanism's `ε(α)`.
///
/// * Gaussian: `α Δ₂² / (2σ²)` (Mironov, CSF 2017, Proposition 7).
/// * Distributed discrete Gaussian with `n` contributors of local variance `σ²`, `τ` as in
///   Theorem 1 of Kairouz, Liu and Steinke (ICML 2021), and `s² = nσ²`: the minimum of
///   `α Δ₂²/(2s²) + τd`, `(α/2)(Δ₂²/s² + 2Δ₁τ/s + τ²d)` and `(α/2)(Δ₂/s + τ√d)²`
///   (their Proposition 14, Eq. 17). With `n = 1`, `τ = 0` and this is the discrete Gaussian's
///   `α Δ₂²/(2σ²)` (Canonne, Kamath and Steinke, NeurIPS 2020).
/// * Skellam of total variance `μ`: `α Δ₂²/(2μ) + min(((2α - 1)Δ₂² + 6Δ₁)/(4μ²), 3Δ₁/(2μ))`
///   (Agarwal, Kairouz and Liu, NeurIPS 2021: their multi-dimensional Skellam bound, in the
///   form of the authors' reference code, `google-research/federated`,
///   `distributed_dp/accounting_utils.py`).
///
/// # Errors
/// [`DpError::Parameter`] for a non-finite, negative or zero input where one is needed,
/// [`DpError::Count`] for zero contributors, [`DpError::LocalNoiseTooSmall`] when the
/// distributed discrete Gaussian's local `σ` is below 1/2.
pub fn rdp(mechanism: &Mechanism, sensitivity: &Sensitivity, alpha: f64) -> Result<f64, DpError> {
    rdp_with_tau(mechanism, sensitivity, alpha, mechanism_tau(mechanism))
}

/// `τ` of a valid distributed discrete Gaussian (0 for anything else, which [`rdp_with_tau`]
/// rejects or does not use). It does not depend on the Rényi order, so [`epsilon`] computes
/// it once for all orders instead of once per order (an O(n) pass each time).
fn mechanism_tau(mechanism: &Mechanism) -> f64 {
    match *mechanism {
        Mechanism::DistributedDiscreteGaussian {
            local_variance,
            contributors,
        } if local_variance.is_finite() && local_variance >= 0.25 => {
            tau(local_variance, contributors)
        }
        _ => 0.0,
    }
}

/// [`rdp`] with `τ` from [`mechanism_tau`] already computed.
fn rdp_with_tau(
    mechanism: &Mechanism,
    sensitivity: &Sensitivity,
    alpha: f64,
    tau_value: f64,
) -> Result<f64, DpError> {
    let (l2, l1) = (sensitivity.l2, sensitivity.l1);
    if !(l2.is_finite() && l2 >= 0.0 && l1.is_finite() && l1 >= 0.0) {
        return Err(DpError::Parameter(
            "sensitivities must be finite and non-negative",
        ));
    }
    if !(alpha.is_finite() && alpha > 1.0) {
        return Err(DpError::Parameter("the Rényi order must exceed 1"));
    }
    #[allow(clippy::cast_precision_loss)] // a vector length is far below 2^53
    let d = sensitivity.dim as f64;
    match *mechanism {
        Mechanism::Gaussian { variance } => {
            let v = positive(variance, "the variance must be positive")?;
            Ok(alpha * l2 * l2 / (2.0 * v))
        }
        Mechanism::DistributedDiscreteGaussian {
            local_variance,
            contributors,
        } => {
            let v = positive(local_variance, "the variance must be positive")?;
            if contributors == 0 {
                return Err(DpError::Count);
            }
            if v < 0.25 {
                return Err(DpError::LocalNoiseTooSmall { local_variance: v });
            }
            let t = tau_value;
            #[allow(clippy::cast_precision_loss)]
            let s2 = v * contributors as f64;
            let s = s2.sqrt();
            let a = alpha * l2 * l2 / (2.0 * s2) + t * d;
            let b = alpha / 2.0 * (l2 * l2 / s2 + 2.0 * l1 * t / s + t * t * d);
            let c = alpha / 2.0 * (l2 / s + t * d.sqrt()).powi(2);
            Ok(a.min(b).min(c))
        }
        Mechanism::Skellam { variance } => {
            let mu = positive(variance, "the variance must be positive")?;
            let base = alpha * l2 * l2 / (2.0 * mu);
            let tight = ((2.0 * alpha - 1.0) * l2 * l2 + 6.0 * l1) / (4.0 * mu * mu);
            let loose = 3.0 * l1 / (2.0 * mu);
            Ok(base + tight.min(loose))
        }
    }
}

/// `(ε, δ)` after `rounds` releases of `mechanism`: Rényi DP composes additively over rounds
/// (Mironov, CSF 2017, Proposition 1); each order `α` then gives
/// `ε = R·ε(α) + ln((α-1)/α) - (ln δ + ln α)/(α - 1)` (Balle et al., AISTATS 2020,
/// Theorem 21; Canonne, Kamath and Steinke, NeurIPS 2020), and the smallest over the
/// integer orders `2..=256` and `288..=1024` (step 32) is reported.
///
/// # Errors
/// [`DpError::Delta`] unless `0 < δ < 1`, [`DpError::Count`] for zero rounds, and the errors
/// of [`rdp`].
pub fn epsilon(
    mechanism: &Mechanism,
    sensitivity: &Sensitivity,
    rounds: u64,
    delta: f64,
) -> Result<Privacy, DpError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(DpError::Delta);
    }
    if rounds == 0 {
        return Err(DpError::Count);
    }
    #[allow(clippy::cast_precision_loss)] // an exact count up to 2^53, a tiny error above
    let r = rounds as f64;
    let mut best = Privacy {
        epsilon: f64::INFINITY,
        delta,
        order: f64::NAN,
        rounds,
    };
    let tau_value = mechanism_tau(mechanism);
    for alpha in orders() {
        let composed = r * rdp_with_tau(mechanism, sensitivity, alpha, tau_value)?;
        let eps =
            composed + ((alpha - 1.0) / alpha).ln() - (delta.ln() + alpha.ln()) / (alpha - 1.0);
        if eps < best.epsilon {
            best.epsilon = eps;
            best.order = alpha;
        }
    }
    best.epsilon = best.epsilon.max(0.0);
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Sensitivity = Sensitivity {
        l2: 1.0,
        l1: 1.0,
        dim: 1,
    };

    #[test]
    fn one_discrete_gaussian_matches_its_zcdp() -> Result<(), DpError> {
        let ddg = Mechanism::DistributedDiscreteGaussian {
            local_variance: 4.0,
            contributors: 1,
        };
        // Canonne, Kamath, Steinke: ½(Δ/σ)²-zCDP, i.e. ε(α) = α Δ²/(2σ²).
        assert!((rdp(&ddg, &UNIT, 3.0)? - 3.0 / 8.0).abs() < 1e-12);
        Ok(())
    }

    #[test]
    fn tau_vanishes_for_large_noise() {
        assert!(tau(25.0, 1000) < 1e-100);
        assert_eq!(tau(1.0, 1), 0.0);
        // σ = 1/2, n = 2: 10 exp(-2π² · 1/4 · 1/2) = 10 exp(-π²/4)
        assert!((tau(0.25, 2) - 10.0 * (-PI * PI / 4.0).exp()).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_inputs() {
        let g = Mechanism::Gaussian { variance: 1.0 };
        assert_eq!(epsilon(&g, &UNIT, 1, 0.0), Err(DpError::Delta));
        assert_eq!(epsilon(&g, &UNIT, 0, 1e-5), Err(DpError::Count));
        let tiny = Mechanism::DistributedDiscreteGaussian {
            local_variance: 0.1,
            contributors: 10,
        };
        assert!(matches!(
            epsilon(&tiny, &UNIT, 1, 1e-5),
            Err(DpError::LocalNoiseTooSmall { .. })
        ));
    }
}
