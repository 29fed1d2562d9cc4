//! One stepper for tests, fuzz targets and benches (feature `test-util`): a server and `n`
//! clients in memory, driven round by round through the typed sessions
//! ([`ClientSession::handle_message`], [`ServerSession::receive_message`] and
//! [`ServerSession::close_messages`]), with a dropout schedule and hooks that may change,
//! replace or drop any message in either direction.
//!
//! A round is two steps, which a test may also take one at a time to inspect or inject in
//! between: [`Harness::send`] (every client that still speaks answers what it received, or
//! advertises its keys in the first round, and the server receives each answer at once, in
//! client order) and [`Harness::close`] (the server closes the round; each message that opens
//! the next one goes to its recipients). [`Harness::step`] takes both; [`Harness::run`] steps
//! to the end. Every client draws from one generator seeded by the caller, in client order,
//! so a session is a function of its seed and schedule.
//!
//! `secagg::sim` keeps its own driver: it runs clients on every core and times each step,
//! which a single-threaded stepper with hooks would slow down; it shares this module's
//! [`Schedule`].

// Test utilities: `refused` panics by design when a client answers what it must refuse.
#![allow(clippy::panic)]

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Debug;

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::arith::PlainInput;
use crate::crypto::sign::{IdentityKey, Pki};
use crate::error::{Error, Rejected};
use crate::ids::ClientId;
use crate::params::Params;
use crate::protocol::client;
use crate::protocol::messages as msg;
use crate::protocol::server::Output;
use crate::protocol::session::{ClientSession, ClosedMessages, ServerSession, recipients};
use crate::vocabulary::Round;
use crate::wire::{ClientMessage, ServerMessage};

/// Which clients go silent, and from which round: a client dropped from round `r` sends
/// nothing in `r` or any later round (it still answered in the rounds before; "sends in `r`
/// and ignores what follows" is a drop from the round after `r`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule(BTreeMap<ClientId, Round>);

impl Schedule {
    /// Nobody drops.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `client` go silent from `round` on; a client dropped twice keeps the earlier
    /// round.
    pub fn drop_from(&mut self, client: ClientId, round: Round) {
        let r = self.0.entry(client).or_insert(round);
        *r = (*r).min(round);
    }

    /// Whether `client` still sends in `round`.
    #[must_use]
    pub fn speaks(&self, client: ClientId, round: Round) -> bool {
        self.0.get(&client).is_none_or(|r| *r > round)
    }

    /// Every dropping client and the round it goes silent from.
    #[must_use]
    pub fn drops(&self) -> &BTreeMap<ClientId, Round> {
        &self.0
    }
}

/// What a hook decides about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Deliver it (as the hook may have changed it).
    Deliver,
    /// Lose it: the recipient never sees it.
    Drop,
}

type ToServer<'h> = Box<dyn FnMut(&mut ServerSession, ClientId, &mut ClientMessage) -> Fate + 'h>;
type ToClient<'h> = Box<dyn FnMut(Round, ClientId, &mut ServerMessage) -> Fate + 'h>;

/// What happened in one round: the messages the server refused and the clients that refused
/// what they received (their session is over).
#[derive(Debug, Default)]
pub struct RoundLog {
    /// The round.
    pub round: Option<Round>,
    /// Every rejection of the server, in arrival order.
    pub rejected: Vec<Rejected>,
    /// Every client error, in client order.
    pub errors: Vec<(ClientId, Error)>,
}

/// One server and its clients in memory, stepped round by round (see the module docs). The
/// hooks may borrow from the test for `'h`.
pub struct Harness<'h> {
    params: Params,
    /// The server's parameters: the clients' unless a test gives it others.
    server_params: Params,
    rng: ChaCha20Rng,
    /// Per-client generators, when the test gives them; otherwise every client draws from
    /// `rng`.
    rngs: BTreeMap<ClientId, ChaCha20Rng>,
    pki: Option<Pki>,
    identities: BTreeMap<ClientId, IdentityKey>,
    inputs: BTreeMap<ClientId, PlainInput>,
    clients: BTreeMap<ClientId, ClientSession>,
    inbox: BTreeMap<ClientId, ServerMessage>,
    server: Option<ServerSession>,
    schedule: Schedule,
    to_server: Option<ToServer<'h>>,
    to_client: Option<ToClient<'h>>,
    log: Vec<RoundLog>,
    outcome: Option<Result<Output, Error>>,
}

