//! X25519 key agreement (RFC 7748) through `x25519-dalek`, with the contributory check.

use core::fmt;

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// An X25519 public key as advertised in AdvertiseKeys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

impl PublicKey {
    /// Whether the bytes are the canonical encoding of an X25519 u-coordinate: bit 255 clear
    /// and `u < p = 2^255 - 19` (little-endian). Every key X25519 computes is canonical.
    /// X25519 itself ignores bit 255 and reduces `u` modulo `p`, so a non-canonical encoding
    /// names the same key as a canonical one; the wire decoder, the client's roster checks and
    /// the server's admission all reject them, so byte equality of accepted keys is key
    /// equality in the typed API as in the byte-level one.
    #[must_use]
    pub fn is_canonical(&self) -> bool {
        let Some((last, rest)) = self.0.split_last() else {
            return false;
        };
        if last & 0x80 != 0 {
            return false;
        }
        if *last != 0x7f {
            return true;
        }
        let Some((first, middle)) = rest.split_first() else {
            return false;
        };
        // p = ed ff .. ff 7f (little-endian): u >= p only if bytes 1..=30 are all 0xff and
        // the lowest is at least 0xed.
        !(middle.iter().all(|&b| b == 0xff) && *first >= 0xed)
    }

    /// Whether the key has small order (on the curve or its twist): key agreement with such a
    /// key gives a shared secret that does not depend on our private key.
    ///
    /// X25519 ignores bit 255 and reduces `u` modulo `p = 2^255 - 19`; the `u` of small order
    /// are then `0`, `1`, `p - 1` and the two `u` of order 8, and the only other encodings
    /// below `2^255` are `p` and `p + 1` (for `0` and `1`). The check compares against this
    /// list (as libsodium's blocklist does) instead of running a ladder per key.
    #[must_use]
    pub fn is_small_order(&self) -> bool {
        let mut u = self.0;
        u[31] &= 0x7f;
        // A public key: nothing secret to hide in the comparison's timing.
        SMALL_ORDER.contains(&u)
    }
}

/// The encodings (bit 255 clear) of the small-order `u`-coordinates, little-endian.
pub(crate) const SMALL_ORDER: [[u8; 32]; 7] = [
    // 0
    [0; 32],
    // 1
    {
        let mut one = [0; 32];
        one[0] = 1;
        one
    },
    // order 8
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    // order 8
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    // p - 1
    field_bytes(0xec),
    // p (= 0)
    field_bytes(0xed),
    // p + 1 (= 1)
    field_bytes(0xee),
];

/// `0x7fff..ff` with the low byte replaced: `p - 1`, `p`, `p + 1` for `0xec`, `0xed`, `0xee`.
const fn field_bytes(low: u8) -> [u8; 32] {
    let mut b = [0xff; 32];
    b[0] = low;
    b[31] = 0x7f;
    b
}

/// An X25519 private key.
///
/// The share-encryption key is random; the mask key is built from a scalar so that it can be
/// Shamir-shared over the same field ([`SecretKey::from_scalar`]).
pub struct SecretKey(StaticSecret);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").finish_non_exhaustive()
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl SecretKey {
    /// A fresh random key.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(StaticSecret::random_from_rng(rng))
    }

    /// The key with the given 32 bytes (X25519 clamps them on use). For known-answer tests
    /// and interoperability; the protocol never builds keys this way.
    #[must_use]
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let key = Self(StaticSecret::from(bytes));
        bytes.zeroize();
        key
    }

    /// The key whose 32 bytes are the canonical encoding of `scalar`; X25519 clamps them on use.
    ///
    /// The mask key is built this way so that its secret is an element of the scalar field
    /// and can be Shamir-shared and rebuilt bit for bit.
    #[must_use]
    pub fn from_scalar(scalar: &Scalar) -> Self {
        let mut bytes = scalar.to_bytes();
        let key = Self(StaticSecret::from(bytes));
        bytes.zeroize();
        key
    }

    /// The key's 32 bytes as given (unclamped), to save it in a sealed state.
    #[must_use]
    pub(crate) fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The public key `X25519(sk, 9)`.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }

    /// X25519 with a peer's public key.
    ///
    /// # Errors
    /// [`NonContributory`] if the shared secret is all zeros (the peer's key has small order).
    pub fn agree(&self, peer: &PublicKey) -> Result<SharedSecret, NonContributory> {
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer.0));
        // SECURITY: a small-order peer key fixes the shared secret whatever our key is; the
        // peer then knows a "pairwise" secret without a contribution from us.
        if !shared.was_contributory() {
            return Err(NonContributory);
        }
        Ok(SharedSecret(shared.to_bytes()))
    }
}

/// A shared secret that is all zeros: the peer's key has small order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonContributory;

/// An X25519 shared secret, the input keying material of a derivation.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SharedSecret(pub(crate) [u8; 32]);

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSecret").finish_non_exhaustive()
    }
}

impl ConstantTimeEq for SharedSecret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for SharedSecret {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SharedSecret {}

impl SharedSecret {
    /// The bytes, for the KDF only.
    #[must_use]
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares the secret with `expected` in constant time, without exposing it (for
    /// known-answer tests).
    #[must_use]
    pub fn ct_eq_bytes(&self, expected: &[u8; 32]) -> subtle::Choice {
        self.0.ct_eq(expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn agreement_is_symmetric() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let a = SecretKey::random(&mut rng);
        let b = SecretKey::from_scalar(&Scalar::random(&mut rng));
        let ab = a.agree(&b.public_key()).unwrap();
        let ba = b.agree(&a.public_key()).unwrap();
        assert_eq!(ab, ba);
    }

    #[test]
    fn rejects_small_order_key() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let a = SecretKey::random(&mut rng);
        let zero = PublicKey([0; 32]);
        let one = PublicKey({
            let mut b = [0; 32];
            b[0] = 1;
            b
        });
        assert!(zero.is_small_order());
        assert!(one.is_small_order());
        assert_eq!(a.agree(&zero), Err(NonContributory));
        assert_eq!(a.agree(&one), Err(NonContributory));
        assert!(!a.public_key().is_small_order());
    }

    #[test]
    fn debug_is_redacted() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let a = SecretKey::random(&mut rng);
        assert_eq!(format!("{a:?}"), "SecretKey { .. }");
    }
}
