//! Exact Bernoulli trials with rational parameters, from uniform random integers only.
//!
//! These are the building blocks of Canonne, Kamath and Steinke, "The Discrete Gaussian for
//! Differential Privacy", NeurIPS 2020 (arXiv 2004.00010), §5: `Bernoulli(p/q)` by comparing
//! a uniform integer below `q` with `p`, and `Bernoulli(exp(-γ))` for a rational `γ` by their
//! Algorithm 1. No floating point is involved, so the probabilities are exact.

use rand_core::CryptoRng;

/// A uniform integer in `[0, n)`, `n >= 1`, by rejection sampling (Lemire 2019 without the
/// multiply: draw `ceil(log2 n)` bits, retry when the draw is `>= n`; fewer than two draws
/// on average).
pub(crate) fn uniform_below<R: CryptoRng + ?Sized>(n: u128, rng: &mut R) -> u128 {
    let Some(top) = n.checked_sub(1) else {
        return 0;
    };
    if top == 0 {
        return 0;
    }
    let bits = u128::BITS - top.leading_zeros();
    loop {
        let x = if bits <= 64 {
            u128::from(rng.next_u64() >> (64 - bits))
        } else {
            let hi = u128::from(rng.next_u64() >> (128 - bits));
            (hi << 64) | u128::from(rng.next_u64())
        };
        if x < n {
            return x;
        }
    }
}

/// `Bernoulli(p / q)` for `p <= q`, `q >= 1`: exact.
pub(crate) fn bernoulli<R: CryptoRng + ?Sized>(p: u128, q: u128, rng: &mut R) -> bool {
    uniform_below(q, rng) < p
}

/// `Bernoulli(exp(-p / q))` for `0 <= p <= q`, `q >= 1`: Algorithm 1 of Canonne, Kamath and
/// Steinke (2020), first case. `Bernoulli(γ / k)` is drawn as the conjunction of the
/// independent `Bernoulli(p / q)` and `Bernoulli(1 / k)`, so no product can overflow.
fn bernoulli_exp_below_one<R: CryptoRng + ?Sized>(p: u128, q: u128, rng: &mut R) -> bool {
    let mut k: u128 = 1;
    while bernoulli(p, q, rng) && bernoulli(1, k, rng) {
        k = k.saturating_add(1);
    }
    k % 2 == 1
}

/// `Bernoulli(exp(-1))`.
pub(crate) fn bernoulli_exp_minus_one<R: CryptoRng + ?Sized>(rng: &mut R) -> bool {
    bernoulli_exp_below_one(1, 1, rng)
}

/// `Bernoulli(exp(-(whole + rem / q)))` for `rem < q`: Algorithm 1 of Canonne, Kamath and
/// Steinke (2020), second case: `whole` independent `Bernoulli(exp(-1))` trials must all
/// succeed (the loop stops at the first failure, after fewer than two trials on average),
/// then one `Bernoulli(exp(-rem / q))`.
pub(crate) fn bernoulli_exp_parts<R: CryptoRng + ?Sized>(
    whole: u128,
    rem: u128,
    q: u128,
    rng: &mut R,
) -> bool {
    let mut left = whole;
    while left > 0 {
        if !bernoulli_exp_minus_one(rng) {
            return false;
        }
        left -= 1;
    }
    bernoulli_exp_below_one(rem, q, rng)
}

/// `Bernoulli(exp(-p / q))` for any `p`, `q >= 1`.
pub(crate) fn bernoulli_exp<R: CryptoRng + ?Sized>(p: u128, q: u128, rng: &mut R) -> bool {
    match (p.checked_div(q), p.checked_rem(q)) {
        (Some(whole), Some(rem)) => bernoulli_exp_parts(whole, rem, q, rng),
        _ => false,
    }
}

/// `a^2` as a 256-bit number `(high, low)`.
pub(crate) fn square_wide(a: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (h, l) = (a >> 64, a & LOW);
    // Each partial product of two 64-bit halves fits in 128 bits.
    let (hh, hl, ll) = (h * h, h * l, l * l);
    // a^2 = hh * 2^128 + hl * 2^65 + ll; hl * 2^65 splits into (hl >> 63) * 2^128 and the
    // low 128 bits (hl << 65), which may carry into the high half.
    let (low, carry) = ll.overflowing_add(hl << 65);
    let high = hh + (hl >> 63) + u128::from(carry);
    (high, low)
}

/// `(high * 2^128 + low) / q` and the remainder, for `q < 2^127`; `None` when the quotient
/// does not fit in 128 bits.
pub(crate) fn div_wide(high: u128, low: u128, q: u128) -> Option<(u128, u128)> {
    if q == 0 || q >> 127 != 0 || high >= q {
        return None;
    }
    // Long division, one bit at a time: the running remainder stays below q < 2^127, so
    // shifting it left by one never overflows.
    let mut rem = high;
    let mut quot = 0u128;
    for i in (0..128).rev() {
        rem = (rem << 1) | ((low >> i) & 1);
        if rem >= q {
            rem -= q;
            quot |= 1 << i;
        }
    }
    Some((quot, rem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn wide_arithmetic_matches_small_cases() {
        assert_eq!(square_wide(u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(square_wide(1 << 64), (1, 0));
        assert_eq!(square_wide(12345), (0, 12345 * 12345));
        let (h, l) = square_wide((1 << 100) + 7);
        // (2^100 + 7)^2 = 2^200 + 14 * 2^100 + 49
        assert_eq!((h, l), (1 << 72, (14 << 100) + 49));
        assert_eq!(div_wide(h, l, 1 << 100), Some(((1 << 100) + 14, 49)));
        assert_eq!(div_wide(1 << 100, 0, 1 << 100), None);
        assert_eq!(div_wide(0, 100, 7), Some((14, 2)));
        let (qt, r) = div_wide(h, l, (1 << 126) + 3).unwrap();
        // quotient ~ 2^74, and quotient * q + r reproduces the dividend's low bits
        assert_eq!(
            qt.wrapping_mul((1 << 126) + 3).wrapping_add(r),
            l,
            "low 128 bits"
        );
        assert!(r < (1 << 126) + 3);
    }

    #[test]
    fn bernoulli_exp_frequency_matches() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let n = 200_000;
        for (p, q) in [(1u128, 2u128), (3, 2), (5, 1)] {
            let hits = (0..n).filter(|_| bernoulli_exp(p, q, &mut rng)).count();
            let want = (-(p as f64) / q as f64).exp();
            let sd = (want * (1.0 - want) / n as f64).sqrt();
            let got = hits as f64 / n as f64;
            assert!(
                (got - want).abs() < 6.0 * sd,
                "p/q={p}/{q}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn uniform_below_covers_range() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[uniform_below(5, &mut rng) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(uniform_below(1, &mut rng), 0);
        assert!(uniform_below(u128::MAX, &mut rng) < u128::MAX);
    }
}
