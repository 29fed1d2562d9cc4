//! The server: a tonic service over mutual TLS, a driver task that closes rounds at their
//! deadline (or once every expected client answered), and a persister that commits each
//! batch of accepted messages before they are acknowledged.

#[allow(unused_imports)]
use std::prelude::rust_2024::*;
#[allow(unused_imports)]
use std::{format, vec};

use alloc::collections::{BTreeMap, BTreeSet};
use core::convert::Infallible;
use core::future::Future;
use core::net::SocketAddr;
use core::task::{Context, Poll};
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use std::vec::Vec;

use chacha20::ChaCha20Rng;
use prost::bytes::Bytes;
use rand_core::SeedableRng as _;
use tokio::sync::{Notify, oneshot, watch};
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::codegen::{Body as HttpBody, BoxFuture, StdError, http};
use tonic::{Request, Response, Status};
use tracing::{Instrument as _, debug, error, info, info_span, warn};

use super::accept::ConnInfo;
use super::config::ServerConfig;
use super::proto::{self, Refusal};
use super::reply::{AWAIT_REPLY_OUTCOME, OUTCOME_REPLY_OUTCOME, SUBMIT_REPLY_NEXT, SharedReply};
use super::store::{Meta, Store, Stored};
use super::{NetError, short_id, tls};
use crate::crypto::sign::Pki;
use crate::error::{AbortReason, Error};
use crate::ids::{ClientId, SessionId};
use crate::params::{Params, ThreatModel};
use crate::protocol::Round;
use crate::protocol::session::{Closed, ServerSession};
use crate::protocol::state::StateKey;

/// Messages accepted, refused and late in one round of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundCounters {
    /// Accepted into the session.
    pub accepted: u64,
    /// Refused by the core (malformed, replayed, another sender's, ...).
    pub rejected: u64,
    /// Sent for a round that was not (or no longer) open: late, early, or for an unknown
    /// session.
    pub late: u64,
    /// Repeats of a message already in (a client retrying after a lost acknowledgement).
    pub repeated: u64,
    /// From a client not expected in the round.
    pub unexpected: u64,
}

/// The server, before it listens.
#[derive(Debug)]
pub struct Server;

/// A listening server: its address, its counters, its results; stop it with
/// [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
    /// The accept loop (TCP and the TLS handshakes).
    acceptor: JoinHandle<()>,
    driver: JoinHandle<()>,
    persister: JoinHandle<()>,
}

/// What the tasks share.
#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    key: StateKey,
    /// The clients' verifying keys, in the malicious-server mode.
    pki: Option<Pki>,
    store: Arc<Store>,
    live: Mutex<Live>,
    /// Bumped whenever a round opens or a session ends: wakes `Join` and `Await`.
    changed: watch::Sender<u64>,
    /// Bumped whenever a client is told an outcome or a session ends: wakes
    /// [`RunningServer::outcomes_delivered`] only (a thousand clients told one by one would
    /// otherwise wake every call still waiting a thousand times).
    told_changed: watch::Sender<u64>,
    /// The newest epoch of accepted messages that is on disk.
    persisted: watch::Sender<u64>,
    /// Acknowledgements waiting for their epoch to be on disk, by epoch: a commit releases
    /// exactly the ones it covers, rather than waking every waiting `Submit` to look.
    acks: Mutex<BTreeMap<u64, Vec<oneshot::Sender<()>>>>,
    /// Serializes the writers (persister and driver), so the disk never goes back a round.
    writing: tokio::sync::Mutex<()>,
    wake_driver: Notify,
    wake_persister: Notify,
    /// The largest request the service decodes.
    max_request: usize,
    /// Every session's counters, by session index and round number.
    counters: Mutex<BTreeMap<(u64, u8), RoundCounters>>,
    /// Requests refused for want of a valid client certificate.
    unauthenticated: Mutex<u64>,
    /// Connections whose TLS handshake failed (or timed out).
    handshake_failures: Mutex<u64>,
}

#[derive(Debug, Default)]
struct Live {
    current: Option<Current>,
    /// Outcomes of the finished sessions, with their index, by session id: each encoded
    /// once (`proto::Outcome`), the bytes every reply of it shares.
    finished: BTreeMap<[u8; 32], (u64, Bytes)>,
    /// Accepted messages so far (all sessions): the persister's progress is compared to it.
    epoch: u64,
    /// No more sessions will start.
    done: bool,
    /// The server is stopping: every waiting call returns `UNAVAILABLE`.
    stopping: bool,
    /// The clients told the outcome of the last session that ended.
    told: BTreeSet<ClientId>,
    /// The number of clients of the last session that ended.
    last_clients: usize,
}

#[derive(Debug)]
struct Current {
    index: u64,
    sid: SessionId,
    params: Params,
    round: Round,
    /// `None` while the round is being closed.
    session: Option<ServerSession>,
    expected: BTreeSet<ClientId>,
    answered: BTreeSet<ClientId>,
    outbox: BTreeMap<ClientId, Bytes>,
    /// `None`: AdvertiseKeys before the first advertisement.
    deadline: Option<Instant>,
}

impl Current {
    fn meta(&self) -> Meta {
        Meta {
            index: self.index,
            session: self.sid,
            params: self.params.to_bytes(),
            round: self.round.number(),
            answered: self.answered.clone(),
        }
    }

    fn all_answered(&self) -> bool {
        self.expected.is_subset(&self.answered)
    }

    fn deadline_ms(&self) -> u64 {
        self.deadline.map_or(0, |d| {
            u64::try_from(d.saturating_duration_since(Instant::now()).as_millis())
                .unwrap_or(u64::MAX)
        })
    }
}

