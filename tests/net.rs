//! Fault tests of the networked driver (`secagg::net`, issue 14): a real server and real
//! clients on 127.0.0.1 over mutual TLS, as tokio tasks, and as processes for the SIGKILL
//! test. Each test is bounded in time (`bounded`), every deadline is short, and every test
//! checks the sum against the plain sum of the clients the server says it included.

use core::time::Duration;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use secagg::net::config::ClientIdentity;
use secagg::net::proto::{self, Refusal};
use secagg::net::testing::{Deployment, listening_addr};
use secagg::net::tls::DevCerts;
use secagg::net::{Client, ClientConfig, Connection, NetError, Outcome, ServerConfig};
use secagg::protocol::session::ClientSession;
use secagg::{ClientId, Params, SessionId};
use tokio::sync::{Notify, mpsc};

/// The rounds of a session at most (AdvertiseKeys to Unmasking, ConsistencyCheck included).
const MAX_ROUNDS: usize = 5;

/// The longest any test may take.
const TEST_BOUND: Duration = Duration::from_secs(40);

async fn bounded<F: Future<Output = ()>>(f: F) {
    let start = Instant::now();
    tokio::time::timeout(TEST_BOUND, f)
        .await
        .expect("the test hung past its bound");
    eprintln!("test took {:.2} s", start.elapsed().as_secs_f64());
}

/// Whether `done` holds within 5 s, checked every 20 ms (a bounded loop: the server counts
/// a failed handshake in its own task, which may end after the client saw the failure).
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

fn input(id: u32, d: usize) -> Vec<u64> {
    (0..d as u64).map(|i| u64::from(id) * 1000 + i).collect()
}

/// The sum mod 2^32 of the inputs of `included`.
fn plain_sum(included: &[ClientId], d: usize) -> Vec<u64> {
    let mut sum = vec![0u64; d];
    for c in included {
        for (s, x) in sum.iter_mut().zip(input(c.0, d)) {
            *s = (*s + x) % (1 << 32);
        }
    }
    sum
}