impl Debug for Harness<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("round", &self.round())
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl<'h> Harness<'h> {
    /// A session of the clients `1 ..= inputs.len()`, client `i + 1` holding `inputs[i]`,
    /// every client drawing from one generator seeded with `seed`.
    #[must_use]
    pub fn new(params: &Params, inputs: Vec<PlainInput>, seed: u64) -> Self {
        let inputs = (1..).map(ClientId).zip(inputs).collect::<BTreeMap<_, _>>();
        Self {
            server: Some(ServerSession::new(params, None)),
            params: params.clone(),
            server_params: params.clone(),
            rng: ChaCha20Rng::seed_from_u64(seed),
            rngs: BTreeMap::new(),
            pki: None,
            identities: BTreeMap::new(),
            inputs,
            clients: BTreeMap::new(),
            inbox: BTreeMap::new(),
            schedule: Schedule::new(),
            to_server: None,
            to_client: None,
            log: Vec::new(),
            outcome: None,
        }
    }

    /// The same session where `identity(u)` is client `u`'s identity key: clients sign with
    /// it, and the server verifies against the PKI of them all (malicious-server mode).
    #[must_use]
    pub fn with_identities(mut self, mut identity: impl FnMut(ClientId) -> IdentityKey) -> Self {
        self.identities = self.inputs.keys().map(|&u| (u, identity(u))).collect();
        let pki = Pki::new(self.identities.iter().map(|(u, k)| (*u, k.public_key())));
        self.server = Some(ServerSession::new(&self.server_params, Some(pki.clone())));
        self.pki = Some(pki);
        self
    }

    /// The same session where client `u` draws from `rngs[u]` instead of the shared
    /// generator (a client missing from `rngs` still draws from the shared one).
    #[must_use]
    pub fn with_client_rngs(mut self, rngs: BTreeMap<ClientId, ChaCha20Rng>) -> Self {
        self.rngs = rngs;
        self
    }

    /// The same session where the server runs on `params` instead of the clients' (a
    /// misconfigured server). Call it before [`Harness::with_identities`].
    #[must_use]
    pub fn with_server_params(mut self, params: &Params) -> Self {
        self.server_params = params.clone();
        self.server = Some(ServerSession::new(params, self.pki.clone()));
        self
    }

    /// The same session, state and schedule, without its hooks (to set others, which may
    /// borrow for another lifetime).
    #[must_use]
    pub fn unhooked<'g>(self) -> Harness<'g> {
        Harness {
            params: self.params,
            server_params: self.server_params,
            rng: self.rng,
            rngs: self.rngs,
            pki: self.pki,
            identities: self.identities,
            inputs: self.inputs,
            clients: self.clients,
            inbox: self.inbox,
            server: self.server,
            schedule: self.schedule,
            to_server: None,
            to_client: None,
            log: self.log,
            outcome: self.outcome,
        }
    }

    /// Makes `client` go silent from `round` on (see [`Schedule::drop_from`]).
    #[must_use]
    pub fn drop_from(mut self, client: ClientId, round: Round) -> Self {
        self.schedule.drop_from(client, round);
        self
    }

    /// The dropout schedule, to change between rounds.
    pub fn schedule_mut(&mut self) -> &mut Schedule {
        &mut self.schedule
    }

    /// Calls `hook` on every client message before the server receives it; it may change or
    /// replace the message, or drop it, and may hand the server (in the round it collects,
    /// [`ServerSession::round`]) other messages first.
    #[must_use]
    pub fn on_client_message(
        mut self,
        hook: impl FnMut(&mut ServerSession, ClientId, &mut ClientMessage) -> Fate + 'h,
    ) -> Self {
        self.to_server = Some(Box::new(hook));
        self
    }

    /// Calls `hook` on every server message, once per recipient, before that client handles
    /// it; it may change or replace the message, or drop it.
    #[must_use]
    pub fn on_server_message(
        mut self,
        hook: impl FnMut(Round, ClientId, &mut ServerMessage) -> Fate + 'h,
    ) -> Self {
        self.to_client = Some(Box::new(hook));
        self
    }

    /// The session's parameters.
    #[must_use]
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The PKI of the clients' identities, in the malicious-server mode.
    #[must_use]
    pub fn pki(&self) -> Option<&Pki> {
        self.pki.as_ref()
    }

    /// The round in progress: the one whose client messages the server collects next;
    /// `None` once the session is over.
    #[must_use]
    pub fn round(&self) -> Option<Round> {
        self.server.as_ref().map(ServerSession::round)
    }

    /// The server, to inspect it or to receive an injected message.
    pub fn server_mut(&mut self) -> Option<&mut ServerSession> {
        self.server.as_mut()
    }

    /// Takes the server out of the harness (the session is then over for the harness), so a
    /// test can drive its rounds by hand.
    pub fn take_server(&mut self) -> Option<ServerSession> {
        self.server.take()
    }

    /// Hands the server `message` as coming from `from`, outside the schedule and the hooks;
    /// the rejection is logged in the current round too.
    ///
    /// # Errors
    /// The server's [`Rejected`], or [`Rejected`] as unexpected once the session is over.
    pub fn inject(&mut self, from: ClientId, message: ClientMessage) -> Result<(), Rejected> {
        let Some(server) = self.server.as_mut() else {
            return Err(Rejected::new(
                from,
                Round::Unmasking,
                crate::error::Misbehavior::UnexpectedMessage,
            ));
        };
        let result = server.receive_message(from, message);
        if let Err(r) = &result {
            self.current_log().rejected.push(r.clone());
        }
        result
    }

    /// The message client `u` received and will answer in the next [`Harness::send`].
    #[must_use]
    pub fn inbox(&self, u: ClientId) -> Option<&ServerMessage> {
        self.inbox.get(&u)
    }

    /// Takes client `u` out of the session (it sends nothing more), with the message it
    /// received, so a test can drive its next transition by hand.
    pub fn take_client(&mut self, u: ClientId) -> Option<(ClientSession, Option<ServerMessage>)> {
        let c = self.clients.remove(&u)?;
        Some((c, self.inbox.remove(&u)))
    }

    /// Takes client `u`'s input out of the session (with [`Harness::take_client`], to drive
    /// its MaskedInputCollection by hand).
    pub fn take_input(&mut self, u: ClientId) -> Option<PlainInput> {
        self.inputs.remove(&u)
    }

    /// Client `u`'s session, to inspect it.
    #[must_use]
    pub fn client(&self, u: ClientId) -> Option<&ClientSession> {
        self.clients.get(&u)
    }

    /// The clients still in the session, in id order.
    #[must_use]
    pub fn clients(&self) -> Vec<ClientId> {
        self.clients.keys().copied().collect()
    }

    /// The generator every client draws from.
    pub fn rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.rng
    }

    /// What happened in each round so far.
    #[must_use]
    pub fn log(&self) -> &[RoundLog] {
        &self.log
    }

    /// Every rejection of the server so far.
    #[must_use]
    pub fn rejected(&self) -> Vec<&Rejected> {
        self.log.iter().flat_map(|l| &l.rejected).collect()
    }

    /// The session's result, once it is over.
    #[must_use]
    pub fn outcome(&self) -> Option<&Result<Output, Error>> {
        self.outcome.as_ref()
    }

    fn current_log(&mut self) -> &mut RoundLog {
        let round = self.round();
        if self.log.last().is_none_or(|l| l.round != round) {
            self.log.push(RoundLog {
                round,
                ..RoundLog::default()
            });
        }
        let last = self.log.len() - 1;
        &mut self.log[last]
    }

    /// Every client that speaks in the current round answers what it received (in the first
    /// round: advertises its keys), in id order; each answer goes through the client hook and
    /// then to the server at once. Returns the first client error of the round, if any (the
    /// others are in the [`log`](Harness::log)).
    ///
    /// # Errors
    /// The first error a client met in this round; its session is over.
    pub fn send(&mut self) -> Result<(), Error> {
        let Some(round) = self.round() else {
            return Ok(());
        };
        self.current_log();
        let senders: Vec<ClientId> = match round {
            Round::AdvertiseKeys => self.inputs.keys().copied().collect(),
            _ => self.inbox.keys().copied().collect(),
        };
        let mut first = None;
        for u in senders {
            if !self.schedule.speaks(u, round) {
                continue;
            }
            let answer = match round {
                Round::AdvertiseKeys => Ok(self.start(u)),
                _ => self.answer(u),
            };
            match answer {
                Ok(Some(message)) => self.deliver(u, message),
                Ok(None) => {}
                Err(e) => {
                    first.get_or_insert_with(|| e.clone());
                    self.current_log().errors.push((u, e));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Starts client `u` (AdvertiseKeys), returning its advertisement.
    fn start(&mut self, u: ClientId) -> Option<ClientMessage> {
        if !self.inputs.contains_key(&u) {
            return None;
        }
        let identity = match (self.identities.remove(&u), &self.pki) {
            (Some(key), Some(pki)) => Some(client::Identity::new(key, pki.clone())),
            _ => None,
        };
        let rng = self.rngs.get_mut(&u).unwrap_or(&mut self.rng);
        let (session, advert) = ClientSession::begin(&self.params, u, identity, rng);
        self.clients.insert(u, session);
        Some(ClientMessage::AdvertiseKeys(advert))
    }

    /// Client `u` answers the message in its inbox.
    fn answer(&mut self, u: ClientId) -> Result<Option<ClientMessage>, Error> {
        let (Some(request), Some(session)) = (self.inbox.remove(&u), self.clients.remove(&u))
        else {
            return Ok(None);
        };
        let rng = self.rngs.get_mut(&u).unwrap_or(&mut self.rng);
        // The input goes in with the shares delivery, as after local training.
        let input = session
            .needs_input()
            .then(|| self.inputs.get(&u).map(PlainInput::values))
            .flatten();
        let (session, reply) = session.handle_message(request, input, rng)?;
        self.clients.insert(u, session);
        Ok(Some(reply))
    }

    /// `message` from `u` through the client hook to the server.
    fn deliver(&mut self, u: ClientId, mut message: ClientMessage) {
        if let (Some(hook), Some(server)) = (self.to_server.as_mut(), self.server.as_mut())
            && hook(server, u, &mut message) == Fate::Drop
        {
            return;
        }
        let _ = self.inject(u, message);
    }

    /// The server closes the round; each message that opens the next one goes through the
    /// server hook into its recipients' inboxes (what a client did not answer is lost).
    ///
    /// # Errors
    /// The server's error (too few clients left); the session is then over.
    pub fn close(&mut self) -> Result<Option<Output>, Error> {
        let Some(server) = self.server.take() else {
            return self.outcome.clone().transpose();
        };
        self.inbox.clear();
        match server.close_messages(&self.server_params) {
            Err(e) => {
                self.outcome = Some(Err(e.clone()));
                Err(e)
            }
            Ok(ClosedMessages::Done(output)) => {
                self.clients.clear();
                self.outcome = Some(Ok(output.clone()));
                Ok(Some(output))
            }
            Ok(ClosedMessages::Next(next, messages)) => {
                let round = next.round();
                self.server = Some(*next);
                for message in messages {
                    for to in recipients(&message) {
                        let mut copy = message.clone();
                        if let Some(hook) = self.to_client.as_mut()
                            && hook(round, to, &mut copy) == Fate::Drop
                        {
                            continue;
                        }
                        if self.clients.contains_key(&to) {
                            self.inbox.insert(to, copy);
                        }
                    }
                }
                Ok(None)
            }
        }
    }

    /// One whole round: [`Harness::send`], then [`Harness::close`]. Returns the output once
    /// the last round closed.
    ///
    /// # Errors
    /// The first client error of the round (the round is not closed), or the server's.
    pub fn step(&mut self) -> Result<Option<Output>, Error> {
        self.send()?;
        self.close()
    }

    /// Steps until the session ends, as `secagg::sim` does: the first client that refuses
    /// ends it with its error.
    ///
    /// # Errors
    /// The first client error, or the server's (too few clients left).
    pub fn run(&mut self) -> Result<Output, Error> {
        while self.server.is_some() {
            self.send()?;
            self.close()?;
        }
        self.outcome.clone().unwrap_or(Err(Error::Internal(
            "harness: a session over without an outcome",
        )))
    }
}

/// A copy of an unmasking response (responses hold secret shares and so are not `Clone`).
#[must_use]
pub fn copy_response(r: &msg::UnmaskingResponse) -> msg::UnmaskingResponse {
    let copy = |list: &Vec<(ClientId, crate::crypto::shamir::SecretScalar)>| {
        list.iter()
            .map(|(owner, share)| (*owner, share.duplicate()))
            .collect()
    };
    msg::UnmaskingResponse {
        session: r.session,
        sender: r.sender,
        self_mask_shares: copy(&r.self_mask_shares),
        key_shares: copy(&r.key_shares),
    }
}

/// The error of a refused client step.
///
/// # Panics
/// If the client answered instead: it produced a message it must not have produced, and the
/// test fails with that message.
#[track_caller]
pub fn refused<T: Debug>(result: Result<T, Error>) -> Error {
    match result {
        Ok(answer) => panic!("the client answered a malicious message: {answer:?}"),
        Err(e) => e,
    }
}
