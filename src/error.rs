//! The crate's one error type and its categorised parts.
//!
//! No variant carries secret material or anything derived from it: the reasons say *what*
//! was wrong and *who* did it, never the value.

use core::fmt;

use crate::ids::ClientId;
use crate::vocabulary::{Kind, Round, WIRE_VERSION};

/// Everything that can go wrong in `secagg`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The session parameters are invalid or unsafe.
    Config(ConfigError),
    /// A party sent a well-formed message that breaks the protocol.
    Misbehaved {
        /// Who sent it.
        by: Party,
        /// In which round.
        round: Round,
        /// What was wrong.
        what: Misbehavior,
    },
    /// The session cannot finish.
    Abort(AbortReason),
    /// The caller used the API wrongly.
    ApiMisuse(ApiMisuse),
    /// A branch the code shows cannot be taken was taken: a bug in this crate, never a
    /// peer's fault. Names the invariant that failed; holds nothing secret.
    Internal(&'static str),
}

/// Who misbehaved.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The aggregation server.
    Server,
    /// A client.
    Client(ClientId),
}

/// Invalid or unsafe parameters, found by [`crate::Params::new`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The modulus is outside `2 ..= 2^64`.
    ModulusOutOfRange,
    /// `bits` is outside `1 ..= 64`.
    BitsOutOfRange {
        /// The requested number of bits.
        bits: u32,
    },
    /// The vector length is zero or above the limit.
    VectorLength {
        /// The requested length.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// The number of clients is below 2 or above the limit.
    ClientCount {
        /// The requested count.
        clients: usize,
        /// The largest count accepted.
        max: usize,
    },
    /// The neighbourhood degree is odd or below 2.
    Degree {
        /// The requested degree.
        k: usize,
        /// The number of clients.
        clients: usize,
    },
    /// The threshold does not give the security the threat model needs.
    Threshold {
        /// The requested threshold.
        threshold: usize,
        /// The number of share holders of one client (all clients on the complete graph,
        /// the degree plus one on a sparse graph).
        clients: usize,
        /// The smallest threshold accepted: 2 against an honest-but-curious server (a strict
        /// majority of the holders where one is required), more than two thirds of them
        /// against a malicious one.
        min: usize,
    },
    /// The smallest roster a client accepts is out of range.
    MinRoster {
        /// The requested minimum.
        min_roster: usize,
        /// The lowest minimum accepted: the threshold, and in the malicious mode on a sparse
        /// graph the degree plus two (a smaller roster would turn the graph complete).
        lowest: usize,
        /// The number of clients (the highest minimum).
        clients: usize,
    },
    /// Encoded parameters do not decode (`docs/WIRE.md`, "Parameters").
    Malformed(DecodeError),
    /// Parameters handed to a client fall short of what the client itself requires
    /// (`Expectations`): the named field.
    Unexpected {
        /// The field that differs or falls short.
        what: &'static str,
    },
}

