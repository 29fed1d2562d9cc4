//! The codec's building blocks: the [`Encode`] / [`Decode`] / [`DecodeWith`] traits, the
//! [`Reader`] over untrusted bytes, [`DecodeError`], [`Limits`], the header and the bit
//! packing of masked vectors.

use alloc::vec::Vec;
use core::fmt;
use core::slice::ChunksExact;

use zeroize::Zeroize;

use crate::crypto::kx::PublicKey;
use crate::crypto::shamir::SecretScalar;
use crate::crypto::sign::Signature;
use crate::ids::{ClientId, SessionId};
use crate::params::{Modulus, Params};

/// The wire-format version this codec writes and the only one it reads.
pub const VERSION: u8 = crate::vocabulary::WIRE_VERSION;

/// Bytes of a `u32` id or count.
pub(super) const U32_LEN: usize = 4;
/// Bytes of an X25519 public key, a scalar, a commitment or a session id.
pub(super) const BYTES32: usize = 32;
/// Bytes of an Ed25519 signature.
pub(super) const SIGNATURE_LEN: usize = 64;

pub use crate::vocabulary::Kind;

pub use crate::error::DecodeError;

/// What a decoder accepts: the shape of the session's vectors and upper bounds on every
/// count, so that no peer can make it allocate more than the session needs.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest count of any list (roster entries, sealed shares, survivors, dropped
    /// clients, signatures, revealed shares).
    pub max_clients: usize,
    /// The exact number of elements of a masked vector, `d` (never read from the wire).
    pub vector_len: usize,
    /// The modulus `m` of masked-vector elements; elements take `ceil(log2 m)` bits.
    pub modulus: Modulus,
    /// The largest whole message, checked before anything else.
    pub max_message_bytes: usize,
}

impl Limits {
    /// The limits of a session: counts at most `params.clients()`, vectors of exactly
    /// `params.vector_len()` elements of `Z_m`, and no message longer than the longest one an
    /// honest party of this session can send.
    #[must_use]
    pub fn for_params(params: &Params) -> Self {
        let max_clients = params.clients();
        let vector_len = params.vector_len();
        let modulus = params.modulus();
        // A SecAgg+ client's roster view: itself and its neighbours (a whole roster is
        // bounded by `max_clients` alone).
        let view = match params.neighbourhood() {
            crate::vocabulary::Neighbourhood::Harary { k } => k.saturating_add(2).min(max_clients),
            crate::vocabulary::Neighbourhood::Complete => 0,
        };
        Self {
            max_clients,
            vector_len,
            modulus,
            max_message_bytes: super::messages::longest_message(
                max_clients,
                view,
                packed_len(vector_len, modulus.bits()),
            ),
        }
    }
}

/// Something with a version-3 encoding.
pub trait Encode {
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The exact number of bytes [`Encode::encode`] appends.
    fn encoded_len(&self) -> usize;
}

/// Something that decodes without outside information (a fixed-size field).
pub trait Decode: Sized {
    /// Reads one value.
    ///
    /// # Errors
    /// [`DecodeError`] if the bytes are not a valid encoding.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Something whose decoding needs outside information `P`: the session's [`Limits`] for
/// every message (a masked vector's length and modulus come from the session, never from the
/// peer).
pub trait DecodeWith<P: ?Sized>: Sized {
    /// Reads one value.
    ///
    /// # Errors
    /// [`DecodeError`] if the bytes are not a valid encoding within `params`.
    fn decode_with(r: &mut Reader<'_>, params: &P) -> Result<Self, DecodeError>;
}

/// Something whose encoding needs outside information `P`, the mirror of [`DecodeWith`]: a
/// masked input is bit-packed at the session's modulus, which the message does not carry.
/// Every [`Encode`] message encodes the same with any [`Limits`].
pub trait EncodeWith<P: ?Sized> {
    /// Appends the encoding to `out`.
    fn encode_with(&self, params: &P, out: &mut Vec<u8>);

