//! Unbiased stochastic rounding with exact probabilities.
//!
//! `y` becomes `floor(y) + 1` with probability `y - floor(y)` and `floor(y)` otherwise, so
//! `E[round(y)] = y` exactly. The fraction of a finite `f64` is a dyadic rational
//! `mant / 2^shift`; the Bernoulli trial compares it with a uniform `shift`-bit integer
//! drawn from the caller's CSPRNG, so the probability is exactly the fraction (not a
//! 53-bit or 64-bit approximation of it).

use rand_core::CryptoRng;

const MANTISSA: u64 = (1 << 52) - 1;

/// `Bernoulli(frac)` for `0 <= frac < 1`, exactly.
#[inline]
fn below_fraction<R: CryptoRng + ?Sized>(frac: f64, rng: &mut R) -> bool {
    if frac.is_nan() || frac <= 0.0 {
        return false;
    }
    let bits = frac.to_bits();
    // The biased exponent is 11 bits: the conversion cannot fail.
    let exp = u32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    // frac = mant / 2^shift; frac < 1 makes shift >= 53.
    let (mant, shift) = if exp == 0 {
        (bits & MANTISSA, 1074)
    } else {
        ((bits & MANTISSA) | (1 << 52), 1075u32.saturating_sub(exp))
    };
    // U < frac  <=>  V = floor(U · 2^shift) < mant, V uniform on shift bits. Above the low 64
    // bits V must be zero (mant < 2^53); draw those bits first, 64 at a time.
    let mut high = shift.saturating_sub(64);
    while high > 0 {
        let take = high.min(64);
        if rng.next_u64() >> (64 - take) != 0 {
            return false;
        }
        high -= take;
    }
    let low = rng.next_u64() >> (64 - shift.min(64));
    low < mant
}

/// `floor(y)` or `floor(y) + 1`, unbiased; `y` finite.
pub(crate) fn stochastic_round<R: CryptoRng + ?Sized>(y: f64, rng: &mut R) -> f64 {
    // Rounding -y and negating has the same distribution, and keeps the fraction exact:
    // for y >= 0 the difference of y and its floor is representable (Sterbenz for y >= 1,
    // trivially below 1), whereas y + 1 for a small negative y is not.
    if y < 0.0 {
        return -round_non_negative(-y, rng);
    }
    round_non_negative(y, rng)
}

/// Below `2^52` a non-negative `f64` may have a fraction; from `2^52` on it is whole.
const WHOLE_FROM: f64 = 4_503_599_627_370_496.0;

/// `stochastic_round(y)` as an `i64` (`None` when the result is not in `i64` range), with
/// the same draws from `rng`: the result and the generator's state are those of
/// [`stochastic_round`] followed by the range-checked conversion of the encoder. Faster: the
/// floor of a non-negative value below `2^52` is its truncation to an integer (exact), with
/// no call to the platform's `floor`.
#[inline]
pub(crate) fn stochastic_round_to_int<R: CryptoRng + ?Sized>(y: f64, rng: &mut R) -> Option<i64> {
    let a = y.abs();
    // y < 0 exactly when the reference rounds -y and negates (-0.0 is not below 0).
    let sign: i64 = if y < 0.0 { -1 } else { 1 };
    if a < WHOLE_FROM {
        // 0 <= a < 2^52: the cast truncates, which is the floor here, and is exact (signed
        // conversions are single instructions, unsigned ones are not).
        #[allow(clippy::cast_possible_truncation)]
        let lo = a as i64;
        #[allow(clippy::cast_precision_loss)] // below 2^52: exact
        let up = below_fraction(a - lo as f64, rng);
        return Some(sign * (lo + i64::from(up)));
    }
    // Whole (or not finite): the fraction is 0 (or NaN) and draws nothing.
    #[allow(clippy::cast_precision_loss)] // ±1: exact
    whole_to_i64(a * sign as f64)
}

/// A whole float in `i64` range, as `i64`.
pub(crate) fn whole_to_i64(x: f64) -> Option<i64> {
    // 2^63 as f64 is exact; whole floats in [-2^63, 2^63) convert exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_finite() && (-LIMIT..LIMIT).contains(&x) {
        #[allow(clippy::cast_possible_truncation)] // whole and in range: exact
        Some(x as i64)
    } else {
        None
    }
}

fn round_non_negative<R: CryptoRng + ?Sized>(y: f64, rng: &mut R) -> f64 {
    let lo = y.floor();
    if below_fraction(y - lo, rng) {
        lo + 1.0
    } else {
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn rounding_is_unbiased_and_adjacent() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for y in [0.25, -0.75, 3.1, -7.999, 1e-300, -1e-300, 0.5 + 1e-12] {
            let n = 100_000;
            let mut sum = 0.0;
            for _ in 0..n {
                let r = stochastic_round(y, &mut rng);
                assert!(r == y.floor() || r == y.floor() + 1.0, "{y} -> {r}");
                sum += r;
            }
            let frac = y - y.floor();
            let sd = (frac * (1.0 - frac) / n as f64).sqrt();
            assert!((sum / n as f64 - y).abs() <= 6.0 * sd + 1e-12, "{y}");
        }
        assert_eq!(stochastic_round(4.0, &mut rng), 4.0);
        assert_eq!(stochastic_round(-3.0, &mut rng), -3.0);
    }

    #[test]
    fn tiny_fractions_need_long_draws() {
        // 2^-70: the trial reads more than 64 bits and almost never rounds up.
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let tiny = f64::from_bits((1023u64 - 70) << 52);
        assert!((0..1000).all(|_| !below_fraction(tiny, &mut rng)));
    }
}
