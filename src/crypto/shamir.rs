//! Shamir t-of-n secret sharing over the scalar field of curve25519
//! (`l = 2^252 + 27742317777372353535851937790883648493`).
//!
//! A secret `s` is hidden as `f(0)` of a random polynomial `f` of degree `t - 1`; the share of
//! the holder with index `x` is `f(x)`. Any `t` shares rebuild `s` by Lagrange interpolation
//! at zero; fewer reveal nothing. [`Lagrange`] computes the coefficients of one set of holders
//! once, so every secret shared among the same holders is rebuilt with `t` multiplications.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::ids::ShareIndex;

/// Why sharing or reconstruction failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShamirError {
    /// Two shares have the same x-coordinate.
    DuplicateIndex(ShareIndex),
    /// A share has x-coordinate zero, which would be the secret itself.
    ZeroIndex,
    /// Fewer shares than the threshold.
    TooFewShares {
        /// How many were given.
        have: usize,
        /// The threshold.
        need: usize,
    },
    /// The threshold is zero.
    ZeroThreshold,
    /// A share value is not a canonical scalar encoding.
    NonCanonical,
    /// The share values do not line up with the holders.
    LengthMismatch,
}

impl fmt::Display for ShamirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateIndex(i) => write!(f, "duplicate share index {}", i.0),
            Self::ZeroIndex => f.write_str("share index zero"),
            Self::TooFewShares { have, need } => write!(f, "{have} shares, threshold {need}"),
            Self::ZeroThreshold => f.write_str("threshold zero"),
            Self::NonCanonical => f.write_str("non-canonical scalar"),
            Self::LengthMismatch => f.write_str("share values do not match the holders"),
        }
    }
}

impl core::error::Error for ShamirError {}

/// A secret element of the scalar field: a Shamir secret or one share value.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretScalar(pub(crate) Scalar);

impl fmt::Debug for SecretScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretScalar").finish_non_exhaustive()
    }
}

impl ConstantTimeEq for SecretScalar {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for SecretScalar {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretScalar {}

impl SecretScalar {
    /// A uniformly random scalar.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(Scalar::random(rng))
    }

    /// Parses a canonical 32-byte encoding.
    ///
    /// # Errors
    /// [`ShamirError::NonCanonical`] if the bytes encode a value `>= l`.
    pub fn from_canonical_bytes(bytes: [u8; 32]) -> Result<Self, ShamirError> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes))
            .map(Self)
            .ok_or(ShamirError::NonCanonical)
    }

    /// The canonical encoding, for sealing into a ciphertext or revealing in Unmasking.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// A copy. Used where the protocol sends one share to two places (a client keeps the
    /// share of its own secret and may later reveal it); every copy zeroizes on drop.
    #[must_use]
    pub fn duplicate(&self) -> Self {
        Self(self.0)
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.0
    }
}

/// One share: the holder's index `x` and `f(x)`.
#[derive(Debug, PartialEq, Eq)]
pub struct Share {
    /// The holder's x-coordinate.
    pub index: ShareIndex,
    /// `f(x)`.
    pub value: SecretScalar,
}

/// Splits `secret` into one share per index, any `threshold` of which rebuild it.
///
/// # Errors
/// [`ShamirError`] for a zero threshold, fewer indices than the threshold, or a zero or
/// repeated index.
pub fn split<R: CryptoRng + ?Sized>(
    secret: &SecretScalar,
    threshold: usize,
    indices: &[ShareIndex],
    rng: &mut R,
) -> Result<Vec<Share>, ShamirError> {
    check_indices(indices, threshold)?;
    // f(x) = secret + a_1 x + ... + a_{t-1} x^{t-1}
    let mut coefficients: Zeroizing<Vec<Scalar>> = Zeroizing::new(Vec::with_capacity(threshold));
    coefficients.push(secret.0);
    for _ in 1..threshold {
        coefficients.push(Scalar::random(rng));
    }
    let shares = indices
        .iter()
        .map(|&index| {
            let x = index.to_scalar();
            // Horner's rule from the top coefficient down.
            let mut y = Scalar::ZERO;
            for c in coefficients.iter().rev() {
                y = y * x + c;
            }
            Share {
                index,
                value: SecretScalar(y),
            }
        })
        .collect();
    Ok(shares)
}

