//! Ed25519 identity signatures (RFC 8032, through `ed25519-dalek`) for the malicious-server
//! mode: each client signs its advertised keys, the roster it received and, in
//! ConsistencyCheck, the survivor digest. This module signs byte transcripts under a domain
//! label; the protocol builds the transcripts (`crate::protocol::transcript`).
//!
//! The long-term identity keys come from the embedding application (its PKI); the protocol
//! only signs and verifies. Every signed message starts with a label from this module and
//! the session id, so a signature never verifies in another session or for another purpose.
//! Verification is strict (`verify_strict`: canonical encodings, no small-order keys).

use alloc::vec::Vec;
use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;

use crate::error::DecodeError;
use crate::ids::ClientId;

/// Label of a client's signature over its advertised keys.
pub const LABEL_ADVERTISE_SIGNATURE: &[u8] = b"secagg/v1/advertise-keys-signature";
/// Label of a client's signature over the digest of the roster it received (ShareKeys,
/// malicious mode): its neighbours check it before masking against it.
pub const LABEL_ROSTER_SIGNATURE: &[u8] = b"secagg/v1/roster-signature";
/// Label of a survivor's signature over the survivor digest (ConsistencyCheck): the root of
/// the survivor tree, which commits to every roster member's status.
pub const LABEL_CONSISTENCY_SIGNATURE: &[u8] = b"secagg/v3/consistency-signature";

/// A client's long-term Ed25519 signing key. Zeroized on drop by `ed25519-dalek`.
///
/// ```
/// use secagg::IdentityKey;
///
/// let key = IdentityKey::from_seed(&[3; 32]);
/// // Store the seed in the platform's key store; it is wiped when `seed` drops.
/// let seed = key.to_seed();
/// assert_eq!(IdentityKey::from_seed(&seed).public_key(), key.public_key());
/// // Publish the verifying key (32 bytes) in the PKI.
/// let public = key.public_key().to_bytes();
/// assert_eq!(secagg::IdentityPublicKey::from_bytes(&public).unwrap(), key.public_key());
/// ```
pub struct IdentityKey(SigningKey);

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKey").finish_non_exhaustive()
    }
}

/// A client's long-term Ed25519 verifying key, as the PKI publishes it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdentityPublicKey(VerifyingKey);

impl fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublicKey(")?;
        for b in &self.0.as_bytes()[..6] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

/// A signature that does not verify (no detail why).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadSignature;

impl fmt::Display for BadSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("signature does not verify")
    }
}

impl core::error::Error for BadSignature {}

/// Bytes that are not an Ed25519 verifying key (not a valid point encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidIdentityKey;

impl fmt::Display for InvalidIdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an Ed25519 verifying key")
    }
}

impl core::error::Error for InvalidIdentityKey {}

impl IdentityKey {
    /// A fresh random identity key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(SigningKey::generate(rng))
    }

    /// The key from its 32-byte seed (RFC 8032 secret key), as [`IdentityKey::to_seed`]
    /// exports it. The caller wipes its copy of the seed.
    #[must_use]
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed (RFC 8032 secret key) this key is built from, to store it; wiped when
    /// the returned buffer drops. Whoever holds it can sign as this client.
    #[must_use]
    pub fn to_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    /// The verifying key to publish in the PKI.
    #[must_use]
    pub fn public_key(&self) -> IdentityPublicKey {
        IdentityPublicKey(self.0.verifying_key())
    }

    /// Signs `transcript` in the signature domain `label` (one of this module's `LABEL_*`):
    /// the signed message is `label ‖ transcript`, so a signature never verifies for another
    /// purpose. The protocol builds the transcripts (`crate::protocol::transcript`).
    #[must_use]
    pub fn sign_labelled(&self, label: &[u8], transcript: &[u8]) -> Signature {
        let mut message = Vec::with_capacity(label.len().saturating_add(transcript.len()));
        message.extend_from_slice(label);
        message.extend_from_slice(transcript);
        Signature(self.0.sign(&message).to_bytes())
    }
}

