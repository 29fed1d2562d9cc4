//! The messages of `proto/secagg.proto`, derived by hand (`prost::Message`), field for field:
//! no `protoc` and no build script. Protocol messages travel inside as version-3 wire bytes.
//!
//! A test (`tests/net.rs`) checks that every message and field of the `.proto` file is here
//! with its tag.

#![allow(missing_docs, clippy::derive_partial_eq_without_eq)]

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

/// The gRPC service's full name.
pub const SERVICE: &str = "secagg.v1.Aggregator";
/// The path of `Join`.
pub const JOIN: &str = "/secagg.v1.Aggregator/Join";
/// The path of `Submit`.
pub const SUBMIT: &str = "/secagg.v1.Aggregator/Submit";
/// The path of `Await`.
pub const AWAIT: &str = "/secagg.v1.Aggregator/Await";
/// The path of `Outcome`.
pub const OUTCOME: &str = "/secagg.v1.Aggregator/Outcome";

/// `JoinRequest`: empty (the client is its certificate).
#[derive(Clone, PartialEq, prost::Message)]
pub struct JoinRequest {}

/// `JoinReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JoinReply {
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub params: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub deadline_ms: u64,
}

/// `SubmitRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub round: u32,
    /// One client message, version-3 wire bytes: decoded as a slice of the request's
    /// buffer, not copied out of it (a masked input is 4 MB at `d = 10^6`).
    #[prost(bytes = "bytes", tag = "3")]
    pub message: prost::bytes::Bytes,
    /// Hold the reply until the round closes and answer in `SubmitReply::next` what `Await`
    /// would.
    #[prost(bool, tag = "4")]
    pub then_await: bool,
}

/// `Refusal`: what became of a submitted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Refusal {
    /// The message is in the session, and on disk.
    Accepted = 0,
    /// No session with this id collects messages.
    WrongSession = 1,
    /// The session collects another round: the message is late (or early).
    WrongRound = 2,
    /// The protocol core refused the message.
    Rejected = 3,
    /// This client's message for this round is already in.
    AlreadyReceived = 4,
    /// This client is not expected in this round.
    NotExpected = 5,
}

impl Refusal {
    /// The name in `proto/secagg.proto`.
    #[must_use]
    pub fn as_str_name(self) -> &'static str {
        match self {
            Self::Accepted => "ACCEPTED",
            Self::WrongSession => "WRONG_SESSION",
            Self::WrongRound => "WRONG_ROUND",
            Self::Rejected => "REJECTED",
            Self::AlreadyReceived => "ALREADY_RECEIVED",
            Self::NotExpected => "NOT_EXPECTED",
        }
    }
}

/// `SubmitReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitReply {
    #[prost(enumeration = "Refusal", tag = "1")]
    pub refusal: i32,
    #[prost(string, tag = "2")]
    pub detail: String,
    /// With `then_await`: what `Await` answers for the round (`proto/secagg.proto`).
    #[prost(message, optional, tag = "3")]
    pub next: Option<AwaitReply>,
}

/// `AwaitRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AwaitRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub after: u32,
}

/// `Opening`: the message that opens a round for one client.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Opening {
    #[prost(uint32, tag = "1")]
    pub round: u32,
    /// Shared, not copied, between the recipients of one message (a roster goes to all).
    #[prost(bytes = "bytes", tag = "2")]
    pub message: prost::bytes::Bytes,
    #[prost(uint64, tag = "3")]
    pub deadline_ms: u64,
}

/// `AwaitReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AwaitReply {
    #[prost(oneof = "Next", tags = "1, 2")]
    pub next: Option<Next>,
}

/// `AwaitReply.next`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Next {
    /// The message that opens the client's next round.
    #[prost(message, tag = "1")]
    Opening(Opening),
    /// The session is over.
    #[prost(message, tag = "2")]
    Outcome(Outcome),
}

/// `Sum`: tag 1 is reserved (the sum at 8 bytes an element, before bit-packing).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sum {
    #[prost(uint32, repeated, tag = "2")]
    pub included: Vec<u32>,
    /// The sum bit-packed at the modulus' width (`docs/WIRE.md` §4); its length and element
    /// width come from the session's parameters, never from the message.
    #[prost(bytes = "bytes", tag = "3")]
    pub packed: prost::bytes::Bytes,
}

/// `AbortKind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AbortKind {
    /// Fewer than the threshold remained.
    TooFewSurvivors = 0,
    /// The survivors are not connected.
    DisconnectedSurvivors = 1,
    /// A rebuilt secret did not match its commitment.
    ReconstructionMismatch = 2,
    /// Any other error of the server's session.
    ServerError = 3,
}

impl AbortKind {
    /// The name in `proto/secagg.proto`.
    #[must_use]
    pub fn as_str_name(self) -> &'static str {
        match self {
            Self::TooFewSurvivors => "TOO_FEW_SURVIVORS",
            Self::DisconnectedSurvivors => "DISCONNECTED_SURVIVORS",
            Self::ReconstructionMismatch => "RECONSTRUCTION_MISMATCH",
            Self::ServerError => "SERVER_ERROR",
        }
    }
}

/// `Aborted`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Aborted {
    #[prost(enumeration = "AbortKind", tag = "1")]
    pub kind: i32,
    #[prost(uint32, tag = "2")]
    pub round: u32,
    #[prost(string, tag = "3")]
    pub detail: String,
}

/// `Outcome`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Outcome {
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
    #[prost(oneof = "OutcomeResult", tags = "2, 3")]
    pub result: Option<OutcomeResult>,
}

/// `Outcome.result`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum OutcomeResult {
    /// The sum and who is in it.
    #[prost(message, tag = "2")]
    Sum(Sum),
    /// Why the session aborted.
    #[prost(message, tag = "3")]
    Aborted(Aborted),
}

/// `OutcomeRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutcomeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub session: Vec<u8>,
}

/// `OutcomeReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OutcomeReply {
    #[prost(message, optional, tag = "1")]
    pub outcome: Option<Outcome>,
}
