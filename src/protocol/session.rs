//! Byte-level sessions: the per-round state machines of [`client`] and [`server`] behind one
//! enum per role, fed and emitting version-3 wire bytes ([`crate::wire`], `docs/WIRE.md`).
//!
//! The per-round API stays the primary one; these enums are for storage and dispatch, and for
//! an application that moves bytes. Every incoming message is decoded under the session's
//! [`Limits`] before anything else; a malformed or unexpected message is a typed error (for a
//! client) or a [`Rejected`] (for the server), never a panic.

use alloc::boxed::Box;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::crypto::sign::Pki;
use crate::error::{ApiMisuse, Error, Misbehavior, Party, Rejected, StateError};
use crate::ids::ClientId;
use crate::params::{Params, ThreatModel};
use crate::protocol::client::state::Saved;
use crate::protocol::server::Output;
use crate::protocol::state::{self, Snapshot, StateKey};
use crate::protocol::{Round, client, server};
use crate::wire::{self, ClientMessage, Kind, Limits, Roster, ServerMessage};

/// A client's whole session, round by round, over bytes: what a networked client holds. The
/// README's second example runs a whole session with it and [`ServerSession`].
///
/// The input is given when it is needed, with the shares delivery that starts
/// MaskedInputCollection ([`ClientSession::handle_with_input`]): in federated learning the
/// update exists only after local training, between ShareKeys and MaskedInputCollection.
///
/// A session can be saved after every step ([`ClientSession::seal`]) and restored in another
/// process ([`ClientSession::open`]); a restored session behaves exactly as the original.
#[derive(Debug)]
pub enum ClientSession {
    /// Waiting for the roster.
    AdvertiseKeys(client::AdvertiseKeys),
    /// Waiting for the sealed shares of its neighbours (and then for its input).
    ShareKeys(client::ShareKeys),
    /// Waiting for the consistency or unmasking request.
    MaskedInput(client::MaskedInput),
    /// Waiting for the unmasking request (malicious-server mode).
    Consistency(client::Consistency),
    /// Finished: it answers the request it answered again, identically, and refuses any
    /// other.
    Done(client::Done),
}