/// A protocol violation by one party, found by the party checking it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misbehavior {
    /// The bytes are not a valid version-3 message (or not one of this session's shape).
    Malformed(DecodeError),
    /// The message belongs to another session.
    WrongSession,
    /// The message claims a sender other than the one it came from.
    WrongSender,
    /// The message is addressed to someone else.
    WrongRecipient,
    /// The message was sent in a round that does not expect it from this party.
    UnexpectedMessage,
    /// A client sent a second message in one round.
    DuplicateMessage,
    /// A public key is of small order, so key agreement with it is not contributory.
    NonContributoryKey {
        /// The owner of the key.
        peer: ClientId,
    },
    /// The roster does not list this client.
    RosterMissingSelf,
    /// The roster lists this client's keys under another id, or lists this client twice.
    RosterSelfRepeated,
    /// The roster lists this client with keys it did not advertise.
    RosterWrongSelfKeys,
    /// The roster repeats a client id.
    RosterDuplicateId {
        /// The repeated id.
        peer: ClientId,
    },
    /// Two roster entries share a public key.
    RosterDuplicateKey,
    /// A roster view's proof does not open the roster tree at its entries (`docs/PROTOCOL.md`
    /// §6).
    RosterBadProof,
    /// A roster view lacks a neighbour, or holds an entry, that the graph of its own tree
    /// does not put around this client.
    RosterWrongView,
    /// A consistency request's slice does not open the survivor tree at its statuses
    /// (`docs/PROTOCOL.md` §7), or repeats an id or lists one both survived and dropped.
    SurvivorBadProof,
    /// A consistency request's survivor tree is not over a roster of this client's size
    /// `n'`.
    SurvivorWrongSize {
        /// The tree's size.
        have: usize,
        /// The roster's size, as this client verified it.
        need: usize,
    },
    /// The share ciphertexts or their recipients do not match the roster.
    SharesMismatch {
        /// The peer in question.
        peer: ClientId,
    },
    /// A share ciphertext failed to decrypt or to parse (no detail on why). It is reported
    /// against its sender, but the server relays ciphertexts, so the fault may equally be
    /// the server's: either way the client stops.
    UndecryptableShare {
        /// The sender of the ciphertext.
        peer: ClientId,
    },
    /// A peer that had dropped is named again as alive.
    PeerReappeared {
        /// The peer.
        peer: ClientId,
    },
    /// A peer unknown to this client is named.
    UnknownPeer {
        /// The peer.
        peer: ClientId,
    },
    /// An id is repeated in a list.
    RepeatedId {
        /// The repeated id.
        peer: ClientId,
    },
    /// The unmasking request names this client as dropped.
    SelfNamedDropped,
    /// The unmasking request does not list this client as a survivor.
    SelfNotSurvivor,
    /// A peer is named both as survivor and as dropped: answering would reveal both the
    /// self-mask share and the key share of that peer, which unmasks its input.
    SurvivorAndDropped {
        /// The peer.
        peer: ClientId,
    },
    /// A peer that survived the earlier rounds is missing from the unmasking request.
    PeerUnaccounted {
        /// The peer.
        peer: ClientId,
    },
    /// A vector has the wrong length.
    VectorLength {
        /// The length received.
        got: usize,
        /// The length the session expects.
        expected: usize,
    },
    /// A vector element is not below the modulus.
    ElementOutOfRange,
    /// An identity signature is missing, does not verify, or its signer is not in the PKI.
    BadSignature {
        /// The claimed signer.
        peer: ClientId,
    },
    /// Fewer than `t` valid ConsistencyCheck signatures from the neighbourhood.
    TooFewSignatures {
        /// Valid signatures received.
        have: usize,
        /// The threshold.
        need: usize,
    },
    /// The unmasking request's survivors or dropped clients differ from the survivor set this
    /// client signed in ConsistencyCheck.
    InconsistentSurvivors {
        /// A client on which the two differ.
        peer: ClientId,
    },
    /// A share is missing, repeated or addressed to a secret it should not be.
    SharesForWrongSet {
        /// The owner of the secret in question.
        owner: ClientId,
    },
    /// The roster is smaller than the session's minimum (`Params::min_roster`), which the
    /// client knows from its own configuration.
    RosterTooSmall {
        /// Entries in the roster.
        have: usize,
        /// The session's minimum.
        need: usize,
    },
    /// A public key is not the canonical encoding of its X25519 u-coordinate (bit 255 set,
    /// or `u >= 2^255 - 19`): it would name the same key as another encoding.
    NonCanonicalKey {
        /// The owner of the key.
        peer: ClientId,
    },
    /// A masked input is bound to another roster than this session's: a stale or
    /// cross-session message.
    WrongRoster,
    /// A second unmasking request that differs from the one this client already answered:
    /// answering it could reveal both shares of one peer.
    ContradictingRequest,
}

/// Why a session cannot finish.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// Fewer than `t` clients remain.
    TooFewSurvivors {
        /// The round that ended with too few.
        round: Round,
        /// How many remain.
        have: usize,
        /// The threshold.
        need: usize,
    },
    /// The survivors do not form one connected component of the neighbourhood graph: the
    /// server would learn the sum of each component separately, so it asks for no share.
    DisconnectedSurvivors {
        /// The number of components.
        components: usize,
    },
    /// The shares of a client's secret rebuilt a value that does not match what the client
    /// committed to in AdvertiseKeys: some share holder lied. The server aborts rather than
    /// output a wrong sum.
    ReconstructionMismatch {
        /// The owner of the secret.
        owner: ClientId,
    },
}