    /// The exact number of bytes [`EncodeWith::encode_with`] appends.
    fn encoded_len_with(&self, params: &P) -> usize;
}

impl<M: Encode> EncodeWith<Limits> for M {
    fn encode_with(&self, _: &Limits, out: &mut Vec<u8>) {
        self.encode(out);
    }

    fn encoded_len_with(&self, _: &Limits) -> usize {
        self.encoded_len()
    }
}

/// The encoding of `message` within the session of `limits` (which [`from_bytes`] reads
/// back with the same limits), in a buffer allocated once at its final size.
#[must_use]
pub fn to_bytes_with<M: EncodeWith<Limits> + ?Sized>(message: &M, limits: &Limits) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.encoded_len_with(limits));
    message.encode_with(limits, &mut out);
    out
}

/// The encoding of `message`, in a buffer allocated once at its final size.
#[must_use]
pub fn to_bytes<M: Encode + ?Sized>(message: &M) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.encoded_len());
    message.encode(&mut out);
    out
}

/// Decodes exactly one message of type `M` from `bytes`.
///
/// # Errors
/// [`DecodeError`] if `bytes` is longer than `limits.max_message_bytes`, is not a valid
/// version-3 encoding of an `M` within `limits`, or has bytes left after it.
pub fn from_bytes<M: DecodeWith<Limits>>(bytes: &[u8], limits: &Limits) -> Result<M, DecodeError> {
    decode_whole(bytes, limits, |r| M::decode_with(r, limits))
}

/// Reads exactly one message from `bytes` with `read`, which may borrow from them: the
/// length limit first, then the message, then no byte left after it ([`from_bytes`]).
pub(crate) fn decode_whole<'a, M>(
    bytes: &'a [u8],
    limits: &Limits,
    read: impl FnOnce(&mut Reader<'a>) -> Result<M, DecodeError>,
) -> Result<M, DecodeError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::LengthOverLimit {
            what: "message bytes",
            got: bytes.len(),
            max: limits.max_message_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    let message = read(&mut r)?;
    r.finish()?;
    Ok(message)
}

/// The kind of the message in `bytes`, from its header.
///
/// # Errors
/// [`DecodeError`] for a header that is short, of another version or of an unknown kind.
pub(crate) fn kind_of(bytes: &[u8]) -> Result<Kind, DecodeError> {
    read_kind(&mut Reader::new(bytes))
}

/// A cursor over untrusted bytes. It only splits (`split_at_checked`, `split_first_chunk`):
/// it never indexes and never panics.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Bytes not yet read.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn too_short(&self, needed: usize) -> DecodeError {
        DecodeError::TooShort {
            needed,
            remaining: self.rest.len(),
        }
    }

    /// The next `n` bytes.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] if fewer remain.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or_else(|| self.too_short(n))?;
        self.rest = rest;
        Ok(head)
    }

    /// The next `N` bytes, as an array.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] if fewer remain.
    pub fn array<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.too_short(N))?;
        self.rest = rest;
        Ok(head)
    }

    /// The next byte.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] at the end of the input.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let [b] = *self.array::<1>()?;
        Ok(b)
    }

    /// The next big-endian `u32`.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] if fewer than 4 bytes remain.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(*self.array::<U32_LEN>()?))
    }

    /// A big-endian `u32` count of items of at least `item_len` bytes each, checked against
    /// `max` and then against the remaining input, before the caller allocates anything.
    ///
    /// # Errors
    /// [`DecodeError::LengthOverLimit`] if the count exceeds `max`;
    /// [`DecodeError::TooShort`] if the input cannot hold that many items.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        item_len: usize,
    ) -> Result<usize, DecodeError> {
        let raw = self.u32()?;
        let over = |got| DecodeError::LengthOverLimit { what, got, max };
        let count = usize::try_from(raw).map_err(|_| over(usize::MAX))?;
        if count > max {
            return Err(over(count));
        }
        let needed = count.saturating_mul(item_len);
        if needed > self.remaining() {
            return Err(self.too_short(needed));
        }
        Ok(count)
    }

    /// Ends decoding.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] if any input is left.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }
}

