//! The byte transcripts that identity keys sign in the malicious-server mode
//! (`docs/PROTOCOL.md` §4.4). The protocol builds them; [`crate::crypto::sign`] signs and
//! verifies them under its domain labels, and knows nothing of messages.

use alloc::vec::Vec;

use crate::crypto::sign::{
    BadSignature, IdentityKey, IdentityPublicKey, LABEL_ADVERTISE_SIGNATURE,
    LABEL_CONSISTENCY_SIGNATURE, LABEL_ROSTER_SIGNATURE, Signature,
};
use crate::ids::SessionId;
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

/// `session ‖ digest`: the transcript of a roster signature (the roster digest) and of a
/// consistency signature (the survivor digest); their labels tell them apart.
fn session_digest(session: &SessionId, digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(session.as_bytes());
    m.extend_from_slice(digest);
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
        self.sign_labelled(LABEL_ROSTER_SIGNATURE, &session_digest(session, digest))
    }

    /// Signs the survivor digest of `session` (ConsistencyCheck): the digest of the survivor
    /// tree ([`crate::protocol::roster_tree::SurvivorTree`]) this client verified.
    #[must_use]
    pub fn sign_survivors(&self, session: &SessionId, survivor_digest: &[u8; 32]) -> Signature {
        self.sign_labelled(
            LABEL_CONSISTENCY_SIGNATURE,
            &session_digest(session, survivor_digest),
        )
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
        self.verify_labelled(
            LABEL_ROSTER_SIGNATURE,
            &session_digest(session, digest),
            signature,
        )
    }

    /// Verifies a signature over the survivor digest of `session`.
    ///
    /// # Errors
    /// [`BadSignature`] if it does not verify.
    pub fn verify_survivors(
        &self,
        session: &SessionId,
        survivor_digest: &[u8; 32],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.verify_labelled(
            LABEL_CONSISTENCY_SIGNATURE,
            &session_digest(session, survivor_digest),
            signature,
        )
    }
}
