//! The client: a [`Connection`] makes the service's calls one by one; a [`Client`] runs a
//! whole session with them, retrying through dropped connections and server restarts until
//! it gives up.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use core::time::Duration;
use std::string::String;
use std::time::Instant;
use std::vec::Vec;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng as _;
use tonic::codegen::http;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};
use tracing::{debug, info, warn};

use super::config::ClientConfig;
use super::proto::{self, Refusal};
use super::{NetError, short_id, tls};
use crate::crypto::sign::{IdentityKey, Pki};
use crate::ids::{ClientId, SessionId};
use crate::params::{Params, ThreatModel};
use crate::protocol::client::Identity;
use crate::protocol::session::ClientSession;

/// What a client learns at the end of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The session produced a sum.
    Sum {
        /// The session.
        session: SessionId,
        /// The sum modulo the session's modulus.
        sum: Vec<u64>,
        /// The clients whose inputs are in it, ascending.
        included: Vec<ClientId>,
    },
    /// The session aborted, for a reason every client sees.
    Aborted {
        /// The session.
        session: SessionId,
        /// Why, typed.
        kind: proto::AbortKind,
        /// The round that ended it (`Round` numbering).
        round: u32,
        /// The server's words.
        detail: String,
    },
}

impl Outcome {
    /// The outcome of a reply, in a session of `params`: the client's own parameters,
    /// checked against its floors at `Join`. The sum is read as exactly
    /// `params.vector_len()` elements bit-packed at `params.modulus()`'s width
    /// (`docs/WIRE.md` §4): no length is taken from the reply, and nothing is allocated
    /// before the packed field's length is checked against it.
    ///
    /// # Errors
    /// [`NetError::BadReply`] for an outcome without a session id of 32 bytes or a result,
    /// or whose included clients are not ascending ids of the session;
    /// [`NetError::Outcome`] for a packed sum of another length than
    /// `ceil(d·b / 8)` bytes, an element `>= m` or a set padding bit.
    pub fn from_proto(outcome: &proto::Outcome, params: &Params) -> Result<Self, NetError> {
        let session = SessionId(
            <[u8; 32]>::try_from(outcome.session.as_slice())
                .map_err(|_| NetError::BadReply("an outcome's session id is not 32 bytes"))?,
        );
        match &outcome.result {
            Some(proto::OutcomeResult::Sum(sum)) => Ok(Self::Sum {
                session,
                sum: unpack_sum(&sum.packed, params)?,
                included: included(&sum.included, params)?,
            }),
            Some(proto::OutcomeResult::Aborted(a)) => Ok(Self::Aborted {
                session,
                kind: proto::AbortKind::try_from(a.kind).unwrap_or(proto::AbortKind::ServerError),
                round: a.round,
                detail: a.detail.clone(),
            }),
            None => Err(NetError::BadReply("an outcome without a result")),
        }
    }

    /// The session.
    #[must_use]
    pub fn session(&self) -> SessionId {
        match self {
            Self::Sum { session, .. } | Self::Aborted { session, .. } => *session,
        }
    }
}

/// The sum of an outcome: `params.vector_len()` elements of `Z_m`, bit-packed
/// (`docs/WIRE.md` §4), in exactly the bytes they take.
fn unpack_sum(packed: &[u8], params: &Params) -> Result<Vec<u64>, NetError> {
    let mut reader = crate::wire::Reader::new(packed);
    let sum = crate::wire::unpack(&mut reader, params.vector_len(), params.modulus())
        .map_err(NetError::Outcome)?;
    reader.finish().map_err(NetError::Outcome)?;
    Ok(sum)
}

/// The included clients of an outcome: strictly ascending ids of the session's clients
/// `1..=n` (so at most `n` of them).
fn included(ids: &[u32], params: &Params) -> Result<Vec<ClientId>, NetError> {
    let n = u32::try_from(params.clients()).unwrap_or(u32::MAX);
    let ascending = ids.windows(2).all(|w| matches!(w, [a, b] if a < b));
    if !ascending || ids.iter().any(|&id| id == 0 || id > n) {
        return Err(NetError::BadReply(
            "an outcome's included clients are not ascending ids of the session",
        ));
    }
    Ok(ids.iter().copied().map(ClientId).collect())
}