impl ClientSession {
    /// Starts a client; returns the AdvertiseKeys bytes to send. Pass an identity in the
    /// malicious-server mode.
    #[must_use = "the advertisement must be sent"]
    pub fn start<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        identity: Option<client::Identity>,
        rng: &mut R,
    ) -> (Self, Vec<u8>) {
        let (state, out) = Self::begin(params, id, identity, rng);
        (state, wire::to_bytes(&out))
    }

    /// [`ClientSession::start`] with the advertisement typed.
    #[must_use = "the advertisement must be sent"]
    pub fn begin<R: CryptoRng + ?Sized>(
        params: &Params,
        id: ClientId,
        identity: Option<client::Identity>,
        rng: &mut R,
    ) -> (Self, wire::AdvertiseKeys) {
        let (state, out) = match identity {
            Some(identity) => client::AdvertiseKeys::with_identity(params, id, identity, rng),
            None => client::AdvertiseKeys::new(params, id, rng),
        };
        (Self::AdvertiseKeys(state), out)
    }

    /// Whether the next server message (the shares delivery) must come with the client's
    /// input, through [`ClientSession::handle_with_input`].
    #[must_use]
    pub fn needs_input(&self) -> bool {
        matches!(self, Self::ShareKeys(_))
    }

    /// Handles one message from the server that needs no input; returns the next state and
    /// the bytes to send.
    ///
    /// # Errors
    /// [`Error::Misbehaved`] by the server for bytes that do not decode
    /// ([`Misbehavior::Malformed`]) or a message this round does not expect;
    /// [`ApiMisuse::InputNeeded`] when the session [`needs_input`](Self::needs_input);
    /// and every error of the round's own transition. The session is over after an error.
    pub fn handle<R: CryptoRng + ?Sized>(
        self,
        params: &Params,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        self.step(params, bytes, None, rng)
    }

    /// Handles the shares delivery with the client's input (`d` elements below the
    /// modulus, borrowed: the caller's buffer is not copied); returns the next state and the
    /// masked input's bytes.
    ///
    /// # Errors
    /// [`ApiMisuse::InputNotNeeded`] when the session does not
    /// [`need input`](Self::needs_input), and every error of [`ClientSession::handle`] and
    /// of [`client::ShareKeys::masked_input`].
    pub fn handle_with_input<R: CryptoRng + ?Sized>(
        self,
        params: &Params,
        bytes: &[u8],
        input: &[u64],
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        self.step(params, bytes, Some(input), rng)
    }

    fn step<R: CryptoRng + ?Sized>(
        self,
        params: &Params,
        bytes: &[u8],
        input: Option<&[u64]>,
        rng: &mut R,
    ) -> Result<(Self, Vec<u8>), Error> {
        // The caller's mistake is reported before the server's bytes are even read.
        self.check_input(input)?;
        let round = self.round();
        let malformed = |e| Error::Misbehaved {
            by: Party::Server,
            round,
            what: Misbehavior::Malformed(e),
        };
        let message: ServerMessage =
            wire::from_bytes(bytes, &Limits::for_params(params)).map_err(malformed)?;
        let (next, reply) = self.handle_message(message, input, rng)?;
        Ok((next, reply.to_bytes(params.modulus())))
    }

    /// An input exactly with the shares delivery.
    fn check_input(&self, input: Option<&[u64]>) -> Result<(), Error> {
        match (self.needs_input(), input) {
            (true, None) => Err(ApiMisuse::InputNeeded.into()),
            (false, Some(_)) => Err(ApiMisuse::InputNotNeeded.into()),
            _ => Ok(()),
        }
    }

    /// [`ClientSession::handle`] and [`ClientSession::handle_with_input`] for a message
    /// already decoded: returns the next state and the typed reply (a masked input travels
    /// bit-packed once encoded with [`ClientMessage::to_bytes`]). `input` is the client's
    /// input exactly when the session [`needs_input`](Self::needs_input).
    ///
    /// # Errors
    /// [`ApiMisuse::InputNeeded`] or [`ApiMisuse::InputNotNeeded`] for an input missing or
    /// given out of turn; [`Error::Misbehaved`] by the server for a message this round does
    /// not expect ([`Misbehavior::UnexpectedMessage`]) or an unmasking request other than the
    /// one answered ([`Misbehavior::ContradictingRequest`]), and every error of the round's
    /// own transition. The session is over after an error.
    pub fn handle_message<R: CryptoRng + ?Sized>(
        self,
        message: ServerMessage,
        input: Option<&[u64]>,
        rng: &mut R,
    ) -> Result<(Self, ClientMessage), Error> {
        self.check_input(input)?;
        let round = self.round();
        Ok(match (self, message, input) {
            (Self::AdvertiseKeys(c), ServerMessage::Roster(m), None) => {
                let (c, out) = c.share_keys(&m, rng)?;
                (Self::ShareKeys(c), ClientMessage::ShareKeys(out))
            }
            (Self::ShareKeys(c), ServerMessage::SharesDelivery(m), Some(input)) => {
                let (c, out) = c.masked_input_from_slice(&m, input)?;
                (Self::MaskedInput(c), ClientMessage::MaskedInput(out))
            }
            (Self::MaskedInput(c), ServerMessage::ConsistencyRequest(m), None) => {
                let (c, out) = c.consistency(&m)?;
                (
                    Self::Consistency(c),
                    ClientMessage::ConsistencySignature(out),
                )
            }
            (Self::MaskedInput(c), ServerMessage::UnmaskingRequest(m), None) => {
                let (c, out) = c.unmasking(&m)?;
                (Self::Done(c), ClientMessage::UnmaskingResponse(out))
            }
            (Self::Consistency(c), ServerMessage::UnmaskingRequest(m), None) => {
                let (c, out) = c.unmasking(&m)?;
                (Self::Done(c), ClientMessage::UnmaskingResponse(out))
            }
            (Self::Done(c), ServerMessage::UnmaskingRequest(m), None) => {
                let again = c.answer_again(&m)?;
                (Self::Done(c), ClientMessage::UnmaskingResponse(again))
            }
            _ => {
                return Err(Error::Misbehaved {
                    by: Party::Server,
                    round,
                    what: Misbehavior::UnexpectedMessage,
                });
            }
        })
    }

    /// The round in progress for this client: the one whose server message it waits for
    /// (the roster starts ShareKeys, the delivery MaskedInputCollection, and so on). It means
    /// what [`ServerSession::round`] means: once the server has sent a round's messages, both
    /// say that round. Errors while handling a message carry this round.
    #[must_use]
    pub fn round(&self) -> Round {
        match self {
            Self::AdvertiseKeys(..) => Round::ShareKeys,
            Self::ShareKeys(..) => Round::MaskedInput,
            Self::MaskedInput(c) if c.threat_model() == ThreatModel::Malicious => {
                Round::Consistency
            }
            Self::MaskedInput(_) | Self::Consistency(_) | Self::Done(_) => Round::Unmasking,
        }
    }

    /// How far the client has gone: 0 after AdvertiseKeys, then one more for each state
    /// (1 ShareKeys, 2 MaskedInputCollection, 3 ConsistencyCheck, 4 done). It only grows. A
    /// host records the stage of the newest state it stored and passes it to
    /// [`ClientSession::open`], which refuses older states (`docs/PROTOCOL.md` §13.6).
    #[must_use]
    pub fn stage(&self) -> u8 {
        match self {
            Self::AdvertiseKeys(_) => <client::AdvertiseKeys as Saved>::STAGE,
            Self::ShareKeys(_) => <client::ShareKeys as Saved>::STAGE,
            Self::MaskedInput(_) => <client::MaskedInput as Saved>::STAGE,
            Self::Consistency(_) => <client::Consistency as Saved>::STAGE,
            Self::Done(_) => <client::Done as Saved>::STAGE,
        }
    }

    /// Saves the session: sealed bytes under `key` (`docs/WIRE.md`, "State format"). A host
    /// stores them, and records [`stage`](Self::stage), *before* it sends the bytes the last
    /// step returned: then a crash never loses a message that was sent.
    #[must_use]
    pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StateKey, rng: &mut R) -> Vec<u8> {
        match self {
            Self::AdvertiseKeys(c) => c.seal(key, rng),
            Self::ShareKeys(c) => c.seal(key, rng),
            Self::MaskedInput(c) => c.seal(key, rng),
            Self::Consistency(c) => c.seal(key, rng),
            Self::Done(c) => c.seal(key, rng),
        }
    }

    /// Restores a session saved by [`ClientSession::seal`], with what the client holds
    /// anyway (the session's parameters, its id, its identity against a malicious server)
    /// and the stage of the newest state the host recorded.
    ///
    /// # Errors
    /// [`StateError::RolledBack`] for a state older than `newest_stage`: restoring it could
    /// make the client answer a request differently from what it already sent; and every
    /// error of the round states' `open`.
    pub fn open(
        bytes: &[u8],
        key: &StateKey,
        params: &Params,
        id: ClientId,
        identity: Option<client::Identity>,
        newest_stage: u8,
    ) -> Result<Self, StateError> {
        let stage = state::peek(bytes, state::Role::Client)?;
        // SECURITY: an older state than the newest the host stored is refused before it is
        // even opened: from it the client could answer a second, different request of a
        // round it already answered (in Unmasking: reveal both shares of one peer).
        if stage < newest_stage {
            return Err(StateError::RolledBack {
                got: stage,
                newest: newest_stage,
            });
        }
        Ok(match stage {
            <client::AdvertiseKeys as Saved>::STAGE => Self::AdvertiseKeys(
                client::AdvertiseKeys::open(bytes, key, params, id, identity)?,
            ),
            <client::ShareKeys as Saved>::STAGE => {
                Self::ShareKeys(client::ShareKeys::open(bytes, key, params, id, identity)?)
            }
            <client::MaskedInput as Saved>::STAGE => {
                Self::MaskedInput(client::MaskedInput::open(bytes, key, params, id, identity)?)
            }
            <client::Consistency as Saved>::STAGE => {
                Self::Consistency(client::Consistency::open(bytes, key, params, id, identity)?)
            }
            <client::Done as Saved>::STAGE => {
                Self::Done(client::Done::open(bytes, key, params, id, identity)?)
            }
            _ => return Err(StateError::WrongKind { got: (1, stage) }),
        })
    }
}

