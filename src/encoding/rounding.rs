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
