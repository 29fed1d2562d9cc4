//! The version-3 encoding of every message of [`crate::protocol::messages`], and the
//! [`ClientMessage`] / [`ServerMessage`] envelopes that dispatch on the kind byte.
//!
//! Fields follow the header in the order written in each `encode`; `docs/WIRE.md` has the
//! same layouts as tables.

use alloc::vec::Vec;

use super::codec::{
    BYTES32, Decode, DecodeError, DecodeWith, Encode, EncodeWith, HEADER_LEN, Kind, Limits,
    PackedVector, Reader, SIGNATURE_LEN, U32_LEN, decode_whole, pack, packed_len, put_count,
    put_header, read_header, read_kind, sum,
};
use super::types::{
    AdvertiseKeys, ConsistencyRequest, ConsistencySignature, MaskedInput, Roster, RosterSlice,
    SEALED_SHARES_LEN, SealedShares, ShareKeys, SharesDelivery, SurvivorSlice, UnmaskingRequest,
    UnmaskingResponse,
};
use crate::arith::Modulus;
use crate::crypto::shamir::SecretScalar;
use crate::crypto::sign::Signature;
use crate::ids::{ClientId, SessionId};

/// An advertisement without header: `sender ‖ c^PK ‖ s^PK ‖ commitment ‖ option ‖ [signature]`.
const ADVERT_BODY_MIN: usize = U32_LEN + 3 * BYTES32 + 1;
const ADVERT_BODY_MAX: usize = ADVERT_BODY_MIN + SIGNATURE_LEN;
/// The largest node of a roster proof: an opaque subtree (tag, hash, count).
const PROOF_OPAQUE: usize = 1 + BYTES32 + U32_LEN;
/// The height of the roster tree: one leaf per `u32` id.
const PROOF_HEIGHT: usize = 32;

/// The longest roster proof that reveals `revealed` entries: per entry at most one branch
/// node per level with an opaque sibling, and its leaf tag; and one opaque node for a root
/// that reveals nothing.
#[must_use]
pub fn max_roster_proof_len(revealed: usize) -> usize {
    revealed
        .saturating_mul(PROOF_HEIGHT * (1 + PROOF_OPAQUE) + 1)
        .saturating_add(PROOF_OPAQUE)
}

/// One sealed share pair: the peer's id and the fixed-size ciphertext.
const SEALED_ITEM: usize = U32_LEN + SEALED_SHARES_LEN;
/// One revealed share: the owner's id and the scalar.
const SHARE_ITEM: usize = U32_LEN + BYTES32;
/// One consistency signature: the signer's id and the signature.
const SIGNATURE_ITEM: usize = U32_LEN + SIGNATURE_LEN;

/// `n * size`, saturating.
fn times(n: usize, size: usize) -> usize {
    n.saturating_mul(size)
}

/// The longest message any party of a session with at most `clients` per list and masked
/// vectors of `packed` bytes can send (counts at their limits, signatures present).
pub(crate) fn longest_message(clients: usize, view: usize, packed: usize) -> usize {
    [
        sum(&[HEADER_LEN, ADVERT_BODY_MAX]),
        // A whole roster, and a view of `view` entries with the longest proof of them.
        sum(&[HEADER_LEN, U32_LEN, times(clients, ADVERT_BODY_MAX), 1]),
        sum(&[
            HEADER_LEN,
            U32_LEN,
            times(view, ADVERT_BODY_MAX),
            1 + 2 * U32_LEN,
            max_roster_proof_len(view),
        ]),
        sum(&[
            HEADER_LEN,
            2 * U32_LEN,
            times(clients, SEALED_ITEM),
            1 + SIGNATURE_LEN,
        ]),
        sum(&[
            HEADER_LEN,
            3 * U32_LEN,
            times(clients, SEALED_ITEM + SIGNATURE_ITEM),
        ]),
        sum(&[HEADER_LEN, U32_LEN, BYTES32, packed]),
        // A whole consistency request, and a slice of `view` statuses with its proof.
        sum(&[HEADER_LEN, 2 * U32_LEN, times(clients, U32_LEN), 1]),
        sum(&[
            HEADER_LEN,
            2 * U32_LEN,
            times(view, U32_LEN),
            1 + 2 * U32_LEN,
            max_roster_proof_len(view),
        ]),
        sum(&[HEADER_LEN, U32_LEN, SIGNATURE_LEN]),
        sum(&[
            HEADER_LEN,
            4 * U32_LEN,
            times(clients, 2 * U32_LEN + SIGNATURE_ITEM),
        ]),
        sum(&[HEADER_LEN, 3 * U32_LEN, times(clients, 2 * SHARE_ITEM)]),
    ]
    .into_iter()
    .max()
    .unwrap_or(usize::MAX)
}