/// A fresh generator from the OS for sealing nonces and session ids.
fn os_rng() -> Result<ChaCha20Rng, NetError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| NetError::Transport(format!("OS randomness: {e}")))?;
    Ok(ChaCha20Rng::from_seed(seed))
}

/// Reads the host key file: 32 raw bytes, or 64 hex digits (whitespace ignored); a file
/// over 256 bytes is refused before it is read.
///
/// # Errors
/// [`NetError::Config`] for a missing or malformed file.
pub fn read_state_key(path: &std::path::Path) -> Result<StateKey, NetError> {
    let bad = || {
        NetError::Config(format!(
            "state key {}: expected 32 bytes or 64 hex digits",
            path.display()
        ))
    };
    let bytes = super::identity::read_bounded(path, 256).map_err(|e| match e {
        NetError::KeyFile { error, .. } => {
            NetError::Config(format!("state key {}: {error}", path.display()))
        }
        other => other,
    })?;
    if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return Ok(StateKey::new(raw));
    }
    let mut hex = zeroize::Zeroizing::new(Vec::with_capacity(bytes.len()));
    hex.extend(bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()));
    let key = super::identity::hex32(&hex).ok_or_else(bad)?;
    Ok(StateKey::new(*key))
}

/// Writes a new random host key (64 hex digits) to `path`, readable by its owner only.
///
/// # Errors
/// [`NetError::Config`] when the file cannot be written.
pub fn write_state_key(path: &std::path::Path) -> Result<(), NetError> {
    use core::fmt::Write as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| NetError::Config(format!("OS randomness: {e}")))?;
    let mut text = String::new();
    for b in key {
        let _ = write!(text, "{b:02x}");
    }
    text.push('\n');
    tls::write_private(path, text.as_bytes())
}

/// The largest request a session's client may need to send, with room for the envelope:
/// a masked input of `d` elements of at most 8 bytes, or a ShareKeys or UnmaskingResponse
/// message for `h` share holders (`docs/WIRE.md` §3).
fn max_request(params: &Params) -> usize {
    let h = params.share_holders();
    let masked = 70 + params.vector_len().saturating_mul(8);
    let share_keys = 107 + 84 * h;
    let unmasking = 46 + 72 * h;
    masked.max(share_keys).max(unmasking).max(199) + 1024
}

/// Reads the PKI directory of a session of `clients` clients; logs the clients it holds no
/// key for (their advertisements will be refused).
fn load_pki(path: &std::path::Path, clients: usize) -> Result<Pki, NetError> {
    let pki = super::identity::read_pki(path, clients)?;
    let missing = clients.saturating_sub(pki.len());
    if missing > 0 {
        warn!(
            missing,
            "the PKI holds no verifying key for some clients: they cannot take part"
        );
    }
    Ok(pki)
}

/// The round after `round` in a session of `params`.
fn next_round(params: &Params, round: Round) -> Option<Round> {
    Some(match round {
        Round::AdvertiseKeys => Round::ShareKeys,
        Round::ShareKeys => Round::MaskedInput,
        Round::MaskedInput => match params.threat_model() {
            ThreatModel::Malicious => Round::Consistency,
            ThreatModel::HonestButCurious => Round::Unmasking,
        },
        Round::Consistency => Round::Unmasking,
        Round::Unmasking => return None,
    })
}

/// The round numbered `n` on the wire of `proto/secagg.proto` (a `uint32`).
fn round_numbered(n: u32) -> Option<Round> {
    crate::protocol::state::round_numbered(u8::try_from(n).ok()?)
}

