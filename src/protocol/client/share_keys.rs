//! Round 1 (ShareKeys), client side: Shamir-share the two secrets among the neighbourhood and
//! seal each neighbour's pair (Bonawitz et al., CCS 2017, Fig. 4, Round 1; `docs/PROTOCOL.md`
//! §7). The roster checks that come first are in `roster.rs`.

use super::roster::CheckedRoster;
#[allow(clippy::wildcard_imports)]
use super::*;

impl AdvertiseKeys {
    /// Implements Round 1 (ShareKeys), client side: Bonawitz et al., CCS 2017, Fig. 4,
    /// Round 1 ("ShareKeys", user side).
    ///
    /// Checks the roster (`roster.rs`), Shamir-shares `s_u^SK` and `b_u` among this
    /// client and its neighbours with threshold `t`, seals each neighbour's pair of shares
    /// under a key derived from `X25519(c_u^SK, c_v^PK)`, and (malicious mode) signs the
    /// roster's digest.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for a roster of another session, one below the
    /// session's minimum, that omits or repeats this client or its keys, repeats an id or a
    /// key, holds a non-canonical or small-order key or (malicious mode) an unsigned entry;
    /// [`Error::Abort`] if it lists fewer than `t` clients.
    #[must_use = "the sealed shares must be sent"]
    pub fn share_keys<R: CryptoRng + ?Sized>(
        self,
        roster: &msg::Roster,
        rng: &mut R,
    ) -> Result<(ShareKeys, msg::ShareKeys), Error> {
        // Validate.
        let CheckedRoster {
            mut peers,
            members,
            digest,
            size,
        } = self.check_roster(roster)?;
        // Share: holders are this client and its neighbours, in id order.
        let holders: Vec<ClientId> = roster
            .entries
            .iter()
            .map(|e| e.sender)
            .filter(|&v| v == self.id || peers.contains_key(&v))
            .collect();
        let (key_shares, self_mask_shares) = self.split(&holders, rng)?;
        // Seal one pair per neighbour, keep our own. Each pair is built where it is used,
        // from the shares (which wipe themselves on drop), never moved between containers.
        let mut sealed = Vec::with_capacity(peers.len());
        let mut own = None;
        for ((&v, key_share), self_share) in holders.iter().zip(&key_shares).zip(&self_mask_shares)
        {
            let held = HeldShares {
                key_share: key_share.value.duplicate(),
                self_mask_share: self_share.value.duplicate(),
            };
            if v == self.id {
                own = Some(held);
                continue;
            }
            let peer = peers.get_mut(&v).ok_or(Error::Internal(
                "a share holder is this client or a neighbour",
            ))?;
            let (ciphertext, open_key) = self.seal_for(v, &peer.share_public_key, &held)?;
            peer.open_key = Some(open_key);
            sealed.push(msg::SealedShares {
                sender: self.id,
                recipient: v,
                ciphertext,
            });
        }
        let own = own.ok_or(Error::Internal("this client is a share holder"))?;
        // Emit.
        let session = *self.params.session();
        let out = msg::ShareKeys {
            session,
            sender: self.id,
            sealed,
            roster_signature: self.roster_signature(&digest),
        };
        let next = ShareKeys {
            params: self.params,
            id: self.id,
            identity: self.identity,
            roster_digest: digest,
            roster_size: size,
            members,
            mask_key: SecretKey::from_scalar(self.mask_key_secret.scalar()),
            self_mask_seed: self.self_mask_seed,
            own,
            peers,
        };
        Ok((next, out))
    }

    /// Shamir-shares `s_u^SK`, then `b_u` (the order in which the coefficients are drawn),
    /// among `holders`: one share of each per holder, in `holders` order.
    fn split<R: CryptoRng + ?Sized>(
        &self,
        holders: &[ClientId],
        rng: &mut R,
    ) -> Result<(Vec<shamir::Share>, Vec<shamir::Share>), Error> {
        let indices: Vec<_> = holders.iter().map(|v| v.share_index()).collect();
        let t = self.params.threshold();
        // Cannot fail: `check_roster` guarantees at least t holders with distinct ids, and
        // share indices are `id + 1`, never zero.
        let internal = |_| Error::Internal("t distinct non-zero share indices");
        let key_shares =
            shamir::split(&self.mask_key_secret, t, &indices, rng).map_err(internal)?;
        let self_mask_shares =
            shamir::split(&self.self_mask_seed, t, &indices, rng).map_err(internal)?;
        Ok((key_shares, self_mask_shares))
    }

    /// Seals `held` for neighbour `v` under the share key `u → v`; returns the ciphertext and
    /// the key of the one `v` seals to this client.
    pub(super) fn seal_for(
        &self,
        v: ClientId,
        share_public_key: &PublicKey,
        held: &HeldShares,
    ) -> Result<([u8; msg::SEALED_SHARES_LEN], DerivedKey), Error> {
        let session = *self.params.session();
        let (key, open_key) =
            share_keys_with(&self.share_key, share_public_key, &session, self.id, v).map_err(
                |()| {
                    server_fault(
                        Round::ShareKeys,
                        Misbehavior::NonContributoryKey { peer: v },
                    )
                },
            )?;
        let ctx = ShareContext {
            session: &session,
            sender: self.id,
            recipient: v,
            round: Round::ShareKeys.number(),
        };
        let ciphertext = aead::seal(&key, &ctx, held.to_plaintext().as_slice())
            .ok()
            .and_then(|c| c.try_into().ok())
            .ok_or(Error::Internal("a 64-byte plaintext seals to 80 bytes"))?;
        Ok((ciphertext, open_key))
    }

    /// Malicious mode: our neighbours mask against us only once they hold our signature over
    /// the very roster they received (checked in `masked_input`).
    pub(super) fn roster_signature(
        &self,
        digest: &[u8; 32],
    ) -> Option<crate::crypto::sign::Signature> {
        // The roster checks already required an identity in the malicious mode.
        let identity = hardening(&self.params, &self.identity).ok().flatten()?;
        Some(identity.key.sign_roster(self.params.session(), digest))
    }
}