fn check_indices(indices: &[ShareIndex], threshold: usize) -> Result<(), ShamirError> {
    if threshold == 0 {
        return Err(ShamirError::ZeroThreshold);
    }
    if indices.len() < threshold {
        return Err(ShamirError::TooFewShares {
            have: indices.len(),
            need: threshold,
        });
    }
    let mut sorted: Vec<ShareIndex> = indices.to_vec();
    sorted.sort_unstable();
    if sorted.first().is_some_and(|x| x.0 == 0) {
        return Err(ShamirError::ZeroIndex);
    }
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(ShamirError::DuplicateIndex(w[0]));
    }
    Ok(())
}

/// The Lagrange coefficients at zero of one set of share holders.
#[derive(Debug, Clone)]
pub struct Lagrange {
    holders: Vec<ShareIndex>,
    coefficients: Vec<Scalar>,
}

impl Lagrange {
    /// Coefficients for exactly the given holders (`lambda_i = prod_{j != i} x_j / (x_j - x_i)`).
    ///
    /// # Errors
    /// [`ShamirError`] for fewer holders than `threshold`, or a zero or repeated index.
    pub fn new(holders: &[ShareIndex], threshold: usize) -> Result<Self, ShamirError> {
        check_indices(holders, threshold)?;
        let xs: Vec<Scalar> = holders.iter().map(|h| h.to_scalar()).collect();
        // Numerators `prod_{j != i} x_j` from prefix and suffix products: O(t) multiplies.
        let mut suffix = vec![Scalar::ONE; xs.len() + 1];
        for (i, x) in xs.iter().enumerate().rev() {
            suffix[i] = suffix[i + 1] * x;
        }
        let mut prefix = Scalar::ONE;
        let mut numerators = Vec::with_capacity(xs.len());
        for (x, after) in xs.iter().zip(&suffix[1..]) {
            numerators.push(prefix * after);
            prefix *= x;
        }
        // Denominators `prod_{j != i} (x_j - x_i)`: the differences are integers (indices
        // are at most 2^32), multiplied exactly in a u128 while the product fits and only
        // then folded into the scalar, so a scalar multiply covers several factors (about
        // six for a roster of 10^6). The sign is kept apart. Indices are public: none of
        // this depends on a secret.
        let mut denominators = Vec::with_capacity(xs.len());
        for (i, hi) in holders.iter().enumerate() {
            let mut den = Scalar::ONE;
            let mut exact: u128 = 1;
            let mut negative = false;
            for (j, hj) in holders.iter().enumerate() {
                if i == j {
                    continue;
                }
                negative ^= hj.0 < hi.0;
                let d = u128::from(hj.0.abs_diff(hi.0));
                exact = match exact.checked_mul(d) {
                    Some(p) => p,
                    None => {
                        den *= Scalar::from(exact);
                        d
                    }
                };
            }
            den *= Scalar::from(exact);
            denominators.push(if negative { -den } else { den });
        }
        // Indices are distinct and non-zero, so no denominator is zero.
        Scalar::invert_batch_alloc(&mut denominators);
        let coefficients = numerators
            .iter()
            .zip(&denominators)
            .map(|(n, d)| n * d)
            .collect();
        Ok(Self {
            holders: holders.to_vec(),
            coefficients,
        })
    }

    /// The holders, in the order their values must be given to [`Lagrange::reconstruct`].
    #[must_use]
    pub fn holders(&self) -> &[ShareIndex] {
        &self.holders
    }

    /// Rebuilds the secret from the holders' share values, in [`Lagrange::holders`] order.
    ///
    /// # Errors
    /// [`ShamirError::LengthMismatch`] if there is not one value per holder.
    pub fn reconstruct<'a, I>(&self, values: I) -> Result<SecretScalar, ShamirError>
    where
        I: IntoIterator<Item = &'a SecretScalar>,
        I::IntoIter: ExactSizeIterator,
    {
        let values = values.into_iter();
        if values.len() != self.coefficients.len() {
            return Err(ShamirError::LengthMismatch);
        }
        let mut secret = SecretScalar(Scalar::ZERO);
        for (v, l) in values.zip(&self.coefficients) {
            secret.0 += v.0 * l;
        }
        Ok(secret)
    }
}