/// The outcome message of a finished session of `params`: the sum bit-packed at the
/// modulus' width (`docs/WIRE.md` §4), as a masked input is.
fn outcome_of(
    sid: &SessionId,
    params: &Params,
    round: Round,
    result: &Result<crate::protocol::server::Output, Error>,
) -> proto::Outcome {
    let result = match result {
        Ok(output) => {
            let bits = params.modulus().bits();
            let mut packed = Vec::with_capacity(crate::wire::packed_len(output.sum.len(), bits));
            crate::wire::pack(&output.sum, bits, &mut packed);
            proto::OutcomeResult::Sum(proto::Sum {
                included: output.included.iter().map(|c| c.0).collect(),
                packed: Bytes::from(packed),
            })
        }
        Err(e) => {
            let (kind, round) = match e {
                Error::Abort(AbortReason::TooFewSurvivors { round, .. }) => {
                    (proto::AbortKind::TooFewSurvivors, *round)
                }
                Error::Abort(AbortReason::DisconnectedSurvivors { .. }) => {
                    (proto::AbortKind::DisconnectedSurvivors, round)
                }
                Error::Abort(AbortReason::ReconstructionMismatch { .. }) => {
                    (proto::AbortKind::ReconstructionMismatch, round)
                }
                _ => (proto::AbortKind::ServerError, round),
            };
            proto::OutcomeResult::Aborted(proto::Aborted {
                kind: kind as i32,
                round: u32::from(round.number()),
                detail: e.to_string(),
            })
        }
    };
    proto::Outcome {
        session: sid.0.to_vec(),
        result: Some(result),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves data that is still consistent for our uses
    // (every change is made whole under it); keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Server {
    /// Opens the state database (reopening a session a previous process left), binds the
    /// listener and starts serving.
    ///
    /// # Errors
    /// [`NetError`] for a bad configuration, unreadable certificates or key, a database
    /// another process holds, a stored state that does not open, or an address in use.
    pub async fn start(config: ServerConfig) -> Result<RunningServer, NetError> {
        config.check()?;
        let key = read_state_key(&config.state_key)?;
        let acceptor =
            super::accept::server_tls(&config.tls.cert, &config.tls.key, &config.tls.ca)?;
        let pki = match &config.pki {
            Some(path) => Some(load_pki(path, config.session.clients)?),
            None => None,
        };
        let store_path = config.state_db.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&store_path))
            .await
            .map_err(|e| NetError::Store(e.to_string()))??;
        let probe = config.session.params(SessionId([0; 32]))?;
        let (changed, _) = watch::channel(0);
        let (told_changed, _) = watch::channel(0);
        let (persisted, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            key,
            pki,
            store: Arc::new(store),
            live: Mutex::new(Live::default()),
            changed,
            told_changed,
            persisted,
            acks: Mutex::new(BTreeMap::new()),
            writing: tokio::sync::Mutex::new(()),
            wake_driver: Notify::new(),
            wake_persister: Notify::new(),
            max_request: max_request(&probe),
            counters: Mutex::new(BTreeMap::new()),
            unauthenticated: Mutex::new(0),
            handshake_failures: Mutex::new(0),
            config,
        });
        shared.restore()?;

        let listener =
            super::accept::listen(&shared.config.listen, shared.config.session.clients).await?;
        let addr = listener
            .local_addr()
            .map_err(|e| NetError::Transport(e.to_string()))?;
        // TLS is the accept loop's (`accept.rs`): a client without a certificate completes
        // the handshake and is refused by every call with UNAUTHENTICATED, a typed answer it
        // can act on (and a line in the log); a certificate the CA did not sign fails the
        // handshake itself, which is logged with the peer and counted.
        let (completed, connections) = tokio::sync::mpsc::channel(64);
        // Weak: the listener's tasks do not keep the state (and its database) alive.
        let failed_shared = Arc::downgrade(&shared);
        let failed: super::accept::OnFailure = Arc::new(move |peer, reason| {
            if let Some(shared) = failed_shared.upgrade() {
                shared.handshake_failed(peer, reason);
            }
        });
        let acceptor_task = tokio::spawn(super::accept::accept_loop(
            listener,
            acceptor,
            shared.config.session.clients,
            completed,
            failed,
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let service = Service(Arc::clone(&shared));
        let incoming = tonic::codegen::tokio_stream::wrappers::ReceiverStream::new(connections);
        let router = tonic::transport::Server::builder().add_service(service);
        let serve = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        let driver = tokio::spawn(Arc::clone(&shared).drive());
        let persister = tokio::spawn(Arc::clone(&shared).persist_loop());
        info!(%addr, "listening");
        Ok(RunningServer {
            addr,
            shared,
            stop: Some(stop),
            serve,
            acceptor: acceptor_task,
            driver,
            persister,
        })
    }
}

impl RunningServer {
    /// The address the server listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every finished session's outcome, by session index, from the database.
    ///
    /// # Errors
    /// [`NetError::Store`].
    pub fn results(&self) -> Result<Vec<(u64, proto::Outcome)>, NetError> {
        use prost::Message as _;
        self.shared
            .store
            .results()?
            .into_iter()
            .map(|(i, bytes)| {
                proto::Outcome::decode(bytes.as_slice())
                    .map(|o| (i, o))
                    .map_err(|e| NetError::Store(e.to_string()))
            })
            .collect()
    }

    /// The counters of every round so far, by session index and round number.
    #[must_use]
    pub fn counters(&self) -> BTreeMap<(u64, u8), RoundCounters> {
        lock(&self.shared.counters).clone()
    }

    /// Requests refused for want of a valid client certificate.
    #[must_use]
    pub fn unauthenticated(&self) -> u64 {
        *lock(&self.shared.unauthenticated)
    }

    /// Connections whose TLS handshake failed: a certificate of another CA, a peer that
    /// speaks no TLS, a handshake past its time. Each is logged with the peer's address and
    /// the reason.
    #[must_use]
    pub fn handshake_failures(&self) -> u64 {
        *lock(&self.shared.handshake_failures)
    }

