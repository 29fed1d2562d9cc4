//! A networked driver (feature `net`): a gRPC server and client over mutual TLS, with round
//! deadlines and the server's state in a database, on top of the byte-level sessions
//! ([`crate::protocol::session`]), as [`crate::sim`] is in memory. It is the only part of the
//! crate with sockets and clocks.
//!
//! * [`Server`] admits clients and runs sessions one after another. Each round closes when
//!   every client it expects has answered, or at its deadline, whichever comes first; the
//!   core's `close` applies the threshold and the minimum roster. After every accepted batch
//!   of messages and every round close, the sealed
//!   [`ServerSession`](crate::protocol::session::ServerSession) is committed to a redb file
//!   *before* any client is told (its message acknowledged, the next round's message sent);
//!   a restarted server reopens it and goes on. Finished sessions' outcomes are kept.
//! * [`Client`] joins the session that admits clients, checks the server's parameters
//!   against its own floors, sends its input when asked for it and returns the [`Outcome`].
//!   [`Connection`] is the same service call by call, for other drivers and the tests.
//! * The sender of every message is the client id of its TLS certificate
//!   ([`tls::client_id`]), never a field of the request: the core's `receive(from, ..)` only
//!   sees authenticated ids.
//!
//! * The session's outcome carries the sum bit-packed at the modulus' width, decoded by the
//!   client against its own parameters ([`Outcome::from_proto`]); the server encodes it once
//!   per session and every reply shares those bytes.
//! * The server does its own TLS handshakes and counts the failed ones
//!   ([`RunningServer::handshake_failures`]).
//! * `testing` (feature `test-util`): the deployment tests and benches set up.
//!
//! The service is `proto/secagg.proto`; its messages carry version-3 wire bytes unchanged.
//! `docs/DEPLOYMENT.md` tells an operator what to set up and what each fault does.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use std::string::String;

mod accept;
mod client;
pub mod config;
pub mod identity;
pub mod proto;
mod reply;
mod server;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod tls;

pub use client::{Client, Connection, Outcome};
pub use config::{ClientConfig, ServerConfig};
pub use server::{RoundCounters, RunningServer, Server, read_state_key, write_state_key};

/// What can go wrong in the networked driver.
#[non_exhaustive]
#[derive(Debug)]
pub enum NetError {
    /// A configuration file or value is wrong.
    Config(String),
    /// A certificate or key cannot be read, or the TLS set-up failed.
    Tls(String),
    /// The state database failed.
    Store(String),
    /// An identity key file or the PKI directory is wrong (malicious-server mode).
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong; never the key.
        error: identity::KeyFileError,
    },
    /// The server's sealed state does not open (wrong key, or another deployment's file).
    State(crate::error::StateError),
    /// The listener or the gRPC transport failed.
    Transport(String),
    /// The server refused this client's identity (no certificate, or one naming no client
    /// of the session).
    Unauthenticated(String),
    /// The server refused a message.
    Refused {
        /// How.
        refusal: proto::Refusal,
        /// Why, in the server's words.
        detail: String,
    },
    /// The server's parameters fall short of this client's expectations, or do not decode.
    Params(crate::error::ConfigError),
    /// The client's session failed: the server misbehaved, or the input is wrong.
    Protocol(crate::error::Error),
    /// The server answered something the protocol does not allow (a session id of the wrong
    /// length, an empty reply).
    BadReply(&'static str),
    /// The session's outcome does not decode against this client's parameters: a packed
    /// sum of the wrong length, an element out of range, a set padding bit.
    Outcome(crate::wire::DecodeError),
    /// The client gave up (`give_up_after`) before the session ended.
    TimedOut,
}

impl core::fmt::Display for NetError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Config(m) => write!(f, "configuration: {m}"),
            Self::Tls(m) => write!(f, "TLS: {m}"),
            Self::Store(m) => write!(f, "state database: {m}"),
            Self::KeyFile { path, error } => write!(f, "{}: {error}", path.display()),
            Self::State(e) => write!(f, "stored server state: {e}"),
            Self::Transport(m) => write!(f, "transport: {m}"),
            Self::Unauthenticated(m) => write!(f, "refused by the server: {m}"),
            Self::Refused { refusal, detail } => {
                write!(f, "message refused ({}): {detail}", refusal.as_str_name())
            }
            Self::Params(e) => write!(f, "the server's parameters: {e}"),
            Self::Protocol(e) => write!(f, "session: {e}"),
            Self::BadReply(m) => write!(f, "bad reply from the server: {m}"),
            Self::Outcome(e) => write!(f, "the session's outcome: {e}"),
            Self::TimedOut => f.write_str("gave up waiting for the session to end"),
        }
    }
}

impl core::error::Error for NetError {}

/// A session id as 16 hex digits (its first 8 bytes), for logs.
pub(crate) fn short_id(session: &crate::ids::SessionId) -> String {
    use core::fmt::Write as _;
    let mut out = String::with_capacity(16);
    for b in &session.0[..8] {
        let _ = write!(out, "{b:02x}");
    }
    out
}