/// The API was used in a way that cannot work.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiMisuse {
    /// The input vector does not have the session's length.
    InputLength {
        /// The length given.
        got: usize,
        /// The length the session expects.
        expected: usize,
    },
    /// An input element is not below the modulus.
    InputOutOfRange {
        /// Its position.
        index: usize,
    },
    /// The call belongs to another threat model (for example ConsistencyCheck against an
    /// honest-but-curious server, or skipping it against a malicious one).
    WrongThreatModel {
        /// The session's threat model.
        session: crate::vocabulary::ThreatModel,
    },
    /// The shares delivery arrived and the client's input is needed to answer it: the
    /// byte-level session's `handle_with_input` takes it (`needs_input` says when).
    InputNeeded,
    /// An input was given for a message that does not take one.
    InputNotNeeded,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "invalid parameters: {e}"),
            Self::Misbehaved { by, round, what } => {
                write!(f, "{round}: {by} misbehaved: {what}")
            }
            Self::Abort(e) => write!(f, "session aborted: {e}"),
            Self::ApiMisuse(e) => write!(f, "api misuse: {e}"),
            Self::Internal(what) => write!(f, "internal error (a bug in secagg): {what}"),
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Server => f.write_str("server"),
            Self::Client(id) => id.fmt(f),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ModulusOutOfRange => f.write_str("the modulus must lie in 2 ..= 2^64"),
            Self::BitsOutOfRange { bits } => {
                write!(f, "modulus bits must lie in 1 ..= 64, got {bits}")
            }
            Self::VectorLength { len, max } => {
                write!(f, "vector length must lie in 1 ..= {max}, got {len}")
            }
            Self::ClientCount { clients, max } => {
                write!(
                    f,
                    "number of clients must lie in 2 ..= {max}, got {clients}"
                )
            }
            Self::Degree { k, clients } => write!(
                f,
                "neighbourhood degree {k} for {clients} clients is invalid: it must be even \
                 (a k-regular graph on an odd number of clients needs an even k) and at \
                 least 2 (one neighbour's pairwise mask is all that would hide an input)"
            ),
            Self::Threshold {
                threshold,
                clients,
                min,
            } => write!(
                f,
                "threshold {threshold} among {clients} share holders is unsafe: it must be at \
                 least {min} (2 against an honest-but-curious server, a majority where one is \
                 required, more than two thirds against a malicious server, so that the \
                 server can never obtain both the self-mask share and the key share of one \
                 client) and at most {clients} (or the session can never finish)"
            ),
            Self::MinRoster {
                min_roster,
                lowest,
                clients,
            } => write!(
                f,
                "minimum roster {min_roster} must lie in {lowest} ..= {clients}: at least the \
                 threshold, and against a malicious server on a sparse graph at least the \
                 degree plus two, so that a small roster never turns the graph complete"
            ),
            Self::Malformed(e) => write!(f, "encoded parameters do not decode: {e}"),
            Self::Unexpected { what } => {
                write!(
                    f,
                    "parameters fall short of this client's expectations: {what}"
                )
            }
        }
    }
}