/// Bytes for some clients: one message, the same for each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The recipients.
    pub to: Vec<ClientId>,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

/// What closing a server round gives.
#[derive(Debug)]
pub enum Closed {
    /// The next round, and the messages that open it.
    Next(Box<ServerSession>, Vec<Envelope>),
    /// The session's result.
    Done(Output),
}

/// The server's whole session, round by round.
#[derive(Debug)]
pub enum ServerSession {
    /// Collecting advertisements.
    AdvertiseKeys(server::AdvertiseKeys),
    /// Collecting sealed shares.
    ShareKeys(server::ShareKeys),
    /// Collecting masked inputs.
    MaskedInput(server::MaskedInput),
    /// Collecting consistency signatures (malicious-server mode).
    Consistency(server::Consistency),
    /// Collecting revealed shares.
    Unmasking(server::Unmasking),
}

impl ServerSession {
    /// Opens a session; with a PKI the server also verifies identity signatures.
    #[must_use]
    pub fn new(params: &Params, pki: Option<Pki>) -> Self {
        Self::AdvertiseKeys(match pki {
            Some(pki) => server::AdvertiseKeys::with_pki(params, pki),
            None => server::AdvertiseKeys::new(params),
        })
    }

    /// The round in progress: the one whose client messages the server collects (it has sent
    /// the messages that start it). The same meaning as [`ClientSession::round`].
    #[must_use]
    pub fn round(&self) -> Round {
        match self {
            Self::AdvertiseKeys(_) => Round::AdvertiseKeys,
            Self::ShareKeys(_) => Round::ShareKeys,
            Self::MaskedInput(_) => Round::MaskedInput,
            Self::Consistency(_) => Round::Consistency,
            Self::Unmasking(_) => Round::Unmasking,
        }
    }