/// One client's gRPC connection: the service's calls, one by one, as they are. It
/// reconnects by itself on the next call after a broken connection.
#[derive(Debug, Clone)]
pub struct Connection {
    grpc: tonic::client::Grpc<Channel>,
}

/// The largest reply a client decodes: an outcome's sum of up to `max_vector_len` elements,
/// or a server message of a session of up to `max_clients` clients.
fn max_reply(config: &ClientConfig) -> usize {
    let d = config.expect.max_vector_len.saturating_mul(8);
    let n = config.expect.max_clients.saturating_mul(256);
    d.saturating_add(n).saturating_add(1 << 20)
}

impl Connection {
    /// A connection for client `id` (its certificate and key are the configured paths with
    /// `{id}` replaced). Nothing is sent before the first call.
    ///
    /// # Errors
    /// [`NetError::Tls`] for unreadable certificates, [`NetError::Config`] for a bad address.
    pub fn new(config: &ClientConfig, id: u32) -> Result<Self, NetError> {
        let (cert, key) = config.tls.for_id(id);
        Self::with_files(config, &cert, &key)
    }

    /// A connection with the given certificate and key files.
    ///
    /// # Errors
    /// [`NetError::Tls`] for unreadable files, [`NetError::Config`] for a bad address.
    pub fn with_files(
        config: &ClientConfig,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Self, NetError> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(tls::ca(&config.tls.ca)?)
            .domain_name(config.server_name.clone());
        if cert.as_os_str().is_empty() {
            // No client certificate: only for tests of the server's refusal.
        } else {
            tls = tls.identity(tls::identity(cert, key)?);
        }
        Self::with_tls(config, tls)
    }

    /// A connection with a TLS configuration of the caller's.
    ///
    /// # Errors
    /// [`NetError::Config`] for a bad address, [`NetError::Tls`] for a bad TLS setting.
    pub fn with_tls(config: &ClientConfig, tls: ClientTlsConfig) -> Result<Self, NetError> {
        let endpoint = Endpoint::from_shared(format!("https://{}", config.server))
            .map_err(|e| NetError::Config(format!("server {}: {e}", config.server)))?
            .tls_config(tls)
            .map_err(|e| NetError::Tls(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        let grpc = tonic::client::Grpc::new(channel)
            .max_decoding_message_size(max_reply(config))
            .max_encoding_message_size(usize::MAX);
        Ok(Self { grpc })
    }

    async fn call<M1, M2>(&mut self, path: &'static str, message: M1) -> Result<M2, Status>
    where
        M1: prost::Message + Send + Sync + 'static,
        M2: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("not connected: {e}")))?;
        let codec = tonic_prost::ProstCodec::<M1, M2>::default();
        let path = http::uri::PathAndQuery::from_static(path);
        Ok(self
            .grpc
            .unary(Request::new(message), path, codec)
            .await?
            .into_inner())
    }

    /// `Join`.
    ///
    /// # Errors
    /// The call's status.
    pub async fn join(&mut self) -> Result<proto::JoinReply, Status> {
        self.call(proto::JOIN, proto::JoinRequest {}).await
    }

    /// `Submit`.
    ///
    /// # Errors
    /// The call's status.
    pub async fn submit(
        &mut self,
        session: &SessionId,
        round: u32,
        message: Vec<u8>,
    ) -> Result<proto::SubmitReply, Status> {
        self.submit_with(session, round, message, false).await
    }

    /// `Submit` with `then_await`: the reply comes once the round closed, and its `next`
    /// holds what [`await_next`](Self::await_next) would answer for `round` (none from a
    /// server that does not know the field, or for a refused message).
    ///
    /// # Errors
    /// The call's status.
    pub async fn submit_then_await(
        &mut self,
        session: &SessionId,
        round: u32,
        message: Vec<u8>,
    ) -> Result<proto::SubmitReply, Status> {
        self.submit_with(session, round, message, true).await
    }

    async fn submit_with(
        &mut self,
        session: &SessionId,
        round: u32,
        message: Vec<u8>,
        then_await: bool,
    ) -> Result<proto::SubmitReply, Status> {
        let request = proto::SubmitRequest {
            session: session.0.to_vec(),
            round,
            message: message.into(),
            then_await,
        };
        self.call(proto::SUBMIT, request).await
    }