impl fmt::Display for Misbehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed message: {e}"),
            Self::WrongSession => f.write_str("message of another session"),
            Self::WrongSender => f.write_str("message claims another sender"),
            Self::WrongRecipient => f.write_str("message addressed to another client"),
            Self::UnexpectedMessage => f.write_str("message not expected in this round"),
            Self::DuplicateMessage => f.write_str("second message in one round"),
            Self::NonContributoryKey { peer } => {
                write!(f, "public key of {peer} is of small order")
            }
            Self::RosterMissingSelf => f.write_str("roster does not list this client"),
            Self::RosterSelfRepeated => f.write_str("roster lists this client twice"),
            Self::RosterWrongSelfKeys => {
                f.write_str("roster lists this client with keys it did not advertise")
            }
            Self::RosterDuplicateId { peer } => write!(f, "roster repeats {peer}"),
            Self::RosterDuplicateKey => f.write_str("roster repeats a public key"),
            Self::RosterBadProof => f.write_str("roster view's proof does not verify"),
            Self::RosterWrongView => {
                f.write_str("roster view is not this client's neighbourhood in its own tree")
            }
            Self::SurvivorBadProof => {
                f.write_str("consistency request's proof does not open the survivor tree")
            }
            Self::SurvivorWrongSize { have, need } => {
                write!(f, "survivor tree of {have} members, roster of {need}")
            }
            Self::SharesMismatch { peer } => {
                write!(f, "share ciphertexts do not match the roster at {peer}")
            }
            Self::UndecryptableShare { peer } => {
                write!(f, "share ciphertext from {peer} does not decrypt")
            }
            Self::PeerReappeared { peer } => write!(f, "{peer} had dropped and reappears"),
            Self::UnknownPeer { peer } => write!(f, "{peer} is not a live peer"),
            Self::RepeatedId { peer } => write!(f, "{peer} is listed twice"),
            Self::SelfNamedDropped => f.write_str("request names this client as dropped"),
            Self::SelfNotSurvivor => f.write_str("request omits this client from survivors"),
            Self::SurvivorAndDropped { peer } => {
                write!(f, "{peer} is listed both as survivor and as dropped")
            }
            Self::PeerUnaccounted { peer } => {
                write!(f, "{peer} is neither survivor nor dropped")
            }
            Self::VectorLength { got, expected } => {
                write!(f, "vector of length {got}, expected {expected}")
            }
            Self::ElementOutOfRange => f.write_str("vector element not below the modulus"),
            Self::BadSignature { peer } => {
                write!(
                    f,
                    "identity signature of {peer} is missing or does not verify"
                )
            }
            Self::TooFewSignatures { have, need } => write!(
                f,
                "{have} valid consistency signatures from the neighbourhood, {need} needed"
            ),
            Self::InconsistentSurvivors { peer } => write!(
                f,
                "request differs at {peer} from the survivor set signed in consistency"
            ),
            Self::SharesForWrongSet { owner } => {
                write!(f, "shares for {owner} missing, repeated or not requested")
            }
            Self::RosterTooSmall { have, need } => write!(
                f,
                "roster of {have} clients is below the session's minimum of {need}"
            ),
            Self::NonCanonicalKey { peer } => {
                write!(f, "public key of {peer} is not canonically encoded")
            }
            Self::WrongRoster => f.write_str("masked input bound to another roster"),
            Self::ContradictingRequest => {
                f.write_str("a second unmasking request that differs from the one answered")
            }
        }
    }
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooFewSurvivors { round, have, need } => {
                write!(f, "{round}: {have} clients remain, threshold is {need}")
            }
            Self::ReconstructionMismatch { owner } => write!(
                f,
                "unmasking: the shares of {owner}'s secret do not match its commitment"
            ),
            Self::DisconnectedSurvivors { components } => write!(
                f,
                "masked_input: the survivors form {components} disconnected groups, whose \
                 separate sums unmasking would reveal"
            ),
        }
    }
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InputLength { got, expected } => write!(
                f,
                "input vector has length {got}, the session expects {expected}"
            ),
            Self::InputOutOfRange { index } => write!(
                f,
                "input element at index {index} is not below the modulus; reduce it first"
            ),
            Self::WrongThreatModel { session } => write!(
                f,
                "this step is not part of a session with threat model {session:?}: \
                 use the consistency round exactly when the server is treated as malicious, \
                 and give clients an identity key then"
            ),
            Self::InputNeeded => {
                f.write_str("the shares delivery needs the client's input: use handle_with_input")
            }
            Self::InputNotNeeded => {
                f.write_str("an input was given for a message that does not take one")
            }
        }
    }
}

impl core::error::Error for Error {}

impl core::error::Error for ConfigError {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<AbortReason> for Error {
    fn from(e: AbortReason) -> Self {
        Self::Abort(e)
    }
}

impl From<ApiMisuse> for Error {
    fn from(e: ApiMisuse) -> Self {
        Self::ApiMisuse(e)
    }
}

/// A client message the server refused. The session goes on without that client.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The client whose message was refused.
    pub client: ClientId,
    /// The round.
    pub round: Round,
    /// Why.
    pub reason: Misbehavior,
}

impl Rejected {
    /// The refusal of `client`'s message of `round`, for `reason`.
    #[must_use]
    pub fn new(client: ClientId, round: Round, reason: Misbehavior) -> Self {
        Self {
            client,
            round,
            reason,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: rejected {}: {}",
            self.round, self.client, self.reason
        )
    }
}

impl core::error::Error for Rejected {}