fn put_advert_body(a: &AdvertiseKeys, out: &mut Vec<u8>) {
    a.sender.encode(out);
    a.share_public_key.encode(out);
    a.mask_public_key.encode(out);
    a.self_mask_commitment.encode(out);
    a.signature.encode(out);
}

fn advert_body_len(a: &AdvertiseKeys) -> usize {
    sum(&[ADVERT_BODY_MIN - 1, a.signature.encoded_len()])
}

/// The body of an advertisement; its session is the enclosing header's.
fn read_advert_body(r: &mut Reader<'_>, session: SessionId) -> Result<AdvertiseKeys, DecodeError> {
    Ok(AdvertiseKeys {
        session,
        sender: ClientId::decode(r)?,
        share_public_key: Decode::decode(r)?,
        mask_public_key: Decode::decode(r)?,
        self_mask_commitment: Decode::decode(r)?,
        signature: Decode::decode(r)?,
    })
}

/// `version ‖ kind 1 ‖ session ‖ sender ‖ c^PK ‖ s^PK ‖ commitment ‖ option ‖ [signature]`.
impl Encode for AdvertiseKeys {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::AdvertiseKeys, &self.session, out);
        put_advert_body(self, out);
    }
    fn encoded_len(&self) -> usize {
        sum(&[HEADER_LEN, advert_body_len(self)])
    }
}

impl DecodeWith<Limits> for AdvertiseKeys {
    fn decode_with(r: &mut Reader<'_>, _: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::AdvertiseKeys)?;
        read_advert_body(r, session)
    }
}

/// `version ‖ kind 2 ‖ session ‖ count ‖ count × advertisement body ‖ slice`, where `slice`
/// is `0` (the whole roster) or `1 ‖ recipient ‖ proof length ‖ proof`. Each entry's session
/// is the roster's: the server only admits advertisements of its own session.
impl Encode for Roster {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::Roster, &self.session, out);
        put_count(self.entries.len(), out);
        for entry in &self.entries {
            put_advert_body(entry, out);
        }
        match &self.slice {
            None => out.push(0),
            Some(slice) => {
                out.push(1);
                slice.recipient.encode(out);
                put_count(slice.proof.len(), out);
                out.extend_from_slice(&slice.proof);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        let slice = self
            .slice
            .as_ref()
            .map_or(0, |s| sum(&[2 * U32_LEN, s.proof.len()]));
        self.entries
            .iter()
            .map(advert_body_len)
            .fold(sum(&[HEADER_LEN, U32_LEN, 1, slice]), usize::saturating_add)
    }
}

impl DecodeWith<Limits> for Roster {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::Roster)?;
        let count = r.count("roster entries", limits.max_clients, ADVERT_BODY_MIN)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(read_advert_body(r, session)?);
        }
        let slice = match r.u8()? {
            0 => None,
            1 => {
                let recipient = ClientId::decode(r)?;
                let len = r.count("roster proof bytes", max_roster_proof_len(count), 1)?;
                let proof = r.bytes(len)?.to_vec();
                Some(RosterSlice { recipient, proof })
            }
            other => return Err(DecodeError::BadOptionByte(other)),
        };
        Ok(Self {
            session,
            entries,
            slice,
        })
    }
}

/// Which id of a sealed share pair is on the wire: the other is the enclosing message's.
#[derive(Clone, Copy)]
enum Peer {
    /// In ShareKeys: the sender is the message's, the recipient is written.
    Recipient,
    /// In SharesDelivery: the recipient is the message's, the sender is written.
    Sender,
}

fn put_sealed(sealed: &[SealedShares], peer: Peer, out: &mut Vec<u8>) {
    put_count(sealed.len(), out);
    for s in sealed {
        match peer {
            Peer::Recipient => s.recipient.encode(out),
            Peer::Sender => s.sender.encode(out),
        }
        out.extend_from_slice(&s.ciphertext);
    }
}

fn sealed_len(sealed: &[SealedShares]) -> usize {
    sealed
        .iter()
        .map(|_| SEALED_ITEM)
        .fold(U32_LEN, usize::saturating_add)
}

