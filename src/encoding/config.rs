//! The encoding's configuration, validated once, with the bounds every later step relies on.

use crate::crypto::kdf;
use crate::dp::{LocalNoise, NoiseKind, Sensitivity};
use crate::ids::{ClientId, SessionId};
use crate::params::MAX_VECTOR_LEN;

use super::EncodingError;

/// The largest magnitude of an encoded coordinate: `2^62`, so sums of a few of them and
/// the noise stay far inside `i128` and any `u64` modulus.
const MAX_COORDINATE: f64 = 4_611_686_018_427_387_904.0;

/// The rotation seed of a session: public, the same for every client, fresh per session
/// (`HKDF-SHA256` of the session id under its own label). Rotating with the same signs in
/// every session would let an adversarial input aim at a known coordinate.
#[must_use]
pub fn rotation_seed(session: &SessionId) -> [u8; 32] {
    *kdf::derive(kdf::LABEL_ROTATION, session, ClientId(0), ClientId(0), &[]).bytes()
}

/// Distributed-DP noise: which distribution, the noise multiplier `z` (the central
/// standard deviation in units of the L2 sensitivity after rounding) and the smallest
/// number of contributors `t` whose noise must together reach it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoiseSpec {
    /// The distribution.
    pub kind: NoiseKind,
    /// `z`: central standard deviation over L2 sensitivity.
    pub multiplier: f64,
    /// `t`: the fewest clients whose sum the server can release (the threshold).
    pub min_contributors: usize,
}

/// A validated encoding configuration: build with [`EncoderConfig::builder`], then check it
/// against a modulus and a client count with [`EncoderConfig::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    pub(crate) dim: usize,
    pub(crate) scale: f64,
    pub(crate) l2_clip: Option<f64>,
    pub(crate) coordinate_clip: Option<f64>,
    pub(crate) rotation: Option<[u8; 32]>,
    pub(crate) max_weight: Option<u32>,
    pub(crate) beta: f64,
    pub(crate) wrap_probability: f64,
    pub(crate) noise: Option<(NoiseSpec, LocalNoise)>,
    pub(crate) bounds: Bounds,
}

/// Integer bounds derived from the configuration, each enforced when encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    /// Coordinates after padding (`d'`).
    pub(crate) padded: usize,
    /// Elements on the wire: `d'`, plus one for the weight.
    pub(crate) len: usize,
    /// Bound on the squared L2 norm of the rounded update part.
    pub(crate) norm_sq: u128,
    /// Bound on each rounded update coordinate's magnitude.
    pub(crate) coordinate: u64,
    /// Integer units per unit of weight (`k`).
    pub(crate) weight_unit: u64,
    /// Bound on the weight element, `w_max · k` (0 when unweighted).
    pub(crate) weight: u64,
}

/// Builds an [`EncoderConfig`].
#[derive(Debug, Clone)]
pub struct EncoderConfigBuilder {
    dim: usize,
    scale: f64,
    l2_clip: Option<f64>,
    coordinate_clip: Option<f64>,
    rotation: Option<[u8; 32]>,
    max_weight: Option<u32>,
    weight_unit: Option<u64>,
    beta: f64,
    wrap_probability: f64,
    noise: Option<NoiseSpec>,
}

impl EncoderConfig {
    /// Starts a configuration for vectors of `dim` floats, encoded at `scale` integer units
    /// per unit (the quantization step is `1 / scale`). At least one clipping bound must be
    /// set before [`EncoderConfigBuilder::build`].
    #[must_use]
    pub fn builder(dim: usize, scale: f64) -> EncoderConfigBuilder {
        EncoderConfigBuilder {
            dim,
            scale,
            l2_clip: None,
            coordinate_clip: None,
            rotation: None,
            max_weight: None,
            weight_unit: None,
            beta: 0.0,
            wrap_probability: 1e-9,
            noise: None,
        }
    }

    /// The input length `d`.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The scale `γ`.
    #[must_use]
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The encoded vector length: `d` (or the next power of two when rotating), plus one
    /// element for the weight. Use it as the session's `vector_len`.
    #[must_use]
    pub fn vector_len(&self) -> usize {
        self.bounds.len
    }

    /// The declared maximum weight, if the encoding is weighted.
    #[must_use]
    pub fn max_weight(&self) -> Option<u32> {
        self.max_weight
    }

    /// The local noise each client adds, exactly as sampled, if any.
    #[must_use]
    pub fn local_noise(&self) -> Option<&LocalNoise> {
        self.noise.as_ref().map(|(_, n)| n)
    }

