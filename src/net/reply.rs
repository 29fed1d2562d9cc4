//! A gRPC reply encoded once and sent to many clients: a session's outcome (its sum, bit-packed)
//! goes to every client of the session as the same bytes, shared between the replies rather
//! than encoded into a buffer of each (at `d = 10^6` the outcome is 4 MB a client).
//!
//! A method answers with an empty message and a [`SharedReply`] in the response's
//! extensions; the service then replaces the body tonic encoded by a [`SharedBody`]: the
//! gRPC frame's 5-byte prefix and the message's field header, the shared bytes, and the
//! `grpc-status: 0` trailer, which is what tonic would have sent for the whole message.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use core::convert::Infallible;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::vec::Vec;

use http_body::{Frame, SizeHint};
use prost::bytes::Bytes;
use tonic::codegen::http::{HeaderMap, HeaderValue};

/// The field of `AwaitReply` that holds an `Outcome` (`oneof next`, tag 2).
pub(crate) const AWAIT_REPLY_OUTCOME: u32 = 2;
/// The field of `OutcomeReply` that holds an `Outcome` (tag 1).
pub(crate) const OUTCOME_REPLY_OUTCOME: u32 = 1;
/// The field of `SubmitReply` that holds an `AwaitReply` (tag 3).
pub(crate) const SUBMIT_REPLY_NEXT: u32 = 3;

/// One reply message made of a small head and an encoded message shared by every reply.
#[derive(Debug, Clone)]
pub(crate) struct SharedReply {
    /// The gRPC prefix (uncompressed, the message's length) and the field's key and length.
    head: Bytes,
    /// The encoded message in the field, shared.
    shared: Bytes,
}

/// Appends `value` as a protobuf varint.
fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        // The low seven bits, with the continuation bit.
        out.push(u8::try_from(value & 0x7f).unwrap_or(0) | 0x80);
        value >>= 7;
    }
    out.push(u8::try_from(value).unwrap_or(0));
}

impl SharedReply {
    /// A reply message whose only field, numbered `tag`, is the encoded message `shared`;
    /// `None` if the message does not fit a gRPC frame (4 GiB).
    /// A reply message made of `prefix` (its other fields, encoded, which come first) and
    /// the encoded message `shared` in field `path[last]` of a message in field
    /// `path[last - 1]` ... of a message in field `path[0]` of the reply; `None` if the
    /// message does not fit a gRPC frame (4 GiB).
    pub(crate) fn nested(prefix: &[u8], path: &[u32], shared: Bytes) -> Option<Self> {
        // Built from the innermost field outwards: each field's length covers the headers
        // inside it and the shared bytes.
        let mut headers = Vec::new();
        for &tag in path.iter().rev() {
            let inner = headers.len().checked_add(shared.len())?;
            let mut field = Vec::with_capacity(16 + headers.len());
            // The key of a length-delimited field (wire type 2), then the length.
            put_varint((u64::from(tag) << 3) | 2, &mut field);
            put_varint(u64::try_from(inner).ok()?, &mut field);
            field.extend_from_slice(&headers);
            headers = field;
        }
        let total = u32::try_from(
            prefix
                .len()
                .checked_add(headers.len())?
                .checked_add(shared.len())?,
        )
        .ok()?;
        let mut head = Vec::with_capacity(5 + prefix.len() + headers.len());
        head.push(0);
        head.extend_from_slice(&total.to_be_bytes());
        head.extend_from_slice(prefix);
        head.extend_from_slice(&headers);
        Some(Self {
            head: Bytes::from(head),
            shared,
        })
    }

    /// The response body that sends it (the shared bytes are not copied).
    pub(crate) fn into_body(self) -> SharedBody {
        SharedBody {
            head: Some(self.head),
            shared: Some(self.shared),
            trailers: true,
        }
    }
}

/// The body of a [`SharedReply`]: two data frames, then the `grpc-status: 0` trailer.
#[derive(Debug)]
pub(crate) struct SharedBody {
    head: Option<Bytes>,
    shared: Option<Bytes>,
    trailers: bool,
}

