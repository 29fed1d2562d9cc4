//! The fuzz harness: honest clients.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Where an honest client is in its session: the variant of its [`ClientSession`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    AdvertiseKeys,
    ShareKeys,
    MaskedInput,
    Consistency,
    Done,
}

impl Stage {
    fn of(session: &ClientSession) -> Self {
        match session {
            ClientSession::AdvertiseKeys(..) => Self::AdvertiseKeys,
            ClientSession::ShareKeys(..) => Self::ShareKeys,
            ClientSession::MaskedInput(_) => Self::MaskedInput,
            ClientSession::Consistency(_) => Self::Consistency,
            ClientSession::Done(_) => Self::Done,
        }
    }
}

/// What an honest client answered to the server messages it had received: its next stage,
/// its reply (checked by [`Honest::check_reply`] when it was computed) and the masked input
/// in it if any, or the error that ended its session.
type Answer = Result<(Stage, Vec<u8>, Option<Vec<u64>>), Error>;

/// `(session, client, every server message it handled, the last one included)`.
type MemoKey = ([u8; 32], ClientId, Vec<Vec<u8>>);

/// How many answers the memo keeps; past it, new ones are computed and not kept.
const MEMO_ENTRIES: usize = 1 << 16;

/// Honest clients are deterministic (their generator is seeded by session and id), so what
/// one answers is a function of the server messages it received: remembered across fuzz
/// executions, it is computed once. The key agreements, signatures and key generation of
/// the clients then cost nothing, and each execution does only the work its input changes
/// (the server under test always runs in full).
fn memo() -> &'static std::sync::Mutex<std::collections::HashMap<MemoKey, Answer>> {
    static MEMO: std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<MemoKey, Answer>>> =
        std::sync::OnceLock::new();
    MEMO.get_or_init(Default::default)
}

fn recall(key: &MemoKey) -> Option<Answer> {
    memo().lock().ok()?.get(key).cloned()
}

fn remember(key: MemoKey, answer: &Answer) {
    if let Ok(mut memo) = memo().lock()
        && memo.len() < MEMO_ENTRIES
    {
        memo.insert(key, answer.clone());
    }
}

/// The advertisement of client `id` of `params` (memoised with an empty history).
fn advertisement(params: &Params, id: ClientId) -> Vec<u8> {
    let key = (params.session().0, id, Vec::new());
    if let Some(Ok((_, advert, _))) = recall(&key) {
        return advert;
    }
    let (_, advert) = start(params, id, &mut rng_of(params, id));
    remember(key, &Ok((Stage::AdvertiseKeys, advert.clone(), None)));
    advert
}

/// A fresh session of client `id` and its advertisement, drawn from `rng`.
fn start(params: &Params, id: ClientId, rng: &mut ChaCha20Rng) -> (ClientSession, Vec<u8>) {
    let identity = (params.threat_model() == ThreatModel::Malicious)
        .then(|| client::Identity::new(identity_of(id), cached_pki(params)));
    ClientSession::start(params, id, identity, rng)
}

/// One step of an honest session: with its input exactly when the session asks for it.
fn step(
    session: ClientSession,
    params: &Params,
    bytes: &[u8],
    input: &[u64],
    rng: &mut ChaCha20Rng,
) -> Result<(ClientSession, Vec<u8>), Error> {
    if session.needs_input() {
        session.handle_with_input(params, bytes, input, rng)
    } else {
        session.handle(params, bytes, rng)
    }
}

/// [`pki_of`], computed once per session.
pub(super) fn cached_pki(params: &Params) -> Pki {
    type Cache = std::sync::OnceLock<std::sync::Mutex<BTreeMap<[u8; 32], Pki>>>;
    static CACHE: Cache = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let sid = params.session().0;
    if let Some(pki) = cache.lock().ok().and_then(|c| c.get(&sid).cloned()) {
        return pki;
    }
    let pki = pki_of(params);
    if let Ok(mut c) = cache.lock() {
        c.insert(sid, pki.clone());
    }
    pki
}

/// One honest client, driven through the byte-level [`ClientSession`]; its answers come from
/// the memo when it has seen the same messages before, and its session is rebuilt (replayed
/// from its seed) only when it must compute a new one.
pub(super) struct Honest {
    pub(super) id: ClientId,
    pub(super) params: Params,
    pub(super) limits: Limits,
    /// `None` once it has returned an error (the session is then over).
    pub(super) stage: Option<Stage>,
    /// Its session with the generator it draws from, once rebuilt.
    live: Option<(ClientSession, ChaCha20Rng)>,
    /// The server messages it handled, in order.
    received: Vec<Vec<u8>>,
    pub(super) input: Vec<u64>,
    /// `y_u`, once it sent it.
    pub(super) masked: Option<Vec<u64>>,
    /// Its advertisement.
    pub(super) advert: msg::AdvertiseKeys,
    /// Its latest reply, not yet delivered.
    pub(super) pending: Option<Vec<u8>>,
    /// Dropped out: it no longer reacts.
    pub(super) silent: bool,
}

impl Honest {
    pub(super) fn new(params: &Params, id: ClientId) -> Self {
        let advert = advertisement(params, id);
        let limits = Limits::for_params(params);
        let Ok(ClientMessage::AdvertiseKeys(decoded)) = wire::from_bytes(&advert, &limits) else {
            panic!("a client's advertisement does not decode");
        };
        Self {
            id,
            params: params.clone(),
            limits,
            stage: Some(Stage::AdvertiseKeys),
            live: None,
            received: Vec::new(),
            input: input_of(params, id),
            masked: None,
            pending: Some(advert),
            advert: decoded,
            silent: false,
        }
    }