fn read_sealed(
    r: &mut Reader<'_>,
    limits: &Limits,
    peer: Peer,
    known: ClientId,
) -> Result<Vec<SealedShares>, DecodeError> {
    let count = r.count("sealed shares", limits.max_clients, SEALED_ITEM)?;
    let mut sealed = Vec::with_capacity(count);
    for _ in 0..count {
        let other = ClientId::decode(r)?;
        let ciphertext = *r.array::<SEALED_SHARES_LEN>()?;
        let (sender, recipient) = match peer {
            Peer::Recipient => (known, other),
            Peer::Sender => (other, known),
        };
        sealed.push(SealedShares {
            sender,
            recipient,
            ciphertext,
        });
    }
    Ok(sealed)
}

/// `version ‖ kind 3 ‖ session ‖ sender ‖ count ‖ count × (recipient ‖ ciphertext (80)) ‖
/// option ‖ [roster signature (64)]`. Every entry's sender is the message's (the server
/// rejects anything else).
impl Encode for ShareKeys {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::ShareKeys, &self.session, out);
        self.sender.encode(out);
        put_sealed(&self.sealed, Peer::Recipient, out);
        self.roster_signature.encode(out);
    }
    fn encoded_len(&self) -> usize {
        sum(&[
            HEADER_LEN,
            U32_LEN,
            sealed_len(&self.sealed),
            self.roster_signature.encoded_len(),
        ])
    }
}

impl DecodeWith<Limits> for ShareKeys {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::ShareKeys)?;
        let sender = ClientId::decode(r)?;
        let sealed = read_sealed(r, limits, Peer::Recipient, sender)?;
        let roster_signature = Decode::decode(r)?;
        Ok(Self {
            session,
            sender,
            sealed,
            roster_signature,
        })
    }
}

/// `version ‖ kind 4 ‖ session ‖ recipient ‖ count ‖ count × (sender ‖ ciphertext (80)) ‖
/// count ‖ count × (signer ‖ roster signature (64))`. Every entry's recipient is the
/// message's (the server delivers nothing else).
impl Encode for SharesDelivery {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::SharesDelivery, &self.session, out);
        self.recipient.encode(out);
        put_sealed(&self.sealed, Peer::Sender, out);
        put_signatures(&self.roster_signatures, out);
    }
    fn encoded_len(&self) -> usize {
        sum(&[
            HEADER_LEN,
            U32_LEN,
            sealed_len(&self.sealed),
            signatures_len(&self.roster_signatures),
        ])
    }
}

impl DecodeWith<Limits> for SharesDelivery {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::SharesDelivery)?;
        let recipient = ClientId::decode(r)?;
        let sealed = read_sealed(r, limits, Peer::Sender, recipient)?;
        let roster_signatures = read_signatures(r, "roster signatures", limits)?;
        Ok(Self {
            session,
            recipient,
            sealed,
            roster_signatures,
        })
    }
}

/// A masked input with the modulus its elements are packed for: the message alone does not
/// say how many bits an element takes.
#[derive(Clone, Copy, Debug)]
pub struct PackedMaskedInput<'a> {
    message: &'a MaskedInput,
    modulus: Modulus,
}

impl<'a> PackedMaskedInput<'a> {
    /// `message`, to be packed at `modulus.bits()` bits per element. Its elements must be
    /// below `modulus` (as every honest client's are); the low bits of larger ones would be
    /// written, which decoders reject or misread.
    #[must_use]
    pub fn new(message: &'a MaskedInput, modulus: Modulus) -> Self {
        Self { message, modulus }
    }
}

/// `version ‖ kind 5 ‖ session ‖ sender ‖ roster digest (32) ‖ packed y_u (ceil(d·b / 8))`;
/// `d` is not written.
impl Encode for PackedMaskedInput<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::MaskedInput, &self.message.session, out);
        self.message.sender.encode(out);
        self.message.roster_digest.encode(out);
        pack(&self.message.masked, self.modulus.bits(), out);
    }
    fn encoded_len(&self) -> usize {
        let packed = packed_len(self.message.masked.len(), self.modulus.bits());
        sum(&[HEADER_LEN, U32_LEN, BYTES32, packed])
    }
}

/// A masked input packed at the session's modulus.
impl EncodeWith<Limits> for MaskedInput {
    fn encode_with(&self, limits: &Limits, out: &mut Vec<u8>) {
        PackedMaskedInput::new(self, limits.modulus).encode(out);
    }

    fn encoded_len_with(&self, limits: &Limits) -> usize {
        PackedMaskedInput::new(self, limits.modulus).encoded_len()
    }
}

