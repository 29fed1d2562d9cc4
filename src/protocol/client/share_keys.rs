//! Round 1 (ShareKeys), client side: Shamir-share the two secrets among the neighbourhood and
//! seal each neighbour's pair (Bonawitz et al., CCS 2017, Fig. 4, Round 1; `docs/PROTOCOL.md`
//! §7). The roster checks that come first are in [`super::roster`].

use super::roster::CheckedRoster;
#[allow(clippy::wildcard_imports)]
use super::*;

impl AdvertiseKeys {
    /// Implements Round 1 (ShareKeys), client side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// Checks the roster, Shamir-shares `s_u^SK` and `b_u` among all roster members with
    /// threshold `t`, and seals each peer's pair of shares under a key derived from
    /// `X25519(c_u^SK, c_v^PK)`.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for a roster of another session, one that omits or
    /// repeats this client or its keys, repeats an id or a key, or holds a small-order key;
    /// [`Error::Abort`] if it lists fewer than `t` clients.
    #[must_use = "the sealed shares must be sent"]
    pub fn share_keys<R: CryptoRng + ?Sized>(
        self,
        roster: &msg::Roster,
        rng: &mut R,
    ) -> Result<(ShareKeys, msg::ShareKeys), Error> {
        let CheckedRoster {
            mut peers,
            members,
            digest,
        } = self.check_roster(roster)?;
        // Share holders: this client and its neighbours, in id order.
        let holders: Vec<_> = roster
            .entries
            .iter()
            .filter(|e| e.sender == self.id || peers.contains_key(&e.sender))
            .collect();
        let indices: Vec<_> = holders.iter().map(|e| e.sender.share_index()).collect();
        let t = self.params.threshold();
        // Cannot fail: `check_roster` guarantees at least t holders with distinct ids, and
        // share indices are `id + 1`, never zero. A failure would mean a malformed roster.
        let split_error = |_| {
            server_fault(
                Round::ShareKeys,
                Misbehavior::RosterDuplicateId { peer: self.id },
            )
        };
        let key_shares =
            shamir::split(&self.mask_key_secret, t, &indices, rng).map_err(split_error)?;
        let self_mask_shares =
            shamir::split(&self.self_mask_seed, t, &indices, rng).map_err(split_error)?;
        let session = *self.params.session();
        let mut sealed = Vec::with_capacity(peers.len());
        let mut own = None;
        for ((entry, key_share), self_share) in
            holders.iter().zip(&key_shares).zip(&self_mask_shares)
        {
            let held = HeldShares {
                key_share: key_share.value.duplicate(),
                self_mask_share: self_share.value.duplicate(),
            };
            if entry.sender == self.id {
                own = Some(held);
                continue;
            }
            let (key, open_key) = share_keys_with(
                &self.share_key,
                &entry.share_public_key,
                &session,
                self.id,
                entry.sender,
            )
            .map_err(|()| {
                server_fault(
                    Round::ShareKeys,
                    Misbehavior::NonContributoryKey { peer: entry.sender },
                )
            })?;
            if let Some(peer) = peers.get_mut(&entry.sender) {
                peer.open_key = Some(open_key);
            }
            let ctx = ShareContext {
                session: &session,
                sender: self.id,
                recipient: entry.sender,
                round: Round::ShareKeys.number(),
            };
            // Cannot fail: the plaintext is 64 bytes.
            let ciphertext =
                aead::seal(&key, &ctx, held.to_plaintext().as_slice()).map_err(|_| {
                    server_fault(
                        Round::ShareKeys,
                        Misbehavior::UndecryptableShare { peer: self.id },
                    )
                })?;
            sealed.push(msg::SealedShares {
                sender: self.id,
                recipient: entry.sender,
                ciphertext,
            });
        }
        let own =
            own.ok_or_else(|| server_fault(Round::ShareKeys, Misbehavior::RosterMissingSelf))?;
        // Malicious mode: our neighbours mask against us only once they hold our signature
        // over the very roster they received (checked in `masked_input`).
        let roster_signature = match (self.params.threat_model(), &self.identity) {
            (ThreatModel::Malicious, Some(identity)) => {
                Some(identity.key.sign_roster(&session, &digest))
            }
            _ => None,
        };
        let out = msg::ShareKeys {
            session,
            sender: self.id,
            sealed,
            roster_signature,
        };
        let next = ShareKeys {
            params: self.params,
            id: self.id,
            identity: self.identity,
            roster_digest: digest,
            members,
            mask_key: SecretKey::from_scalar(self.mask_key_secret.scalar()),
            self_mask_seed: self.self_mask_seed,
            own,
            peers,
        };
        Ok((next, out))
    }
}