    /// Waits until the configured number of sessions has run (forever if it is 0).
    pub async fn sessions_done(&self) {
        let mut rx = self.shared.changed.subscribe();
        loop {
            if lock(&self.shared.live).done {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// After [`sessions_done`](Self::sessions_done): waits until every client of the last
    /// session has fetched its outcome, or `grace` passed (a client that vanished never
    /// asks), so that stopping the server does not leave a client without its outcome.
    pub async fn outcomes_delivered(&self, grace: core::time::Duration) {
        let shared = &self.shared;
        let all_told = async {
            let mut rx = shared.told_changed.subscribe();
            loop {
                {
                    let live = lock(&shared.live);
                    if live.current.is_none() && live.told.len() >= live.last_clients {
                        return;
                    }
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(grace, all_told).await;
    }

    /// Stops listening and ends the tasks; what is on disk stays (a running session is
    /// reopened by the next start).
    ///
    /// Calls that wait (`Join`, `Await`, an acknowledgement) return `UNAVAILABLE`, which
    /// clients retry; messages not yet on disk are not acknowledged. Connections get five
    /// seconds to finish.
    pub async fn shutdown(mut self) {
        {
            let mut live = lock(&self.shared.live);
            live.stopping = true;
            live.done = true;
        }
        self.driver.abort();
        self.persister.abort();
        let _ = (&mut self.driver).await;
        let _ = (&mut self.persister).await;
        // Unacknowledged messages stay unacknowledged: their `Submit` calls answer
        // UNAVAILABLE, and the clients retry against the next start.
        lock(&self.shared.acks).clear();
        self.shared.publish();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.acceptor.abort();
        let _ = (&mut self.acceptor).await;
        if tokio::time::timeout(core::time::Duration::from_secs(5), &mut self.serve)
            .await
            .is_err()
        {
            self.serve.abort();
        }
        info!("stopped");
    }
}

impl Shared {
    /// Reopens the session a previous process left, if any, and the finished results.
    fn restore(&self) -> Result<(), NetError> {
        use prost::Message as _;
        let mut live = lock(&self.live);
        for (index, bytes) in self.store.results()? {
            if let Ok(outcome) = proto::Outcome::decode(bytes.as_slice())
                && let Ok(sid) = <[u8; 32]>::try_from(outcome.session.as_slice())
            {
                live.finished.insert(sid, (index, Bytes::from(bytes)));
            }
        }
        let Some(Stored {
            meta,
            state,
            outbox,
        }) = self.store.load()?
        else {
            return Ok(());
        };
        let params = Params::from_bytes(&meta.params)
            .map_err(|e| NetError::Store(format!("stored parameters: {e}")))?;
        let session = ServerSession::open(&state, &self.key, &params, self.pki.clone())
            .map_err(NetError::State)?;
        let round = session.round();
        let expected = if round == Round::AdvertiseKeys {
            all_clients(&params)
        } else {
            outbox.keys().copied().collect()
        };
        let deadline = if round == Round::AdvertiseKeys && meta.answered.is_empty() {
            None
        } else {
            Some(Instant::now() + self.config.deadlines.of(round))
        };
        info!(
            session = %short_id(&meta.session),
            index = meta.index,
            ?round,
            answered = meta.answered.len(),
            expected = expected.len(),
            "reopened the stored session; the round's deadline starts again"
        );
        live.current = Some(Current {
            index: meta.index,
            sid: meta.session,
            params,
            round,
            session: Some(session),
            expected,
            answered: meta.answered,
            outbox,
            deadline,
        });
        Ok(())
    }

    /// A connection's TLS handshake failed: counted, and logged with the peer and rustls'
    /// reason (which names what was wrong, never key material).
    fn handshake_failed(&self, peer: SocketAddr, reason: &str) {
        *lock(&self.handshake_failures) += 1;
        warn!(%peer, reason, "TLS handshake failed");
    }

    fn count(&self, index: u64, round: Round, f: impl FnOnce(&mut RoundCounters)) {
        f(lock(&self.counters)
            .entry((index, round.number()))
            .or_default());
    }

    fn publish(&self) {
        self.changed.send_modify(|v| *v += 1);
    }

    /// The driver: runs sessions one after another, closing each round at its deadline or
    /// once every expected client answered.
    async fn drive(self: Arc<Self>) {
        loop {
            let start_index = {
                let live = lock(&self.live);
                if live.current.is_some() {
                    None
                } else {
                    Some(())
                }
            };
            if start_index.is_some() {
                match self.start_session().await {
                    Ok(true) => {}
                    Ok(false) => {
                        lock(&self.live).done = true;
                        self.publish();
                        return;
                    }
                    Err(e) => {
                        error!(error = %e, "cannot start a session; the server stops starting sessions");
                        lock(&self.live).done = true;
                        self.publish();
                        return;
                    }
                }
            }
            let span = {
                let live = lock(&self.live);
                let Some(cur) = live.current.as_ref() else {
                    continue;
                };
                info_span!("session", id = %short_id(&cur.sid), index = cur.index)
            };
            if let Err(e) = Arc::clone(&self).run_session().instrument(span).await {
                error!(error = %e, "the session's state could not be stored; the server stops");
                lock(&self.live).done = true;
                self.publish();
                return;
            }
        }
    }

    /// Starts a new session unless the configured number has run; `false` when none starts.
    async fn start_session(&self) -> Result<bool, NetError> {
        let index = self.store.finished()?;
        if self.config.sessions != 0 && index >= self.config.sessions {
            return Ok(false);
        }
        let mut rng = os_rng()?;
        let mut sid = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut rng, &mut sid);
        let sid = SessionId(sid);
        let params = self.config.session.params(sid)?;
        let session = ServerSession::new(&params, self.pki.clone());
        let cur = Current {
            index,
            sid,
            params: params.clone(),
            round: Round::AdvertiseKeys,
            session: None,
            expected: all_clients(&params),
            answered: BTreeSet::new(),
            outbox: BTreeMap::new(),
            deadline: None,
        };
        let sealed = session.seal(&self.key, &mut rng);
        let meta = cur.meta();
        let guard = self.writing.lock().await;
        self.write(move |store| store.save_round(&meta, &sealed, &[]))
            .await?;
        drop(guard);
        info!(session = %short_id(&sid), index, clients = params.clients(), "session open: admitting clients");
        let mut live = lock(&self.live);
        live.current = Some(Current {
            session: Some(session),
            ..cur
        });
        drop(live);
        self.publish();
        Ok(true)
    }

    /// A blocking store call off the runtime's threads.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, NetError> + Send + 'static,
    ) -> Result<T, NetError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| NetError::Store(format!("the write did not finish: {e}")))?
    }

    /// Runs the current session's rounds until it ends.
    async fn run_session(self: Arc<Self>) -> Result<(), NetError> {
        loop {
            self.wait_for_close().await;
            let guard = self.writing.lock().await;
            let taken = {
                let mut live = lock(&self.live);
                let Some(cur) = live.current.as_mut() else {
                    return Ok(());
                };
                cur.session.take().map(|s| {
                    (
                        s,
                        cur.params.clone(),
                        cur.round,
                        cur.index,
                        cur.sid,
                        cur.answered.len(),
                        cur.expected.len(),
                    )
                })
            };
            let Some((session, params, round, index, sid, answered, expected)) = taken else {
                return Ok(());
            };
            let c = lock(&self.counters)
                .get(&(index, round.number()))
                .copied()
                .unwrap_or_default();
            info!(
                ?round,
                answered,
                expected,
                accepted = c.accepted,
                rejected = c.rejected,
                late = c.late,
                "round closing"
            );
            // The state key is read through the shared state, not copied.
            let shared = Arc::clone(&self);
            let session_params = params.clone();
            let closed = tokio::task::spawn_blocking(move || {
                let closed = session.close(&params);
                let sealed = match &closed {
                    Ok(Closed::Next(next, _)) => {
                        os_rng().map(|mut rng| Some(next.seal(&shared.key, &mut rng)))
                    }
                    _ => Ok(None),
                };
                (closed, sealed)
            })
            .await;
            let (closed, sealed) = match closed {
                Ok(pair) => pair,
                Err(e) => (Err(Error::Internal("the round's close panicked")), {
                    error!(error = %e, "the round's close panicked");
                    Ok(None)
                }),
            };
            let sealed = sealed?;
            let epoch = lock(&self.live).epoch;
            match (closed, sealed) {
                (Ok(Closed::Next(next, envelopes)), Some(sealed)) => {
                    // One buffer per message, shared by its recipients (a roster goes to all).
                    let envelopes: Vec<(Vec<ClientId>, Bytes)> = envelopes
                        .into_iter()
                        .map(|e| (e.to, Bytes::from(e.bytes)))
                        .collect();
                    let mut outbox = BTreeMap::new();
                    for (to, bytes) in &envelopes {
                        for id in to {
                            outbox.insert(*id, bytes.clone());
                        }
                    }
                    let next_round = next.round();
                    let meta = Meta {
                        index,
                        session: sid,
                        params: self.current_params_bytes(),
                        round: next_round.number(),
                        answered: BTreeSet::new(),
                    };
                    self.write(move |store| store.save_round(&meta, &sealed, &envelopes))
                        .await?;
                    drop(guard);
                    self.mark_persisted(epoch);
                    {
                        let mut live = lock(&self.live);
                        if let Some(cur) = live.current.as_mut() {
                            cur.round = next_round;
                            cur.expected = outbox.keys().copied().collect();
                            cur.answered.clear();
                            cur.outbox = outbox;
                            cur.session = Some(*next);
                            cur.deadline =
                                Some(Instant::now() + self.config.deadlines.of(next_round));
                            info!(round = ?next_round, clients = cur.expected.len(), "round open");
                        }
                    }
                    self.publish();
                }
                (result, _) => {
                    let result = match result {
                        Ok(Closed::Done(output)) => Ok(output),
                        Ok(Closed::Next(..)) => Err(Error::Internal("a sealed state is missing")),
                        Err(e) => Err(e),
                    };
                    let outcome = outcome_of(&sid, &session_params, round, &result);
                    let params_clients = self.config.session.clients;
                    // Encoded once: the database and every client's reply get these bytes.
                    let encoded = Bytes::from(prost::Message::encode_to_vec(&outcome));
                    drop(outcome);
                    let stored = encoded.clone();
                    self.write(move |store| store.finish(index, &stored))
                        .await?;
                    drop(guard);
                    self.mark_persisted(epoch);
                    match &result {
                        Ok(output) => {
                            info!(included = output.included.len(), "session done: sum stored")
                        }
                        Err(e) => warn!(error = %e, "session aborted: reason stored"),
                    }
                    {
                        let mut live = lock(&self.live);
                        live.current = None;
                        live.told.clear();
                        live.last_clients = params_clients;
                        live.finished.insert(sid.0, (index, encoded));
                    }
                    self.publish();
                    self.told_changed.send_modify(|v| *v += 1);
                    return Ok(());
                }
            }
        }
    }

    fn current_params_bytes(&self) -> [u8; crate::params::PARAMS_LEN] {
        lock(&self.live)
            .current
            .as_ref()
            .map_or([0; crate::params::PARAMS_LEN], |c| c.params.to_bytes())
    }

    /// Waits until the current round may close: every expected client answered, or the
    /// deadline passed.
    async fn wait_for_close(&self) {
        loop {
            let notified = self.wake_driver.notified();
            let (deadline, all) = {
                let live = lock(&self.live);
                match live.current.as_ref() {
                    Some(cur) => (cur.deadline, cur.all_answered()),
                    None => return,
                }
            };
            if all {
                return;
            }
            match deadline {
                None => notified.await,
                Some(d) => {
                    if tokio::time::timeout_at(d.into(), notified).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// The persister: commits the state after each batch of accepted messages, then
    /// releases their acknowledgements.
    async fn persist_loop(self: Arc<Self>) {
        let Ok(mut rng) = os_rng() else {
            error!("no OS randomness: nothing can be persisted");
            return;
        };
        loop {
            self.wake_persister.notified().await;
            let guard = self.writing.lock().await;
            let snapshot = {
                let live = lock(&self.live);
                let epoch = live.epoch;
                if epoch <= *self.persisted.borrow() {
                    None
                } else {
                    // Only the state's fields are copied under the lock (the accumulator,
                    // 4 MB at `d = 10^6`); it is sealed with the write, off the lock and off
                    // the runtime's threads, so that messages are accepted meanwhile.
                    live.current.as_ref().and_then(|cur| {
                        cur.session
                            .as_ref()
                            .map(|s| (cur.meta(), s.snapshot(), epoch))
                    })
                }
            };
            let Some((meta, snapshot, epoch)) = snapshot else {
                continue;
            };
            let shared = Arc::clone(&self);
            let mut batch_rng = ChaCha20Rng::from_rng(&mut rng);
            match self
                .write(move |store| {
                    let sealed = snapshot.seal(&shared.key, &mut batch_rng);
                    store.save_batch(&meta, &sealed)
                })
                .await
            {
                Ok(()) => {
                    drop(guard);
                    self.mark_persisted(epoch);
                }
                Err(e) => {
                    // Unacknowledged messages stay unacknowledged: their senders retry or
                    // drop; the disk still holds the last good state.
                    error!(error = %e, "could not store a batch of messages");
                }
            }
        }
    }

    /// The client a request comes from, by its connection's verified certificate (read once
    /// per connection, at the end of its handshake: `accept::ClientConn`).
    fn authenticate<T>(&self, request: &Request<T>) -> Result<ClientId, Status> {
        let info = request.extensions().get::<ConnInfo>();
        let peer = info.map(|i| i.peer);
        // SECURITY: a request without its connection's `ConnInfo` has no verified sender
        // and is refused, never served under some default id.
        let result = info.map_or(Err(tls::CertIdError::NoCertificate), |i| i.client.clone());
        result.map_err(|e| {
            *lock(&self.unauthenticated) += 1;
            warn!(?peer, reason = %e, "refused an unauthenticated request");
            Status::unauthenticated(e.to_string())
        })
    }

    async fn join(
        &self,
        request: Request<proto::JoinRequest>,
    ) -> Result<Response<proto::JoinReply>, Status> {
        let id = self.authenticate(&request)?;
        let mut rx = self.changed.subscribe();
        loop {
            {
                let live = lock(&self.live);
                if let Some(cur) = live.current.as_ref()
                    && cur.round == Round::AdvertiseKeys
                    && cur.session.is_some()
                {
                    debug!(client = id.0, session = %short_id(&cur.sid), "joined");
                    return Ok(Response::new(proto::JoinReply {
                        session: cur.sid.0.to_vec(),
                        params: cur.params.to_bytes().to_vec(),
                        deadline_ms: cur.deadline_ms(),
                    }));
                }
                if live.stopping {
                    return Err(stopping());
                }
                if live.done {
                    return Err(Status::failed_precondition(
                        "the server runs no more sessions",
                    ));
                }
            }
            if rx.changed().await.is_err() {
                return Err(Status::unavailable("the server is stopping"));
            }
        }
    }

    async fn submit(
        &self,
        request: Request<proto::SubmitRequest>,
    ) -> Result<Response<proto::SubmitReply>, Status> {
        let id = self.authenticate(&request)?;
        let request = request.into_inner();
        let (refusal, detail, wait) = self.accept(id, &request);
        // The message is in the session's state (or refused): its bytes (4 MB at
        // `d = 10^6`) are not held through the waits below.
        let proto::SubmitRequest {
            session,
            round,
            then_await,
            message,
        } = request;
        drop(message);
        if let Some(epoch) = wait {
            // Acknowledged only once the state holding it is on disk.
            self.wake_persister.notify_one();
            self.wait_persisted(epoch).await?;
        }
        let mut reply = proto::SubmitReply {
            refusal: refusal as i32,
            detail,
            next: None,
        };
        // `then_await`: the round's close is waited for here, as `Await` would, for a
        // message that is in (or too late, whose sender still waits for the outcome).
        let awaits = then_await
            && matches!(
                refusal,
                Refusal::Accepted | Refusal::AlreadyReceived | Refusal::WrongRound
            );
        let sid = <[u8; 32]>::try_from(session.as_slice()).ok();
        if let (true, Some(sid), Some(after)) = (awaits, sid, round_numbered(round)) {
            match self.wait_next(id, &sid, after).await? {
                Awaited::Opening(opening) => {
                    reply.next = Some(proto::AwaitReply {
                        next: Some(proto::Next::Opening(opening)),
                    });
                }
                Awaited::Outcome(encoded) => {
                    let prefix = prost::Message::encode_to_vec(&reply);
                    return shared_reply(
                        &prefix,
                        &[SUBMIT_REPLY_NEXT, AWAIT_REPLY_OUTCOME],
                        &encoded,
                    );
                }
            }
        }
        Ok(Response::new(reply))
    }

    /// Feeds a submitted message to the session: the answer, and the epoch to wait for
    /// on disk before giving it.
    fn accept(
        &self,
        id: ClientId,
        request: &proto::SubmitRequest,
    ) -> (Refusal, String, Option<u64>) {
        let mut live = lock(&self.live);
        let finished = <[u8; 32]>::try_from(request.session.as_slice())
            .ok()
            .and_then(|s| live.finished.get(&s).map(|(index, _)| *index));
        let epoch = live.epoch;
        let Some(cur) = live
            .current
            .as_mut()
            .filter(|c| c.sid.0.as_slice() == request.session.as_slice())
        else {
            let (refusal, detail) = if let Some(index) = finished {
                // Late for the session's last round.
                self.count(index, Round::Unmasking, |c| c.late += 1);
                (Refusal::WrongRound, "the session is over".to_owned())
            } else {
                (
                    Refusal::WrongSession,
                    "no such session is running".to_owned(),
                )
            };
            debug!(client = id.0, ?refusal, "refused");
            return (refusal, detail, None);
        };
        let round = cur.round;
        let index = cur.index;
        if cur.session.is_none() || request.round != u32::from(round.number()) {
            self.count(index, round, |c| c.late += 1);
            info!(client = id.0, sent_for = request.round, collecting = ?round, "late or early message refused");
            let detail = format!("the server collects round {} ({round:?})", round.number());
            return (Refusal::WrongRound, detail, None);
        }
        if !cur.expected.contains(&id) {
            self.count(index, round, |c| c.unexpected += 1);
            info!(
                client = id.0,
                ?round,
                "message from a client not expected in this round"
            );
            return (
                Refusal::NotExpected,
                format!("client {id} is not in {round:?}"),
                None,
            );
        }
        if cur.answered.contains(&id) {
            self.count(index, round, |c| c.repeated += 1);
            return (Refusal::AlreadyReceived, String::new(), Some(epoch));
        }
        let params = cur.params.clone();
        let Some(session) = cur.session.as_mut() else {
            return (Refusal::WrongRound, "the round is closing".into(), None);
        };
        if let Err(rejected) = session.receive(&params, id, &request.message) {
            self.count(index, round, |c| c.rejected += 1);
            warn!(client = id.0, ?round, reason = %rejected, "message rejected");
            return (Refusal::Rejected, rejected.to_string(), None);
        }
        self.count(index, round, |c| c.accepted += 1);
        cur.answered.insert(id);
        if cur.deadline.is_none() {
            cur.deadline = Some(Instant::now() + self.config.deadlines.of(round));
        }
        let wake = cur.all_answered() || cur.answered.len() == 1;
        debug!(client = id.0, ?round, "message accepted");
        live.epoch = epoch + 1;
        if wake {
            self.wake_driver.notify_one();
        }
        (Refusal::Accepted, String::new(), Some(epoch + 1))
    }

    /// Waits until the messages up to `epoch` are on disk: woken once, by the commit that
    /// covers it ([`mark_persisted`](Self::mark_persisted)), or refused when the server stops.
    async fn wait_persisted(&self, epoch: u64) -> Result<(), Status> {
        let released = {
            let mut acks = lock(&self.acks);
            // Under the lock `mark_persisted` raises `persisted` with: either the commit is
            // seen here, or it will find this waiter.
            if *self.persisted.borrow() >= epoch {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            acks.entry(epoch).or_default().push(tx);
            rx
        };
        // `shutdown` sets `stopping` before it drops the waiters: a waiter registered after
        // that sees the flag here.
        if lock(&self.live).stopping {
            return Err(stopping());
        }
        released.await.map_err(|_| stopping())
    }

    /// The messages up to `epoch` are on disk: releases their acknowledgements.
    fn mark_persisted(&self, epoch: u64) {
        let covered = {
            let mut acks = lock(&self.acks);
            self.persisted.send_modify(|p| *p = (*p).max(epoch));
            let later = acks.split_off(&epoch.saturating_add(1));
            core::mem::replace(&mut *acks, later)
        };
        for tx in covered.into_values().flatten() {
            let _ = tx.send(());
        }
    }

    async fn await_next(
        &self,
        request: Request<proto::AwaitRequest>,
    ) -> Result<Response<proto::AwaitReply>, Status> {
        let id = self.authenticate(&request)?;
        let request = request.into_inner();
        let sid = <[u8; 32]>::try_from(request.session.as_slice())
            .map_err(|_| Status::invalid_argument("a session id is 32 bytes"))?;
        let after = round_numbered(request.after)
            .ok_or_else(|| Status::invalid_argument("no such round"))?;
        match self.wait_next(id, &sid, after).await? {
            Awaited::Opening(opening) => Ok(Response::new(proto::AwaitReply {
                next: Some(proto::Next::Opening(opening)),
            })),
            Awaited::Outcome(encoded) => shared_outcome(AWAIT_REPLY_OUTCOME, &encoded),
        }
    }

    /// Waits until round `after` of session `sid` closes: then the message that opens
    /// client `id`'s next round or, for a client sent nothing, the session's outcome
    /// (`Await`, and `Submit` with `then_await`).
    async fn wait_next(
        &self,
        id: ClientId,
        sid: &[u8; 32],
        after: Round,
    ) -> Result<Awaited, Status> {
        let mut rx = self.changed.subscribe();
        loop {
            {
                let live = lock(&self.live);
                if live.stopping {
                    return Err(stopping());
                }
                if let Some((_, outcome)) = live.finished.get(sid) {
                    let encoded = outcome.clone();
                    drop(live);
                    // Counted as told once its reply is made: a reply lost on its way (the
                    // client asks again) counts too; `outcomes_delivered` is a grace period,
                    // not a receipt.
                    lock(&self.live).told.insert(id);
                    self.told_changed.send_modify(|v| *v += 1);
                    return Ok(Awaited::Outcome(encoded));
                }
                let Some(cur) = live.current.as_ref().filter(|c| &c.sid.0 == sid) else {
                    return Err(Status::not_found("no such session"));
                };
                // The round after `after` is open and this client was sent its message;
                // otherwise it was left out, and the outcome is all that is left to wait for.
                if cur.session.is_some()
                    && next_round(&cur.params, after) == Some(cur.round)
                    && let Some(message) = cur.outbox.get(&id)
                {
                    return Ok(Awaited::Opening(proto::Opening {
                        round: u32::from(cur.round.number()),
                        message: message.clone(),
                        deadline_ms: cur.deadline_ms(),
                    }));
                }
            }
            if rx.changed().await.is_err() {
                return Err(Status::unavailable("the server is stopping"));
            }
        }
    }

    async fn outcome(
        &self,
        request: Request<proto::OutcomeRequest>,
    ) -> Result<Response<proto::OutcomeReply>, Status> {
        self.authenticate(&request)?;
        let sid = <[u8; 32]>::try_from(request.get_ref().session.as_slice())
            .map_err(|_| Status::invalid_argument("a session id is 32 bytes"))?;
        let live = lock(&self.live);
        match live.finished.get(&sid) {
            Some((_, outcome)) => shared_outcome(OUTCOME_REPLY_OUTCOME, outcome),
            None if live.current.as_ref().is_some_and(|c| c.sid.0 == sid) => {
                Err(Status::failed_precondition("the session is still running"))
            }
            None => Err(Status::not_found("no such session")),
        }
    }
}

/// What round `after`'s close brings a client ([`Shared::wait_next`]).
enum Awaited {
    /// The message that opens its next round.
    Opening(proto::Opening),
    /// The session's outcome, encoded once for every client.
    Outcome(Bytes),
}

/// A reply of the encoded fields `prefix` followed by the encoded outcome `encoded` nested
/// in the fields `path` (outermost first): an empty message, and the shared bytes for
/// [`unary`] to send in its place (not copied per reply).
fn shared_reply<M: Default>(
    prefix: &[u8],
    path: &[u32],
    encoded: &Bytes,
) -> Result<Response<M>, Status> {
    let reply = SharedReply::nested(prefix, path, encoded.clone())
        .ok_or_else(|| Status::internal("the outcome does not fit a reply"))?;
    let mut response = Response::new(M::default());
    response.extensions_mut().insert(reply);
    Ok(response)
}

/// A reply whose only field, numbered `tag`, is the encoded outcome `encoded`: an empty
/// message, and the shared bytes for [`unary`] to send in its place (not copied per reply).
fn shared_outcome<M: Default>(tag: u32, encoded: &Bytes) -> Result<Response<M>, Status> {
    shared_reply(&[], &[tag], encoded)
}

fn stopping() -> Status {
    Status::unavailable("the server is stopping")
}

fn all_clients(params: &Params) -> BTreeSet<ClientId> {
    (1..=u32::try_from(params.clients()).unwrap_or(u32::MAX))
        .map(ClientId)
        .collect()
}

// ---------------------------------------------------------------------------------------
// The gRPC service, written against `tonic::codegen` as tonic-build would generate it.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Service(Arc<Shared>);

impl tonic::server::NamedService for Service {
    const NAME: &'static str = proto::SERVICE;
}

/// One unary method: a closure from the request to the reply.
struct Method<F>(F);

impl<M1, M2, F, Fut> tonic::codegen::Service<Request<M1>> for Method<F>
where
    F: FnMut(Request<M1>) -> Fut,
    Fut: Future<Output = Result<Response<M2>, Status>> + Send + 'static,
{
    type Response = Response<M2>;
    type Error = Status;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<M1>) -> Fut {
        (self.0)(request)
    }
}

/// Decodes one request (at most `limit` bytes), runs `method` and encodes its reply, or
/// sends the [`SharedReply`] the method left in its response's extensions instead.
async fn unary<B, M1, M2, F, Fut>(
    limit: usize,
    request: http::Request<B>,
    method: F,
) -> http::Response<Body>
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
    M1: prost::Message + Default + Send + Sync + 'static,
    M2: prost::Message + Send + Sync + 'static,
    F: FnMut(Request<M1>) -> Fut + Send,
    Fut: Future<Output = Result<Response<M2>, Status>> + Send + 'static,
{
    let codec = tonic_prost::ProstCodec::<M2, M1>::default();
    let mut grpc = tonic::server::Grpc::new(codec).max_decoding_message_size(limit);
    let mut response = grpc.unary(Method(method), request).await;
    if let Some(shared) = response.extensions_mut().remove::<SharedReply>() {
        *response.body_mut() = Body::new(shared.into_body());
    }
    response
}

impl<B> tonic::codegen::Service<http::Request<B>> for Service
where
    B: HttpBody + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let shared = Arc::clone(&self.0);
        let limit = shared.max_request;
        match request.uri().path() {
            proto::JOIN => Box::pin(async move {
                Ok(unary(limit, request, move |r| {
                    let s = Arc::clone(&shared);
                    async move { s.join(r).await }
                })
                .await)
            }),
            proto::SUBMIT => Box::pin(async move {
                Ok(unary(limit, request, move |r| {
                    let s = Arc::clone(&shared);
                    async move { s.submit(r).await }
                })
                .await)
            }),
            proto::AWAIT => Box::pin(async move {
                Ok(unary(limit, request, move |r| {
                    let s = Arc::clone(&shared);
                    async move { s.await_next(r).await }
                })
                .await)
            }),
            proto::OUTCOME => Box::pin(async move {
                Ok(unary(limit, request, move |r| {
                    let s = Arc::clone(&shared);
                    async move { s.outcome(r).await }
                })
                .await)
            }),
            _ => Box::pin(async move {
                let mut response = http::Response::new(Body::default());
                let headers = response.headers_mut();
                headers.insert(
                    Status::GRPC_STATUS,
                    (tonic::Code::Unimplemented as i32).into(),
                );
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            }),
        }
    }
}
