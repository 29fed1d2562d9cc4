//! Round 0 (AdvertiseKeys), client side: key generation (Bonawitz et al., CCS 2017, Fig. 4,
//! Round 0; `docs/PROTOCOL.md` §5).

#[allow(clippy::wildcard_imports)]
use super::*;

impl AdvertiseKeys {
    /// Generates the client's two key pairs `(c_u, s_u)` and its self-mask seed `b_u`, and
    /// returns the message advertising the public keys.
    ///
    /// Against a malicious server use [`AdvertiseKeys::with_identity`]; a client built here
    /// refuses to go on in such a session.
    #[must_use = "the advertisement must be sent"]
    pub fn new<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        rng: &mut R,
    ) -> (Self, msg::AdvertiseKeys) {
        Self::generate(params, id, None, rng)
    }

    /// As [`AdvertiseKeys::new`], for the malicious-server mode: the advertisement is signed
    /// with the client's identity key, and the client will verify its peers' signatures
    /// against the PKI.
    #[must_use = "the advertisement must be sent"]
    pub fn with_identity<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        identity: Identity,
        rng: &mut R,
    ) -> (Self, msg::AdvertiseKeys) {
        Self::generate(params, id, Some(identity), rng)
    }

    fn generate<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        identity: Option<Identity>,
        rng: &mut R,
    ) -> (Self, msg::AdvertiseKeys) {
        let share_key = SecretKey::random(rng);
        let mask_key_secret = SecretScalar::random(rng);
        let self_mask_seed = SecretScalar::random(rng);
        let mask_public_key = SecretKey::from_scalar(mask_key_secret.scalar()).public_key();
        let advertised = msg::AdvertiseKeys {
            session: *params.session(),
            sender: id,
            share_public_key: share_key.public_key(),
            mask_public_key,
            self_mask_commitment: self_mask_commitment(params.session(), id, &self_mask_seed),
            signature: None,
        };
        let mut advertised = advertised;
        if let Some(identity) = &identity {
            advertised.signature = Some(identity.key.sign_advertisement(&advertised));
        }
        let state = Self {
            params: params.clone(),
            id,
            identity,
            share_key,
            mask_key_secret,
            self_mask_seed,
            advertised: advertised.clone(),
        };
        (state, advertised)
    }

    /// The client's id.
    #[must_use]
    pub fn id(&self) -> ClientId {
        self.id
    }
}
