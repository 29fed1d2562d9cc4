//! Every value that client and server both derive, in one place: the roster digest, the
//! self-mask commitment and seed, the pairwise seed and sign, and the share keys
//! (`docs/PROTOCOL.md` §4.2, §5, §6). Each uses a label of [`crate::crypto::kdf`].

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::crypto::kdf::{self, DerivedKey};
use crate::crypto::kx::{PublicKey, SecretKey};
use crate::crypto::prg::Sign;
use crate::crypto::shamir::SecretScalar;
use crate::ids::{ClientId, SessionId};
use crate::params::MaskSuite;
use crate::wire::AdvertiseKeys;

/// SHA-256 over the roster in id order: for each entry, `id (u32 BE) || share public key ||
/// mask public key || self-mask commitment`, prefixed by the entry count (u32 BE).
#[must_use]
pub fn roster_digest(entries: &[AdvertiseKeys]) -> [u8; 32] {
    let mut sorted: Vec<&AdvertiseKeys> = entries.iter().collect();
    // Rosters come in id order; sorting is then only a check.
    if !sorted.is_sorted_by_key(|e| e.sender) {
        sorted.sort_by_key(|e| e.sender);
    }
    let mut h = Sha256::new();
    h.update(
        u32::try_from(sorted.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    // Entries are laid out in a buffer and hashed 64 at a time: one `update` per field
    // costs more than the hashing itself.
    const ENTRY: usize = 4 + 32 + 32 + 32;
    let mut buf = [0u8; 64 * ENTRY];
    for group in sorted.chunks(64) {
        let mut at = 0;
        for e in group {
            for field in [
                &e.sender.to_be_bytes()[..],
                &e.share_public_key.0,
                &e.mask_public_key.0,
                &e.self_mask_commitment,
            ] {
                if let Some(dst) = buf.get_mut(at..at + field.len()) {
                    dst.copy_from_slice(field);
                }
                at += field.len();
            }
        }
        h.update(buf.get(..at).unwrap_or_default());
    }
    h.finalize().into()
}

/// The commitment `HKDF(LABEL_SELF_MASK_COMMITMENT, session, u, u, b_u)`.
pub(crate) fn self_mask_commitment(
    session: &SessionId,
    id: ClientId,
    seed: &SecretScalar,
) -> [u8; 32] {
    *kdf::derive(
        kdf::LABEL_SELF_MASK_COMMITMENT,
        session,
        id,
        id,
        seed.to_bytes().as_ref(),
    )
    .bytes()
}

/// The mask-expansion seed of client `id`'s self-mask, under the label of the session's suite.
pub(crate) fn self_mask_prg_seed(
    suite: MaskSuite,
    session: &SessionId,
    id: ClientId,
    seed: &SecretScalar,
) -> DerivedKey {
    let label = match suite {
        MaskSuite::ChaCha20 => kdf::LABEL_SELF_MASK,
        MaskSuite::Aes128Ctr => kdf::LABEL_SELF_MASK_AES,
    };
    kdf::derive(label, session, id, id, seed.to_bytes().as_ref())
}

/// The mask-expansion seed of the pairwise mask of `a` and `b`, from `a`'s mask key and `b`'s
/// public mask key (symmetric: ids are ordered before derivation), under the label of the
/// session's suite.
pub(crate) fn pairwise_prg_seed(
    suite: MaskSuite,
    mask_key: &SecretKey,
    peer_public: &PublicKey,
    session: &SessionId,
    a: ClientId,
    b: ClientId,
) -> Result<DerivedKey, ()> {
    let shared = mask_key.agree(peer_public).map_err(|_| ())?;
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let label = match suite {
        MaskSuite::ChaCha20 => kdf::LABEL_PAIRWISE_MASK,
        MaskSuite::Aes128Ctr => kdf::LABEL_PAIRWISE_MASK_AES,
    };
    Ok(kdf::derive(label, session, lo, hi, shared.bytes()))
}

/// The sign with which `me` adds the pairwise mask it shares with `peer`: the smaller id
/// adds, the larger subtracts, so the two cancel in the sum.
pub(crate) fn pairwise_sign(me: ClientId, peer: ClientId) -> Sign {
    if me < peer { Sign::Add } else { Sign::Sub }
}

/// The keys of the ciphertexts from `me` to `peer` and from `peer` to `me`, from one key
/// agreement (each direction has its own key: the ordered pair is in the derivation).
pub(crate) fn share_keys_with(
    own: &SecretKey,
    peer_public: &PublicKey,
    session: &SessionId,
    me: ClientId,
    peer: ClientId,
) -> Result<(DerivedKey, DerivedKey), ()> {
    let shared = own.agree(peer_public).map_err(|_| ())?;
    let seal = kdf::derive(kdf::LABEL_SHARE_KEY, session, me, peer, shared.bytes());
    let open = kdf::derive(kdf::LABEL_SHARE_KEY, session, peer, me, shared.bytes());
    Ok((seal, open))
}

/// SHA-256 of an unmasking request's wire encoding, under its own label: what a client
/// records of the request it answered, so that it never answers a different one
/// (`docs/PROTOCOL.md` §13.6).
pub(crate) fn request_digest(request: &crate::wire::UnmaskingRequest) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"secagg/v1/unmasking-request")
        .chain_update(crate::wire::to_bytes(request))
        .finalize()
        .into()
}
