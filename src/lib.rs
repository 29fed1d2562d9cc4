#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), no_std)]
// The library never panics on input: no unwrap, expect or panic outside unit tests. (Set here
// rather than in [workspace.lints] so integration tests and benches may unwrap.)
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;
#[cfg(all(feature = "std", not(test)))]
extern crate std;

mod arith;
#[cfg_attr(not(feature = "hazmat"), allow(unreachable_pub, dead_code))]
mod crypto;
pub mod dp;
pub mod encoding;
mod error;
pub mod finder;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "test-util")]
pub mod harness;
mod ids;
#[cfg(feature = "net")]
pub mod net;
mod params;
pub mod protocol;
#[cfg(feature = "sim")]
pub mod sim;
mod vocabulary;
pub mod wire;

/// Building blocks: key agreement, key derivation, mask expansion, share encryption and
/// Shamir sharing.
///
/// **Warning**: these are the protocol's internals, exposed for tests, benchmarks and
/// interoperability work. Misusing them (reusing a nonce, sharing with a wrong threshold,
/// skipping a label) breaks security; applications use [`protocol`] instead.
#[cfg(feature = "hazmat")]
pub mod hazmat {
    pub use crate::crypto::{aead, kdf, kx, prg, shamir, sign};
}

// Public interface
pub use crate::crypto::kx::PublicKey;
pub use crate::crypto::sign::{
    BadSignature, IdentityKey, IdentityPublicKey, InvalidIdentityKey, Pki, Signature,
};
pub use crate::error::{
    AbortReason, ApiMisuse, ConfigError, Error, Misbehavior, Party, Rejected, StateError,
};
pub use crate::ids::{ClientId, SessionId, ShareIndex};
pub use crate::params::{
    Expectations, MAX_CLIENTS, MAX_VECTOR_LEN, MaskSuite, Modulus, Neighbourhood, PARAMS_LEN,
    PARAMS_VERSION, Params, ParamsBuilder, ThreatModel,
};
pub use crate::protocol::Round;
pub use crate::protocol::client::{PeerState, PlainInput};
pub use crate::protocol::server::Output;
pub use crate::wire::{DecodeError, Limits};
