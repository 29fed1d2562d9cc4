//! The vocabulary every layer speaks: the rounds of the protocol, the kinds of its messages,
//! the threat model and the neighbourhood graph's kind. A leaf: it imports nothing of the
//! crate.

use core::fmt;

/// The wire-format version the codec writes and the only one it reads.
pub(crate) const WIRE_VERSION: u8 = 3;

/// A protocol round, numbered as in Bonawitz et al., CCS 2017, Fig. 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Round {
    /// Round 0: each client advertises its two public keys.
    AdvertiseKeys = 0,
    /// Round 1: each client sends encrypted Shamir shares to every peer.
    ShareKeys = 1,
    /// Round 2: each client sends its masked input (MaskedInputCollection).
    MaskedInput = 2,
    /// Round 3: survivors sign the survivor digest (malicious-server mode).
    Consistency = 3,
    /// Round 4: survivors reveal the shares that remove the masks.
    Unmasking = 4,
}

impl Round {
    /// The round number as bound into associated data.
    #[must_use]
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AdvertiseKeys => "advertise_keys",
            Self::ShareKeys => "share_keys",
            Self::MaskedInput => "masked_input",
            Self::Consistency => "consistency",
            Self::Unmasking => "unmasking",
        })
    }
}

/// The message kind, the second byte of every message. Odd kinds go from a client to the
/// server, even kinds from the server to a client; `0` is never valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`AdvertiseKeys`](crate::protocol::messages::AdvertiseKeys), round 0, client to server.
    AdvertiseKeys = 1,
    /// [`Roster`](crate::protocol::messages::Roster), end of round 0, server to clients.
    Roster = 2,
    /// [`ShareKeys`](crate::protocol::messages::ShareKeys), round 1, client to server.
    ShareKeys = 3,
    /// [`SharesDelivery`](crate::protocol::messages::SharesDelivery), end of round 1, server
    /// to client.
    SharesDelivery = 4,
    /// [`MaskedInput`](crate::protocol::messages::MaskedInput), round 2, client to server.
    MaskedInput = 5,
    /// [`ConsistencyRequest`](crate::protocol::messages::ConsistencyRequest), end of round 2
    /// (malicious-server mode), server to client.
    ConsistencyRequest = 6,
    /// [`ConsistencySignature`](crate::protocol::messages::ConsistencySignature), round 3,
    /// client to server.
    ConsistencySignature = 7,
    /// [`UnmaskingRequest`](crate::protocol::messages::UnmaskingRequest), end of round 2 or 3,
    /// server to client.
    UnmaskingRequest = 8,
    /// [`UnmaskingResponse`](crate::protocol::messages::UnmaskingResponse), round 4, client
    /// to server.
    UnmaskingResponse = 9,
}

impl Kind {
    /// Every kind, in byte order.
    pub const ALL: [Self; 9] = [
        Self::AdvertiseKeys,
        Self::Roster,
        Self::ShareKeys,
        Self::SharesDelivery,
        Self::MaskedInput,
        Self::ConsistencyRequest,
        Self::ConsistencySignature,
        Self::UnmaskingRequest,
        Self::UnmaskingResponse,
    ];

    /// The kind byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        self as u8
    }

    /// The kind with this byte, if any.
    #[must_use]
    pub fn from_byte(byte: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.byte() == byte)
    }

    /// Whether clients send this kind (to the server); otherwise the server sends it.
    #[must_use]
    pub fn is_from_client(self) -> bool {
        self.byte() & 1 == 1
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AdvertiseKeys => "advertise_keys",
            Self::Roster => "roster",
            Self::ShareKeys => "share_keys",
            Self::SharesDelivery => "shares_delivery",
            Self::MaskedInput => "masked_input",
            Self::ConsistencyRequest => "consistency_request",
            Self::ConsistencySignature => "consistency_signature",
            Self::UnmaskingRequest => "unmasking_request",
            Self::UnmaskingResponse => "unmasking_response",
        })
    }
}

/// Whom the server is assumed to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreatModel {
    /// The server follows the protocol but tries to learn from what it sees (Bonawitz et al.,
    /// CCS 2017, §6.2).
    HonestButCurious,
    /// The server may deviate: forge keys, show different survivor sets to different clients
    /// (Bonawitz et al., CCS 2017, §6.3). Clients verify Ed25519 identity signatures and run
    /// the ConsistencyCheck round.
    Malicious,
}

/// The neighbourhood graph of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Neighbourhood {
    /// Every client is the neighbour of every other (SecAgg).
    Complete,
    /// A random Harary graph of degree `k`, not counting the client itself (SecAgg+).
    Harary {
        /// The degree.
        k: usize,
    },
}