    pub(super) fn is_done(&self) -> bool {
        self.stage == Some(Stage::Done)
    }

    /// Hands the client the bytes of one server message; on success its reply is `pending`.
    /// An error ends its session.
    pub(super) fn handle(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.stage.is_none() {
            return Ok(());
        }
        self.received.push(bytes.to_vec());
        let key = (self.params.session().0, self.id, self.received.clone());
        let answer = match recall(&key) {
            Some(answer) => {
                // A live session is now behind: rebuild it if it is needed again.
                self.live = None;
                answer
            }
            None => {
                let answer = self.compute(bytes);
                remember(key, &answer);
                answer
            }
        };
        let (stage, reply, masked) = match answer {
            Ok(next) => next,
            Err(e) => {
                self.stage = None;
                self.live = None;
                return Err(e);
            }
        };
        self.stage = Some(stage);
        if masked.is_some() {
            self.masked = masked;
        }
        self.pending = Some(reply);
        Ok(())
    }

    /// Runs the client's session on `bytes` (the last of `received`), rebuilding it from its
    /// seed and the earlier messages first if it is not live.
    fn compute(&mut self, bytes: &[u8]) -> Answer {
        let (session, mut rng) = match self.live.take() {
            Some(live) => live,
            None => self.replay(),
        };
        match step(session, &self.params, bytes, &self.input, &mut rng) {
            Ok((session, reply)) => {
                let stage = Stage::of(&session);
                self.live = Some((session, rng));
                let masked = self.check_reply(bytes, &reply);
                Ok((stage, reply, masked))
            }
            Err(e) => {
                let _ = e.to_string();
                if let Error::Misbehaved {
                    what: Misbehavior::Malformed(d),
                    ..
                } = &e
                {
                    let decoded = wire::from_bytes::<ServerMessage>(bytes, &self.limits);
                    assert_eq!(decoded.err().as_ref(), Some(d), "Malformed for good bytes");
                }
                Err(e)
            }
        }
    }

    /// The client's session after every message it handled but the last, from its seed.
    fn replay(&self) -> (ClientSession, ChaCha20Rng) {
        let mut rng = rng_of(&self.params, self.id);
        let (mut session, _) = start(&self.params, self.id, &mut rng);
        let earlier = self.received.len().saturating_sub(1);
        for bytes in self.received.iter().take(earlier) {
            let Ok((next, _)) = step(session, &self.params, bytes, &self.input, &mut rng) else {
                panic!("an honest client refused a message it accepted before");
            };
            session = next;
        }
        (session, rng)
    }

    /// Properties of every reply, whatever the server sent: it decodes under the session's
    /// limits, it is from this client, and its lists keep their security properties.
    /// Returns the masked input the reply carries, if it is one.
    pub(super) fn check_reply(&self, request: &[u8], reply: &[u8]) -> Option<Vec<u64>> {
        let id = self.id;
        let reply = wire::from_bytes::<ClientMessage>(reply, &self.limits);
        let Ok(reply) = reply else {
            panic!("a client's reply does not decode: {reply:?}");
        };
        assert_eq!(reply.sender(), id);
        let request = wire::from_bytes::<ServerMessage>(request, &self.limits);
        match (reply, request) {
            (ClientMessage::ShareKeys(out), Ok(ServerMessage::Roster(_))) => {
                let mut recipients = BTreeSet::new();
                for s in &out.sealed {
                    assert_eq!(s.sender, id);
                    assert_ne!(s.recipient, id, "a client seals shares to itself");
                    assert!(
                        recipients.insert(s.recipient),
                        "two sealed pairs to one peer"
                    );
                }
            }
            (ClientMessage::MaskedInput(out), Ok(ServerMessage::SharesDelivery(_))) => {
                assert_eq!(out.masked.len(), self.params.vector_len());
                return Some(out.masked);
            }
            (ClientMessage::ConsistencySignature(_), Ok(ServerMessage::ConsistencyRequest(_))) => {}
            (ClientMessage::UnmaskingResponse(out), Ok(ServerMessage::UnmaskingRequest(r))) => {
                check_unmasking_response(id, &r, &out);
            }
            (reply, request) => panic!("reply {:?} to {request:?}", reply.kind()),
        }
        None
    }
}

/// SECURITY properties of a reply to an unmasking request: no peer has both of its shares
/// revealed, the client never reveals its own key share, and it reveals only what was asked.
pub(super) fn check_unmasking_response(
    id: ClientId,
    request: &msg::UnmaskingRequest,
    out: &msg::UnmaskingResponse,
) {
    let self_mask: BTreeSet<ClientId> = out.self_mask_shares.iter().map(|(u, _)| *u).collect();
    let key: BTreeSet<ClientId> = out.key_shares.iter().map(|(u, _)| *u).collect();
    assert_eq!(
        self_mask.len(),
        out.self_mask_shares.len(),
        "repeated owner"
    );
    assert_eq!(key.len(), out.key_shares.len(), "repeated owner");
    assert!(
        self_mask.is_disjoint(&key),
        "both shares of one peer revealed"
    );
    assert!(!key.contains(&id), "own key share revealed");
    assert!(self_mask.iter().all(|u| request.survivors.contains(u)));
    assert!(key.iter().all(|u| request.dropped.contains(u)));
}