/// The outcome is a sum of exactly `expected`, and the right one.
fn assert_sum(outcome: &Outcome, expected: &[u32], d: usize) {
    match outcome {
        Outcome::Sum { sum, included, .. } => {
            let want: Vec<ClientId> = expected.iter().copied().map(ClientId).collect();
            assert_eq!(included, &want, "included clients");
            assert_eq!(
                sum,
                &plain_sum(included, d),
                "the sum of the included inputs"
            );
        }
        Outcome::Aborted { .. } => panic!("expected a sum, got {outcome:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// A scripted client: the protocol as `Client::run` runs it, with a fault at a round.
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
enum Act {
    /// Never answer this round (the client is killed: its task ends, its connection drops).
    Vanish,
    /// Answer after a pause.
    Delay(Duration),
    /// Drop the connection and answer over a new one.
    Reconnect,
    /// Report the round, wait for the notify, then answer.
    Hold(Arc<Notify>),
}

struct Script {
    id: u32,
    d: usize,
    /// The fault and the round (`Round` numbering) it strikes at.
    at: Option<(u32, Act)>,
    /// Told `(id, round)` each time a message of this client is in (accepted).
    progress: Option<mpsc::UnboundedSender<(u32, u32)>>,
    /// The messages this client sent, by round.
    sent: BTreeMap<u32, Vec<u8>>,
    /// Each message sent with `then_await` (one call a round, as `Client::run` makes),
    /// rather than `Submit` then `Await`.
    then_await: bool,
}

fn transient(s: &tonic::Status) -> bool {
    matches!(
        s.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    ) || refused_by_goaway(s)
}

/// A call sent on a connection the stopping server had just closed with an HTTP/2 GOAWAY:
/// the server never processed it (tonic reports `INTERNAL` with the h2 error as source),
/// so repeating it is safe. A race of the restart tests, seen under load.
fn refused_by_goaway(s: &tonic::Status) -> bool {
    let mut source = core::error::Error::source(s);
    while let Some(e) = source {
        if format!("{e:?}").contains("GoAway(") {
            return true;
        }
        source = e.source();
    }
    false
}

/// Repeats a call through connection failures (a restarting server) for 20 s at most.
macro_rules! retry {
    ($conn:expr, $call:ident ( $($arg:expr),* )) => {{
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            match $conn.$call($($arg),*).await {
                Err(s) if transient(&s) && Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other,
            }
        }
    }};
}

/// What a scripted client saw.
#[derive(Debug)]
enum Seen {
    Outcome(Outcome),
    Vanished,
}

impl Script {
    fn honest(id: u32, d: usize) -> Self {
        Self {
            id,
            d,
            at: None,
            progress: None,
            sent: BTreeMap::new(),
            then_await: false,
        }
    }

    fn then_await(mut self, then_await: bool) -> Self {
        self.then_await = then_await;
        self
    }

    fn at(mut self, round: u32, act: Act) -> Self {
        self.at = Some((round, act));
        self
    }

    async fn run(&mut self, config: &ClientConfig) -> (Seen, Vec<(u32, Refusal)>) {
        let mut conn = Connection::new(config, self.id).unwrap();
        let mut refusals = Vec::new();
        let join = retry!(conn, join()).unwrap();
        let sid = SessionId(join.session.clone().try_into().unwrap());
        let params = Params::from_bytes(&join.params).unwrap();
        let mut rng = chacha_rng(self.id);
        // With an identity in the configuration, the malicious-server mode.
        let identity = config.identity.as_ref().map(|files| {
            let key = secagg::net::identity::read_identity_key(&files.key_for(self.id)).unwrap();
            let pki = secagg::net::identity::read_pki(&files.pki, 100).unwrap();
            secagg::protocol::client::Identity::new(key, pki)
        });
        let (mut state, mut message) =
            ClientSession::start(&params, ClientId(self.id), identity, &mut rng);
        let mut round = 0;
        // A session has at most five rounds: one more turn is a server that never ends it.
        for _ in 0..=MAX_ROUNDS {
            if let Some((r, act)) = self.at.clone()
                && r == round
            {
                match act {
                    Act::Vanish => return (Seen::Vanished, refusals),
                    Act::Delay(d) => tokio::time::sleep(d).await,
                    Act::Reconnect => conn = Connection::new(config, self.id).unwrap(),
                    Act::Hold(n) => {
                        if let Some(p) = &self.progress {
                            let _ = p.send((self.id, 100 + round));
                        }
                        n.notified().await;
                    }
                }
            }
            self.sent.insert(round, message.clone());
            let reply = if self.then_await {
                retry!(conn, submit_then_await(&sid, round, message.clone())).unwrap()
            } else {
                retry!(conn, submit(&sid, round, message.clone())).unwrap()
            };
            // With `then_await`, the reply carries what comes next (for a message in, or a
            // late one); without it, or for a refused message, `Await` is asked.
            assert_eq!(
                reply.next.is_some(),
                self.then_await
                    && matches!(
                        Refusal::try_from(reply.refusal),
                        Ok(Refusal::Accepted | Refusal::AlreadyReceived | Refusal::WrongRound)
                    ),
                "client {} round {round}",
                self.id
            );
            let answered = reply.next.clone();
            let refusal = Refusal::try_from(reply.refusal).unwrap();
            if refusal != Refusal::Accepted {
                refusals.push((round, refusal));
            }
            if let Some(p) = &self.progress {
                let _ = p.send((self.id, round));
            }
            if matches!(self.at, Some((r, Act::Reconnect)) if r == round) {
                conn = Connection::new(config, self.id).unwrap();
            }
            let next = match answered {
                Some(next) => next,
                None => retry!(conn, await_next(&sid, round)).unwrap(),
            };
            match next.next.unwrap() {
                proto::Next::Opening(o) => {
                    let (s, m) = answer(state, &params, &o.message, self.id, self.d, &mut rng);
                    state = s;
                    message = m;
                    round = o.round;
                }
                proto::Next::Outcome(o) => {
                    return (
                        Seen::Outcome(Outcome::from_proto(&o, &params).unwrap()),
                        refusals,
                    );
                }
            }
        }
        panic!("client {}: no outcome after {MAX_ROUNDS} rounds", self.id)
    }
}

/// Client `id`'s answer to a server message: with its input (`d` elements) exactly when the
/// session asks for it.
fn answer(
    state: ClientSession,
    params: &Params,
    message: &[u8],
    id: u32,
    d: usize,
    rng: &mut impl rand_core::CryptoRng,
) -> (ClientSession, Vec<u8>) {
    if state.needs_input() {
        state
            .handle_with_input(params, message, &input(id, d), rng)
            .unwrap()
    } else {
        state.handle(params, message, rng).unwrap()
    }
}

fn chacha_rng(id: u32) -> impl rand_core::CryptoRng {
    use rand_core::SeedableRng as _;
    chacha20::ChaCha20Rng::seed_from_u64(u64::from(id) ^ 0x5eca_9900)
}

fn outcome(seen: &Seen) -> &Outcome {
    match seen {
        Seen::Outcome(o) => o,
        Seen::Vanished => panic!("the client vanished"),
    }
}

async fn run_scripts(
    config: &ClientConfig,
    scripts: Vec<Script>,
) -> Vec<(Seen, Vec<(u32, Refusal)>)> {
    let tasks: Vec<_> = scripts
        .into_iter()
        .map(|mut s| {
            let config = config.clone();
            tokio::spawn(async move { s.run(&config).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Five library clients, one session: every client gets the right sum; the result is in
/// the database and the counters say five accepted messages per round. The round closes as
/// soon as everyone answered (the deadline is far).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_session_over_mutual_tls() {
    bounded(async {
        let fx = Deployment::new(5).unwrap();
        let d = 8;
        let server = fx.start(fx.server_config(d, 20.0, 1)).await.unwrap();
        let start = Instant::now();
        let tasks: Vec<_> = (1..=5u32)
            .map(|id| {
                let config = fx.client_config().unwrap();
                tokio::spawn(
                    async move { Client::new(config, id).unwrap().run(&input(id, d)).await },
                )
            })
            .collect();
        for t in tasks {
            assert_sum(&t.await.unwrap().unwrap(), &[1, 2, 3, 4, 5], d);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rounds closed early"
        );
        server.sessions_done().await;
        let results = server.results().unwrap();
        assert_eq!(results.len(), 1);
        let counters = server.counters();
        for round in [0u8, 1, 2, 4] {
            assert_eq!(counters[&(0, round)].accepted, 5, "round {round}");
            assert_eq!(counters[&(0, round)].rejected, 0);
        }
        server.shutdown().await;
    })
    .await;
}

/// SecAgg+ (k = 2) through the TOML loader, a client killed in MaskedInputCollection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secagg_plus_from_a_toml_file() {
    bounded(async {
        let fx = Deployment::new(6).unwrap();
        let d = 5;
        let mut config = fx.server_config(d, 1.5, 1);
        config.session.neighbours = Some(2);
        let path = fx.write_server_toml(&config).unwrap();
        let server = fx.start(ServerConfig::load(&path).unwrap()).await.unwrap();
        let scripts = (1..=6).map(|id| {
            let s = Script::honest(id, d);
            if id == 6 { s.at(2, Act::Vanish) } else { s }
        });
        let seen = run_scripts(&fx.client_config().unwrap(), scripts.collect()).await;
        for s in &seen[..5] {
            assert_sum(outcome(&s.0), &[1, 2, 3, 4, 5], d);
        }
        server.shutdown().await;
    })
    .await;
}

/// A client killed before it answers each round in turn: the round closes at its deadline
/// without it, and every other client gets the sum of the included ones (the killed client
/// is in it only when it died after sending its masked input).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_killed_at_each_round() {
    bounded(async {
        for round in [0u32, 1, 2, 4] {
            let fx = Deployment::new(5).unwrap();
            let d = 4;
            let server = fx.start(fx.server_config(d, 0.8, 1)).await.unwrap();
            let started = Instant::now();
            let scripts = (1..=5).map(|id| {
                let s = Script::honest(id, d);
                if id == 5 { s.at(round, Act::Vanish) } else { s }
            });
            let seen = run_scripts(&fx.client_config().unwrap(), scripts.collect()).await;
            let included: &[u32] = if round == 4 {
                &[1, 2, 3, 4, 5]
            } else {
                &[1, 2, 3, 4]
            };
            for s in &seen[..4] {
                assert_sum(outcome(&s.0), included, d);
            }
            assert!(matches!(seen[4].0, Seen::Vanished));
            // One deadline waited for, not more (and no hang).
            assert!(started.elapsed() < Duration::from_secs(5), "round {round}");
            server.shutdown().await;
        }
    })
    .await;
}

/// A client that answers MaskedInputCollection after its deadline is refused as late, is
/// left out, and still sees the outcome; a client that drops its connection and reconnects
/// within the deadline (every round) stays in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_answer_and_reconnect() {
    bounded(async {
        // Both ways of answering a round: `Submit` then `Await`, and `Submit` with
        // `then_await` (the late client's outcome comes in the reply to its late message).
        for then_await in [false, true] {
            let fx = Deployment::new(5).unwrap();
            let d = 4;
            let server = fx.start(fx.server_config(d, 1.0, 1)).await.unwrap();
            let scripts = vec![
                Script::honest(1, d),
                Script::honest(2, d).at(1, Act::Reconnect),
                Script::honest(3, d).at(2, Act::Reconnect),
                Script::honest(4, d),
                Script::honest(5, d).at(2, Act::Delay(Duration::from_millis(1600))),
            ];
            let scripts = scripts
                .into_iter()
                .map(|s| s.then_await(then_await))
                .collect();
            let seen = run_scripts(&fx.client_config().unwrap(), scripts).await;
            for s in &seen {
                assert_sum(outcome(&s.0), &[1, 2, 3, 4], d);
            }
            assert_eq!(
                seen[4].1,
                vec![(2, Refusal::WrongRound)],
                "then_await {then_await}"
            );
            let counters = server.counters();
            assert_eq!(
                counters[&(0, 4)].late,
                1,
                "the late masked input is counted (then_await {then_await})"
            );
            server.shutdown().await;
        }
    })
    .await;
}

/// Malformed, truncated, oversized, replayed and impersonating messages are refused with a
/// typed answer and counted; none changes the sum. Unauthenticated clients are refused; a
/// failed TLS handshake (another CA's certificate, no TLS at all) is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_replays_and_impersonation() {
    bounded(async {
        let fx = Deployment::new(5).unwrap();
        let d = 4;
        let server = fx.start(fx.server_config(d, 2.0, 2)).await.unwrap();
        let config = fx.client_config().unwrap();

        // No client certificate: a typed refusal, and a line in the log.
        let mut anonymous = Connection::with_files(&config, Path::new(""), Path::new("")).unwrap();
        let status = anonymous.join().await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        // A certificate of the CA for an id outside the session.
        let mut outsider = Connection::new(&config, 6).unwrap();
        assert_eq!(
            outsider.join().await.unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        // A certificate of another CA does not even complete the handshake.
        let other = tempfile::tempdir().unwrap();
        DevCerts::generate("other", [1])
            .unwrap()
            .write(other.path())
            .unwrap();
        let mut stranger = Connection::with_files(
            &config,
            &other.path().join("client-1.pem"),
            &other.path().join("client-1.key"),
        )
        .unwrap();
        // The two before completed the handshake (refused per call, not counted here).
        assert_eq!(server.handshake_failures(), 0);
        assert!(stranger.join().await.is_err());
        assert!(server.unauthenticated() >= 2);
        // The stranger's failed handshake is logged with its peer and counted; so is a peer
        // that speaks no TLS at all.
        {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut plain = tokio::net::TcpStream::connect(server.local_addr())
                .await
                .unwrap();
            plain
                .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
                .await
                .unwrap();
            // The server answers with an alert or closes: read until it does (bounded).
            let mut reply = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(5), plain.read(&mut reply)).await;
        }
        assert!(
            eventually(|| server.handshake_failures() >= 2).await,
            "handshake failures: {}",
            server.handshake_failures()
        );
        let mut client = Client::new(config.clone(), 6).unwrap();
        assert!(matches!(
            client.run(&input(6, d)).await,
            Err(NetError::Unauthenticated(_))
        ));

        // Session 1: clients 1..=4 honest; client 5 sends junk first.
        let mut scripts: Vec<Script> = (1..=4).map(|id| Script::honest(id, d)).collect();
        let (tx, mut rx) = mpsc::unbounded_channel();
        scripts[0].progress = Some(tx);
        let honest = tokio::spawn({
            let config = config.clone();
            async move {
                let mut out = Vec::new();
                let mut handles = Vec::new();
                for mut s in scripts {
                    let config = config.clone();
                    handles.push(tokio::spawn(async move {
                        let r = s.run(&config).await;
                        (r, s.sent)
                    }));
                }
                for h in handles {
                    out.push(h.await.unwrap());
                }
                out
            }
        });
        let mut attacker = Connection::new(&config, 5).unwrap();
        let join = attacker.join().await.unwrap();
        let sid = SessionId(join.session.clone().try_into().unwrap());
        let params = Params::from_bytes(&join.params).unwrap();
        let refusal = |r: proto::SubmitReply| Refusal::try_from(r.refusal).unwrap();
        // Garbage.
        let r = attacker.submit(&sid, 0, vec![0xff; 40]).await.unwrap();
        assert_eq!(refusal(r.clone()), Refusal::Rejected, "{}", r.detail);
        // A real advertisement of client 5, truncated.
        let mut rng = chacha_rng(5);
        let (_, real) = ClientSession::start(&params, ClientId(5), None, &mut rng);
        let r = attacker
            .submit(&sid, 0, real[..real.len() - 1].to_vec())
            .await
            .unwrap();
        assert_eq!(refusal(r), Refusal::Rejected);
        // Impersonation: an advertisement claiming client 3, under client 5's certificate.
        let (_, claims_3) = ClientSession::start(&params, ClientId(3), None, &mut rng);
        let r = attacker.submit(&sid, 0, claims_3).await.unwrap();
        assert_eq!(refusal(r.clone()), Refusal::Rejected, "{}", r.detail);
        // Oversized: past the session's largest message.
        let status = attacker
            .submit(&sid, 0, vec![0; 1 << 20])
            .await
            .unwrap_err();
        assert!(
            matches!(
                status.code(),
                tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
            ),
            "{status:?}"
        );
        // A message for a round that is not open.
        let r = attacker.submit(&sid, 2, real.clone()).await.unwrap();
        assert_eq!(refusal(r), Refusal::WrongRound);
        // Another session.
        let r = attacker
            .submit(&SessionId([9; 32]), 0, real.clone())
            .await
            .unwrap();
        assert_eq!(refusal(r), Refusal::WrongSession);
        // Client 1's advertisement is in (the others finish without client 5).
        let (_, r1) = rx.recv().await.unwrap();
        assert_eq!(r1, 0);
        let results = honest.await.unwrap();
        let mut sent_by_1 = None;
        for (i, ((seen, refusals), sent)) in results.into_iter().enumerate() {
            assert_sum(outcome(&seen), &[1, 2, 3, 4], d);
            assert!(refusals.is_empty());
            if i == 0 {
                sent_by_1 = Some(sent);
            }
        }
        let sent_by_1 = sent_by_1.unwrap();
        let counters = server.counters();
        assert!(counters[&(0, 0)].rejected >= 3, "{:?}", counters[&(0, 0)]);
        assert_eq!(counters[&(0, 0)].accepted, 4);

        // Session 2: client 1's advertisement of session 1 replayed, by client 1 itself (another
        // session) and by client 5 (another client and session), is refused.
        let join = attacker.join().await.unwrap();
        let sid2 = SessionId(join.session.clone().try_into().unwrap());
        assert_ne!(sid2, sid);
        let mut one = Connection::new(&config, 1).unwrap();
        let r = one.submit(&sid2, 0, sent_by_1[&0].clone()).await.unwrap();
        assert_eq!(refusal(r), Refusal::Rejected);
        let r = attacker
            .submit(&sid2, 0, sent_by_1[&0].clone())
            .await
            .unwrap();
        assert_eq!(refusal(r), Refusal::Rejected);
        // ... and so is a message sent to the finished session.
        let r = one.submit(&sid, 1, sent_by_1[&1].clone()).await.unwrap();
        assert_eq!(refusal(r), Refusal::WrongRound);
        // The finished session's outcome is queryable.
        let o = one.outcome(&sid).await.unwrap().outcome.unwrap();
        assert_sum(&Outcome::from_proto(&o, &params).unwrap(), &[1, 2, 3, 4], d);
        server.shutdown().await;
    })
    .await;
}

/// Too few clients: the session aborts with a typed reason that every client sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_reason_reaches_every_client() {
    bounded(async {
        let fx = Deployment::new(5).unwrap();
        let d = 3;
        let server = fx.start(fx.server_config(d, 0.8, 1)).await.unwrap();
        // t = 3: three clients vanish in ShareKeys, two are left.
        let scripts = (1..=5).map(|id| {
            let s = Script::honest(id, d);
            if id >= 3 { s.at(1, Act::Vanish) } else { s }
        });
        let seen = run_scripts(&fx.client_config().unwrap(), scripts.collect()).await;
        for s in &seen[..2] {
            match outcome(&s.0) {
                Outcome::Aborted { kind, round, .. } => {
                    assert_eq!(*kind, proto::AbortKind::TooFewSurvivors);
                    assert_eq!(*round, 1);
                }
                o => panic!("expected an abort, got {o:?}"),
            }
        }
        server.sessions_done().await;
        assert_eq!(server.results().unwrap().len(), 1);
        server.shutdown().await;
    })
    .await;
}

/// The outcome is bit-packed at the modulus' width (20 bits here: not a whole number of
/// bytes an element) and exact: inputs near the modulus make the sum wrap, and every client
/// decodes the same sum, equal to the plain sum modulo `2^20`. The `Outcome` call returns the
/// same packed bytes, `ceil(d·b / 8)` of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcome_is_bit_packed_and_exact() {
    bounded(async {
        let fx = Deployment::new(3).unwrap();
        let d = 7;
        let m = 1u64 << 20;
        let mut config = fx.server_config(d, 20.0, 1);
        config.session.bits = Some(20);
        let server = fx.start(config).await.unwrap();
        let near_top = |id: u32| -> Vec<u64> {
            (0..d as u64)
                .map(|i| m - 1 - (u64::from(id) * 13 + i * 101) % 4096)
                .collect()
        };
        let tasks: Vec<_> = (1..=3u32)
            .map(|id| {
                let config = fx.client_config().unwrap();
                let input = near_top(id);
                tokio::spawn(async move { Client::new(config, id).unwrap().run(&input).await })
            })
            .collect();
        let mut unreduced = vec![0u64; d];
        for id in 1..=3 {
            for (w, x) in unreduced.iter_mut().zip(near_top(id)) {
                *w += x;
            }
        }
        assert!(unreduced.iter().all(|&w| w > 2 * m), "the sum wraps");
        let want: Vec<u64> = unreduced.iter().map(|w| w % m).collect();
        let mut session = None;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                Outcome::Sum {
                    session: sid,
                    sum,
                    included,
                } => {
                    assert_eq!(sum, want);
                    assert_eq!(included, [ClientId(1), ClientId(2), ClientId(3)]);
                    session = Some(sid);
                }
                o => panic!("expected a sum, got {o:?}"),
            }
        }
        let sid = session.unwrap();
        let mut conn = Connection::new(&fx.client_config().unwrap(), 1).unwrap();
        let o = conn.outcome(&sid).await.unwrap().outcome.unwrap();
        match &o.result {
            Some(proto::OutcomeResult::Sum(s)) => assert_eq!(s.packed.len(), (d * 20).div_ceil(8)),
            other => panic!("expected a sum, got {other:?}"),
        }
        server.shutdown().await;
    })
    .await;
}