    /// Saves the session: sealed bytes under `key` (`docs/WIRE.md`, "State format"). Save
    /// after every accepted batch of messages and every round close.
    #[must_use]
    pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StateKey, rng: &mut R) -> Vec<u8> {
        match self {
            Self::AdvertiseKeys(s) => s.seal(key, rng),
            Self::ShareKeys(s) => s.seal(key, rng),
            Self::MaskedInput(s) => s.seal(key, rng),
            Self::Consistency(s) => s.seal(key, rng),
            Self::Unmasking(s) => s.seal(key, rng),
        }
    }

    /// The session written out, to be sealed later: [`Snapshot::seal`] gives the bytes of
    /// [`seal`](Self::seal). Taking it copies the state's fields; sealing (the bulk of the
    /// work for a large state) can then run where the session is not held.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        match self {
            Self::AdvertiseKeys(s) => s.snapshot(),
            Self::ShareKeys(s) => s.snapshot(),
            Self::MaskedInput(s) => s.snapshot(),
            Self::Consistency(s) => s.snapshot(),
            Self::Unmasking(s) => s.snapshot(),
        }
    }

    /// Restores a session saved by [`ServerSession::seal`], with the session's parameters
    /// and (in the malicious-server mode) its PKI.
    ///
    /// # Errors
    /// Every error of the round states' `open`.
    pub fn open(
        bytes: &[u8],
        key: &StateKey,
        params: &Params,
        pki: Option<Pki>,
    ) -> Result<Self, StateError> {
        let stage = state::peek(bytes, state::Role::Server)?;
        // A server state's stage is the round it collects.
        Ok(match state::round_numbered(stage) {
            Some(Round::AdvertiseKeys) => {
                Self::AdvertiseKeys(server::AdvertiseKeys::open(bytes, key, params, pki)?)
            }
            Some(Round::ShareKeys) => {
                Self::ShareKeys(server::ShareKeys::open(bytes, key, params, pki)?)
            }
            Some(Round::MaskedInput) => {
                Self::MaskedInput(server::MaskedInput::open(bytes, key, params, pki)?)
            }
            Some(Round::Consistency) => {
                Self::Consistency(server::Consistency::open(bytes, key, params, pki)?)
            }
            Some(Round::Unmasking) => {
                Self::Unmasking(server::Unmasking::open(bytes, key, params, pki)?)
            }
            None => return Err(StateError::WrongKind { got: (2, stage) }),
        })
    }

    /// Receives one client's bytes. `from` is the sender as the transport authenticated it.
    ///
    /// # Errors
    /// [`Rejected`] for bytes that do not decode, a message this round does not expect, and
    /// every rejection of the round's own `receive`. The session goes on without that
    /// message.
    pub fn receive(
        &mut self,
        params: &Params,
        from: ClientId,
        bytes: &[u8],
    ) -> Result<(), Rejected> {
        let round = self.round();
        let reject = |reason| Rejected {
            client: from,
            round,
            reason,
        };
        let limits = Limits::for_params(params);
        if let Self::MaskedInput(s) = self
            && wire::kind_of(bytes) == Ok(Kind::MaskedInput)
        {
            // Summed from its bytes: `y_u` (8 bytes an element) is never allocated. The
            // decoder and the checks are those of the typed path.
            let message = wire::MaskedInputRef::from_bytes(bytes, &limits)
                .map_err(|e| reject(Misbehavior::Malformed(e)))?;
            return s.receive_packed(from, &message);
        }
        let message: ClientMessage =
            wire::from_bytes(bytes, &limits).map_err(|e| reject(Misbehavior::Malformed(e)))?;
        self.receive_message(from, message)
    }

    /// [`ServerSession::receive`] for a message already decoded.
    ///
    /// # Errors
    /// [`Rejected`] for a message this round does not expect, and every rejection of the
    /// round's own `receive`. The session goes on without that message.
    pub fn receive_message(
        &mut self,
        from: ClientId,
        message: ClientMessage,
    ) -> Result<(), Rejected> {
        let round = self.round();
        match (self, message) {
            (Self::AdvertiseKeys(s), ClientMessage::AdvertiseKeys(m)) => s.receive(from, m),
            (Self::ShareKeys(s), ClientMessage::ShareKeys(m)) => s.receive(from, m),
            (Self::MaskedInput(s), ClientMessage::MaskedInput(m)) => s.receive(from, m),
            (Self::Consistency(s), ClientMessage::ConsistencySignature(m)) => s.receive(from, m),
            (Self::Unmasking(s), ClientMessage::UnmaskingResponse(m)) => s.receive(from, m),
            _ => Err(Rejected {
                client: from,
                round,
                reason: Misbehavior::UnexpectedMessage,
            }),
        }
    }

    /// Closes the round (the caller decides when its deadline has passed).
    ///
    /// # Errors
    /// Every error of the round's own `close` (too few clients left) or `finish`.
    pub fn close(self, params: &Params) -> Result<Closed, Error> {
        Ok(match self.close_messages(params)? {
            ClosedMessages::Next(next, messages) => {
                let envelopes = messages
                    .iter()
                    .map(|m| Envelope {
                        to: recipients(m),
                        bytes: wire::to_bytes(m),
                    })
                    .collect();
                Closed::Next(next, envelopes)
            }
            ClosedMessages::Done(output) => Closed::Done(output),
        })
    }

    /// [`ServerSession::close`] with the messages that open the next round kept typed (the
    /// roster once for all its clients, every other message once per recipient; see
    /// [`recipients`]).
    ///
    /// # Errors
    /// Every error of the round's own `close` (too few clients left) or `finish`.
    pub fn close_messages(self, params: &Params) -> Result<ClosedMessages, Error> {
        use crate::params::ThreatModel;
        let next = |state, messages| ClosedMessages::Next(Box::new(state), messages);
        Ok(match self {
            Self::AdvertiseKeys(s) => {
                let (state, rosters) = s.close()?;
                let messages = rosters.into_iter().map(ServerMessage::Roster);
                next(Self::ShareKeys(state), messages.collect())
            }
            Self::ShareKeys(s) => {
                let (state, deliveries) = s.close()?;
                let messages = deliveries.into_iter().map(ServerMessage::SharesDelivery);
                next(Self::MaskedInput(state), messages.collect())
            }
            Self::MaskedInput(s) => match params.threat_model() {
                ThreatModel::HonestButCurious => {
                    let (state, requests) = s.close()?;
                    let messages = requests.into_iter().map(ServerMessage::UnmaskingRequest);
                    next(Self::Unmasking(state), messages.collect())
                }
                ThreatModel::Malicious => {
                    let (state, requests) = s.close_for_consistency()?;
                    let messages = requests.into_iter().map(ServerMessage::ConsistencyRequest);
                    next(Self::Consistency(state), messages.collect())
                }
            },
            Self::Consistency(s) => {
                let (state, requests) = s.close()?;
                let messages = requests.into_iter().map(ServerMessage::UnmaskingRequest);
                next(Self::Unmasking(state), messages.collect())
            }
            Self::Unmasking(s) => ClosedMessages::Done(s.finish()?),
        })
    }
}

