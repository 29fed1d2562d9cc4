//! Share encryption with ChaCha20-Poly1305 (RFC 8439).
//!
//! The key of the ciphertext from `sender` to `recipient` is derived with
//! [`LABEL_SHARE_KEY`](super::kdf::LABEL_SHARE_KEY) from their X25519 shared secret, the
//! session id and the ordered pair `(sender, recipient)`, so each direction of each pair in
//! each session has its own key. The nonce is `0^11 || round`; a key encrypts one message in
//! one round (ShareKeys), so no key is ever used twice with one nonce. The associated data is
//! `session_id (32) || sender (u32 BE) || recipient (u32 BE) || round (u8)`.

use alloc::vec::Vec;

use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};

use crate::crypto::kdf::DerivedKey;
use crate::ids::{ClientId, SessionId};

/// The Poly1305 tag length.
pub const TAG_LEN: usize = 16;

/// Encryption or decryption failed; deliberately without detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadError;

/// The context a ciphertext is bound to.
#[derive(Debug, Clone, Copy)]
pub struct ShareContext<'a> {
    /// The session.
    pub session: &'a SessionId,
    /// Who encrypted.
    pub sender: ClientId,
    /// Who may decrypt.
    pub recipient: ClientId,
    /// The protocol round number.
    pub round: u8,
}

impl ShareContext<'_> {
    fn aad(&self) -> [u8; 41] {
        let mut aad = [0u8; 41];
        aad[..32].copy_from_slice(self.session.as_bytes());
        aad[32..36].copy_from_slice(&self.sender.to_be_bytes());
        aad[36..40].copy_from_slice(&self.recipient.to_be_bytes());
        aad[40] = self.round;
        aad
    }

    fn nonce(&self) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        nonce[11] = self.round;
        nonce
    }
}

/// Encrypts `plaintext` under `key` for `ctx`.
///
/// # Errors
/// [`AeadError`] only if the plaintext exceeds ChaCha20-Poly1305's length limit.
pub fn seal(
    key: &DerivedKey,
    ctx: &ShareContext<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, AeadError> {
    let cipher = ChaCha20Poly1305::new(key.bytes().into());
    let aad = ctx.aad();
    cipher
        .encrypt(
            &ctx.nonce().into(),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| AeadError)
}

/// Decrypts `ciphertext` under `key` for `ctx`.
///
/// # Errors
/// [`AeadError`] if the tag does not verify: wrong key, wrong context or tampered bytes.
pub fn open(
    key: &DerivedKey,
    ctx: &ShareContext<'_>,
    ciphertext: &[u8],
) -> Result<Vec<u8>, AeadError> {
    let cipher = ChaCha20Poly1305::new(key.bytes().into());
    let aad = ctx.aad();
    cipher
        .decrypt(
            &ctx.nonce().into(),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| AeadError)
}

/// Bytes of the random XChaCha20-Poly1305 nonce of a sealed state.
pub const STATE_NONCE_LEN: usize = 24;

/// The 32-byte secret a host seals its saved states under. It never leaves the host: keep it
/// in the platform's key store, apart from the states. Compared in constant time; never
/// printed.
///
/// ```
/// use chacha20::ChaCha20Rng;
/// use rand_core::SeedableRng;
/// use secagg::protocol::client;
/// use secagg::protocol::state::StateKey;
/// use secagg::{ClientId, Modulus, Params, SessionId, StateError};
///
/// let params = Params::new(SessionId([1; 32]), 3, 2, Modulus::power_of_two(16).unwrap(), 4).unwrap();
/// let mut rng = ChaCha20Rng::seed_from_u64(1);
/// let (state, _advert) = client::AdvertiseKeys::new(&params, ClientId(1), &mut rng);
/// let key = StateKey::generate(&mut rng);
/// let saved = state.seal(&key, &mut rng);
/// // Another process restores it with what the client holds anyway.
/// assert!(client::AdvertiseKeys::open(&saved, &key, &params, ClientId(1), None).is_ok());
/// // Another key, another client, or a changed byte is a typed error.
/// let other = StateKey::new([7; 32]);
/// let refused = client::AdvertiseKeys::open(&saved, &other, &params, ClientId(1), None);
/// assert_eq!(refused.unwrap_err(), StateError::Unauthentic);
/// let refused = client::AdvertiseKeys::open(&saved, &key, &params, ClientId(2), None);
/// assert_eq!(refused.unwrap_err(), StateError::WrongClient);
/// assert!(!format!("{key:?}").contains(|c: char| c.is_ascii_digit()));
/// ```
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct StateKey([u8; 32]);

impl StateKey {
    /// A key from 32 secret bytes (for example from the platform's key store).
    #[must_use]
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    #[must_use]
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = Self([0; 32]);
        rng.fill_bytes(&mut key.0);
        key
    }

    /// The key of one party's states in one session: `HKDF(key, LABEL_STATE_KEY, session,
    /// party, 0)`, so one host key serves every session and client without two of them ever
    /// sharing an AEAD key.
    fn derive(&self, session: &SessionId, party: ClientId) -> DerivedKey {
        crate::crypto::kdf::derive(
            crate::crypto::kdf::LABEL_STATE_KEY,
            session,
            party,
            ClientId(0),
            &self.0,
        )
    }
}