    /// `Await`.
    ///
    /// # Errors
    /// The call's status.
    pub async fn await_next(
        &mut self,
        session: &SessionId,
        after: u32,
    ) -> Result<proto::AwaitReply, Status> {
        let request = proto::AwaitRequest {
            session: session.0.to_vec(),
            after,
        };
        self.call(proto::AWAIT, request).await
    }

    /// `Outcome`.
    ///
    /// # Errors
    /// The call's status.
    pub async fn outcome(&mut self, session: &SessionId) -> Result<proto::OutcomeReply, Status> {
        let request = proto::OutcomeRequest {
            session: session.0.to_vec(),
        };
        self.call(proto::OUTCOME, request).await
    }
}

/// Whether a failed call is worth repeating: the connection broke or the server is
/// restarting. Everything else is an answer.
///
/// An `INTERNAL` status with a source is the transport's, not the server's (a status the
/// server sends has none): above all a call sent as a stopping server closed the connection
/// with an HTTP/2 GOAWAY, which the server never processed. Repeating is safe: `Submit` of
/// a message already in answers `ALREADY_RECEIVED`, and the other calls change nothing.
fn transient(status: &Status) -> bool {
    let transport = status.code() == Code::Internal && core::error::Error::source(status).is_some();
    (transport
        || matches!(
            status.code(),
            Code::Unavailable
                | Code::Unknown
                | Code::Cancelled
                | Code::DeadlineExceeded
                | Code::Aborted
        ))
        && !status.message().contains("runs no more sessions")
}