/// What closing a server round gives, typed ([`ServerSession::close_messages`]).
#[derive(Debug)]
pub enum ClosedMessages {
    /// The next round, and the messages that open it.
    Next(Box<ServerSession>, Vec<ServerMessage>),
    /// The session's result.
    Done(Output),
}

/// The roster message among `rosters` (what the server's AdvertiseKeys close returned) that
/// goes to client `id`: the whole roster, or `id`'s own view.
#[must_use]
pub fn roster_for(rosters: &[Roster], id: ClientId) -> Option<&Roster> {
    match rosters {
        [whole] if whole.slice.is_none() => Some(whole),
        views => views
            .binary_search_by_key(&id, |r| r.slice.as_ref().map_or(id, |s| s.recipient))
            .ok()
            .and_then(|i| views.get(i)),
    }
}

/// The clients a server message goes to: every client listed in a whole roster, the one
/// recipient of a roster view or of any other message.
#[must_use]
pub fn recipients(message: &ServerMessage) -> Vec<ClientId> {
    match message {
        ServerMessage::Roster(r) => match &r.slice {
            Some(slice) => Vec::from([slice.recipient]),
            None => r.entries.iter().map(|e| e.sender).collect(),
        },
        ServerMessage::SharesDelivery(d) => Vec::from([d.recipient]),
        ServerMessage::ConsistencyRequest(c) => Vec::from([c.recipient]),
        ServerMessage::UnmaskingRequest(u) => Vec::from([u.recipient]),
    }
}