/// `Submit` with `then_await` answers a round in one call: each reply carries the opening of
/// the client's next round and, at the end, the outcome (the shared, pre-encoded bytes
/// nested two fields deep) with the right sum. A repeated message of a closed round is
/// `WRONG_ROUND` with the same opening again; a refused message gets no `next`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_then_await_answers_a_round_in_one_call() {
    bounded(async {
        let (n, d) = (3u32, 9);
        let fx = Deployment::new(n as usize).unwrap();
        let server = fx.start(fx.server_config(d, 20.0, 1)).await.unwrap();
        let tasks: Vec<_> = (1..=n)
            .map(|id| {
                let config = fx.client_config().unwrap();
                tokio::spawn(async move {
                    let mut conn = Connection::new(&config, id).unwrap();
                    let join = conn.join().await.unwrap();
                    let sid = SessionId(join.session.clone().try_into().unwrap());
                    let params = Params::from_bytes(&join.params).unwrap();
                    let mut rng = chacha_rng(id);
                    let (mut state, mut message) =
                        ClientSession::start(&params, ClientId(id), None, &mut rng);
                    let mut round = 0;
                    for _ in 0..=MAX_ROUNDS {
                        if id == 2 && round == 1 {
                            let refused = conn
                                .submit_then_await(&sid, round, vec![0xff; 3])
                                .await
                                .unwrap();
                            assert_eq!(refused.refusal, Refusal::Rejected as i32);
                            assert!(
                                refused.next.is_none(),
                                "a refused message waits for nothing"
                            );
                        }
                        let reply = conn
                            .submit_then_await(&sid, round, message.clone())
                            .await
                            .unwrap();
                        assert_eq!(reply.refusal, Refusal::Accepted as i32, "{}", reply.detail);
                        let next = reply.next.and_then(|n| n.next).expect("the next round");
                        match next {
                            proto::Next::Opening(o) => {
                                assert!(o.round > round, "{} after {round}", o.round);
                                if id == 1 && round == 0 {
                                    let again = conn
                                        .submit_then_await(&sid, round, message.clone())
                                        .await
                                        .unwrap();
                                    assert_eq!(again.refusal, Refusal::WrongRound as i32);
                                    // The same opening (its deadline counts down).
                                    match again.next.and_then(|n| n.next) {
                                        Some(proto::Next::Opening(a)) => {
                                            assert_eq!(
                                                (a.round, &a.message),
                                                (o.round, &o.message)
                                            );
                                        }
                                        other => panic!("expected the opening, got {other:?}"),
                                    }
                                }
                                let (s, m) = answer(state, &params, &o.message, id, d, &mut rng);
                                state = s;
                                message = m;
                                round = o.round;
                            }
                            proto::Next::Outcome(o) => {
                                return Outcome::from_proto(&o, &params).unwrap();
                            }
                        }
                    }
                    panic!("client {id}: no outcome after {MAX_ROUNDS} rounds")
                })
            })
            .collect();
        for t in tasks {
            assert_sum(&t.await.unwrap(), &[1, 2, 3], d);
        }
        server.shutdown().await;
    })
    .await;
}