    /// The noise request, if any.
    #[must_use]
    pub fn noise_spec(&self) -> Option<&NoiseSpec> {
        self.noise.as_ref().map(|(s, _)| s)
    }

    /// The sensitivity of one client's encoded integer vector, enforced exactly by the
    /// encoder: `l2² = norm bound² + (w_max k)²`, `l1 <= min(sqrt(len) · l2, l2²)` (integer
    /// coordinates), `dim = len`.
    #[must_use]
    pub fn sensitivity(&self) -> Sensitivity {
        sensitivity(&self.bounds)
    }
}

fn sensitivity(b: &Bounds) -> Sensitivity {
    let w = u128::from(b.weight);
    let l2_sq = b.norm_sq.saturating_add(w * w);
    #[allow(clippy::cast_precision_loss)] // bounds for accounting: relative error 2^-53
    let (l2_sq, len) = (l2_sq as f64, b.len as f64);
    let l2 = l2_sq.sqrt();
    Sensitivity {
        l2,
        l1: (len.sqrt() * l2).min(l2_sq),
        dim: b.len,
    }
}

fn positive(x: f64, what: &'static str) -> Result<f64, EncodingError> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(EncodingError::Config(what))
    }
}

/// `ceil(x)` as a `u64`, for `0 <= x <= 2^62`.
fn ceil_u64(x: f64) -> Result<u64, EncodingError> {
    let c = x.ceil();
    if !(0.0..=MAX_COORDINATE).contains(&c) {
        return Err(EncodingError::ScaleTooLarge);
    }
    // In range and whole: the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(c as u64)
}

impl EncoderConfigBuilder {
    /// Clips the input to L2 norm `c` (reported in [`super::ClipReport`]).
    #[must_use]
    pub fn l2_clip(mut self, c: f64) -> Self {
        self.l2_clip = Some(c);
        self
    }

    /// Clips each coordinate to `[-b, b]` (in the rotated basis when rotating; reported).
    #[must_use]
    pub fn coordinate_clip(mut self, b: f64) -> Self {
        self.coordinate_clip = Some(b);
        self
    }

    /// Rotates with the randomized Hadamard transform whose signs come from `seed` (public,
    /// shared by all clients of the session, fresh per session: see [`rotation_seed`]).
    /// Pads the vector to the next power of two.
    #[must_use]
    pub fn rotation(mut self, seed: [u8; 32]) -> Self {
        self.rotation = Some(seed);
        self
    }

    /// Weighted mean (FedAvg): each client sends a weight in `0..=max` (for example its
    /// example count) as one more element, and the decoder divides by the total weight.
    #[must_use]
    pub fn weights(mut self, max: u32) -> Self {
        self.max_weight = Some(max);
        self
    }

    /// The weight element's unit `k` (integer units per unit of weight; at least 1) in
    /// place of the default `max(1, ⌊R / w_max⌋)`. The default makes the weight element span
    /// about as much as the update, which noise needs (docs/ENCODING.md); without noise,
    /// `k = 1` keeps the total weight exact with a far smaller weight bound `w_max`, so the
    /// preflight check may accept a smaller modulus (fewer mask and wire bits).
    #[must_use]
    pub fn weight_unit(mut self, k: u64) -> Self {
        self.weight_unit = Some(k);
        self
    }