/// Any client message, a masked input packed at the session's modulus.
impl EncodeWith<Limits> for ClientMessage {
    fn encode_with(&self, limits: &Limits, out: &mut Vec<u8>) {
        match self {
            Self::AdvertiseKeys(m) => m.encode(out),
            Self::ShareKeys(m) => m.encode(out),
            Self::MaskedInput(m) => m.encode_with(limits, out),
            Self::ConsistencySignature(m) => m.encode(out),
            Self::UnmaskingResponse(m) => m.encode(out),
        }
    }

    fn encoded_len_with(&self, limits: &Limits) -> usize {
        match self {
            Self::AdvertiseKeys(m) => m.encoded_len(),
            Self::ShareKeys(m) => m.encoded_len(),
            Self::MaskedInput(m) => m.encoded_len_with(limits),
            Self::ConsistencySignature(m) => m.encoded_len(),
            Self::UnmaskingResponse(m) => m.encoded_len(),
        }
    }
}

impl DecodeWith<Limits> for MaskedInput {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        MaskedInputRef::read(r, limits).map(|m| m.to_owned())
    }
}

/// A [`MaskedInput`] read in place: its fields, and `y_u` still bit-packed in the message's
/// bytes, checked as [`MaskedInput`]'s decoder checks it (which reads through this type). The
/// server sums a masked input from it without allocating the `d` elements of `y_u`.
#[derive(Clone, Copy, Debug)]
pub struct MaskedInputRef<'a> {
    /// The session.
    pub session: SessionId,
    /// The sender.
    pub sender: ClientId,
    /// The digest of the roster the sender masked against.
    pub roster_digest: [u8; 32],
    /// `y_u`: `limits.vector_len` elements of `Z_m`, packed.
    pub masked: PackedVector<'a>,
}

impl<'a> MaskedInputRef<'a> {
    /// Decodes exactly one masked input from `bytes`, as [`from_bytes`](super::from_bytes)
    /// decodes a [`MaskedInput`], borrowing its vector.
    ///
    /// # Errors
    /// Every [`DecodeError`] of [`from_bytes`](super::from_bytes) for a [`MaskedInput`].
    pub fn from_bytes(bytes: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        decode_whole(bytes, limits, |r| Self::read(r, limits))
    }

    fn read(r: &mut Reader<'a>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::MaskedInput)?;
        let sender = ClientId::decode(r)?;
        let roster_digest = Decode::decode(r)?;
        let masked = PackedVector::read(r, limits.vector_len, limits.modulus)?;
        Ok(Self {
            session,
            sender,
            roster_digest,
            masked,
        })
    }

    /// The masked input, its vector unpacked.
    #[must_use]
    pub fn to_owned(&self) -> MaskedInput {
        MaskedInput {
            session: self.session,
            sender: self.sender,
            roster_digest: self.roster_digest,
            masked: self.masked.to_vec(),
        }
    }
}

fn put_ids(ids: &[ClientId], out: &mut Vec<u8>) {
    put_count(ids.len(), out);
    for id in ids {
        id.encode(out);
    }
}

fn ids_len(ids: &[ClientId]) -> usize {
    sum(&[U32_LEN, times(ids.len(), U32_LEN)])
}

fn read_ids(
    r: &mut Reader<'_>,
    what: &'static str,
    limits: &Limits,
) -> Result<Vec<ClientId>, DecodeError> {
    let count = r.count(what, limits.max_clients, U32_LEN)?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(ClientId::decode(r)?);
    }
    Ok(ids)
}

fn put_signatures(signatures: &[(ClientId, Signature)], out: &mut Vec<u8>) {
    put_count(signatures.len(), out);
    for (signer, signature) in signatures {
        signer.encode(out);
        signature.encode(out);
    }
}

fn signatures_len(signatures: &[(ClientId, Signature)]) -> usize {
    sum(&[U32_LEN, times(signatures.len(), SIGNATURE_ITEM)])
}

fn read_signatures(
    r: &mut Reader<'_>,
    what: &'static str,
    limits: &Limits,
) -> Result<Vec<(ClientId, Signature)>, DecodeError> {
    let count = r.count(what, limits.max_clients, SIGNATURE_ITEM)?;
    let mut signatures = Vec::with_capacity(count);
    for _ in 0..count {
        signatures.push((ClientId::decode(r)?, Signature::decode(r)?));
    }
    Ok(signatures)
}