/// Appends a list length as a big-endian `u32`. Lists are bounded by `MAX_CLIENTS`, far
/// below `u32::MAX`; a longer one would be written as `u32::MAX`, which every decoder
/// rejects.
pub(super) fn put_count(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

/// `a + b + ...`, saturating: lengths are only for capacity and accounting.
pub(super) fn sum(parts: &[usize]) -> usize {
    parts.iter().fold(0, |acc, &p| acc.saturating_add(p))
}

/// The header: `version ‖ kind ‖ session id`.
pub const HEADER_LEN: usize = 1 + 1 + BYTES32;

pub(super) fn put_header(kind: Kind, session: &SessionId, out: &mut Vec<u8>) {
    out.push(VERSION);
    out.push(kind.byte());
    out.extend_from_slice(session.as_bytes());
}

/// Reads the version and kind bytes, without the session id.
pub(super) fn read_kind(r: &mut Reader<'_>) -> Result<Kind, DecodeError> {
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let byte = r.u8()?;
    Kind::from_byte(byte).ok_or(DecodeError::UnknownKind(byte))
}

/// Reads a header of kind `expected` and returns its session id.
pub(super) fn read_header(r: &mut Reader<'_>, expected: Kind) -> Result<SessionId, DecodeError> {
    let got = read_kind(r)?;
    if got != expected {
        return Err(DecodeError::WrongKind { expected, got });
    }
    SessionId::decode(r)
}

impl Encode for ClientId {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn encoded_len(&self) -> usize {
        U32_LEN
    }
}

impl Decode for ClientId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32().map(ClientId)
    }
}

impl Encode for SessionId {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
    fn encoded_len(&self) -> usize {
        BYTES32
    }
}

impl Decode for SessionId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array::<BYTES32>().map(|b| SessionId(*b))
    }
}

impl Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        BYTES32
    }
}

impl Decode for PublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let key = PublicKey(*r.array::<BYTES32>()?);
        if !key.is_canonical() {
            return Err(DecodeError::NonCanonical("x25519 public key"));
        }
        Ok(key)
    }
}

impl Encode for Signature {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        SIGNATURE_LEN
    }
}

impl Decode for Signature {
    /// Any 64 bytes: whether they are a valid signature (canonical `R` and `S`) is for the
    /// strict verification in [`crate::crypto::sign`].
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array::<SIGNATURE_LEN>().map(|b| Signature(*b))
    }
}

/// An optional signature: one option byte (0 absent, 1 present), then the signature.
impl Encode for Option<Signature> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(signature) => {
                out.push(1);
                signature.encode(out);
            }
        }
    }
    fn encoded_len(&self) -> usize {
        1usize.saturating_add(self.map_or(0, |_| SIGNATURE_LEN))
    }
}

impl Decode for Option<Signature> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(None),
            1 => Signature::decode(r).map(Some),
            other => Err(DecodeError::BadOptionByte(other)),
        }
    }
}

impl Encode for [u8; 32] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn encoded_len(&self) -> usize {
        BYTES32
    }
}

impl Decode for [u8; 32] {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array::<BYTES32>().copied()
    }
}

/// A scalar in its canonical 32-byte little-endian encoding. Encoding a share is the step
/// that reveals it; only `UnmaskingResponse` carries scalars, and only shares the protocol has
/// decided to reveal.
impl Encode for SecretScalar {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_bytes().as_ref());
    }
    fn encoded_len(&self) -> usize {
        BYTES32
    }
}

impl Decode for SecretScalar {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut bytes = *r.array::<BYTES32>()?;
        let scalar = SecretScalar::from_canonical_bytes(bytes)
            .map_err(|_| DecodeError::NonCanonical("scalar"));
        bytes.zeroize();
        scalar
    }
}

/// Bytes of `len` elements packed at `bits` bits each: `ceil(len * bits / 8)`, or
/// `usize::MAX` if that does not fit.
pub(crate) fn packed_len(len: usize, bits: u32) -> usize {
    u128::try_from(len)
        .ok()
        .and_then(|len| len.checked_mul(u128::from(bits)))
        .and_then(|total| usize::try_from(total.div_ceil(8)).ok())
        .unwrap_or(usize::MAX)
}