impl http_body::Body for SharedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(data) = this.head.take().or_else(|| this.shared.take()) {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if core::mem::take(&mut this.trailers) {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.shared.is_none() && !self.trailers
    }

    fn size_hint(&self) -> SizeHint {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
        SizeHint::with_exact(len(&self.head) + len(&self.shared))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::net::proto;
    use prost::Message as _;

    /// The body's bytes are the gRPC frame of the message tonic would have encoded.
    #[test]
    fn shared_reply_is_the_encoded_message() {
        let outcome = proto::Outcome {
            session: vec![3; 32],
            result: Some(proto::OutcomeResult::Sum(proto::Sum {
                included: vec![1, 2, 5],
                packed: Bytes::from(vec![0xa5; 300]),
            })),
        };
        let shared = Bytes::from(outcome.encode_to_vec());
        for (tag, message) in [
            (
                AWAIT_REPLY_OUTCOME,
                proto::AwaitReply {
                    next: Some(proto::Next::Outcome(outcome.clone())),
                }
                .encode_to_vec(),
            ),
            (
                OUTCOME_REPLY_OUTCOME,
                proto::OutcomeReply {
                    outcome: Some(outcome.clone()),
                }
                .encode_to_vec(),
            ),
        ] {
            let reply = SharedReply::nested(&[], &[tag], shared.clone()).unwrap();
            let mut framed = vec![0u8];
            framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
            framed.extend_from_slice(&message);
            let mut sent = reply.head.to_vec();
            sent.extend_from_slice(&reply.shared);
            assert_eq!(sent, framed, "tag {tag}");
            // The same allocation, not a copy.
            assert_eq!(reply.shared.as_ptr(), shared.as_ptr());
        }
    }

    /// A `SubmitReply` with its refusal and detail first and the outcome two fields deep:
    /// the bytes prost encodes for the whole message.
    #[test]
    fn nested_shared_reply_is_the_encoded_message() {
        let outcome = proto::Outcome {
            session: vec![7; 32],
            result: Some(proto::OutcomeResult::Sum(proto::Sum {
                included: vec![2, 3],
                // Longer than 127 bytes: the lengths take two-byte varints.
                packed: Bytes::from(vec![0x5a; 1000]),
            })),
        };
        let shared = Bytes::from(outcome.encode_to_vec());
        for (refusal, detail) in [
            (proto::Refusal::Accepted, ""),
            (proto::Refusal::WrongRound, "the session is over"),
        ] {
            let message = proto::SubmitReply {
                refusal: refusal as i32,
                detail: detail.to_owned(),
                next: Some(proto::AwaitReply {
                    next: Some(proto::Next::Outcome(outcome.clone())),
                }),
            };
            let prefix = proto::SubmitReply {
                refusal: refusal as i32,
                detail: detail.to_owned(),
                next: None,
            }
            .encode_to_vec();
            let reply = SharedReply::nested(
                &prefix,
                &[SUBMIT_REPLY_NEXT, AWAIT_REPLY_OUTCOME],
                shared.clone(),
            )
            .unwrap();
            let mut sent = reply.head.to_vec();
            sent.extend_from_slice(&reply.shared);
            let encoded = message.encode_to_vec();
            assert_eq!(&sent[5..], encoded.as_slice(), "{refusal:?}");
            assert_eq!(
                sent[1..5],
                u32::try_from(encoded.len()).unwrap().to_be_bytes()
            );
            assert_eq!(proto::SubmitReply::decode(&sent[5..]).unwrap(), message);
        }
    }

    #[test]
    fn varints() {
        for (value, want) in [
            (0u64, vec![0u8]),
            (127, vec![0x7f]),
            (128, vec![0x80, 1]),
            (300, vec![0xac, 2]),
            (u64::from(u32::MAX), vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
        ] {
            let mut out = Vec::new();
            put_varint(value, &mut out);
            assert_eq!(out, want, "{value}");
        }
    }
}
