//! The checked encoding: a client's encoder and the server's decoder.

use alloc::vec::Vec;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::arith::PlainInput;
use crate::dp::{self, Privacy};
use crate::params::{Modulus, Params};

use super::EncodingError;
use super::config::EncoderConfig;
use super::preflight::Budget;
use super::rotation;
use super::rounding::{stochastic_round, whole_to_i64 as to_i64};

/// How many times conditional rounding may redraw before giving up. With `β = 0` a draw
/// fails only through floating-point error in the clipped norm, with `β > 0` with
/// probability at most `β`: 64 failures in a row do not happen.
pub(super) const MAX_ROUNDING_DRAWS: u32 = 64;

/// What clipping did to one input: never silent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipReport {
    /// The input's L2 norm before any clipping.
    pub norm: f64,
    /// Whether the L2 clip scaled the input down.
    pub l2_clipped: bool,
    /// How many coordinates the coordinate clip moved (in the rotated basis when rotating).
    pub coordinates_clipped: usize,
}

impl ClipReport {
    /// Whether any clipping happened.
    #[must_use]
    pub fn clipped(&self) -> bool {
        self.l2_clipped || self.coordinates_clipped > 0
    }
}

/// A configuration that passed the preflight check against a modulus: encodes clients'
/// float vectors into [`PlainInput`]s and decodes the session's sum back to the mean.
/// Built by [`EncoderConfig::check`].
#[derive(Debug, Clone)]
pub struct Encoding {
    pub(super) config: EncoderConfig,
    pub(super) budget: Budget,
    pub(super) signs: Option<Vec<f64>>,
}