/// The bytes of an element packed at `bits` bits when that is a whole number of bytes (8,
/// 16, 24, ..., 64): such vectors are copied byte by byte rather than through the bit
/// accumulator (the layout is the same).
fn byte_width(bits: u32) -> Option<usize> {
    (bits.is_multiple_of(8) && (8..=64).contains(&bits))
        .then(|| usize::try_from(bits / 8).ok())
        .flatten()
}

/// The most [`pack`] reserves ahead (it grows past it as any vector does).
const MAX_RESERVE: usize = 1 << 30;

/// The low `bits` bits set (`bits` in `1..=64`).
fn low_mask(bits: u32) -> u64 {
    u64::MAX.unbounded_shr(64u32.saturating_sub(bits))
}

/// The low 64 bits of `acc`.
fn low_u64(acc: u128) -> u64 {
    let [low @ .., _, _, _, _, _, _, _, _] = acc.to_le_bytes();
    u64::from_le_bytes(low)
}

/// Appends `values` bit-packed at `bits` bits each: element `i` occupies bits
/// `[i * bits, (i + 1) * bits)` of the stream, least significant bit first, and stream bit `j`
/// is bit `j mod 8` of byte `j / 8`. The last byte is zero-padded. Only the low `bits` bits of
/// each value are written; callers pass elements of `Z_m`, which fit.
pub(crate) fn pack(values: &[u64], bits: u32, out: &mut Vec<u8>) {
    out.reserve(packed_len(values.len(), bits).min(MAX_RESERVE));
    if let Some(width) = byte_width(bits) {
        // Whole bytes an element: each is its `width` low bytes, little-endian, which is
        // what the bit stream below lays out (no padding).
        for &x in values {
            if let Some((low, _)) = x.to_le_bytes().split_at_checked(width) {
                out.extend_from_slice(low);
            }
        }
        return;
    }
    let mask = low_mask(bits);
    // Invariant: `filled < 64` bits are pending in `acc` before each element, so at most
    // 63 + 64 = 127 after it: `acc` never overflows.
    let mut acc: u128 = 0;
    let mut filled: u32 = 0;
    for &x in values {
        acc |= u128::from(x & mask).unbounded_shl(filled);
        filled = filled.saturating_add(bits);
        if filled >= 64 {
            out.extend_from_slice(&low_u64(acc).to_le_bytes());
            acc = acc.unbounded_shr(64);
            filled = filled.saturating_sub(64);
        }
    }
    let tail = low_u64(acc).to_le_bytes();
    let tail_len = usize::try_from(filled.div_ceil(8)).unwrap_or(0);
    if let Some((tail, _)) = tail.split_at_checked(tail_len) {
        out.extend_from_slice(tail);
    }
}

/// Reads `len` elements of `Z_m` packed by [`pack`] at `modulus.bits()` bits each: exactly
/// `ceil(len * bits / 8)` bytes, checked against the input before the vector is allocated.
///
/// # Errors
/// [`DecodeError::TooShort`] if the input is shorter; [`DecodeError::ElementOutOfRange`] for
/// an element `>= m`; [`DecodeError::NonZeroPadding`] if a padding bit is set.
pub(crate) fn unpack(
    r: &mut Reader<'_>,
    len: usize,
    modulus: Modulus,
) -> Result<Vec<u64>, DecodeError> {
    Ok(PackedVector::read(r, len, modulus)?.to_vec())
}

/// A vector of `Z_m` still bit-packed in a message's bytes (the layout of `docs/WIRE.md`
/// §4), checked when it was read: exactly `len` elements, each below `m`, the padding bits
/// zero. The server sums a masked input from it without allocating `y_u`.
#[derive(Clone, Copy)]
pub struct PackedVector<'a> {
    bytes: &'a [u8],
    len: usize,
    modulus: Modulus,
}

impl fmt::Debug for PackedVector<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackedVector")
            .field("len", &self.len)
            .field("modulus", &self.modulus)
            .finish_non_exhaustive()
    }
}

