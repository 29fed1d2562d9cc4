//! Identifiers: client ids, Shamir share indices and session ids.

use core::fmt;

use curve25519_dalek::Scalar;

/// A client's identity within one session.
///
/// Ids are chosen by the embedding application. They order the pairwise-mask sign convention
/// and the key-derivation labels, and give each client its Shamir x-coordinate
/// ([`ClientId::share_index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

impl ClientId {
    /// The Shamir evaluation point of this client: `x = id + 1`, never zero.
    #[must_use]
    pub fn share_index(self) -> ShareIndex {
        ShareIndex(u64::from(self.0) + 1)
    }

    /// The id as big-endian bytes, as bound into derivations and associated data.
    #[must_use]
    pub fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client {}", self.0)
    }
}

/// A Shamir x-coordinate. The protocol only builds non-zero ones (`id + 1`); the
/// reconstruction code still checks, since shares can arrive from untrusted parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareIndex(pub u64);

impl ShareIndex {
    pub(crate) fn to_scalar(self) -> Scalar {
        Scalar::from(self.0)
    }
}

/// A 32-byte identifier of one aggregation session, bound into every derivation, every
/// associated-data string and every message, so nothing carries across sessions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 32]);

impl SessionId {
    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(")?;
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}