/// `version ‖ kind 6 ‖ session ‖ recipient ‖ count ‖ count × survivor id ‖ slice`, where
/// `slice` is `0` (all of `U_3`) or `1 ‖ count ‖ count × dropped id ‖ proof length ‖ proof`.
impl Encode for ConsistencyRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::ConsistencyRequest, &self.session, out);
        self.recipient.encode(out);
        put_ids(&self.survivors, out);
        match &self.slice {
            None => out.push(0),
            Some(slice) => {
                out.push(1);
                put_ids(&slice.dropped, out);
                put_count(slice.proof.len(), out);
                out.extend_from_slice(&slice.proof);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        let slice = self
            .slice
            .as_ref()
            .map_or(0, |s| sum(&[ids_len(&s.dropped), U32_LEN, s.proof.len()]));
        sum(&[HEADER_LEN, U32_LEN, ids_len(&self.survivors), 1, slice])
    }
}

impl DecodeWith<Limits> for ConsistencyRequest {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::ConsistencyRequest)?;
        let recipient = ClientId::decode(r)?;
        let survivors = read_ids(r, "survivors", limits)?;
        let slice = match r.u8()? {
            0 => None,
            1 => {
                let dropped = read_ids(r, "dropped", limits)?;
                let opened = survivors.len().saturating_add(dropped.len());
                let len = r.count("survivor proof bytes", max_roster_proof_len(opened), 1)?;
                let proof = r.bytes(len)?.to_vec();
                Some(SurvivorSlice { dropped, proof })
            }
            other => return Err(DecodeError::BadOptionByte(other)),
        };
        Ok(Self {
            session,
            recipient,
            survivors,
            slice,
        })
    }
}

/// `version ‖ kind 7 ‖ session ‖ sender ‖ signature (64)`.
impl Encode for ConsistencySignature {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::ConsistencySignature, &self.session, out);
        self.sender.encode(out);
        self.signature.encode(out);
    }
    fn encoded_len(&self) -> usize {
        HEADER_LEN + U32_LEN + SIGNATURE_LEN
    }
}

impl DecodeWith<Limits> for ConsistencySignature {
    fn decode_with(r: &mut Reader<'_>, _: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::ConsistencySignature)?;
        Ok(Self {
            session,
            sender: ClientId::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// `version ‖ kind 8 ‖ session ‖ recipient ‖ count ‖ survivor ids ‖ count ‖ dropped ids ‖
/// count ‖ count × (signer ‖ signature (64))`.
impl Encode for UnmaskingRequest {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::UnmaskingRequest, &self.session, out);
        self.recipient.encode(out);
        put_ids(&self.survivors, out);
        put_ids(&self.dropped, out);
        put_signatures(&self.signatures, out);
    }
    fn encoded_len(&self) -> usize {
        sum(&[
            HEADER_LEN,
            U32_LEN,
            ids_len(&self.survivors),
            ids_len(&self.dropped),
            signatures_len(&self.signatures),
        ])
    }
}

impl DecodeWith<Limits> for UnmaskingRequest {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::UnmaskingRequest)?;
        let recipient = ClientId::decode(r)?;
        let survivors = read_ids(r, "survivors", limits)?;
        let dropped = read_ids(r, "dropped", limits)?;
        let signatures = read_signatures(r, "signatures", limits)?;
        Ok(Self {
            session,
            recipient,
            survivors,
            dropped,
            signatures,
        })
    }
}

fn put_shares(shares: &[(ClientId, SecretScalar)], out: &mut Vec<u8>) {
    put_count(shares.len(), out);
    for (owner, share) in shares {
        owner.encode(out);
        share.encode(out);
    }
}

fn read_shares(
    r: &mut Reader<'_>,
    what: &'static str,
    limits: &Limits,
) -> Result<Vec<(ClientId, SecretScalar)>, DecodeError> {
    let count = r.count(what, limits.max_clients, SHARE_ITEM)?;
    let mut shares = Vec::with_capacity(count);
    for _ in 0..count {
        shares.push((ClientId::decode(r)?, SecretScalar::decode(r)?));
    }
    Ok(shares)
}

/// `version ‖ kind 9 ‖ session ‖ sender ‖ count ‖ count × (owner ‖ scalar) ‖ count ‖ count ×
/// (owner ‖ scalar)`: self-mask shares, then key shares.
impl Encode for UnmaskingResponse {
    fn encode(&self, out: &mut Vec<u8>) {
        put_header(Kind::UnmaskingResponse, &self.session, out);
        self.sender.encode(out);
        put_shares(&self.self_mask_shares, out);
        put_shares(&self.key_shares, out);
    }
    fn encoded_len(&self) -> usize {
        sum(&[
            HEADER_LEN,
            U32_LEN,
            U32_LEN,
            times(self.self_mask_shares.len(), SHARE_ITEM),
            U32_LEN,
            times(self.key_shares.len(), SHARE_ITEM),
        ])
    }
}