/// A packed outcome that does not fit the client's own parameters is a typed error of the
/// client's decoder (`Outcome::from_proto`, what `Client::run` calls): truncated, one byte
/// too long, a padding bit set, an element `>= m`, the sum at 8 bytes an element in the
/// field this version reserves (an older server's outcome: no packed field at all), and
/// included clients out of order or outside the session. Nothing panics, and no length is
/// read from the reply.
#[test]
fn malformed_packed_outcome_is_a_typed_error() {
    use secagg::{DecodeError, Modulus};
    let sid = SessionId([4; 32]);
    let outcome = |packed: Vec<u8>, included: Vec<u32>| proto::Outcome {
        session: sid.0.to_vec(),
        result: Some(proto::OutcomeResult::Sum(proto::Sum {
            included,
            packed: packed.into(),
        })),
    };
    // 2^12, d = 3: 36 bits in 5 bytes, the last 4 bits padding. [1, 4095, 7]:
    let params = Params::new(sid, 3, 2, Modulus::power_of_two(12).unwrap(), 3).unwrap();
    let good = vec![0x01, 0xf0, 0xff, 0x07, 0x00];
    match Outcome::from_proto(&outcome(good.clone(), vec![1, 3]), &params).unwrap() {
        Outcome::Sum { sum, included, .. } => {
            assert_eq!(sum, [1, 4095, 7]);
            assert_eq!(included, [ClientId(1), ClientId(3)]);
        }
        o => panic!("{o:?}"),
    }
    let decode_error = |packed: Vec<u8>, params: &Params| match Outcome::from_proto(
        &outcome(packed, vec![1, 2]),
        params,
    ) {
        Err(NetError::Outcome(e)) => e,
        other => panic!("expected a typed decode error, got {other:?}"),
    };
    assert!(matches!(
        decode_error(good[..4].to_vec(), &params),
        DecodeError::TooShort { .. }
    ));
    assert!(matches!(
        decode_error(Vec::new(), &params),
        DecodeError::TooShort { .. }
    ));
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(
        decode_error(long, &params),
        DecodeError::TrailingBytes { .. }
    ));
    let mut padded = good.clone();
    padded[4] = 0x10;
    assert_eq!(decode_error(padded, &params), DecodeError::NonZeroPadding);
    // m = 1000 (10 bits): 1023 at index 1 is out of range.
    let small = Params::new(sid, 3, 2, Modulus::new(1000).unwrap(), 3).unwrap();
    let over = vec![0x05, 0xfc, 0x0f, 0x00];
    assert_eq!(
        decode_error(over, &small),
        DecodeError::ElementOutOfRange { index: 1 }
    );
    // An older server's outcome: the sum at 8 bytes an element in field 1 of `Sum`, which
    // this version reserves: the packed field is absent, so the sum is refused as short.
    {
        use prost::Message as _;
        let mut sum = vec![0x0a, 24];
        sum.extend_from_slice(&[0; 24]);
        let mut raw = vec![0x0a, 32];
        raw.extend_from_slice(&sid.0);
        raw.push(0x12);
        raw.push(u8::try_from(sum.len()).unwrap());
        raw.extend_from_slice(&sum);
        let old = proto::Outcome::decode(raw.as_slice()).unwrap();
        assert!(matches!(
            Outcome::from_proto(&old, &params),
            Err(NetError::Outcome(DecodeError::TooShort { .. }))
        ));
    }
    // Included clients: not ascending, repeated, 0, or past n.
    for bad in [vec![2, 1], vec![1, 1], vec![0, 1], vec![1, 4]] {
        assert!(
            matches!(
                Outcome::from_proto(&outcome(good.clone(), bad.clone()), &params),
                Err(NetError::BadReply(_))
            ),
            "{bad:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The malicious-server mode: identity keys, the PKI directory, ConsistencyCheck.
// ---------------------------------------------------------------------------------------

/// Runs `Client::run` for `ids` with `config`; the results in order.
async fn run_clients(
    config: &ClientConfig,
    ids: impl IntoIterator<Item = u32>,
    d: usize,
) -> Vec<Result<Outcome, NetError>> {
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let config = config.clone();
            tokio::spawn(async move {
                match Client::new(config, id) {
                    Ok(mut c) => c.run(&input(id, d)).await,
                    Err(e) => Err(e),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn assert_aborted(outcome: &Outcome, want: proto::AbortKind, want_round: u32) {
    match outcome {
        Outcome::Aborted { kind, round, .. } => {
            assert_eq!((*kind, *round), (want, want_round), "{outcome:?}");
        }
        Outcome::Sum { .. } => panic!("expected an abort, got {outcome:?}"),
    }
}

/// The malicious-server mode over mutual TLS, on the complete graph and on SecAgg+: every
/// client signs with its identity key, the server checks the signatures against its PKI,
/// ConsistencyCheck runs, and every client gets the right sum. The counters show five
/// rounds, ConsistencyCheck's included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_mode_session_over_mutual_tls() {
    bounded(async {
        for (clients, neighbours) in [(5usize, None), (8, Some(4))] {
            let fx = Deployment::new(clients).unwrap();
            let d = 6;
            let mut config = fx.malicious_server_config(d, 20.0);
            config.session.neighbours = neighbours;
            let server = fx.start(config).await.unwrap();
            let ids = 1..=u32::try_from(clients).unwrap();
            let all: Vec<u32> = ids.clone().collect();
            for result in run_clients(&fx.malicious_client_config().unwrap(), ids, d).await {
                assert_sum(&result.unwrap(), &all, d);
            }
            server.sessions_done().await;
            let counters = server.counters();
            for round in [0u8, 1, 2, 3, 4] {
                assert_eq!(
                    counters[&(0, round)].accepted,
                    clients as u64,
                    "round {round} ({neighbours:?})"
                );
                assert_eq!(counters[&(0, round)].rejected, 0);
            }
            server.shutdown().await;
        }
    })
    .await;
}

/// A client whose identity key is not the one the server's PKI holds for it (an attacker
/// with the client's certificate but not its identity key): its advertisement is refused
/// (`REJECTED`, the signature does not verify). With the malicious mode's default minimum
/// roster (every client) the session aborts in AdvertiseKeys and every other client sees
/// `TOO_FEW_SURVIVORS` at round 0; with a minimum roster of four the session completes
/// without it. A client without an identity refuses the malicious session (and a client
/// with one refuses an honest-but-curious session): the threat model is the client's to
/// choose. A client whose own PKI copy does not hold its key is refused locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impostor_identity_is_refused() {
    bounded(async {
        for min_roster in [None, Some(4)] {
            let fx = Deployment::new(5).unwrap();
            let d = 3;
            // The impostor's key, and its own copy of the directory that lists it as 3.
            let impostor = secagg::IdentityKey::from_seed(&[0x1d; 32]);
            secagg::net::identity::write_identity_key(&fx.path("impostor.key"), &impostor).unwrap();
            let real_pki = secagg::net::identity::read_pki(&fx.path("pki.txt"), 5).unwrap();
            let forged = secagg::Pki::new((1..=5).map(|u| {
                let key = if u == 3 {
                    impostor.public_key()
                } else {
                    *real_pki.get(ClientId(u)).unwrap()
                };
                (ClientId(u), key)
            }));
            std::fs::write(
                fx.path("forged-pki.txt"),
                secagg::net::identity::pki_text(&forged, (1..=5).map(ClientId)),
            )
            .unwrap();
            let mut config = fx.malicious_server_config(d, 1.0);
            config.session.min_roster = min_roster;
            let server = fx.start(config).await.unwrap();
            let mut impostor_config = fx.malicious_client_config().unwrap();
            impostor_config.identity = Some(ClientIdentity {
                key: fx.path("impostor.key"),
                pki: fx.path("forged-pki.txt"),
            });
            // With the real directory the impostor's key is refused before any call.
            let mut local = fx.malicious_client_config().unwrap();
            local.identity.as_mut().unwrap().key = fx.path("impostor.key");
            match Client::new(local, 3) {
                Err(NetError::KeyFile {
                    error: secagg::net::identity::KeyFileError::NotInPki { id: 3 },
                    ..
                }) => {}
                other => panic!("expected NotInPki, got {other:?}"),
            }

            let honest = fx.malicious_client_config().unwrap();
            let (impostor_result, others) = tokio::join!(
                run_clients(&impostor_config, [3], d),
                run_clients(&honest, [1, 2, 4, 5], d),
            );
            match &impostor_result[0] {
                Err(NetError::Refused { refusal, detail }) => {
                    assert_eq!(*refusal, Refusal::Rejected);
                    assert!(detail.contains("signature"), "{detail}");
                }
                other => panic!("the impostor was not refused: {other:?}"),
            }
            for result in &others {
                let outcome = result.as_ref().unwrap();
                match min_roster {
                    None => assert_aborted(outcome, proto::AbortKind::TooFewSurvivors, 0),
                    Some(_) => assert_sum(outcome, &[1, 2, 4, 5], d),
                }
            }
            server.sessions_done().await;
            assert_eq!(server.counters()[&(0, 0)].rejected, 1);
            assert_eq!(server.counters()[&(0, 0)].accepted, 4);
            server.shutdown().await;
        }

        // The threat model is the client's: no downgrade, no upgrade by the server.
        let fx = Deployment::new(5).unwrap();
        let server = fx.start(fx.malicious_server_config(3, 1.0)).await.unwrap();
        match &run_clients(&fx.client_config().unwrap(), [1], 3).await[0] {
            Err(NetError::Params(e)) => assert!(e.to_string().contains("threat model"), "{e}"),
            other => panic!("joined a malicious session without an identity: {other:?}"),
        }
        server.shutdown().await;
        let fx = Deployment::new(5).unwrap();
        let server = fx.start(fx.server_config(3, 1.0, 1)).await.unwrap();
        match &run_clients(&fx.malicious_client_config().unwrap(), [1], 3).await[0] {
            Err(NetError::Params(e)) => assert!(e.to_string().contains("threat model"), "{e}"),
            other => panic!("joined an honest-but-curious session with an identity: {other:?}"),
        }
        server.shutdown().await;
    })
    .await;
}

/// A client killed at ConsistencyCheck (after its masked input is in, before it signs the
/// survivor set): the round closes at its deadline without it, the four signers unmask, and
/// the sum includes the killed client's input, which the server already holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_killed_at_consistency_check() {
    bounded(async {
        let fx = Deployment::new(5).unwrap();
        let d = 4;
        let server = fx.start(fx.malicious_server_config(d, 1.0)).await.unwrap();
        let scripts = (1..=5).map(|id| {
            let s = Script::honest(id, d);
            if id == 5 { s.at(3, Act::Vanish) } else { s }
        });
        let seen = run_scripts(&fx.malicious_client_config().unwrap(), scripts.collect()).await;
        for s in &seen[..4] {
            assert_sum(outcome(&s.0), &[1, 2, 3, 4, 5], d);
            assert!(s.1.is_empty(), "refusals: {:?}", s.1);
        }
        assert!(matches!(seen[4].0, Seen::Vanished));
        server.sessions_done().await;
        let counters = server.counters();
        assert_eq!(counters[&(0, 2)].accepted, 5);
        assert_eq!(counters[&(0, 3)].accepted, 4);
        assert_eq!(counters[&(0, 4)].accepted, 4);
        server.shutdown().await;
    })
    .await;
}

/// The server, as a task, stopped mid-round (`shutdown`, as on Ctrl-C; the four rounds in
/// turn) and started again on its database: the session completes with every client and the
/// right sum. (The SIGKILL test below is the crash.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_crash_mid_round_in_process() {
    bounded(async {
        for round in [0u32, 1, 2, 4] {
            let fx = Deployment::new(5).unwrap();
            let d = 4;
            let config = fx.server_config(d, 5.0, 1);
            let server = fx.start(config.clone()).await.unwrap();
            let (seen, server) = crash_at(
                &fx.client_config().unwrap(),
                d,
                round,
                || server.shutdown(),
                || {
                    let config = config.clone();
                    let fx = &fx;
                    async move { fx.start(config).await.unwrap() }
                },
            )
            .await;
            for s in &seen {
                assert_sum(outcome(&s.0), &[1, 2, 3, 4, 5], d);
            }
            server.sessions_done().await;
            server.shutdown().await;
        }
    })
    .await;
}

/// The malicious-server mode across a server restart in the middle of each round,
/// ConsistencyCheck's included: the reopened session verifies with the PKI read again from
/// the configuration and completes with every client and the right sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_mode_survives_a_restart_mid_round() {
    bounded(async {
        for round in [0u32, 1, 2, 3, 4] {
            let fx = Deployment::new(5).unwrap();
            let d = 4;
            let config = fx.malicious_server_config(d, 5.0);
            let server = fx.start(config.clone()).await.unwrap();
            let (seen, server) = crash_at(
                &fx.malicious_client_config().unwrap(),
                d,
                round,
                || server.shutdown(),
                || {
                    let config = config.clone();
                    let fx = &fx;
                    async move { fx.start(config).await.unwrap() }
                },
            )
            .await;
            for s in &seen {
                assert_sum(outcome(&s.0), &[1, 2, 3, 4, 5], d);
            }
            server.sessions_done().await;
            assert_eq!(server.results().unwrap().len(), 1, "round {round}");
            server.shutdown().await;
        }
    })
    .await;
}

/// Clients 1..=4 answer `round` and client 5 holds; once the four are acknowledged the
/// server is killed (`kill`), restarted (`restart`), and client 5 answers.
async fn crash_at<K, KF, R, RF, S>(
    config: &ClientConfig,
    d: usize,
    round: u32,
    kill: K,
    restart: R,
) -> (Vec<(Seen, Vec<(u32, Refusal)>)>, S)
where
    K: FnOnce() -> KF,
    KF: Future<Output = ()>,
    R: FnOnce() -> RF,
    RF: Future<Output = S>,
{
    let hold = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let tasks: Vec<_> = (1..=5u32)
        .map(|id| {
            let mut s = Script::honest(id, d);
            s.progress = Some(tx.clone());
            if id == 5 {
                s = s.at(round, Act::Hold(Arc::clone(&hold)));
            }
            let config = config.clone();
            tokio::spawn(async move { s.run(&config).await })
        })
        .collect();
    let mut in_round = 0;
    let mut holding = false;
    while in_round < 4 || !holding {
        let (id, r) = rx.recv().await.unwrap();
        if r == round && id != 5 {
            in_round += 1;
        }
        if r == 100 + round {
            holding = true;
        }
    }
    kill().await;
    let server = restart().await;
    hold.notify_one();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    (seen, server)
}

/// The `secagg serve` process killed with SIGKILL in the middle of each round, restarted on
/// its database: the session completes with the right sum, and after the session a second
/// kill and restart loses no result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_process_sigkill_mid_round() {
    bounded(async {
        for round in [0u32, 1, 2, 4] {
            let fx = Deployment::new(5).unwrap();
            let d = 4;
            let config = fx.server_config(d, 5.0, 0);
            let first = spawn_server(&fx, &config).await;
            let (seen, second) = crash_at(
                &fx.client_config().unwrap(),
                d,
                round,
                move || async move {
                    let mut first = first;
                    first.kill().await.unwrap();
                },
                || spawn_server(&fx, &config),
            )
            .await;
            let mut sid = None;
            for s in &seen {
                let o = outcome(&s.0);
                assert_sum(o, &[1, 2, 3, 4, 5], d);
                sid = Some(o.session());
            }
            // The finished result survives another SIGKILL.
            let mut second = second;
            second.kill().await.unwrap();
            let third = spawn_server(&fx, &config).await;
            let mut conn = Connection::new(&fx.client_config().unwrap(), 1).unwrap();
            let o = retry!(conn, outcome(&sid.unwrap()))
                .unwrap()
                .outcome
                .unwrap();
            let params = fx
                .server_config(d, 5.0, 0)
                .session
                .params(sid.unwrap())
                .unwrap();
            assert_sum(
                &Outcome::from_proto(&o, &params).unwrap(),
                &[1, 2, 3, 4, 5],
                d,
            );
            let mut third = third;
            third.kill().await.unwrap();
        }
    })
    .await;
}

