//! The typed messages of every round. The wire layer owns them; their canonical version-3
//! encoding is in the sibling modules (specified in `docs/WIRE.md`), and the protocol
//! re-exports them as [`crate::protocol::messages`].

use alloc::vec::Vec;

use crate::crypto::kx::PublicKey;
use crate::crypto::shamir::SecretScalar;
use crate::crypto::sign::Signature;
use crate::ids::{ClientId, SessionId};

/// Bytes of one sealed share pair: two scalars and the Poly1305 tag.
pub const SEALED_SHARES_LEN: usize = 32 + 32 + crate::crypto::aead::TAG_LEN;

/// Round 0, client to server: the client's public keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdvertiseKeys {
    /// The session.
    pub session: SessionId,
    /// The sender.
    pub sender: ClientId,
    /// `c_u^PK`: the key that share ciphertexts to this client are derived from.
    pub share_public_key: PublicKey,
    /// `s_u^PK`: the key that pairwise masks with this client are derived from.
    pub mask_public_key: PublicKey,
    /// A hash commitment to the self-mask seed `b_u`, against which the server checks the
    /// seed it rebuilds from shares (so a lying share holder causes an abort, not a wrong sum).
    pub self_mask_commitment: [u8; 32],
    /// In the malicious-server mode, the sender's Ed25519 identity signature over the fields
    /// above ([`crate::crypto::sign`]); `None` against an honest-but-curious server.
    pub signature: Option<Signature>,
}

/// Round 0 to 1, server to clients: the advertised keys of the set `U_1`, either all of them
/// (`slice: None`, the same message to every member) or, on a sparse graph, one client's
/// view (its own entry and its neighbours') with a proof against the roster tree
/// ([`crate::protocol::roster_tree`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    /// The session.
    pub session: SessionId,
    /// The entries, in ascending id order, as their owners advertised them: the whole
    /// roster, or the recipient's view.
    pub entries: Vec<AdvertiseKeys>,
    /// For a view: its recipient and the proof that opens the roster tree at the entries.
    pub slice: Option<RosterSlice>,
}

/// What makes a [`Roster`] one client's view: the recipient, and the pruned roster tree
/// whose leaves, in id order, are the roster's entries (its root gives the roster digest
/// and size, and each entry's rank).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterSlice {
    /// The one client this view is for.
    pub recipient: ClientId,
    /// The pruned tree, pre-order (`docs/WIRE.md` §4).
    pub proof: Vec<u8>,
}

/// One sealed pair of shares, from `sender` to `recipient`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedShares {
    /// Who sealed it.
    pub sender: ClientId,
    /// Who can open it.
    pub recipient: ClientId,
    /// ChaCha20-Poly1305 ciphertext of `share(s_u^SK) || share(b_u)`.
    pub ciphertext: [u8; SEALED_SHARES_LEN],
}

/// Round 1, client to server: one sealed share pair per peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareKeys {
    /// The session.
    pub session: SessionId,
    /// The sender.
    pub sender: ClientId,
    /// One per peer of the roster.
    pub sealed: Vec<SealedShares>,
    /// In the malicious-server mode, the sender's identity signature over the session and
    /// the digest of the roster it received; `None` against an honest-but-curious server.
    /// Its neighbours check it before they mask against the sender.
    pub roster_signature: Option<Signature>,
}

/// Round 1 to 2, server to one client: the sealed shares addressed to it (senders form `U_2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharesDelivery {
    /// The session.
    pub session: SessionId,
    /// The client this delivery is for.
    pub recipient: ClientId,
    /// One per peer that completed ShareKeys.
    pub sealed: Vec<SealedShares>,
    /// In the malicious-server mode, the roster signature of each sender in `sealed`, by
    /// signer; empty against an honest-but-curious server.
    pub roster_signatures: Vec<(ClientId, Signature)>,
}

/// Round 2, client to server: the masked input `y_u`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedInput {
    /// The session.
    pub session: SessionId,
    /// The sender.
    pub sender: ClientId,
    /// The digest of the roster the sender masked against: binds the masked input to this
    /// session's keys, so a stale one (an earlier session under the same id) is rejected.
    pub roster_digest: [u8; 32],
    /// `y_u`, elements of `Z_m`.
    pub masked: Vec<u64>,
}

/// Round 2 to 4, server to one survivor: who of its neighbourhood survived (`U_3`) and who
/// dropped (`U_2 \ U_3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnmaskingRequest {
    /// The session.
    pub session: SessionId,
    /// The client this request is for.
    pub recipient: ClientId,
    /// Clients whose masked input the server holds: reveal their self-mask shares.
    pub survivors: Vec<ClientId>,
    /// Clients that dropped before sending a masked input: reveal their key shares.
    pub dropped: Vec<ClientId>,
    /// In the malicious-server mode, the ConsistencyCheck signatures (over the survivor
    /// digest) of the
    /// recipient's neighbours (and itself) that sent one; empty otherwise.
    pub signatures: Vec<(ClientId, Signature)>,
}

/// Round 2 to 3 (malicious-server mode), server to every survivor: the survivor statuses
/// it signs the survivor digest of (`docs/PROTOCOL.md` §7). As a [`Roster`], either whole
/// (`slice: None`: `survivors` is all of `U_3`, and the client builds the survivor tree from
/// its roster) or, on a sparse graph, the recipient's slice: the statuses of exactly the
/// recipient and its neighbours, with a proof against the survivor tree
/// ([`crate::protocol::roster_tree::SurvivorTree`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyRequest {
    /// The session.
    pub session: SessionId,
    /// The client this request is for.
    pub recipient: ClientId,
    /// The survivors (`U_3`) shown, ascending: all of them, or those of the recipient's
    /// view.
    pub survivors: Vec<ClientId>,
    /// For a slice: the view's members not in `U_3`, and the proof.
    pub slice: Option<SurvivorSlice>,
}

/// What makes a [`ConsistencyRequest`] one client's slice of the survivor tree: the members
/// of its view not in `U_3` (status 0), and the pruned survivor tree whose leaves, in id
/// order, are the view's members (`survivors` and `dropped` merged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SurvivorSlice {
    /// The view's members not in `U_3`, ascending.
    pub dropped: Vec<ClientId>,
    /// The pruned survivor tree, pre-order (`docs/WIRE.md` §4).
    pub proof: Vec<u8>,
}

/// Round 3 (malicious-server mode), client to server: the client's signature over
/// `(session, survivor digest)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencySignature {
    /// The session.
    pub session: SessionId,
    /// The sender.
    pub sender: ClientId,
    /// Ed25519 signature over the survivor digest (the survivor tree's, which commits to
    /// every roster member's status).
    pub signature: Signature,
}

/// Round 4, client to server: the requested shares.
#[derive(Debug, PartialEq, Eq)]
pub struct UnmaskingResponse {
    /// The session.
    pub session: SessionId,
    /// The sender.
    pub sender: ClientId,
    /// The sender's share of `b_v` for every survivor `v`.
    pub self_mask_shares: Vec<(ClientId, SecretScalar)>,
    /// The sender's share of `s_v^SK` for every dropped `v`.
    pub key_shares: Vec<(ClientId, SecretScalar)>,
}