impl DecodeWith<Limits> for UnmaskingResponse {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        let session = read_header(r, Kind::UnmaskingResponse)?;
        let sender = ClientId::decode(r)?;
        let self_mask_shares = read_shares(r, "self-mask shares", limits)?;
        let key_shares = read_shares(r, "key shares", limits)?;
        Ok(Self {
            session,
            sender,
            self_mask_shares,
            key_shares,
        })
    }
}

/// Any message a client sends, for a server that dispatches on the kind byte.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// Kind 1.
    AdvertiseKeys(AdvertiseKeys),
    /// Kind 3.
    ShareKeys(ShareKeys),
    /// Kind 5.
    MaskedInput(MaskedInput),
    /// Kind 7.
    ConsistencySignature(ConsistencySignature),
    /// Kind 9.
    UnmaskingResponse(UnmaskingResponse),
}

impl ClientMessage {
    /// The message's kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::AdvertiseKeys(_) => Kind::AdvertiseKeys,
            Self::ShareKeys(_) => Kind::ShareKeys,
            Self::MaskedInput(_) => Kind::MaskedInput,
            Self::ConsistencySignature(_) => Kind::ConsistencySignature,
            Self::UnmaskingResponse(_) => Kind::UnmaskingResponse,
        }
    }

    /// The claimed sender (to be compared with the one the transport authenticated).
    #[must_use]
    pub fn sender(&self) -> ClientId {
        match self {
            Self::AdvertiseKeys(m) => m.sender,
            Self::ShareKeys(m) => m.sender,
            Self::MaskedInput(m) => m.sender,
            Self::ConsistencySignature(m) => m.sender,
            Self::UnmaskingResponse(m) => m.sender,
        }
    }

    /// The encoding, with a masked input packed for `modulus` (unused by the other kinds).
    #[must_use]
    pub fn to_bytes(&self, modulus: Modulus) -> Vec<u8> {
        match self {
            Self::AdvertiseKeys(m) => super::to_bytes(m),
            Self::ShareKeys(m) => super::to_bytes(m),
            Self::MaskedInput(m) => super::to_bytes(&PackedMaskedInput::new(m, modulus)),
            Self::ConsistencySignature(m) => super::to_bytes(m),
            Self::UnmaskingResponse(m) => super::to_bytes(m),
        }
    }
}

/// Reads the version and kind without consuming them.
fn peek_kind(r: &Reader<'_>) -> Result<Kind, DecodeError> {
    read_kind(&mut r.clone())
}

impl DecodeWith<Limits> for ClientMessage {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        Ok(match peek_kind(r)? {
            Kind::AdvertiseKeys => Self::AdvertiseKeys(DecodeWith::decode_with(r, limits)?),
            Kind::ShareKeys => Self::ShareKeys(DecodeWith::decode_with(r, limits)?),
            Kind::MaskedInput => Self::MaskedInput(DecodeWith::decode_with(r, limits)?),
            Kind::ConsistencySignature => {
                Self::ConsistencySignature(DecodeWith::decode_with(r, limits)?)
            }
            Kind::UnmaskingResponse => Self::UnmaskingResponse(DecodeWith::decode_with(r, limits)?),
            other @ (Kind::Roster
            | Kind::SharesDelivery
            | Kind::ConsistencyRequest
            | Kind::UnmaskingRequest) => return Err(DecodeError::WrongDirection(other)),
        })
    }
}

/// Any message the server sends, for a client that dispatches on the kind byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    /// Kind 2.
    Roster(Roster),
    /// Kind 4.
    SharesDelivery(SharesDelivery),
    /// Kind 6.
    ConsistencyRequest(ConsistencyRequest),
    /// Kind 8.
    UnmaskingRequest(UnmaskingRequest),
}

impl ServerMessage {
    /// The message's kind.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Roster(_) => Kind::Roster,
            Self::SharesDelivery(_) => Kind::SharesDelivery,
            Self::ConsistencyRequest(_) => Kind::ConsistencyRequest,
            Self::UnmaskingRequest(_) => Kind::UnmaskingRequest,
        }
    }
}