/// `secagg serve` with `config` written as `server.toml` (on the deployment's address once
/// a server listened there), once it prints the line that says where it listens; the
/// deployment learns that address.
async fn spawn_server(fx: &Deployment, config: &ServerConfig) -> tokio::process::Child {
    use tokio::io::AsyncBufReadExt as _;
    let toml = fx.write_server_toml(config).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_secagg"))
        .args(["serve", "--log", "warn", "--config"])
        .arg(toml)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = lines.next_line().await.unwrap().unwrap();
    fx.learn(listening_addr(&line).unwrap_or_else(|| panic!("{line}")));
    child
}

/// Every message and field of `proto/secagg.proto` is in `secagg::net::proto` with its tag
/// (the Rust types are written by hand).
#[test]
fn proto_file_matches_the_rust_messages() {
    use prost::Message as _;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/proto/secagg.proto"))
        .unwrap();
    for rpc in ["Join", "Submit", "Await", "Outcome"] {
        assert!(text.contains(&format!("rpc {rpc}(")), "{rpc}");
    }
    // A round trip through the encoding with every field set: the tags agree with the
    // file's where the hand-written numbers are checked below.
    let o = proto::Opening {
        round: 2,
        message: vec![1, 2].into(),
        deadline_ms: 7,
    };
    let bytes = o.encode_to_vec();
    assert_eq!(bytes, [0x08, 2, 0x12, 2, 1, 2, 0x18, 7]);
    assert!(text.contains(
        "uint32 round = 1;\n  // One server message, version-3 wire bytes.\n  bytes message = 2;"
    ));
    // Sum: the packed sum is field 3, field 1 is reserved.
    let sum = proto::Sum {
        included: vec![7],
        packed: vec![9].into(),
    };
    assert_eq!(sum.encode_to_vec(), [0x12, 1, 7, 0x1a, 1, 9]);
    assert!(text.contains("reserved 1;") && text.contains("bytes packed = 3;"));
    let s = proto::SubmitRequest {
        session: vec![5],
        round: 1,
        message: vec![6].into(),
        then_await: true,
    };
    assert_eq!(
        s.encode_to_vec(),
        [0x0a, 1, 5, 0x10, 1, 0x1a, 1, 6, 0x20, 1]
    );
    assert!(text.contains("bool then_await = 4;"));
    // SubmitReply: the refusal, the detail, then `next` (an `AwaitReply`) in field 3.
    let r = proto::SubmitReply {
        refusal: Refusal::AlreadyReceived as i32,
        detail: "x".into(),
        next: Some(proto::AwaitReply {
            next: Some(proto::Next::Opening(o)),
        }),
    };
    assert_eq!(
        r.encode_to_vec(),
        [
            0x08, 4, 0x12, 1, b'x', 0x1a, 10, 0x0a, 8, 0x08, 2, 0x12, 2, 1, 2, 0x18, 7
        ]
    );
    assert!(text.contains("AwaitReply next = 3;"));
    assert_eq!(proto::SERVICE, "secagg.v1.Aggregator");
    assert!(text.contains("package secagg.v1;") && text.contains("service Aggregator"));
}