impl<'a> PackedVector<'a> {
    /// Reads `len` elements of `Z_m` at `modulus.bits()` bits each: exactly
    /// `ceil(len * bits / 8)` bytes, checked against the input before anything else.
    ///
    /// Every element is checked against `m` (unless `m` is a power of two, where `bits` bits
    /// hold nothing else), then the padding.
    ///
    /// # Errors
    /// [`DecodeError::TooShort`] if the input is shorter; [`DecodeError::ElementOutOfRange`]
    /// for an element `>= m`; [`DecodeError::NonZeroPadding`] if a padding bit is set.
    pub(crate) fn read(
        r: &mut Reader<'a>,
        len: usize,
        modulus: Modulus,
    ) -> Result<Self, DecodeError> {
        let bits = modulus.bits();
        let bytes = r.bytes(packed_len(len, bits))?;
        let vector = Self {
            bytes,
            len,
            modulus,
        };
        if modulus.power_of_two_bits().is_none()
            && let Some(index) = vector.elements().position(|x| !modulus.contains(x))
        {
            return Err(DecodeError::ElementOutOfRange { index });
        }
        // The stream's last `8 * bytes - len * bits` bits (fewer than 8) are the top of the
        // last byte; `len * bits mod 8` is taken from `len mod 8` (at most 7 * 64, no wrap).
        let used = u32::try_from(len % 8).unwrap_or(0).wrapping_mul(bits) % 8;
        if used != 0
            && bytes
                .last()
                .is_some_and(|last| last.unbounded_shr(used) != 0)
        {
            return Err(DecodeError::NonZeroPadding);
        }
        Ok(vector)
    }

    /// The number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The modulus its elements were read (and checked) against.
    #[must_use]
    pub fn modulus(&self) -> Modulus {
        self.modulus
    }

    /// Whether the vector has no element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, in order.
    #[must_use]
    pub fn elements(&self) -> Elements<'a> {
        Elements::new(self.bytes, self.len, self.modulus.bits())
    }

    /// The elements, in a vector.
    #[must_use]
    pub fn to_vec(&self) -> Vec<u64> {
        let mut values = Vec::with_capacity(self.len);
        values.extend(self.elements());
        values
    }
}

/// The elements of a [`PackedVector`], in order.
#[derive(Clone, Debug)]
pub struct Elements<'a>(Unpacking<'a>);

