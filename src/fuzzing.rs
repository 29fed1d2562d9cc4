//! The logic of the fuzz targets in `fuzz/`. Each target is one call into this module, so a
//! crash the fuzzer finds reproduces as an ordinary test (`tests/fuzz_regressions.rs`).
//!
//! Not part of the API: compiled only with the `fuzzing` feature (which `fuzz/` enables),
//! and hidden from the docs. Every entry point takes arbitrary bytes,
//! decodes them by hand with [`Input`] (which never fails: reads past the end give zeros),
//! drives the library, and panics only when a property is violated: the library panicked, a
//! decoded message did not re-encode to its bytes, a typed error was not the one the input
//! calls for, or a session that completed returned a wrong sum.

// A harness panics by design: every assertion below is a property of the library.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::crypto::kx::SMALL_ORDER;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use chacha20::ChaCha20Rng;
use curve25519_dalek::Scalar;
use rand_core::SeedableRng;

use crate::crypto::kx::PublicKey;
use crate::crypto::shamir::{self, Lagrange, SecretScalar, ShamirError, Share};
use crate::crypto::sign::{IdentityKey, Pki, Signature};
use crate::error::{Error, Misbehavior};
use crate::harness::{Fate, Harness};
use crate::ids::{ClientId, SessionId, ShareIndex};
use crate::params::{Modulus, Params, ThreatModel};
use crate::protocol::client::{self, PlainInput};
use crate::protocol::messages::{self as msg, SEALED_SHARES_LEN};
use crate::protocol::server::Output;
use crate::protocol::session::{ClientSession, Closed, Envelope, ServerSession, recipients};
use crate::vocabulary::Round;
use crate::wire::{
    self, ClientMessage, DecodeError, DecodeWith, Encode, Kind, Limits, PackedMaskedInput, Reader,
    ServerMessage,
};

mod decode;
mod honest;
mod input;
mod mutations;
mod server;
mod sessions;
mod shamir_target;
mod state_target;
mod targets;

pub use decode::*;
use honest::*;
pub use input::*;
use mutations::*;
use server::*;
pub use sessions::*;
pub use shamir_target::*;
pub use state_target::*;
pub use targets::*;