impl IdentityPublicKey {
    /// Parses a verifying key.
    ///
    /// # Errors
    /// [`InvalidIdentityKey`] if the bytes are not a valid point encoding.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, InvalidIdentityKey> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| InvalidIdentityKey)
    }

    /// The key's bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies a signature made by [`IdentityKey::sign_labelled`] over `label ‖ transcript`
    /// (strict Ed25519 verification).
    ///
    /// # Errors
    /// [`BadSignature`] if it does not verify.
    pub fn verify_labelled(
        &self,
        label: &[u8],
        transcript: &[u8],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        let mut message = Vec::with_capacity(label.len().saturating_add(transcript.len()));
        message.extend_from_slice(label);
        message.extend_from_slice(transcript);
        #[cfg(all(fuzzing, feature = "std"))]
        if let Some(verdict) = fuzz_memo::recall(self, &message, signature) {
            return verdict;
        }
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        let verdict = self
            .0
            .verify_strict(&message, &sig)
            .map_err(|_| BadSignature);
        #[cfg(all(fuzzing, feature = "std"))]
        fuzz_memo::remember(self, &message, signature, verdict);
        verdict
    }
}

/// Fuzz builds only (`--cfg fuzzing`, set by cargo-fuzz; never in a library build or the
/// tests): verification verdicts remembered across executions, keyed by the exact key,
/// signature and SHA-256 of the signed message, so the session targets do not pay again for
/// the honest clients' signatures they check in every execution. The verdict returned is the
/// one `verify_strict` gave for the same bytes, so what the targets test does not change;
/// `ed25519-dalek` itself is not what they fuzz.
#[cfg(all(fuzzing, feature = "std"))]
mod fuzz_memo {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use sha2::{Digest, Sha256};

    use super::{BadSignature, IdentityPublicKey, Signature};

    type Key = ([u8; 32], [u8; 64], [u8; 32]);

    /// How many verdicts are kept; past it, new ones are computed and not kept.
    const ENTRIES: usize = 1 << 16;

    fn memo() -> &'static Mutex<HashMap<Key, bool>> {
        static MEMO: OnceLock<Mutex<HashMap<Key, bool>>> = OnceLock::new();
        MEMO.get_or_init(Default::default)
    }

    fn key(public: &IdentityPublicKey, message: &[u8], signature: &Signature) -> Key {
        (
            public.0.to_bytes(),
            signature.0,
            Sha256::digest(message).into(),
        )
    }

    pub(super) fn recall(
        public: &IdentityPublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Option<Result<(), BadSignature>> {
        let valid = *memo().lock().ok()?.get(&key(public, message, signature))?;
        Some(if valid { Ok(()) } else { Err(BadSignature) })
    }

    pub(super) fn remember(
        public: &IdentityPublicKey,
        message: &[u8],
        signature: &Signature,
        verdict: Result<(), BadSignature>,
    ) {
        if let Ok(mut memo) = memo().lock()
            && memo.len() < ENTRIES
        {
            memo.insert(key(public, message, signature), verdict.is_ok());
        }
    }
}

/// The embedding application's PKI: each client's long-term verifying key, by id.
///
/// Cheap to clone (shared), so every client state and the server can hold it.
///
/// ```
/// use secagg::{ClientId, IdentityKey, Pki};
///
/// // Each client keeps its signing key (store it with `to_seed`); the PKI holds the
/// // verifying keys, and every client and the server get a copy.
/// let keys: Vec<(ClientId, IdentityKey)> = (1..=3u32)
///     .map(|u| (ClientId(u), IdentityKey::from_seed(&[u as u8; 32])))
///     .collect();
/// let pki = Pki::new(keys.iter().map(|(id, key)| (*id, key.public_key())));
/// assert_eq!(pki.get(ClientId(2)), Some(&keys[1].1.public_key()));
/// assert!(pki.get(ClientId(4)).is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Pki(alloc::sync::Arc<alloc::collections::BTreeMap<ClientId, IdentityPublicKey>>);