impl core::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StateKey").finish_non_exhaustive()
    }
}

impl PartialEq for StateKey {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }
}

impl Eq for StateKey {}

/// Seals a saved state: `nonce (24) || XChaCha20-Poly1305(derived key, nonce, plaintext,
/// aad = header)` appended to `out`, with a random nonce (24 bytes, so random nonces never
/// collide in practice however many states a key seals).
///
/// # Errors
/// [`AeadError`] only if the plaintext exceeds the cipher's length limit.
pub fn seal_state<R: rand_core::CryptoRng + ?Sized>(
    key: &StateKey,
    (session, party): (&SessionId, ClientId),
    header: &[u8],
    plaintext: &[u8],
    rng: &mut R,
    out: &mut Vec<u8>,
) -> Result<(), AeadError> {
    use chacha20poly1305::XChaCha20Poly1305;
    let cipher = XChaCha20Poly1305::new(key.derive(session, party).bytes().into());
    let mut nonce = [0u8; STATE_NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad: header,
            },
        )
        .map_err(|_| AeadError)?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(())
}

/// Opens what [`seal_state`] sealed: `sealed` is `nonce || ciphertext || tag`.
///
/// # Errors
/// [`AeadError`] for a wrong key, party, session or header, or any changed byte.
pub fn open_state(
    key: &StateKey,
    (session, party): (&SessionId, ClientId),
    header: &[u8],
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, AeadError> {
    use chacha20poly1305::XChaCha20Poly1305;
    let (nonce, ciphertext) = sealed
        .split_first_chunk::<STATE_NONCE_LEN>()
        .ok_or(AeadError)?;
    let cipher = XChaCha20Poly1305::new(key.derive(session, party).bytes().into());
    cipher
        .decrypt(
            &(*nonce).into(),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| AeadError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_context_and_tampering() {
        let key = DerivedKey([4; 32]);
        let sid = SessionId([1; 32]);
        let ctx = ShareContext {
            session: &sid,
            sender: ClientId(1),
            recipient: ClientId(2),
            round: 1,
        };
        let ct = seal(&key, &ctx, b"shares").unwrap();
        assert_eq!(ct.len(), 6 + TAG_LEN);
        assert_eq!(open(&key, &ctx, &ct).unwrap(), b"shares");
        let sid2 = SessionId([2; 32]);
        for bad in [
            ShareContext {
                session: &sid2,
                ..ctx
            },
            ShareContext {
                sender: ClientId(3),
                ..ctx
            },
            ShareContext {
                recipient: ClientId(3),
                ..ctx
            },
            ShareContext { round: 2, ..ctx },
        ] {
            assert_eq!(open(&key, &bad, &ct), Err(AeadError));
        }
        let mut tampered = ct.clone();
        tampered[0] ^= 1;
        assert_eq!(open(&key, &ctx, &tampered), Err(AeadError));
        assert_eq!(open(&DerivedKey([5; 32]), &ctx, &ct), Err(AeadError));
    }
}
