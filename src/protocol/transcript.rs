//! The byte transcripts that identity keys sign in the malicious-server mode
//! (`docs/PROTOCOL.md` §4.4). The protocol builds them; [`crate::crypto::sign`] signs and
//! verifies them under its domain labels, and knows nothing of messages.

use alloc::vec::Vec;

use crate::crypto::sign::{
    BadSignature, IdentityKey, IdentityPublicKey, LABEL_ADVERTISE_SIGNATURE,
    LABEL_CONSISTENCY_SIGNATURE, LABEL_ROSTER_SIGNATURE, Signature,
};
use crate::ids::{ClientId, SessionId};
use crate::wire::AdvertiseKeys;

/// `session ‖ sender ‖ share public key ‖ mask public key ‖ commitment`.
fn advertisement(keys: &AdvertiseKeys) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + 4 + 96);
    m.extend_from_slice(keys.session.as_bytes());
    m.extend_from_slice(&keys.sender.to_be_bytes());
    m.extend_from_slice(&keys.share_public_key.0);
    m.extend_from_slice(&keys.mask_public_key.0);
    m.extend_from_slice(&keys.self_mask_commitment);
    m
}

/// `session ‖ roster digest`.
fn roster(session: &SessionId, digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(session.as_bytes());
    m.extend_from_slice(digest);
    m
}

/// `session ‖ count (u32 BE) ‖ ids (u32 BE each, ascending)`.
fn survivors(session: &SessionId, survivors: &[ClientId]) -> Vec<u8> {
    let mut m = Vec::with_capacity(36_usize.saturating_add(survivors.len().saturating_mul(4)));
    m.extend_from_slice(session.as_bytes());
    m.extend_from_slice(
        &u32::try_from(survivors.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for id in survivors {
        m.extend_from_slice(&id.to_be_bytes());
    }
    m
}

impl IdentityKey {
    /// Signs the advertised keys of `keys` (AdvertiseKeys).
    #[must_use]
    pub fn sign_advertisement(&self, keys: &AdvertiseKeys) -> Signature {
        self.sign_labelled(LABEL_ADVERTISE_SIGNATURE, &advertisement(keys))
    }

    /// Signs the digest of the roster of `session` this client received (ShareKeys).
    #[must_use]
    pub fn sign_roster(&self, session: &SessionId, digest: &[u8; 32]) -> Signature {
        self.sign_labelled(LABEL_ROSTER_SIGNATURE, &roster(session, digest))
    }

    /// Signs the survivor set of `session` (ConsistencyCheck).
    #[must_use]
    pub fn sign_survivors(&self, session: &SessionId, ids: &[ClientId]) -> Signature {
        self.sign_labelled(LABEL_CONSISTENCY_SIGNATURE, &survivors(session, ids))
    }
}

impl IdentityPublicKey {
    /// Verifies a signature over the advertised keys of `keys`.
    ///
    /// # Errors
    /// [`BadSignature`] if it does not verify.
    pub fn verify_advertisement(
        &self,
        keys: &AdvertiseKeys,
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.verify_labelled(LABEL_ADVERTISE_SIGNATURE, &advertisement(keys), signature)
    }

    /// Verifies a signature over the roster digest of `session`.
    ///
    /// # Errors
    /// [`BadSignature`] if it does not verify.
    pub fn verify_roster(
        &self,
        session: &SessionId,
        digest: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.verify_labelled(LABEL_ROSTER_SIGNATURE, &roster(session, digest), signature)
    }

    /// Verifies a signature over the survivor set of `session`.
    ///
    /// # Errors
    /// [`BadSignature`] if it does not verify.
    pub fn verify_survivors(
        &self,
        session: &SessionId,
        ids: &[ClientId],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.verify_labelled(
            LABEL_CONSISTENCY_SIGNATURE,
            &survivors(session, ids),
            signature,
        )
    }
}