fn status_error(status: Status) -> NetError {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => {
            NetError::Unauthenticated(status.message().to_owned())
        }
        _ => NetError::Transport(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// A client of the server: joins the session that admits clients, sends its input when
/// asked for it, and returns the session's outcome.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    id: ClientId,
    connection: Connection,
    /// The identity key and the PKI, in the malicious-server mode. The key's `Debug` is
    /// redacted and it is wiped on drop.
    identity: Option<(IdentityKey, Pki)>,
}

impl Client {
    /// Client `id` with its configuration.
    ///
    /// # Errors
    /// [`NetError`] of [`Connection::new`].
    ///
    /// With an `[identity]` in the configuration, the identity key and the PKI directory are
    /// read here (bounded, typed errors), and the PKI must hold this client's own verifying
    /// key: [`NetError::KeyFile`] otherwise.
    pub fn new(config: ClientConfig, id: u32) -> Result<Self, NetError> {
        let connection = Connection::new(&config, id)?;
        let identity = match &config.identity {
            None => None,
            Some(files) => {
                let key_path = files.key_for(id);
                let key = super::identity::read_identity_key(&key_path)?;
                let pki = super::identity::read_pki(&files.pki, config.expect.max_clients)?;
                super::identity::check_own_entry(&pki, ClientId(id), &key).map_err(|error| {
                    NetError::KeyFile {
                        path: files.pki.clone(),
                        error,
                    }
                })?;
                Some((key, pki))
            }
        };
        Ok(Self {
            config,
            id: ClientId(id),
            connection,
            identity,
        })
    }

    /// The threat model this client joins sessions in: malicious with an identity.
    fn threat_model(&self) -> ThreatModel {
        match self.identity {
            Some(_) => ThreatModel::Malicious,
            None => ThreatModel::HonestButCurious,
        }
    }

    /// A fresh copy of the identity for one session (the session consumes it).
    fn session_identity(&self) -> Option<Identity> {
        self.identity
            .as_ref()
            .map(|(key, pki)| Identity::new(IdentityKey::from_seed(&key.to_seed()), pki.clone()))
    }

    /// Repeats `call` through broken connections until it answers or the client gives up.
    async fn retry<T, F, Fut>(&mut self, give_up: Instant, mut call: F) -> Result<T, NetError>
    where
        F: FnMut(Connection) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let mut pause = Duration::from_millis(50);
        loop {
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NetError::TimedOut);
            }
            match tokio::time::timeout(left, call(self.connection.clone())).await {
                Err(_) => return Err(NetError::TimedOut),
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(status)) if transient(&status) => {
                    debug!(client = self.id.0, code = ?status.code(), message = status.message(), "retrying");
                    tokio::time::sleep(pause.min(left)).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Ok(Err(status)) => return Err(status_error(status)),
            }
        }
    }

    /// Runs one session with `input` (`d` elements below the modulus): joins, answers every
    /// round it is asked to, and returns the outcome every client sees.
    ///
    /// # Errors
    /// [`NetError::Unauthenticated`] when the server refuses this client's certificate,
    /// [`NetError::Params`] for parameters below this client's floors,
    /// [`NetError::Refused`] for a message the server refused, [`NetError::Protocol`] when
    /// the server misbehaves or the input does not fit, [`NetError::TimedOut`] after
    /// `give_up_after`.
    pub async fn run(&mut self, input: &[u64]) -> Result<Outcome, NetError> {
        let give_up = Instant::now()
            + Duration::try_from_secs_f64(self.config.give_up_after)
                .map_err(|_| NetError::Config("give_up_after".into()))?;
        let join = self
            .retry(give_up, |mut c| async move { c.join().await })
            .await?;
        let session = SessionId(
            <[u8; 32]>::try_from(join.session.as_slice())
                .map_err(|_| NetError::BadReply("a session id is not 32 bytes"))?,
        );
        // SECURITY: a client with an identity joins only a session in the malicious-server
        // mode: a server cannot downgrade it to the honest-but-curious mode, where nothing
        // stops it from substituting the clients' keys.
        let expectations = self.config.expect.for_session(session, self.threat_model());
        let params =
            Params::from_bytes_expecting(&join.params, &expectations).map_err(NetError::Params)?;
        let id = self.id;
        info!(client = id.0, session = %short_id(&session), clients = params.clients(), "joined");
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| NetError::Transport(format!("OS randomness: {e}")))?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let (mut state, mut message) =
            ClientSession::start(&params, id, self.session_identity(), &mut rng);
        let mut round = 0u32;
        loop {
            let bytes = core::mem::take(&mut message);
            let reply = self
                .retry(give_up, |mut c| {
                    let bytes = bytes.clone();
                    async move { c.submit_then_await(&session, round, bytes).await }
                })
                .await?;
            match Refusal::try_from(reply.refusal) {
                Ok(Refusal::Accepted | Refusal::AlreadyReceived) => {
                    debug!(client = id.0, round, "message in");
                }
                Ok(Refusal::WrongRound) => {
                    // Late: the round closed without this client, which is now out of the
                    // session; the outcome is still worth waiting for.
                    warn!(
                        client = id.0,
                        round,
                        detail = reply.detail,
                        "too late for the round"
                    );
                }
                Ok(refusal) => {
                    return Err(NetError::Refused {
                        refusal,
                        detail: reply.detail,
                    });
                }
                Err(_) => return Err(NetError::BadReply("an unknown refusal")),
            }
            // One call a round: the reply to the message carries what comes next, unless
            // the server does not hold it (a server without `then_await`).
            let next = match reply.next {
                Some(next) => next,
                None => {
                    self.retry(give_up, |mut c| async move {
                        c.await_next(&session, round).await
                    })
                    .await?
                }
            };
            match next.next {
                Some(proto::Next::Opening(opening)) => {
                    let handled = if state.needs_input() {
                        state.handle_with_input(&params, &opening.message, input, &mut rng)
                    } else {
                        state.handle(&params, &opening.message, &mut rng)
                    };
                    let (next_state, out) = handled.map_err(NetError::Protocol)?;
                    state = next_state;
                    message = out;
                    round = opening.round;
                }
                Some(proto::Next::Outcome(outcome)) => {
                    let outcome = Outcome::from_proto(&outcome, &params)?;
                    if outcome.session() != session {
                        return Err(NetError::BadReply("the outcome of another session"));
                    }
                    info!(client = id.0, "session over");
                    return Ok(outcome);
                }
                None => return Err(NetError::BadReply("an empty reply")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport failure under an `INTERNAL` status (it has a source) is repeated; an
    /// `INTERNAL` status the server sent (no source) is an answer.
    #[test]
    fn transport_failures_are_transient() {
        let sent_by_server = Status::internal("the server failed");
        assert!(!transient(&sent_by_server));
        let mut goaway = Status::internal("h2 protocol error: http2 error");
        goaway.set_source(std::sync::Arc::new(std::io::Error::other("GoAway")));
        assert!(transient(&goaway));
        assert!(transient(&Status::unavailable("the server is stopping")));
        assert!(!transient(&Status::unavailable(
            "the server runs no more sessions"
        )));
        assert!(!transient(&Status::unauthenticated(
            "no client certificate"
        )));
    }
}
