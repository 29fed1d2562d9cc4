//! What the simulator's stand-ins use of a client's round-0 state (feature `sim` only): a
//! stand-in is a client whose later messages the driver makes itself, at a fraction of a
//! real client's cost, so that the server can be measured in a session of `n` clients
//! without running `n` clients (`crate::sim`, `docs/PERFORMANCE.md` §4b). Each function
//! here is the one a real client uses (`share_keys.rs`, `masked_input.rs`), never a second
//! derivation.

#[allow(clippy::wildcard_imports)]
use super::*;

impl AdvertiseKeys {
    /// The client's two Shamir-shared secrets: `s_u^SK`, then `b_u`.
    pub(crate) fn stand_in_secrets(&self) -> (&SecretScalar, &SecretScalar) {
        (&self.mask_key_secret, &self.self_mask_seed)
    }

    /// The share public key this client advertised.
    pub(crate) fn stand_in_share_public_key(&self) -> PublicKey {
        self.advertised.share_public_key
    }

    /// Seals one holder's pair of shares (`share(s_u^SK)`, `share(b_u)`) for neighbour `v`,
    /// as [`AdvertiseKeys::share_keys`] does.
    pub(crate) fn stand_in_seal(
        &self,
        v: ClientId,
        share_public_key: &PublicKey,
        key_share: &SecretScalar,
        self_mask_share: &SecretScalar,
    ) -> Result<[u8; msg::SEALED_SHARES_LEN], Error> {
        let held = HeldShares {
            key_share: key_share.duplicate(),
            self_mask_share: self_mask_share.duplicate(),
        };
        self.seal_for(v, share_public_key, &held).map(|(c, _)| c)
    }

    /// Opens the pair of shares `sealed.sender` sealed to this client, as
    /// [`ShareKeys::masked_input`] does: `(share(s^SK), share(b))`.
    pub(crate) fn stand_in_open(
        &self,
        sealed: &msg::SealedShares,
        sender_share_public_key: &PublicKey,
    ) -> Result<(SecretScalar, SecretScalar), Error> {
        let session = *self.params.session();
        let undecryptable = || {
            server_fault(
                Round::MaskedInput,
                Misbehavior::UndecryptableShare {
                    peer: sealed.sender,
                },
            )
        };
        let (_, open_key) = share_keys_with(
            &self.share_key,
            sender_share_public_key,
            &session,
            self.id,
            sealed.sender,
        )
        .map_err(|()| undecryptable())?;
        let ctx = ShareContext {
            session: &session,
            sender: sealed.sender,
            recipient: self.id,
            round: Round::ShareKeys.number(),
        };
        let plaintext = Zeroizing::new(
            aead::open(&open_key, &ctx, &sealed.ciphertext).map_err(|_| undecryptable())?,
        );
        let held = HeldShares::from_plaintext(&plaintext).ok_or_else(undecryptable)?;
        Ok((held.key_share, held.self_mask_share))
    }

    /// Malicious mode: the signature over the roster digest a real client sends in
    /// ShareKeys; `None` against an honest-but-curious server.
    pub(crate) fn stand_in_roster_signature(
        &self,
        digest: &[u8; 32],
    ) -> Option<crate::crypto::sign::Signature> {
        self.roster_signature(digest)
    }

    /// Malicious mode: the ConsistencyCheck signature over the survivor digest a real
    /// client sends once its slice verified; `None` against an honest-but-curious server.
    pub(crate) fn stand_in_survivor_signature(
        &self,
        survivor_digest: &[u8; 32],
    ) -> Option<crate::crypto::sign::Signature> {
        let identity = hardening(&self.params, &self.identity).ok().flatten()?;
        Some(
            identity
                .key
                .sign_survivors(self.params.session(), survivor_digest),
        )
    }
}
