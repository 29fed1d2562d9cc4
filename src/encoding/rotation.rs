//! The randomized Hadamard rotation `x ↦ H D x / sqrt(d)` and its inverse.
//!
//! `D` is a diagonal of random signs expanded from a public 32-byte seed (ChaCha20), `H`
//! the `d × d` Walsh–Hadamard matrix (`d` a power of two, `H H = d I`). The rotation is
//! orthogonal, so it keeps the L2 norm, and it spreads a vector's mass across coordinates:
//! each rotated coordinate is about `‖x‖ / sqrt(d)` in size with high probability
//! (Kairouz, Liu and Steinke, ICML 2021, §4.2), which lets a per-coordinate bound, and so
//! the modulus, be much smaller than the L2 bound.

use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// The signs of `D`, as `±1.0`, for `len` coordinates.
pub(crate) fn signs(seed: &[u8; 32], len: usize) -> Vec<f64> {
    let mut rng = ChaCha20Rng::from_seed(*seed);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let word = rng.next_u64();
        let take = (len - out.len()).min(64);
        out.extend((0..take).map(|i| if (word >> i) & 1 == 1 { -1.0 } else { 1.0 }));
    }
    out
}

/// The unnormalised fast Walsh–Hadamard transform, in place (`len` a power of two).
fn walsh_hadamard(v: &mut [f64]) {
    let mut h = 1;
    while h < v.len() {
        for block in v.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b) {
                let (s, d) = (*x + *y, *x - *y);
                *x = s;
                *y = d;
            }
        }
        h *= 2;
    }
}

#[allow(clippy::cast_precision_loss)] // a power of two up to 2^28: exact
fn norm_factor(len: usize) -> f64 {
    1.0 / (len as f64).sqrt()
}

/// `v ← H D v / sqrt(d)`.
pub(crate) fn rotate(v: &mut [f64], signs: &[f64]) {
    for (x, s) in v.iter_mut().zip(signs) {
        *x *= s;
    }
    walsh_hadamard(v);
    let f = norm_factor(v.len());
    v.iter_mut().for_each(|x| *x *= f);
}

/// `v ← D H v / sqrt(d)`, the inverse of [`rotate`].
pub(crate) fn unrotate(v: &mut [f64], signs: &[f64]) {
    walsh_hadamard(v);
    let f = norm_factor(v.len());
    for (x, s) in v.iter_mut().zip(signs) {
        *x *= f * s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_is_orthogonal_and_invertible() {
        let s = signs(&[9; 32], 8);
        assert_eq!(s.len(), 8);
        let x = [1.0, -2.0, 0.5, 0.0, 3.0, 0.25, -1.0, 2.0];
        let mut v = x;
        rotate(&mut v, &s);
        let n0: f64 = x.iter().map(|a| a * a).sum();
        let n1: f64 = v.iter().map(|a| a * a).sum();
        assert!((n0 - n1).abs() < 1e-12);
        unrotate(&mut v, &s);
        for (a, b) in x.iter().zip(&v) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn rotation_spreads_a_spike() {
        let s = signs(&[1; 32], 1024);
        let mut v = vec![0.0; 1024];
        v[5] = 32.0;
        rotate(&mut v, &s);
        assert!(v.iter().all(|x| (x.abs() - 1.0).abs() < 1e-12));
    }
}