/// Rebuilds a secret from shares at arbitrary indices (one-off; use [`Lagrange`] to rebuild
/// many secrets held by the same set).
///
/// # Errors
/// [`ShamirError`] for too few shares, or a zero or repeated index.
pub fn reconstruct(shares: &[Share], threshold: usize) -> Result<SecretScalar, ShamirError> {
    let holders: Vec<ShareIndex> = shares.iter().map(|s| s.index).collect();
    Lagrange::new(&holders, threshold)?.reconstruct(shares.iter().map(|s| &s.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::{Rng as _, SeedableRng};

    fn idx(v: &[u64]) -> Vec<ShareIndex> {
        v.iter().map(|&x| ShareIndex(x)).collect()
    }

    #[test]
    fn any_threshold_subset_rebuilds() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let secret = SecretScalar::random(&mut rng);
        let shares = split(&secret, 3, &idx(&[1, 2, 3, 4, 5]), &mut rng).unwrap();
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let subset: Vec<Share> = [a, b, c]
                        .iter()
                        .map(|&i| Share {
                            index: shares[i].index,
                            value: shares[i].value.duplicate(),
                        })
                        .collect();
                    assert_eq!(reconstruct(&subset, 3).unwrap(), secret);
                }
            }
        }
    }

    #[test]
    fn fewer_than_threshold_do_not_rebuild() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let secret = SecretScalar::random(&mut rng);
        let shares = split(&secret, 3, &idx(&[1, 2, 3]), &mut rng).unwrap();
        // Interpolating two points of a degree-2 polynomial gives a wrong value.
        let l = Lagrange::new(&idx(&[1, 2]), 2).unwrap();
        let wrong = l.reconstruct([&shares[0].value, &shares[1].value]).unwrap();
        assert_ne!(wrong, secret);
        assert_eq!(
            reconstruct(&shares[..2], 3),
            Err(ShamirError::TooFewShares { have: 2, need: 3 })
        );
    }

    #[test]
    fn rejects_duplicate_zero_and_non_canonical() {
        assert_eq!(
            Lagrange::new(&idx(&[1, 2, 2]), 2).unwrap_err(),
            ShamirError::DuplicateIndex(ShareIndex(2))
        );
        assert_eq!(
            Lagrange::new(&idx(&[0, 1]), 2).unwrap_err(),
            ShamirError::ZeroIndex
        );
        assert_eq!(
            Lagrange::new(&idx(&[1]), 0).unwrap_err(),
            ShamirError::ZeroThreshold
        );
        assert_eq!(
            SecretScalar::from_canonical_bytes([0xff; 32]),
            Err(ShamirError::NonCanonical)
        );
        let l = Lagrange::new(&idx(&[1, 2]), 2).unwrap();
        let one = SecretScalar(Scalar::ONE);
        assert_eq!(l.reconstruct([&one]), Err(ShamirError::LengthMismatch));
    }

    /// The coefficients as the formula defines them, one scalar multiply per factor.
    fn lagrange_by_definition(holders: &[ShareIndex]) -> Vec<Scalar> {
        let xs: Vec<Scalar> = holders.iter().map(|h| h.to_scalar()).collect();
        xs.iter()
            .enumerate()
            .map(|(i, xi)| {
                let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
                for (j, xj) in xs.iter().enumerate() {
                    if i != j {
                        num *= xj;
                        den *= xj - xi;
                    }
                }
                num * den.invert()
            })
            .collect()
    }

    /// Spread, unordered and large indices (up to the largest, `2^32`, where four
    /// differences overflow the exact product and are folded early) give the coefficients
    /// of the definition, and rebuild the secret.
    #[test]
    fn lagrange_matches_the_definition_for_spread_indices() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let largest = u64::from(u32::MAX) + 1;
        for (count, range) in [(2usize, 5u64), (7, 1 << 20), (55, 1_000_001), (40, largest)] {
            let mut seen = std::collections::BTreeSet::new();
            while seen.len() < count {
                seen.insert(1 + rng.next_u64() % range);
            }
            // Unordered: largest first, then the rest.
            let mut v: Vec<u64> = seen.into_iter().collect();
            v.rotate_right(1);
            if count == 40 {
                v[0] = largest;
                v[1] = 1;
            }
            let holders = idx(&v);
            let l = Lagrange::new(&holders, count).unwrap();
            assert_eq!(
                l.coefficients,
                lagrange_by_definition(&holders),
                "{count} {range}"
            );
            let secret = SecretScalar::random(&mut rng);
            let shares = split(&secret, count, &holders, &mut rng).unwrap();
            assert_eq!(
                l.reconstruct(shares.iter().map(|s| &s.value)).unwrap(),
                secret
            );
        }
    }

    #[test]
    fn lagrange_is_reused_across_secrets() {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        let holders = idx(&[3, 9, 27, 81]);
        let l = Lagrange::new(&holders, 4).unwrap();
        for _ in 0..5 {
            let secret = SecretScalar::random(&mut rng);
            let shares = split(&secret, 4, &holders, &mut rng).unwrap();
            assert_eq!(
                l.reconstruct(shares.iter().map(|s| &s.value)).unwrap(),
                secret
            );
        }
    }
}
