//! The version-3 wire format: a canonical binary encoding of every protocol message.
//!
//! Every message starts with a 34-byte header, `version (1) ‖ kind (1) ‖ session id (32)`,
//! followed by fixed-width fields: big-endian `u32` ids and counts, 32-byte X25519 keys,
//! canonical 32-byte scalars, 64-byte Ed25519 signatures and masked vectors bit-packed at
//! `b = ceil(log2 m)` bits per element. The full layout is specified in `docs/WIRE.md`.
//!
//! ```
//! use chacha20::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use secagg::protocol::{client, messages};
//! use secagg::{ClientId, Modulus, Params, SessionId, wire};
//!
//! let params = Params::new(SessionId([7; 32]), 3, 2, Modulus::power_of_two(16).unwrap(), 4).unwrap();
//! let mut rng = ChaCha20Rng::seed_from_u64(1);
//! let (_client, advert) = client::AdvertiseKeys::new(&params, ClientId(1), &mut rng);
//! let bytes = wire::to_bytes(&advert);
//! assert_eq!(bytes.len(), 135);
//! let limits = wire::Limits::for_params(&params);
//! let back: messages::AdvertiseKeys = wire::from_bytes(&bytes, &limits).unwrap();
//! assert_eq!(back, advert);
//! ```
//!
//! Decoding never panics and never allocates more than the input and the [`Limits`] allow:
//! every count is checked against both the remaining input and the limit before anything is
//! allocated, and [`from_bytes`] rejects trailing bytes. Decoding is canonical: every byte
//! string it accepts is exactly what [`to_bytes`] produces for the decoded message.
//!
//! The codec checks shapes only. Whether a message belongs to this session, comes from the
//! claimed sender or makes sense in the current round is checked by [`crate::protocol`].

// The codec parses untrusted bytes: it must never panic, index out of bounds, overflow or
// truncate silently.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod codec;
mod messages;
mod types;

pub use codec::{
    Decode, DecodeError, DecodeWith, Elements, Encode, EncodeWith, HEADER_LEN, Kind, Limits,
    PackedVector, Reader, VERSION, from_bytes, to_bytes, to_bytes_with,
};
pub(crate) use codec::{kind_of, pack, packed_len, unpack};
pub(crate) use messages::longest_message;
pub use messages::{
    ClientMessage, MaskedInputRef, PackedMaskedInput, ServerMessage, max_roster_proof_len,
};
pub use types::{
    AdvertiseKeys, ConsistencyRequest, ConsistencySignature, MaskedInput, Roster, RosterSlice,
    SEALED_SHARES_LEN, SealedShares, ShareKeys, SharesDelivery, SurvivorSlice, UnmaskingRequest,
    UnmaskingResponse,
};