/// Why sealed state bytes were refused (`docs/WIRE.md`, "State format"). Opening never
/// panics and never allocates more than the session's parameters bound; a refused blob leaves
/// nothing behind.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The blob is longer than any state of this session can be.
    TooLong {
        /// Its length.
        got: usize,
        /// The largest state of this session.
        max: usize,
    },
    /// The blob is shorter than its header and tag.
    TooShort,
    /// The format version byte is not the state format version this crate writes.
    UnknownVersion(u8),
    /// The blob holds another role's state (a server's where a client's is opened, or the
    /// reverse), or a state kind this version does not define.
    WrongKind {
        /// The role and kind byte pair found.
        got: (u8, u8),
    },
    /// The blob holds the state of another round than the type being opened.
    WrongRound,
    /// The blob belongs to another session.
    WrongSession,
    /// The blob belongs to another client.
    WrongClient,
    /// The tag does not verify: a wrong key, or bytes changed (deliberately without detail).
    Unauthentic,
    /// The state was saved under other session parameters than the ones given.
    OtherParams,
    /// The state was saved with another identity key or PKI than the ones given.
    OtherIdentity,
    /// The blob is older than the newest state the host recorded: restoring it could make the
    /// client answer a request differently from what it already sent.
    RolledBack {
        /// The stage of the blob.
        got: u8,
        /// The stage the host recorded.
        newest: u8,
    },
    /// The authenticated contents do not decode: a bug or a key shared with another writer.
    Malformed(DecodeError),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { got, max } => {
                write!(f, "state of {got} bytes, more than this session's {max}")
            }
            Self::TooShort => f.write_str("state shorter than its header and tag"),
            Self::UnknownVersion(v) => write!(f, "unknown state format version {v}"),
            Self::WrongKind { got } => write!(f, "state of another role or kind {got:?}"),
            Self::WrongRound => f.write_str("state of another round"),
            Self::WrongSession => f.write_str("state of another session"),
            Self::WrongClient => f.write_str("state of another client"),
            Self::Unauthentic => f.write_str("state does not authenticate under this key"),
            Self::OtherParams => f.write_str("state saved under other parameters"),
            Self::OtherIdentity => f.write_str("state saved with another identity or PKI"),
            Self::RolledBack { got, newest } => write!(
                f,
                "state of stage {got} is older than the newest recorded stage {newest}"
            ),
            Self::Malformed(e) => write!(f, "authenticated state does not decode: {e}"),
        }
    }
}

impl core::error::Error for StateError {}

impl From<DecodeError> for StateError {
    fn from(e: DecodeError) -> Self {
        Self::Malformed(e)
    }
}

/// Why bytes were not a valid version-3 message. Says what was malformed, never what a
/// secret field held.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside a field, or a count promises more items than the input holds.
    TooShort {
        /// Bytes the field or the counted items need.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// Bytes are left after a complete message.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The version byte is not the wire version (`wire::VERSION`).
    UnknownVersion(u8),
    /// The kind byte names no message kind.
    UnknownKind(u8),
    /// The message is of another kind than the one being decoded.
    WrongKind {
        /// The kind being decoded.
        expected: Kind,
        /// The kind on the wire.
        got: Kind,
    },
    /// A server-to-client kind where a client message was expected, or the reverse.
    WrongDirection(Kind),
    /// A count or the message length exceeds the session's [`Limits`](crate::wire::Limits).
    LengthOverLimit {
        /// What was counted.
        what: &'static str,
        /// The value on the wire.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// A field is not in its canonical encoding (a scalar `>= l`, an X25519 key `>= 2^255 - 19`
    /// or with its top bit set).
    NonCanonical(&'static str),
    /// An option byte other than 0 (absent) or 1 (present).
    BadOptionByte(u8),
    /// A masked-vector element is not below the modulus.
    ElementOutOfRange {
        /// Its position in the vector.
        index: usize,
    },
    /// The padding bits after the last element of a packed vector are not all zero.
    NonZeroPadding,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { needed, remaining } => write!(
                f,
                "message too short: {needed} bytes needed, {remaining} remain"
            ),
            Self::TrailingBytes { count } => {
                write!(f, "{count} trailing bytes after the message")
            }
            Self::UnknownVersion(v) => {
                write!(f, "unknown wire version {v}, expected {WIRE_VERSION}")
            }
            Self::UnknownKind(k) => write!(f, "unknown message kind {k}"),
            Self::WrongKind { expected, got } => {
                write!(f, "message of kind {got}, expected {expected}")
            }
            Self::WrongDirection(kind) => {
                write!(f, "message of kind {kind} sent in the wrong direction")
            }
            Self::LengthOverLimit { what, got, max } => {
                write!(f, "{what}: {got} over the limit of {max}")
            }
            Self::NonCanonical(what) => write!(f, "non-canonical {what}"),
            Self::BadOptionByte(b) => write!(f, "option byte {b}, expected 0 or 1"),
            Self::ElementOutOfRange { index } => {
                write!(f, "masked vector element {index} not below the modulus")
            }
            Self::NonZeroPadding => f.write_str("non-zero padding bits after the masked vector"),
        }
    }
}

impl core::error::Error for DecodeError {}
