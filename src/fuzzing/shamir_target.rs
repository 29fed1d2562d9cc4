//! The fuzz harness: the Shamir reconstruction target.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The error [`shamir::reconstruct`] must return for these indices, if any (the order of its
/// checks: threshold, count, zero index, then the smallest repeated index).
pub(super) fn expected_shamir_error(
    indices: &[ShareIndex],
    threshold: usize,
) -> Option<ShamirError> {
    if threshold == 0 {
        return Some(ShamirError::ZeroThreshold);
    }
    if indices.len() < threshold {
        return Some(ShamirError::TooFewShares {
            have: indices.len(),
            need: threshold,
        });
    }
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    if sorted.first().is_some_and(|x| x.0 == 0) {
        return Some(ShamirError::ZeroIndex);
    }
    sorted
        .windows(2)
        .find_map(|w| match w {
            [a, b] if a == b => Some(*a),
            _ => None,
        })
        .map(ShamirError::DuplicateIndex)
}

/// `f(0)` of the polynomial of least degree through the shares, by Neville's scheme: an
/// independent check of the Lagrange coefficients.
pub(super) fn neville_at_zero(shares: &[Share]) -> Scalar {
    let xs: Vec<Scalar> = shares.iter().map(|s| Scalar::from(s.index.0)).collect();
    let mut p: Vec<Scalar> = shares.iter().map(|s| s.value.0).collect();
    let k = p.len();
    for width in 1..k {
        for i in 0..k - width {
            let (xi, xj) = (xs[i], xs[i + width]);
            // p_{i..j}(0) = (x_j p_{i..j-1}(0) - x_i p_{i+1..j}(0)) / (x_j - x_i)
            p[i] = (xj * p[i] - xi * p[i + 1]) * (xj - xi).invert();
        }
    }
    p.first().copied().unwrap_or(Scalar::ZERO)
}

pub(super) fn copy_share(s: &Share) -> Share {
    Share {
        index: s.index,
        value: s.value.duplicate(),
    }
}

/// Target `shamir_reconstruct`: arbitrary share sets (any indices, canonical or not, any
/// threshold) give `Ok` or exactly the typed error they call for, never a panic; an `Ok`
/// agrees with an independent interpolation; shares of a real split rebuild the secret from
/// any `t` distinct ones, and not when one is altered.
pub fn shamir_reconstruct(data: &[u8]) {
    let mut inp = Input::new(data);
    if inp.byte() & 1 == 0 {
        arbitrary_shares(&mut inp);
    } else {
        split_shares(&mut inp);
    }
}

pub(super) fn share_index(inp: &mut Input<'_>, position: usize) -> ShareIndex {
    ShareIndex(match inp.byte() % 4 {
        0 => inp.u64(),
        1 => u64::try_from(position + 1).unwrap_or(0),
        _ => u64::from(inp.byte()),
    })
}

pub(super) fn arbitrary_shares(inp: &mut Input<'_>) {
    let threshold = usize::from(inp.byte() % 32);
    let count = usize::from(inp.byte() % 24);
    let mut shares = Vec::with_capacity(count);
    for position in 0..count {
        let index = share_index(inp, position);
        let bytes: [u8; 32] = inp.array();
        let value = match SecretScalar::from_canonical_bytes(bytes) {
            Ok(v) => v,
            Err(e) => {
                assert_eq!(e, ShamirError::NonCanonical);
                assert!(bool::from(Scalar::from_canonical_bytes(bytes).is_none()));
                SecretScalar(Scalar::from_bytes_mod_order(bytes))
            }
        };
        shares.push(Share { index, value });
    }
    let indices: Vec<ShareIndex> = shares.iter().map(|s| s.index).collect();
    let result = shamir::reconstruct(&shares, threshold);
    match (expected_shamir_error(&indices, threshold), result) {
        (Some(e), r) => assert_eq!(r.err(), Some(e)),
        (None, Ok(secret)) => assert_eq!(secret.0, neville_at_zero(&shares)),
        (None, Err(e)) => panic!("reconstruction refused valid shares: {e}"),
    }
    // Lagrange coefficients with one value too few or too many.
    if let Ok(lagrange) = Lagrange::new(&indices, threshold) {
        let one = SecretScalar(Scalar::ONE);
        let fewer = vec![&one; indices.len().saturating_sub(1)];
        assert_eq!(
            lagrange.reconstruct(fewer).err(),
            Some(ShamirError::LengthMismatch)
        );
        let more = vec![&one; indices.len() + 1];
        assert_eq!(
            lagrange.reconstruct(more).err(),
            Some(ShamirError::LengthMismatch)
        );
    }
}

pub(super) fn split_shares(inp: &mut Input<'_>) {
    let secret = SecretScalar(Scalar::from_bytes_mod_order(inp.array()));
    let threshold = usize::from(inp.byte() % 9);
    let n = threshold + usize::from(inp.byte() % 8);
    let mut rng = ChaCha20Rng::from_seed(inp.array());
    let indices: Vec<ShareIndex> = (0..n).map(|i| share_index(inp, i)).collect();
    let shares = match shamir::split(&secret, threshold, &indices, &mut rng) {
        Ok(shares) => {
            assert_eq!(expected_shamir_error(&indices, threshold), None);
            shares
        }
        Err(e) => {
            assert_eq!(expected_shamir_error(&indices, threshold), Some(e));
            return;
        }
    };
    assert_eq!(shares.len(), n);
    // A subset (in any order, possibly with repeats), a claimed threshold, maybe one change.
    let mut subset: Vec<Share> = Vec::new();
    for _ in 0..inp.byte() % 16 {
        if let Some(s) = shares.get(inp.below(n)) {
            subset.push(copy_share(s));
        }
    }
    let claimed = match inp.byte() % 4 {
        0 => subset.len(),
        1 => usize::from(inp.byte() % 16),
        _ => threshold,
    };
    let altered = inp.byte().is_multiple_of(4) && !subset.is_empty();
    if altered {
        let i = inp.below(subset.len());
        let delta = Scalar::from_bytes_mod_order(inp.array());
        let delta = if delta == Scalar::ZERO {
            Scalar::ONE
        } else {
            delta
        };
        if let Some(s) = subset.get_mut(i) {
            s.value.0 += delta;
        }
    }
    let subset_indices: Vec<ShareIndex> = subset.iter().map(|s| s.index).collect();
    let result = shamir::reconstruct(&subset, claimed);
    match (expected_shamir_error(&subset_indices, claimed), result) {
        (Some(e), r) => assert_eq!(r.err(), Some(e)),
        (None, Err(e)) => panic!("reconstruction refused valid shares: {e}"),
        (None, Ok(rebuilt)) => {
            assert_eq!(rebuilt.0, neville_at_zero(&subset));
            if altered {
                // The altered value has a non-zero Lagrange coefficient.
                assert!(
                    rebuilt != secret,
                    "an altered share still rebuilt the secret"
                );
            } else if subset.len() >= threshold {
                assert!(
                    rebuilt == secret,
                    "{} distinct shares of a {threshold}-of-{n} split",
                    subset.len()
                );
            } else {
                // Fewer than t points of a random degree t - 1 polynomial: the chance that
                // they interpolate to the secret is 2^-252.
                assert!(rebuilt != secret, "fewer than t shares rebuilt the secret");
            }
        }
    }
}
