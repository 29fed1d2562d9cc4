//! HKDF-SHA256 (RFC 5869) and every domain-separation label of the crate.
//!
//! Each derivation is `HKDF-SHA256(salt = empty, ikm, info)` with
//! `info = label || session_id (32 bytes) || id_a (u32 BE) || id_b (u32 BE)` and 32 bytes of
//! output. The labels below are the only ones; no other string is ever fed to the KDF.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::ids::{ClientId, SessionId};

/// Label of the key that encrypts the Shamir shares sent from `id_a` to `id_b`.
pub const LABEL_SHARE_KEY: &[u8] = b"secagg/v1/share-encryption-key";
/// Label of the pairwise mask seed of `id_a < id_b`.
pub const LABEL_PAIRWISE_MASK: &[u8] = b"secagg/v1/pairwise-mask-seed";
/// Label of the self-mask PRG seed of client `id_a = id_b`.
pub const LABEL_SELF_MASK: &[u8] = b"secagg/v1/self-mask-seed";
/// Label of the self-mask PRG seed when masks are expanded with AES-128-CTR.
pub const LABEL_SELF_MASK_AES: &[u8] = b"secagg/v1/aes128ctr/self-mask-seed";
/// Label of the pairwise mask seed when masks are expanded with AES-128-CTR.
pub const LABEL_PAIRWISE_MASK_AES: &[u8] = b"secagg/v1/aes128ctr/pairwise-mask-seed";

/// Label of the public commitment to client `id_a = id_b`'s self-mask seed.
pub const LABEL_SELF_MASK_COMMITMENT: &[u8] = b"secagg/v1/self-mask-commitment";

/// Label of the seed of the neighbourhood-graph permutation (`id_a = id_b = 0`; the input
/// keying material is the roster digest).
pub const LABEL_GRAPH: &[u8] = b"secagg/v1/neighbourhood-graph";

/// Label of the key that seals a saved state (`id_a` = the client, or 0 for the server;
/// `id_b = 0`; the input keying material is the host's 32-byte state key).
pub const LABEL_STATE_KEY: &[u8] = b"secagg/v1/state-sealing-key";

/// Label of the public seed of the randomized Hadamard rotation of the float encoding
/// (`id_a = id_b = 0`, empty input keying material: the seed depends on the session id only).
pub const LABEL_ROTATION: &[u8] = b"secagg/v1/hadamard-rotation-seed";

/// 32 bytes of secret key material from the KDF.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DerivedKey(pub(crate) [u8; 32]);

impl core::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DerivedKey").finish_non_exhaustive()
    }
}

impl DerivedKey {
    /// The key bytes. Only the crate's own primitives read them.
    #[must_use]
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// `HKDF-SHA256(salt = empty, ikm, label || session || a || b)`, 32 bytes.
#[must_use]
pub fn derive(
    label: &'static [u8],
    session: &SessionId,
    a: ClientId,
    b: ClientId,
    ikm: &[u8],
) -> DerivedKey {
    let hk = Hkdf::<Sha256>::new(None, ikm);
    let mut okm = DerivedKey([0u8; 32]);
    let a = a.to_be_bytes();
    let b = b.to_be_bytes();
    let info: [&[u8]; 4] = [label, session.as_bytes(), &a, &b];
    // 32 bytes is far below HKDF-SHA256's 255 * 32 byte limit, so expansion cannot fail.
    if hk.expand_multi_info(&info, &mut okm.0).is_err() {
        unreachable!("HKDF-SHA256 can always output 32 bytes");
    }
    okm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_and_prefixed() {
        let labels = [
            LABEL_SHARE_KEY,
            LABEL_PAIRWISE_MASK,
            LABEL_SELF_MASK,
            LABEL_SELF_MASK_COMMITMENT,
            LABEL_GRAPH,
            LABEL_ROTATION,
            LABEL_SELF_MASK_AES,
            LABEL_PAIRWISE_MASK_AES,
            LABEL_STATE_KEY,
        ];
        for (i, a) in labels.iter().enumerate() {
            assert!(a.starts_with(b"secagg/v1/"));
            for b in &labels[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn derivation_binds_every_input() {
        let s = SessionId([1; 32]);
        let base = derive(LABEL_PAIRWISE_MASK, &s, ClientId(1), ClientId(2), b"ikm");
        let others = [
            derive(LABEL_SHARE_KEY, &s, ClientId(1), ClientId(2), b"ikm"),
            derive(
                LABEL_PAIRWISE_MASK,
                &SessionId([2; 32]),
                ClientId(1),
                ClientId(2),
                b"ikm",
            ),
            derive(LABEL_PAIRWISE_MASK, &s, ClientId(2), ClientId(1), b"ikm"),
            derive(LABEL_PAIRWISE_MASK, &s, ClientId(1), ClientId(3), b"ikm"),
            derive(LABEL_PAIRWISE_MASK, &s, ClientId(1), ClientId(2), b"ikn"),
        ];
        for o in &others {
            assert_ne!(base.bytes(), o.bytes());
        }
        let again = derive(LABEL_PAIRWISE_MASK, &s, ClientId(1), ClientId(2), b"ikm");
        assert_eq!(base.bytes(), again.bytes());
    }
}
