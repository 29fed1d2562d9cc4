//! Arithmetic in `Z_m`: the modulus of a session and the vectors summed under it. A leaf
//! below the cryptography: it imports only the crate's errors.

use alloc::vec::Vec;
use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::ConfigError;

/// The modulus `m` of the aggregation group `Z_m`, for `2 <= m <= 2^64`.
///
/// Built only through [`Modulus::power_of_two`] or [`Modulus::new`], so every value is valid.
///
/// ```
/// use secagg::Modulus;
///
/// # fn main() -> Result<(), secagg::ConfigError> {
/// let m = Modulus::new(1_000_003)?;
/// assert_eq!(m.bits(), 20); // elements travel in 20 bits
/// assert_eq!(m.add(1_000_000, 10), 7); // sums wrap around m
/// assert_eq!(Modulus::new(1 << 16)?, Modulus::power_of_two(16)?);
/// assert!(Modulus::new(1).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Modulus(Repr);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Repr {
    /// `m = 2^bits`, `1 <= bits <= 64`; `bits = 64` is plain `u64` wrap-around.
    PowerOfTwo { bits: u32 },
    /// Any other `m` in `3 ..= 2^64 - 1` that is not a power of two.
    Other { m: u64 },
}

impl Modulus {
    /// `m = 2^bits`.
    ///
    /// # Errors
    /// [`ConfigError::BitsOutOfRange`] unless `1 <= bits <= 64`.
    pub fn power_of_two(bits: u32) -> Result<Self, ConfigError> {
        if (1..=64).contains(&bits) {
            Ok(Self(Repr::PowerOfTwo { bits }))
        } else {
            Err(ConfigError::BitsOutOfRange { bits })
        }
    }

    /// Any `m` with `2 <= m < 2^64`; powers of two are the same as [`Modulus::power_of_two`].
    ///
    /// # Errors
    /// [`ConfigError::ModulusOutOfRange`] if `m < 2`.
    pub fn new(m: u64) -> Result<Self, ConfigError> {
        if m < 2 {
            Err(ConfigError::ModulusOutOfRange)
        } else if m.is_power_of_two() {
            Ok(Self(Repr::PowerOfTwo {
                bits: m.trailing_zeros(),
            }))
        } else {
            Ok(Self(Repr::Other { m }))
        }
    }

    /// `Some(b)` if `m = 2^b`.
    #[must_use]
    pub fn power_of_two_bits(self) -> Option<u32> {
        match self.0 {
            Repr::PowerOfTwo { bits } => Some(bits),
            Repr::Other { .. } => None,
        }
    }

    /// `Some(m)` if `m` is not a power of two (then it fits a `u64`).
    #[must_use]
    pub(crate) fn odd_modulus(self) -> Option<u64> {
        match self.0 {
            Repr::PowerOfTwo { .. } => None,
            Repr::Other { m } => Some(m),
        }
    }

    /// `ceil(log2 m)`: the bits one element takes on the wire.
    #[must_use]
    pub fn bits(self) -> u32 {
        match self.0 {
            Repr::PowerOfTwo { bits } => bits,
            Repr::Other { m } => u64::BITS - m.leading_zeros(),
        }
    }

    /// `m - 1`, the largest element.
    #[must_use]
    pub fn max_element(self) -> u64 {
        match self.0 {
            Repr::PowerOfTwo { bits } => u64::MAX >> (64 - bits),
            Repr::Other { m } => m - 1,
        }
    }

    /// Whether `x` is an element of `Z_m`.
    #[must_use]
    pub fn contains(self, x: u64) -> bool {
        x <= self.max_element()
    }

    /// `(a + b) mod m` for `a, b < m`. Branch-free: the operands may be secret.
    #[must_use]
    #[inline]
    pub fn add(self, a: u64, b: u64) -> u64 {
        match self.0 {
            // mod 2^bits by design: 2^bits divides 2^64.
            Repr::PowerOfTwo { .. } => a.wrapping_add(b) & self.max_element(),
            Repr::Other { m } => {
                let (sum, carry) = a.overflowing_add(b);
                let (reduced, borrow) = sum.overflowing_sub(m);
                // mod m by design: a + b < 2m, so one subtraction reduces it; keep the
                // reduced value when the sum carried out of 64 bits or is at least m.
                select(carry | !borrow, reduced, sum)
            }
        }
    }

    /// `(a - b) mod m` for `a, b < m`. Branch-free: the operands may be secret.
    #[must_use]
    #[inline]
    pub fn sub(self, a: u64, b: u64) -> u64 {
        match self.0 {
            // mod 2^bits by design.
            Repr::PowerOfTwo { .. } => a.wrapping_sub(b) & self.max_element(),
            Repr::Other { m } => {
                let (diff, borrow) = a.overflowing_sub(b);
                // mod m by design: a - b > -m, one addition of m reduces it.
                select(borrow, diff.wrapping_add(m), diff)
            }
        }
    }

    /// `-a mod m` for `a < m`.
    #[must_use]
    #[inline]
    pub fn neg(self, a: u64) -> u64 {
        self.sub(0, a)
    }

    /// The modulus as a `u128` (`2^64` fits).
    #[must_use]
    pub fn value(self) -> u128 {
        match self.0 {
            Repr::PowerOfTwo { bits } => 1u128 << bits,
            Repr::Other { m } => u128::from(m),
        }
    }
}

/// `if condition { yes } else { no }` without a branch on `condition`.
#[inline(always)]
fn select(condition: bool, yes: u64, no: u64) -> u64 {
    let mask = 0u64.wrapping_sub(u64::from(condition));
    (yes & mask) | (no & !mask)
}

/// A client's private input vector: elements of `Z_m`, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PlainInput(Vec<u64>);

impl PlainInput {
    /// Wraps an input vector. Its length and range are checked against the session when it
    /// is masked.
    #[must_use]
    pub fn new(values: Vec<u64>) -> Self {
        Self(values)
    }

    /// The values: read by the client that masks them, and by the in-memory driver to check
    /// results.
    pub(crate) fn values(&self) -> &[u64] {
        &self.0
    }

    /// The values, for a host that hands an encoded input to
    /// [`ClientSession::handle_with_input`](crate::protocol::session::ClientSession::handle_with_input)
    /// (which borrows a slice) or to a language binding.
    #[must_use]
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }
}

impl fmt::Debug for PlainInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainInput")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modular_ops_wrap() {
        let m = Modulus::new(7).unwrap();
        assert_eq!(m.add(5, 4), 2);
        assert_eq!(m.sub(2, 5), 4);
        assert_eq!(m.neg(0), 0);
        let big = Modulus::new(u64::MAX).unwrap();
        assert_eq!(big.add(u64::MAX - 1, u64::MAX - 1), u64::MAX - 2);
        let p = Modulus::power_of_two(64).unwrap();
        assert_eq!(p.add(u64::MAX, 2), 1);
        let p8 = Modulus::power_of_two(8).unwrap();
        assert_eq!(p8.sub(1, 2), 255);
        assert_eq!(
            Modulus::new(1024).unwrap(),
            Modulus::power_of_two(10).unwrap()
        );
        assert_eq!(Modulus::new(1025).unwrap().bits(), 11);
    }

    #[test]
    fn rejects_bad_modulus() {
        assert_eq!(Modulus::new(1), Err(ConfigError::ModulusOutOfRange));
        assert_eq!(
            Modulus::power_of_two(65),
            Err(ConfigError::BitsOutOfRange { bits: 65 })
        );
    }
}