impl Pki {
    /// A PKI holding the given keys.
    pub fn new(keys: impl IntoIterator<Item = (ClientId, IdentityPublicKey)>) -> Self {
        Self(alloc::sync::Arc::new(keys.into_iter().collect()))
    }

    /// The verifying key of `id`, if the PKI knows it.
    #[must_use]
    pub fn get(&self, id: ClientId) -> Option<&IdentityPublicKey> {
        self.0.get(&id)
    }

    /// How many keys the PKI holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the PKI holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical encoding (`docs/WIRE.md`, "Parameters"): a big-endian `u32` count, then
    /// `id (u32 BE) || verifying key (32)` per client in ascending id order.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 36 * self.0.len());
        out.extend_from_slice(
            &u32::try_from(self.0.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for (id, key) in self.0.iter() {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&key.to_bytes());
        }
        out
    }

    /// Decodes a PKI of at most `max_clients` keys: ids strictly ascending, every key a
    /// valid Ed25519 point, no byte left over. The count is checked against `max_clients` and
    /// the input length before anything is allocated.
    ///
    /// # Errors
    /// [`DecodeError`] naming what is wrong.
    pub fn from_bytes(bytes: &[u8], max_clients: usize) -> Result<Self, DecodeError> {
        const ENTRY: usize = 4 + 32;
        let (count, mut rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(DecodeError::TooShort {
                needed: 4,
                remaining: bytes.len(),
            })?;
        let count = usize::try_from(u32::from_be_bytes(*count)).unwrap_or(usize::MAX);
        if count > max_clients {
            return Err(DecodeError::LengthOverLimit {
                what: "pki keys",
                got: count,
                max: max_clients,
            });
        }
        let needed = count.saturating_mul(ENTRY);
        if rest.len() != needed {
            return Err(if rest.len() < needed {
                DecodeError::TooShort {
                    needed,
                    remaining: rest.len(),
                }
            } else {
                DecodeError::TrailingBytes {
                    count: rest.len() - needed,
                }
            });
        }
        let mut keys = alloc::collections::BTreeMap::new();
        let mut last: Option<ClientId> = None;
        while let Some((entry, tail)) = rest.split_first_chunk::<ENTRY>() {
            rest = tail;
            let (id, key) = entry
                .split_first_chunk::<4>()
                .ok_or(DecodeError::TooShort {
                    needed: ENTRY,
                    remaining: entry.len(),
                })?;
            let id = ClientId(u32::from_be_bytes(*id));
            if last.is_some_and(|l| l >= id) {
                return Err(DecodeError::NonCanonical("pki ids not strictly ascending"));
            }
            last = Some(id);
            let key: &[u8; 32] = key
                .try_into()
                .map_err(|_| DecodeError::NonCanonical("identity key"))?;
            let key = IdentityPublicKey::from_bytes(key)
                .map_err(|_| DecodeError::NonCanonical("identity key"))?;
            keys.insert(id, key);
        }
        Ok(Self(alloc::sync::Arc::new(keys)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_round_trips_and_bad_keys_are_typed_errors() {
        let key = IdentityKey::from_seed(&[7; 32]);
        let seed = key.to_seed();
        assert_eq!(*seed, [7; 32]);
        let again = IdentityKey::from_seed(&seed);
        assert_eq!(again.public_key(), key.public_key());
        let signature = again.sign_labelled(b"label", b"transcript");
        assert_eq!(
            key.public_key()
                .verify_labelled(b"label", b"transcript", &signature),
            Ok(())
        );
        assert_eq!(
            key.public_key()
                .verify_labelled(b"other", b"transcript", &signature),
            Err(BadSignature)
        );
        // y = 2 is not on the curve: no point decodes from it.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(
            IdentityPublicKey::from_bytes(&not_a_point),
            Err(InvalidIdentityKey)
        );
        assert_eq!(
            InvalidIdentityKey.to_string(),
            "not an Ed25519 verifying key"
        );
    }
}