    /// Conditional rounding with parameter `β` in `[0, 1)`: the rounded vector's squared
    /// norm is held below `R² + d'/4 + sqrt(2 ln(1/β)) (R + sqrt(d')/2)` (each draw meets
    /// it with probability at least `1 - β`; Kairouz, Liu and Steinke, ICML 2021,
    /// Theorem 1) instead of the worst case `(R + sqrt(d'))²`. Default `β = 0`: worst case.
    #[must_use]
    pub fn conditional_rounding(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// The largest acceptable probability that noise makes the sum wrap around the modulus
    /// in one round (default `1e-9`). Only used with noise: without it the check is exact.
    #[must_use]
    pub fn wrap_probability(mut self, p: f64) -> Self {
        self.wrap_probability = p;
        self
    }

    /// Adds distributed-DP noise: see [`NoiseSpec`].
    #[must_use]
    pub fn noise(mut self, kind: NoiseKind, multiplier: f64, min_contributors: usize) -> Self {
        self.noise = Some(NoiseSpec {
            kind,
            multiplier,
            min_contributors,
        });
        self
    }

    /// Validates the configuration, derives its integer bounds and calibrates the noise.
    ///
    /// # Errors
    /// [`EncodingError::Config`] naming the invalid value (length, scale, a clipping bound,
    /// no clipping bound at all, `β`, the weight bound, the wrap probability),
    /// [`EncodingError::ScaleTooLarge`] when a coordinate could pass `2^62`, and
    /// [`EncodingError::Noise`] when the noise cannot be calibrated.
    pub fn build(self) -> Result<EncoderConfig, EncodingError> {
        if !(1..=MAX_VECTOR_LEN).contains(&self.dim) {
            return Err(EncodingError::Config("dimension must be in 1..=2^28"));
        }
        positive(self.scale, "scale must be positive and finite")?;
        if !(0.0..1.0).contains(&self.beta) {
            return Err(EncodingError::Config("beta must be in [0, 1)"));
        }
        if !(self.wrap_probability > 0.0 && self.wrap_probability < 1.0) {
            return Err(EncodingError::Config("wrap probability must be in (0, 1)"));
        }
        if self.max_weight == Some(0) {
            return Err(EncodingError::Config("maximum weight must be at least 1"));
        }
        if self.weight_unit == Some(0) {
            return Err(EncodingError::Config("weight unit must be at least 1"));
        }
        let bounds = self.bounds()?;
        let noise = match self.noise {
            None => None,
            Some(spec) => {
                let l2 = sensitivity(&bounds).l2;
                let local =
                    LocalNoise::calibrate(spec.kind, spec.multiplier, l2, spec.min_contributors)?;
                Some((spec, local))
            }
        };
        Ok(EncoderConfig {
            dim: self.dim,
            scale: self.scale,
            l2_clip: self.l2_clip,
            coordinate_clip: self.coordinate_clip,
            rotation: self.rotation,
            max_weight: self.max_weight,
            beta: self.beta,
            wrap_probability: self.wrap_probability,
            noise,
            bounds,
        })
    }

    fn bounds(&self) -> Result<Bounds, EncodingError> {
        let padded = if self.rotation.is_some() {
            self.dim.next_power_of_two()
        } else {
            self.dim
        };
        #[allow(clippy::cast_precision_loss)] // at most 2^28: exact
        let root_d = (padded as f64).sqrt();
        let l2 = self
            .l2_clip
            .map(|c| positive(c, "L2 clip must be positive and finite"));
        let coord = self
            .coordinate_clip
            .map(|b| positive(b, "coordinate clip must be positive and finite"));
        let (l2, coord) = (l2.transpose()?, coord.transpose()?);
        // The update's L2 norm before scaling: the L2 clip, or the coordinate clip over d'
        // coordinates, whichever is smaller.
        let clip = match (l2, coord) {
            (Some(c), Some(b)) => c.min(b * root_d),
            (Some(c), None) => c,
            (None, Some(b)) => b * root_d,
            (None, None) => return Err(EncodingError::Config("set an L2 or coordinate clip")),
        };
        let radius = clip * self.scale;
        let mut norm = (radius + root_d).powi(2);
        if self.beta > 0.0 {
            let slack = (2.0 * (1.0 / self.beta).ln()).sqrt();
            norm =
                norm.min(radius * radius + root_d * root_d / 4.0 + slack * (radius + root_d / 2.0));
        }
        // Range check: the norm bound itself must stay below 2^62.
        ceil_u64(norm.sqrt())?;
        let norm_sq = floor_u128(norm);
        let mut coordinate = ceil_u64(radius)?.min(norm_sq.isqrt().try_into().unwrap_or(u64::MAX));
        if let Some(b) = coord {
            coordinate = coordinate.min(ceil_u64(b * self.scale)?);
        }
        let (weight_unit, weight) = match self.max_weight {
            None => (0, 0),
            Some(w) => {
                // k = floor(R / w_max), at least 1, unless set: the weight element spans
                // about as much as the update, so noise on it is comparable (see
                // docs/ENCODING.md).
                let unit = match self.weight_unit {
                    Some(k) => k,
                    None => ceil_u64((radius / f64::from(w)).floor())?.max(1),
                };
                (
                    unit,
                    unit.checked_mul(u64::from(w))
                        .ok_or(EncodingError::ScaleTooLarge)?,
                )
            }
        };
        Ok(Bounds {
            padded,
            len: padded + usize::from(self.max_weight.is_some()),
            norm_sq,
            coordinate,
            weight_unit,
            weight,
        })
    }
}

/// `floor(x)` as a `u128` for `0 <= x < 2^126`.
fn floor_u128(x: f64) -> u128 {
    let f = x.floor().max(0.0);
    // The callers' bounds are below (2^62 + 2^14)^2 < 2^126: in range, so exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let v = f as u128;
    v
}