impl Encoding {
    pub(crate) fn new(config: EncoderConfig, budget: Budget) -> Self {
        let signs = config
            .rotation
            .map(|seed| rotation::signs(&seed, config.bounds.padded));
        Self {
            config,
            budget,
            signs,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// The passed preflight budget.
    #[must_use]
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The modulus.
    #[must_use]
    pub fn modulus(&self) -> Modulus {
        self.budget.modulus
    }

    /// The encoded vector length (the session's `vector_len`).
    #[must_use]
    pub fn vector_len(&self) -> usize {
        self.config.bounds.len
    }

    /// `(ε, δ)` after `rounds` sums released with this encoding's noise, for the sensitivity
    /// the encoder enforces and the noise of the configured `min_contributors` (the fewest
    /// the server can release). See `docs/PRIVACY.md` for the assumptions.
    ///
    /// # Errors
    /// [`EncodingError::Config`] when no noise is configured, [`EncodingError::Noise`] from
    /// the accountant.
    pub fn privacy(&self, rounds: u64, delta: f64) -> Result<Privacy, EncodingError> {
        let (spec, noise) = self
            .config
            .noise
            .as_ref()
            .ok_or(EncodingError::Config("no noise configured"))?;
        let mechanism = noise.mechanism(spec.min_contributors);
        Ok(dp::epsilon(
            &mechanism,
            &self.config.sensitivity(),
            rounds,
            delta,
        )?)
    }

    /// Checks that a session's parameters fit this encoding: the same modulus and vector
    /// length, no more clients than the preflight check allowed for and, with noise, a Shamir threshold of at least the noise's
    /// `min_contributors`.
    ///
    /// The threshold ties the reported ε to the protocol. The server aborts a session with
    /// fewer than `t` survivors and cannot unmask one client's input without `t` shares of its
    /// self-mask seed from surviving share holders (on a Harary graph, `t` is per
    /// neighbourhood: `t` of the client's `k + 1` holders), so every sum the protocol
    /// releases holds at least `t` inputs, and so at least `t` noise shares.
    /// [`Self::privacy`] assumes `min_contributors` of them: with `min_contributors > t` a
    /// released sum can carry less noise than accounted for, and this check refuses.
    ///
    /// A deployment that cannot meet it (SecAgg+ with a small degree, say) must not use the
    /// raw sum of a session with fewer than `min_contributors` survivors;
    /// [`Self::decode`] refuses such sums, but the server has seen them.
    ///
    /// # Errors
    /// [`EncodingError::Config`] when the modulus or the vector length differ or the session
    /// has more clients than the preflight check allowed,
    /// [`EncodingError::TooFewContributors`] when the threshold is below
    /// `min_contributors`.
    pub fn check_params(&self, params: &Params) -> Result<(), EncodingError> {
        if params.modulus() != self.budget.modulus {
            return Err(EncodingError::Config(
                "the session's modulus is not the encoding's",
            ));
        }
        if params.vector_len() != self.config.bounds.len {
            return Err(EncodingError::Config(
                "the session's vector length is not the encoding's",
            ));
        }
        // The preflight check proved the sum cannot wrap for this many contributors only.
        if params.clients() > self.budget.requirement.max_contributors {
            return Err(EncodingError::Config(
                "the session has more clients than the preflight check allowed",
            ));
        }
        if let Some(spec) = self.config.noise_spec()
            && params.threshold() < spec.min_contributors
        {
            return Err(EncodingError::TooFewContributors {
                min: spec.min_contributors,
                got: params.threshold(),
            });
        }
        Ok(())
    }

    /// Encodes an unweighted input.
    ///
    /// # Errors
    /// [`EncodingError::InputLength`], [`EncodingError::NonFinite`] (NaN and infinities are
    /// rejected, never clipped), [`EncodingError::Weight`] when the encoding is weighted,
    /// [`EncodingError::Rounding`].
    pub fn encode<R: CryptoRng + ?Sized>(
        &self,
        input: &[f64],
        rng: &mut R,
    ) -> Result<(PlainInput, ClipReport), EncodingError> {
        if self.config.max_weight.is_some() {
            return Err(EncodingError::Weight {
                max: self.config.max_weight.unwrap_or(0),
            });
        }
        self.encode_inner(input, None, rng)
    }

    /// Encodes a weighted input (FedAvg): `weight` in `0..=max_weight`, for example the
    /// client's number of examples.
    ///
    /// # Errors
    /// As [`Self::encode`]; [`EncodingError::Weight`] when the encoding is unweighted or the
    /// weight is above the maximum.
    pub fn encode_weighted<R: CryptoRng + ?Sized>(
        &self,
        input: &[f64],
        weight: u32,
        rng: &mut R,
    ) -> Result<(PlainInput, ClipReport), EncodingError> {
        match self.config.max_weight {
            Some(max) if weight <= max => self.encode_inner(input, Some(weight), rng),
            max => Err(EncodingError::Weight {
                max: max.unwrap_or(0),
            }),
        }
    }

    fn encode_inner<R: CryptoRng + ?Sized>(
        &self,
        input: &[f64],
        weight: Option<u32>,
        rng: &mut R,
    ) -> Result<(PlainInput, ClipReport), EncodingError> {
        let (mut v, mut report) = self.clip_l2(input)?;
        if let (Some(w), Some(max)) = (weight, self.config.max_weight) {
            let f = f64::from(w) / f64::from(max);
            v.iter_mut().for_each(|x| *x *= f);
        }
        if let Some(signs) = &self.signs {
            rotation::rotate(&mut v, signs);
        }
        if let Some(b) = self.config.coordinate_clip {
            for x in v.iter_mut().filter(|x| x.abs() > b) {
                *x = x.signum() * b;
                report.coordinates_clipped += 1;
            }
        }
        let scale = self.config.scale;
        v.iter_mut().for_each(|x| *x *= scale);
        let rounded = self.round(&v, rng)?;
        Ok((self.to_group(&rounded, weight, rng), report))
    }

    /// Checks the input and clips it to the L2 bound, padded to `d'` coordinates.
    fn clip_l2(&self, input: &[f64]) -> Result<(Zeroizing<Vec<f64>>, ClipReport), EncodingError> {
        let expected = self.config.dim;
        if input.len() != expected {
            return Err(EncodingError::InputLength {
                got: input.len(),
                expected,
            });
        }
        if let Some(index) = input.iter().position(|x| !x.is_finite()) {
            return Err(EncodingError::NonFinite { index });
        }
        let mut v = Zeroizing::new(Vec::with_capacity(self.config.bounds.padded));
        v.extend_from_slice(input);
        v.resize(self.config.bounds.padded, 0.0);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let mut report = ClipReport {
            norm,
            l2_clipped: false,
            coordinates_clipped: 0,
        };
        if let Some(c) = self.config.l2_clip
            && norm > c
        {
            let f = c / norm;
            v.iter_mut().for_each(|x| *x *= f);
            report.l2_clipped = true;
        }
        Ok((v, report))
    }

    /// Unbiased stochastic rounding, redrawn while the squared norm exceeds the bound.
    fn round<R: CryptoRng + ?Sized>(
        &self,
        scaled: &[f64],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<i64>>, EncodingError> {
        let bounds = &self.config.bounds;
        let limit = i128::from(bounds.coordinate);
        let mut out = Zeroizing::new(Vec::with_capacity(bounds.len));
        for _ in 0..MAX_ROUNDING_DRAWS {
            out.clear();
            let mut norm_sq: u128 = 0;
            let mut in_range = true;
            for &y in scaled {
                let r = to_i64(stochastic_round(y, rng));
                let r = r.filter(|r| i128::from(*r).abs() <= limit);
                let Some(r) = r else {
                    in_range = false;
                    break;
                };
                norm_sq = norm_sq.saturating_add(u128::from(r.unsigned_abs()).pow(2));
                out.push(r);
            }
            if in_range && norm_sq <= bounds.norm_sq {
                return Ok(out);
            }
        }
        Err(EncodingError::Rounding)
    }

    /// Appends the weight element, adds the local noise and maps into `Z_m`.
    fn to_group<R: CryptoRng + ?Sized>(
        &self,
        rounded: &[i64],
        weight: Option<u32>,
        rng: &mut R,
    ) -> PlainInput {
        let m = i128::try_from(self.budget.modulus.value()).unwrap_or(i128::MAX);
        let unit = i128::from(self.config.bounds.weight_unit);
        let weight = weight.map(|w| i128::from(w) * unit);
        let noise = self.config.local_noise();
        let mut out = Vec::with_capacity(self.config.bounds.len);
        for v in rounded.iter().map(|r| i128::from(*r)).chain(weight) {
            let noisy = v + noise.map_or(0, |n| i128::from(n.sample(rng)));
            // mod m by design: negative values become m + v. Values within (-m, m), always
            // so without noise, skip the (slow) 128-bit division.
            let reduced = if (0..m).contains(&noisy) {
                noisy
            } else if (-m..0).contains(&noisy) {
                noisy + m
            } else {
                noisy.rem_euclid(m)
            };
            out.push(u64::try_from(reduced).unwrap_or(0));
        }
        PlainInput::new(out)
    }

    /// Decodes the session's sum of `contributors` encodings back to the mean: the centred
    /// lift of each element, divided by the scale, rotated back, unpadded, and divided by
    /// `contributors` (unweighted) or by the released total weight (weighted).
    ///
    /// # Errors
    /// [`EncodingError::SumLength`], [`EncodingError::NoContributors`],
    /// [`EncodingError::TooFewContributors`] for a noisy sum of fewer than the noise's
    /// `min_contributors` (its noise is below what [`Self::privacy`] accounts for), and
    /// [`EncodingError::NonPositiveWeight`] when noise pushed the total weight to zero or
    /// below.
    pub fn decode(&self, sum: &[u64], contributors: usize) -> Result<Vec<f64>, EncodingError> {
        let bounds = &self.config.bounds;
        if sum.len() != bounds.len {
            return Err(EncodingError::SumLength {
                got: sum.len(),
                expected: bounds.len,
            });
        }
        if contributors == 0 {
            return Err(EncodingError::NoContributors);
        }
        // SECURITY: the accounted ε holds only for sums of at least `min_contributors`
        // noise shares; a smaller sum is refused, never decoded with a silent privacy loss.
        if let Some(spec) = self.config.noise_spec()
            && contributors < spec.min_contributors
        {
            return Err(EncodingError::TooFewContributors {
                min: spec.min_contributors,
                got: contributors,
            });
        }
        let lifted: Vec<f64> = sum.iter().map(|s| self.lift(*s)).collect();
        let (update, weight) = lifted.split_at(bounds.padded.min(lifted.len()));
        let scale = self.config.scale;
        let mut v: Vec<f64> = update.iter().map(|x| x / scale).collect();
        if let Some(signs) = &self.signs {
            rotation::unrotate(&mut v, signs);
        }
        v.truncate(self.config.dim);
        let divisor = match (self.config.max_weight, weight.first()) {
            (Some(max), Some(total)) => {
                #[allow(clippy::cast_precision_loss)] // the unit is at most 2^62
                let total = total / bounds.weight_unit as f64;
                if total <= 0.0 {
                    return Err(EncodingError::NonPositiveWeight);
                }
                total / f64::from(max)
            }
            #[allow(clippy::cast_precision_loss)] // a client count is far below 2^53
            _ => contributors as f64,
        };
        v.iter_mut().for_each(|x| *x /= divisor);
        Ok(v)
    }

    /// The centred lift of `s` in `Z_m` to `(-m/2, m/2]`, as a float.
    #[allow(clippy::cast_precision_loss)] // the mean is a float: 2^-53 relative error
    fn lift(&self, s: u64) -> f64 {
        let m = self.budget.modulus.value();
        let s = u128::from(s);
        if 2 * s > m {
            -((m - s) as f64)
        } else {
            s as f64
        }
    }
}