impl Encode for ServerMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Roster(m) => m.encode(out),
            Self::SharesDelivery(m) => m.encode(out),
            Self::ConsistencyRequest(m) => m.encode(out),
            Self::UnmaskingRequest(m) => m.encode(out),
        }
    }
    fn encoded_len(&self) -> usize {
        match self {
            Self::Roster(m) => m.encoded_len(),
            Self::SharesDelivery(m) => m.encoded_len(),
            Self::ConsistencyRequest(m) => m.encoded_len(),
            Self::UnmaskingRequest(m) => m.encoded_len(),
        }
    }
}

impl DecodeWith<Limits> for ServerMessage {
    fn decode_with(r: &mut Reader<'_>, limits: &Limits) -> Result<Self, DecodeError> {
        Ok(match peek_kind(r)? {
            Kind::Roster => Self::Roster(DecodeWith::decode_with(r, limits)?),
            Kind::SharesDelivery => Self::SharesDelivery(DecodeWith::decode_with(r, limits)?),
            Kind::ConsistencyRequest => {
                Self::ConsistencyRequest(DecodeWith::decode_with(r, limits)?)
            }
            Kind::UnmaskingRequest => Self::UnmaskingRequest(DecodeWith::decode_with(r, limits)?),
            other @ (Kind::AdvertiseKeys
            | Kind::ShareKeys
            | Kind::MaskedInput
            | Kind::ConsistencySignature
            | Kind::UnmaskingResponse) => return Err(DecodeError::WrongDirection(other)),
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::unwrap_used
)]
mod tests {
    use super::*;
    use crate::crypto::kx::PublicKey;
    use crate::params::Params;
    use crate::wire::{from_bytes, to_bytes};
    use alloc::vec;

    const SID: SessionId = SessionId([7; 32]);

    fn limits() -> Limits {
        let params = Params::new(SID, 5, 3, Modulus::new(1000).unwrap(), 6).unwrap();
        Limits::for_params(&params)
    }

    fn advert(id: u32, signed: bool) -> AdvertiseKeys {
        AdvertiseKeys {
            session: SID,
            sender: ClientId(id),
            share_public_key: PublicKey([9; 32]),
            mask_public_key: PublicKey([id as u8; 32]),
            self_mask_commitment: [0xcc; 32],
            signature: signed.then_some(Signature([0x5a; 64])),
        }
    }

    fn round_trip<M>(message: &M, len: usize) -> Result<(), DecodeError>
    where
        M: Encode + DecodeWith<Limits> + PartialEq + core::fmt::Debug,
    {
        let bytes = to_bytes(message);
        assert_eq!(bytes.len(), len);
        assert_eq!(message.encoded_len(), len);
        assert!(len <= limits().max_message_bytes);
        assert_eq!(from_bytes::<M>(&bytes, &limits()).as_ref(), Ok(message));
        Ok(())
    }

    #[test]
    fn hand_built_messages_round_trip() -> Result<(), DecodeError> {
        round_trip(&advert(1, false), 135)?;
        round_trip(&advert(1, true), 199)?;
        // Entries may individually be signed or not.
        let roster = Roster {
            session: SID,
            entries: vec![advert(1, true), advert(2, false), advert(3, true)],
            slice: None,
        };
        round_trip(&roster, 39 + 165 + 101 + 165)?;
        // A view: the recipient and a proof (opaque bytes to the codec).
        let view = Roster {
            session: SID,
            entries: vec![advert(2, false)],
            slice: Some(RosterSlice {
                recipient: ClientId(2),
                proof: vec![3, 1, 2],
            }),
        };
        round_trip(&view, 39 + 101 + 8 + 3)?;
        let sealed = |sender, recipient| SealedShares {
            sender: ClientId(sender),
            recipient: ClientId(recipient),
            ciphertext: [sender as u8; SEALED_SHARES_LEN],
        };
        let share_keys = ShareKeys {
            session: SID,
            sender: ClientId(2),
            sealed: vec![sealed(2, 1), sealed(2, 3)],
            roster_signature: None,
        };
        round_trip(&share_keys, 42 + 2 * 84 + 1)?;
        let signed = ShareKeys {
            roster_signature: Some(Signature([4; 64])),
            ..share_keys
        };
        round_trip(&signed, 42 + 2 * 84 + 1 + 64)?;
        let delivery = SharesDelivery {
            session: SID,
            recipient: ClientId(2),
            sealed: vec![sealed(1, 2), sealed(3, 2), sealed(5, 2)],
            roster_signatures: vec![],
        };
        round_trip(&delivery, 42 + 3 * 84 + 4)?;
        let signed = SharesDelivery {
            roster_signatures: vec![(ClientId(1), Signature([5; 64]))],
            ..delivery
        };
        round_trip(&signed, 42 + 3 * 84 + 4 + 68)?;
        let request = UnmaskingRequest {
            session: SID,
            recipient: ClientId(2),
            survivors: vec![ClientId(1), ClientId(2)],
            dropped: vec![ClientId(3)],
            signatures: vec![(ClientId(1), Signature([1; 64]))],
        };
        round_trip(&request, 50 + 4 * 3 + 68)?;
        round_trip(
            &ConsistencyRequest {
                session: SID,
                recipient: ClientId(4),
                survivors: vec![],
                slice: None,
            },
            43,
        )?;
        // A slice: two survivors, one dropped, a proof (opaque bytes to the codec).
        round_trip(
            &ConsistencyRequest {
                session: SID,
                recipient: ClientId(4),
                survivors: vec![ClientId(4), ClientId(6)],
                slice: Some(SurvivorSlice {
                    dropped: vec![ClientId(5)],
                    proof: vec![2, 3, 3, 3],
                }),
            },
            43 + 8 + 4 + 4 + 4 + 4,
        )?;
        round_trip(
            &ConsistencySignature {
                session: SID,
                sender: ClientId(4),
                signature: Signature([3; 64]),
            },
            102,
        )?;
        let response = UnmaskingResponse {
            session: SID,
            sender: ClientId(2),
            self_mask_shares: vec![(ClientId(1), SecretScalar(curve25519_dalek::Scalar::ONE))],
            key_shares: vec![],
        };
        round_trip(&response, 46 + 36)?;
        Ok(())
    }

    #[test]
    fn masked_input_packs_at_the_session_width() -> Result<(), DecodeError> {
        let limits = limits();
        let masked = MaskedInput {
            session: SID,
            sender: ClientId(1),
            roster_digest: [6; 32],
            masked: vec![0, 1, 998, 999, 500, 7],
        };
        let packed = PackedMaskedInput::new(&masked, limits.modulus);
        let bytes = to_bytes(&packed);
        // The roster digest, then 6 elements of 10 bits: 60 bits in 8 bytes.
        assert_eq!(bytes.len(), 38 + 32 + 8);
        assert_eq!(packed.encoded_len(), bytes.len());
        assert_eq!(
            from_bytes::<MaskedInput>(&bytes, &limits),
            Ok(masked.clone())
        );
        let envelope = ClientMessage::MaskedInput(masked);
        assert_eq!(envelope.to_bytes(limits.modulus), bytes);
        assert_eq!(from_bytes::<ClientMessage>(&bytes, &limits), Ok(envelope));
        Ok(())
    }

    #[test]
    fn envelopes_dispatch_on_kind() -> Result<(), DecodeError> {
        let limits = limits();
        let bytes = to_bytes(&advert(3, false));
        let message = from_bytes::<ClientMessage>(&bytes, &limits)?;
        assert_eq!(message.kind(), Kind::AdvertiseKeys);
        assert_eq!(message.sender(), ClientId(3));
        assert_eq!(
            from_bytes::<ServerMessage>(&bytes, &limits),
            Err(DecodeError::WrongDirection(Kind::AdvertiseKeys))
        );
        let roster = ServerMessage::Roster(Roster {
            session: SID,
            entries: vec![advert(1, false)],
            slice: None,
        });
        let bytes = to_bytes(&roster);
        assert_eq!(from_bytes::<ServerMessage>(&bytes, &limits), Ok(roster));
        Ok(())
    }

    #[test]
    fn longest_message_bounds_every_kind() {
        // n = 5, d = 6 elements of 10 bits (8 bytes), complete graph: a whole roster of n
        // signed entries is the longest, 39 + 165 n (the fullest unmasking request is
        // 50 + 76 n, the fullest signed delivery 46 + 152 n).
        assert_eq!(longest_message(5, 0, 8), 39 + 165 * 5);
        // A view of 3 signed entries with the longest proof of 3 leaves.
        assert_eq!(max_roster_proof_len(3), 1217 * 3 + 37);
        assert_eq!(longest_message(5, 3, 8), 38 + 165 * 3 + 9 + 1217 * 3 + 37);
        // A long masked input: 38 + the roster digest + packed.
        assert_eq!(longest_message(1, 0, 1000), 38 + 32 + 1000);
        assert_eq!(longest_message(usize::MAX, 0, 0), usize::MAX);
    }
}
