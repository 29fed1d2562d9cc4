//! Every value that client and server both derive, in one place: the roster digest, the
//! self-mask commitment and seed, the pairwise seed and sign, and the share keys
//! (`docs/PROTOCOL.md` §4.2, §5, §6). Each uses a label of [`crate::crypto::kdf`].

use sha2::{Digest, Sha256};

use crate::crypto::kdf::{self, DerivedKey};
use crate::crypto::kx::{PublicKey, SecretKey};
use crate::crypto::prg::Sign;
use crate::crypto::shamir::SecretScalar;
use crate::ids::{ClientId, SessionId};
use crate::params::MaskSuite;
use crate::wire::AdvertiseKeys;

/// The roster digest of a whole roster (any order): `n'` and the root of the roster tree
/// ([`crate::protocol::roster_tree`]). Ids must be distinct (every party checks that first);
/// a list that repeats one has no tree, and gets 32 zero bytes, which no roster has.
#[must_use]
pub fn roster_digest(entries: &[AdvertiseKeys]) -> [u8; 32] {
    crate::protocol::roster_tree::roster_digest_of(entries).unwrap_or([0; 32])
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