/// How [`Elements`] reads: whole bytes an element (4 and 8 bytes on their own, the cases of
/// `m <= 2^32` and `m <= 2^64` at those widths), or through the bit accumulator.
#[derive(Clone, Debug)]
enum Unpacking<'a> {
    U32(ChunksExact<'a, u8>),
    U64(ChunksExact<'a, u8>),
    Bytes(ChunksExact<'a, u8>),
    Bits {
        /// The bytes not read yet.
        rest: &'a [u8],
        /// The elements not returned yet.
        left: usize,
        bits: u32,
        mask: u64,
        /// Bits read and not returned, least significant first. Invariant: `filled < bits
        /// <= 64` before a refill of 64, so at most 127 after it.
        acc: u128,
        filled: u32,
    },
}

impl<'a> Elements<'a> {
    fn new(bytes: &'a [u8], len: usize, bits: u32) -> Self {
        Self(match byte_width(bits) {
            Some(4) => Unpacking::U32(bytes.chunks_exact(4)),
            Some(8) => Unpacking::U64(bytes.chunks_exact(8)),
            Some(width) => Unpacking::Bytes(bytes.chunks_exact(width)),
            None => Unpacking::Bits {
                rest: bytes,
                left: len,
                bits,
                mask: low_mask(bits),
                acc: 0,
                filled: 0,
            },
        })
    }
}

impl Iterator for Elements<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match &mut self.0 {
            Unpacking::U32(chunks) => chunks
                .next()
                .and_then(|c| <[u8; 4]>::try_from(c).ok())
                .map(|b| u64::from(u32::from_le_bytes(b))),
            Unpacking::U64(chunks) => chunks
                .next()
                .and_then(|c| <[u8; 8]>::try_from(c).ok())
                .map(u64::from_le_bytes),
            // Little-endian: the last byte is the most significant.
            Unpacking::Bytes(chunks) => chunks
                .next()
                .map(|c| c.iter().rev().fold(0, |x, &b| (x << 8) | u64::from(b))),
            Unpacking::Bits {
                rest,
                left,
                bits,
                mask,
                acc,
                filled,
            } => {
                *left = left.checked_sub(1)?;
                if *filled < *bits {
                    // The last chunk may be short: read it as a word zero-extended at the
                    // top.
                    let (chunk, tail) = rest.split_at_checked(rest.len().min(8))?;
                    *rest = tail;
                    let mut word = [0u8; 8];
                    if let Some((head, _)) = word.split_at_mut_checked(chunk.len()) {
                        head.copy_from_slice(chunk);
                    }
                    *acc |= u128::from(u64::from_le_bytes(word)).unbounded_shl(*filled);
                    *filled = filled.saturating_add(64);
                }
                let x = low_u64(*acc) & *mask;
                *acc = acc.unbounded_shr(*bits);
                *filled = filled.saturating_sub(*bits);
                Some(x)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match &self.0 {
            Unpacking::U32(c) | Unpacking::U64(c) | Unpacking::Bytes(c) => c.len(),
            Unpacking::Bits { left, .. } => *left,
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for Elements<'_> {}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::unwrap_used,
    clippy::panic
)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn unpack_all(bytes: &[u8], len: usize, m: Modulus) -> Result<Vec<u64>, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = unpack(&mut r, len, m)?;
        r.finish()?;
        Ok(v)
    }

    #[test]
    fn packs_least_significant_bit_first() -> Result<(), DecodeError> {
        // 5 + 3 * 2^3 + 6 * 2^6 = 413 = 0x019d, little-endian.
        let mut out = Vec::new();
        pack(&[5, 3, 6], 3, &mut out);
        assert_eq!(out, [0x9d, 0x01]);
        let m = Modulus::power_of_two(3).map_err(|_| DecodeError::NonZeroPadding)?;
        assert_eq!(unpack_all(&out, 3, m)?, [5, 3, 6]);
        Ok(())
    }

    #[test]
    fn packs_full_width_and_single_bits() -> Result<(), DecodeError> {
        let mut out = Vec::new();
        pack(&[u64::MAX, 1], 64, &mut out);
        assert_eq!(out.len(), 16);
        assert_eq!(out[..8], [0xff; 8]);
        assert_eq!(out[8..], [1, 0, 0, 0, 0, 0, 0, 0]);
        out.clear();
        pack(&[1, 0, 1, 1, 0, 0, 0, 0, 1], 1, &mut out);
        assert_eq!(out, [0b0000_1101, 0b0000_0001]);
        Ok(())
    }

    #[test]
    fn rejects_non_zero_padding() {
        let m = Modulus::power_of_two(3).unwrap();
        assert_eq!(
            unpack_all(&[0x9d, 0x03], 3, m),
            Err(DecodeError::NonZeroPadding)
        );
        assert_eq!(
            unpack_all(&[0x9d, 0x81], 3, m),
            Err(DecodeError::NonZeroPadding)
        );
    }

    #[test]
    fn rejects_element_out_of_range() {
        // m = 6 takes 3 bits; the third element, 6, is not below it.
        let m = Modulus::new(6).unwrap();
        assert_eq!(
            unpack_all(&[0x9d, 0x01], 3, m),
            Err(DecodeError::ElementOutOfRange { index: 2 })
        );
    }

    #[test]
    fn rejects_short_and_long_vectors() {
        let m = Modulus::power_of_two(16).unwrap();
        assert_eq!(
            unpack_all(&[1, 2, 3], 2, m),
            Err(DecodeError::TooShort {
                needed: 4,
                remaining: 3
            })
        );
        assert_eq!(
            unpack_all(&[1, 2, 3, 4, 5], 2, m),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn rejects_non_canonical_x25519_keys() {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!PublicKey(p).is_canonical());
        let mut below = p;
        below[0] = 0xec;
        assert!(PublicKey(below).is_canonical());
        let mut high = [0; 32];
        high[31] = 0x80;
        assert!(!PublicKey(high).is_canonical());
        let key = PublicKey::decode(&mut Reader::new(&p));
        assert_eq!(key, Err(DecodeError::NonCanonical("x25519 public key")));
    }

    #[test]
    fn count_checks_limit_before_input() {
        let bytes = u32::MAX.to_be_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(
            r.count("survivors", 10, 4),
            Err(DecodeError::LengthOverLimit {
                what: "survivors",
                got: u32::MAX as usize,
                max: 10
            })
        );
        let bytes = [0, 0, 0, 3, 1, 2, 3, 4];
        let mut r = Reader::new(&bytes);
        assert_eq!(
            r.count("survivors", 10, 4),
            Err(DecodeError::TooShort {
                needed: 12,
                remaining: 4
            })
        );
    }

    #[test]
    fn kinds_round_trip_and_alternate_direction() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_byte(kind.byte()), Some(kind));
        }
        assert_eq!(Kind::from_byte(0), None);
        assert_eq!(Kind::from_byte(10), None);
        assert!(Kind::AdvertiseKeys.is_from_client());
        assert!(!Kind::Roster.is_from_client());
        assert!(Kind::UnmaskingResponse.is_from_client());
    }

    #[test]
    fn packed_len_saturates() {
        assert_eq!(packed_len(5, 3), 2);
        assert_eq!(packed_len(0, 64), 0);
        assert_eq!(packed_len(usize::MAX, 64), usize::MAX);
    }

    fn modulus_and_values() -> impl Strategy<Value = (Modulus, Vec<u64>)> {
        let modulus = prop_oneof![
            (1u32..=64).prop_map(|b| Modulus::power_of_two(b).unwrap()),
            // Whole bytes an element: the byte path.
            (1u32..=8).prop_map(|w| Modulus::power_of_two(8 * w).unwrap()),
            (3u64..=u64::MAX)
                .prop_filter("not a power of two", |m| !m.is_power_of_two())
                .prop_map(|m| Modulus::new(m).unwrap()),
        ];
        (modulus, 0usize..70).prop_flat_map(|(m, len)| {
            let max = m.max_element();
            (Just(m), proptest::collection::vec(0..=max, len))
        })
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trips((m, values) in modulus_and_values()) {
            let mut out = Vec::new();
            pack(&values, m.bits(), &mut out);
            prop_assert_eq!(out.len(), packed_len(values.len(), m.bits()));
            prop_assert_eq!(unpack_all(&out, values.len(), m), Ok(values));
        }

        /// Both paths (whole bytes an element, and the bit accumulator) lay out the stream
        /// of the definition, bit by bit: element `i`'s bit `k` is stream bit `i * b + k`,
        /// bit `j mod 8` of byte `j / 8`.
        #[test]
        fn pack_is_the_bit_stream((m, values) in modulus_and_values()) {
            let b = m.bits() as usize;
            let mut stream = vec![0u8; (values.len() * b).div_ceil(8)];
            for (i, x) in values.iter().enumerate() {
                for k in 0..b {
                    if (x >> k) & 1 == 1 {
                        let j = i * b + k;
                        stream[j / 8] |= 1 << (j % 8);
                    }
                }
            }
            let mut out = Vec::new();
            pack(&values, m.bits(), &mut out);
            prop_assert_eq!(&out, &stream);
            prop_assert_eq!(unpack_all(&stream, values.len(), m), Ok(values));
        }

        #[test]
        fn unpack_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80),
                               len in 0usize..80, m in 2u64..=u64::MAX) {
            let m = Modulus::new(m).unwrap();
            if let Ok(values) = unpack_all(&bytes, len, m) {
                let mut out = vec![];
                pack(&values, m.bits(), &mut out);
                prop_assert_eq!(out, bytes);
            }
        }
    }
}