/// The `serve`/`client`/`certs` commands end to end: certificates and configuration files
/// from `secagg certs`, a server process, three client processes reading stdin; in both
/// threat models (`secagg certs --malicious`: identity keys and the PKI directory).
#[test]
fn commands_end_to_end() {
    commands_end_to_end_in(false);
    commands_end_to_end_in(true);
}

fn commands_end_to_end_in(malicious: bool) {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_secagg");
    let mut certs = Command::new(bin);
    certs.args(["certs", "--clients", "3", "--dim", "3", "--out"]);
    certs.arg(dir.path());
    if malicious {
        certs.arg("--malicious");
    }
    let out = certs.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for name in ["server.toml", "client.toml"] {
        let p = dir.path().join(name);
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("50051", &port.to_string())
            .replace("give_up_after = 300", "give_up_after = 20");
        std::fs::write(&p, text).unwrap();
    }
    // The files of the mode asked for (the honest-but-curious file names the key in a
    // comment only).
    let server_toml = std::fs::read_to_string(dir.path().join("server.toml")).unwrap();
    assert_eq!(
        server_toml.contains("\nthreat_model = \"malicious\""),
        malicious
    );
    assert_eq!(dir.path().join("pki.txt").exists(), malicious);
    assert_eq!(dir.path().join("identity-3.key").exists(), malicious);
    let mut server = Command::new(bin)
        .args(["serve", "--log", "warn", "--config"])
        .arg(dir.path().join("server.toml"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("listening on"));
    let clients: Vec<_> = (1..=3)
        .map(|id| {
            let mut c = Command::new(bin)
                .args([
                    "client",
                    "--input",
                    "-",
                    "--id",
                    &id.to_string(),
                    "--config",
                ])
                .arg(dir.path().join("client.toml"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            writeln!(c.stdin.take().unwrap(), "{id} {} 1", 10 * id).unwrap();
            c
        })
        .collect();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("\"outcome\":\"sum\""), "{text}");
        assert!(text.contains("\"sum\":[6,60,3]"), "{text}");
    }
    // sessions = 1: the server exits by itself once the session ran.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The stopped server's database: the one session's result, as the clients saw it.
    let out = Command::new(bin)
        .args(["results", "--config"])
        .arg(dir.path().join("server.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("{\"outcome\":\"sum\",\"index\":0,"),
        "{text}"
    );
    assert!(
        text.contains("\"included\":[1,2,3],\"sum\":[6,60,3]"),
        "{text}"
    );
}
