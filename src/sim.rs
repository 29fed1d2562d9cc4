//! An in-memory driver: one server and `n` clients run a whole session in one process, from
//! a dropout schedule. It serves the `secagg simulate` command, the tests, the examples and
//! the benchmarks. Time is measured here, in the driver, never in the protocol core.
//!
//! Clients run concurrently, one client per core at a time ([`Simulation::client_threads`]),
//! and each client's work stays on its own core, as on a device of its own: a client's
//! seconds are those of one core. The server receives every message on the calling thread,
//! in client order, as soon as it is produced, and closes each round with every core. With
//! [`Simulation::seeded`] each client's input is generated when the client needs it and
//! dropped after, so the driver never holds `n` vectors: its memory is that of the server
//! plus a few clients in flight.
//!
//! It does not step through [`crate::harness`]: the harness runs clients one at a time on
//! the calling thread, and this driver's clients run concurrently and are timed one by one.
//! It shares the harness's dropout [`Schedule`], and the rounds follow the same rules (who
//! speaks in which round, what each client is sent).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Deref;
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::arith::PlainInput;
use crate::crypto::sign::{IdentityKey, Pki};
use crate::error::{Error, Rejected};
use crate::harness::Schedule;
use crate::ids::ClientId;
use crate::params::Params;
use crate::params::ThreatModel;
use crate::protocol::messages as msg;
use crate::protocol::server::Output;
use crate::protocol::{Round, client, server};

mod restart;
mod sample;
mod stand_in;
use crate::protocol::state::StateKey;
use restart::{Restarts, ServerDurable};
use sample::Sample;
pub use sample::SampledReport;
use stand_in::{Dealt, StandIns};

/// The four rounds every client takes part in, in order, as numbered by `--drop R:..`
/// (0 AdvertiseKeys, 1 ShareKeys, 2 MaskedInputCollection, 3 Unmasking). In the
/// malicious-server mode ConsistencyCheck runs between the last two; a client dropped from
/// Unmasking still signs in it.
pub const ROUNDS: [Round; 4] = [
    Round::AdvertiseKeys,
    Round::ShareKeys,
    Round::MaskedInput,
    Round::Unmasking,
];

/// What one round cost.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundReport {
    /// The round.
    pub round: Round,
    /// How many clients sent a message in this round.
    pub clients: usize,
    /// Mean seconds a client spent on this round.
    pub client_seconds: f64,
    /// Seconds the server spent receiving this round's messages and closing it; in
    /// ShareKeys also building the roster views it sends (one per member of a sparse graph,
    /// built on the worker of that member's step).
    pub server_seconds: f64,
    /// Of [`RoundReport::server_seconds`], the seconds of the close alone (building the next
    /// round's messages; in Unmasking, removing the masks). With a sparse graph's roster
    /// views, AdvertiseKeys's close builds the tree and the ring, and each view is built when
    /// its client steps.
    pub server_close_seconds: f64,
    /// Mean bytes a client sent in this round (version-3 encoding).
    pub bytes_sent_per_client: f64,
    /// Mean bytes a client received for this round.
    pub bytes_received_per_client: f64,
    /// Messages the server refused.
    pub rejected: Vec<Rejected>,
    /// Mean masks a client expanded in this round (MaskedInputCollection: one self-mask and
    /// one pairwise mask per live neighbour).
    pub client_mask_expansions: f64,
    /// Masks the server expanded in this round (Unmasking: one self-mask per survivor and
    /// one pairwise mask per surviving neighbour of each dropped client).
    pub server_mask_expansions: usize,
    /// With [`Simulation::restart_every_round`]: the mean bytes of a client's sealed state
    /// kept after this round (0 otherwise).
    pub client_state_bytes: f64,
    /// With [`Simulation::restart_every_round`]: the bytes of the server's sealed state once
    /// it holds this round's messages (0 otherwise).
    pub server_state_bytes: usize,
    /// Bytes of one expanded mask: `d` elements of `ceil(b / 8)` bytes. This is the keystream
    /// a mask reads for a power-of-two modulus; other moduli read more (rejection sampling
    /// skips `1 - m / 2^b` of the words).
    pub mask_bytes: u64,
}

/// The outcome of a simulated session.
#[derive(Debug)]
pub struct Report {
    /// One entry per round that ran.
    pub rounds: Vec<RoundReport>,
    /// The server's output, or why the session aborted.
    pub outcome: Result<Output, Error>,
}

/// A session to simulate: the parameters, each client's input and the round from which each
/// dropping client goes silent.
#[derive(Debug)]
pub struct Simulation {
    params: Params,
    inputs: Inputs,
    drops: Schedule,
    client_threads: usize,
    restart: bool,
}

/// Where the clients' inputs come from.
#[derive(Debug)]
enum Inputs {
    /// Client `i + 1` holds `inputs[i]`.
    Given(Vec<PlainInput>),
    /// Client `id` holds [`seeded_input`]`(params, seed, id)`, generated when needed.
    Seeded(u64),
}

/// A client's input, held by the driver or generated for the occasion.
enum InputRef<'a> {
    Borrowed(&'a PlainInput),
    Owned(PlainInput),
}

impl Deref for InputRef<'_> {
    type Target = PlainInput;

    fn deref(&self) -> &PlainInput {
        match self {
            Self::Borrowed(input) => input,
            Self::Owned(input) => input,
        }
    }
}

/// The input [`Simulation::seeded`] gives client `id`: `params.vector_len()` elements uniform
/// below the modulus, from the ChaCha20 generator seeded with `seed` on stream `id`
/// (rejection sampling on the modulus' bit length, so exactly uniform).
#[must_use]
pub fn seeded_input(params: &Params, seed: u64, id: ClientId) -> PlainInput {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(id.0));
    let max = params.modulus().max_element();
    let bits = u64::MAX >> max.leading_zeros();
    let d = params.vector_len();
    let mut values = Vec::with_capacity(d);
    if u32::try_from(bits).is_ok() {
        // Up to 32 bits: 32-bit words drawn in bulk (most of the cost of a big session's
        // setup otherwise), each masked to the bit length and rejected above `max`.
        let mut words = alloc::vec![0u8; 4 * 1024];
        while values.len() < d {
            rng.fill_bytes(&mut words);
            let missing = d - values.len();
            values.extend(
                words
                    .as_chunks::<4>()
                    .0
                    .iter()
                    .map(|w| u64::from(u32::from_le_bytes(*w)) & bits)
                    .filter(|x| *x <= max)
                    .take(missing),
            );
        }
    } else {
        values.extend((0..d).map(|_| {
            loop {
                let x = rng.next_u64() & bits;
                if x <= max {
                    break x;
                }
            }
        }));
    }
    PlainInput::new(values)
}

impl Simulation {
    /// A session of `params.clients()` clients with ids `1 ..= n` where client `i + 1` holds
    /// `inputs[i]`.
    #[must_use]
    pub fn new(params: Params, inputs: Vec<PlainInput>) -> Self {
        Self::with_inputs(params, Inputs::Given(inputs))
    }

    /// A session of `params.clients()` clients with ids `1 ..= n` where client `id` holds
    /// [`seeded_input`]`(params, seed, id)`. Inputs are generated when a client masks (and
    /// again by [`Simulation::plain_sum`]), never all held at once.
    #[must_use]
    pub fn seeded(params: Params, seed: u64) -> Self {
        Self::with_inputs(params, Inputs::Seeded(seed))
    }

    fn with_inputs(params: Params, inputs: Inputs) -> Self {
        Self {
            params,
            inputs,
            drops: Schedule::new(),
            client_threads: std::thread::available_parallelism().map_or(1, usize::from),
            restart: false,
        }
    }

    /// Saves every party between rounds and restores it from its bytes alone, as a fresh
    /// process would (`docs/PROTOCOL.md` §13.6): each client after each of its steps (on its
    /// own core, in its step's time), the server once it holds each round's messages (in its
    /// time). The report gives the sealed sizes.
    #[must_use]
    pub fn restart_every_round(mut self, restart: bool) -> Self {
        self.restart = restart;
        self
    }

    /// Runs at most `threads` clients at once (at least one; default: the number of cores).
    #[must_use]
    pub fn client_threads(mut self, threads: usize) -> Self {
        self.client_threads = threads.max(1);
        self
    }

    /// Makes `client` go silent from `round` on (it sends nothing in that round or later).
    /// A client dropped twice keeps the earlier round.
    pub fn drop_from(&mut self, client: ClientId, round: Round) {
        self.drops.drop_from(client, round);
    }

    /// The dropout schedule.
    #[must_use]
    pub fn drops(&self) -> &BTreeMap<ClientId, Round> {
        self.drops.drops()
    }

    fn speaks(&self, id: ClientId, round: Round) -> bool {
        self.drops.speaks(id, round)
    }

    /// Whether client `id` has an input.
    fn has_input(&self, id: ClientId) -> bool {
        let count = match &self.inputs {
            Inputs::Given(inputs) => inputs.len(),
            Inputs::Seeded(_) => self.params.clients(),
        };
        (id.0 as usize).checked_sub(1).is_some_and(|i| i < count)
    }

    /// The input of client `id`, if it has one.
    fn input(&self, id: ClientId) -> Option<InputRef<'_>> {
        let index = (id.0 as usize).checked_sub(1)?;
        match &self.inputs {
            Inputs::Given(inputs) => inputs.get(index).map(InputRef::Borrowed),
            Inputs::Seeded(seed) => (index < self.params.clients())
                .then(|| InputRef::Owned(seeded_input(&self.params, *seed, id))),
        }
    }

    /// The plain sum of the inputs of `included`, for checking a result.
    #[must_use]
    pub fn plain_sum(&self, included: &[ClientId]) -> Vec<u64> {
        let m = self.params.modulus();
        let d = self.params.vector_len();
        let add = |mut sum: Vec<u64>, id: &ClientId| {
            if let Some(input) = self.input(*id) {
                for (s, x) in sum.iter_mut().zip(input.values()) {
                    *s = m.add(*s, *x);
                }
            }
            sum
        };
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            included
                .par_iter()
                .fold(|| alloc::vec![0u64; d], add)
                .reduce(
                    || alloc::vec![0u64; d],
                    |mut a, b| {
                        for (x, y) in a.iter_mut().zip(&b) {
                            *x = m.add(*x, *y);
                        }
                        a
                    },
                )
        }
        #[cfg(not(feature = "parallel"))]
        included.iter().fold(alloc::vec![0u64; d], add)
    }

    /// Runs the session with all randomness drawn from `seed`. `progress` is told the name of
    /// each round and how many clients have done it so far.
    #[must_use]
    pub fn run(&self, seed: u64, progress: &mut dyn FnMut(&str, usize, usize)) -> Report {
        let mut driver = Driver::new(self, progress, None);
        let outcome = driver.run(seed).and_then(|output| {
            output.ok_or(Error::Internal("a whole session ends with an output"))
        });
        Report {
            rounds: driver.rounds,
            outcome,
        }
    }

    /// Runs the session with all randomness drawn from `seed`, measuring only `size`
    /// clients (a client drawn from the seed and its nearest in the graph; fewer if the
    /// schedule leaves fewer): every client runs AdvertiseKeys, so the roster and the graph
    /// are those of `n` clients, but after it only the measured clients and their
    /// neighbours run, the neighbours only ShareKeys, with the driver standing in for their
    /// later messages at the server (a masked input; in the malicious mode a ConsistencyCheck
    /// signature over the survivor digest, made with the neighbour's identity key), which the
    /// server cannot tell from the neighbours' own. What a measured client receives is then
    /// what it would receive in a whole session with the same roster and dropouts
    /// (`docs/PERFORMANCE.md` §4b). The sum is not computed. `progress` is as for
    /// [`Simulation::run`].
    #[must_use]
    pub fn run_sampled(
        &self,
        seed: u64,
        size: usize,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> SampledReport {
        self.sampled(seed, size, false, progress)
    }

    /// As [`Simulation::run_sampled`], but the driver stands in for *every* client other
    /// than the `size` measured ones in every round after AdvertiseKeys, so that the server
    /// runs a whole session of `n`: each stand-in deals its real secrets to its
    /// neighbourhood (sealed for real to a measured neighbour, random bytes of the sealed
    /// length to another stand-in), sends a masked input of zeros, signs as an honest client
    /// does in the malicious mode, and reveals real shares in Unmasking, where the server
    /// rebuilds and checks every secret and removes the masks. The sum is not the clients'
    /// (the stand-ins add no masks), so it is not returned; `result` is `Ok` once the
    /// server has finished. The server's figures per round are then those of a session of
    /// `n` (the server's work for every client, without every client's:
    /// `docs/PERFORMANCE.md` §4b); the client figures are the measured clients'.
    #[must_use]
    pub fn run_stand_ins(
        &self,
        seed: u64,
        size: usize,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> SampledReport {
        self.sampled(seed, size.max(1), true, progress)
    }

    fn sampled(
        &self,
        seed: u64,
        size: usize,
        stand_in_rest: bool,
        progress: &mut dyn FnMut(&str, usize, usize),
    ) -> SampledReport {
        let mut driver = Driver::new(self, progress, Some(size));
        driver.stand_in_rest = stand_in_rest;
        let result = driver.run(seed).map(|_| ());
        let (measured, neighbours) = driver.sample.as_ref().map_or_else(
            || (Vec::new(), 0),
            |s| (s.measured.iter().copied().collect(), s.neighbours.len()),
        );
        SampledReport {
            rounds: driver.rounds,
            measured,
            neighbours,
            stand_ins: driver.stand_ins.as_ref().map_or(0, |s| s.ids().count()),
            result,
        }
    }
}

/// Runs `step` on every item, at most `threads` at a time, each step confined to one core,
/// and hands the results to `deliver` on the calling thread in item order, each as soon as
/// it and those before it are done (so results are never all held at once).
fn for_each_client<I, R, S, D>(threads: usize, items: Vec<I>, step: S, mut deliver: D)
where
    I: Send,
    R: Send,
    S: Fn(I) -> R + Sync,
    D: FnMut(R),
{
    if threads <= 1 || items.len() <= 1 {
        let core = OneCore::new();
        for item in items {
            deliver(core.run(|| step(item)));
        }
        return;
    }
    let queue = Mutex::new(items.into_iter().enumerate());
    let (tx, rx) = mpsc::sync_channel::<(usize, R)>(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (queue, step) = (&queue, &step);
            scope.spawn(move || {
                let core = OneCore::new();
                // A poisoned queue means another worker panicked: stop taking work (the
                // panic reaches the caller when the scope ends).
                while let Some((i, item)) = queue.lock().ok().and_then(|mut q| q.next()) {
                    if tx.send((i, core.run(|| step(item)))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Workers take items in order, so only the few in flight wait here.
        let mut early = BTreeMap::new();
        let mut next = 0;
        for (i, result) in rx {
            early.insert(i, result);
            while let Some(result) = early.remove(&next) {
                deliver(result);
                next += 1;
            }
        }
    });
}

/// Confines work to the calling thread: with `parallel`, the library's own parallel loops
/// run inside a one-thread pool instead of spreading over every core.
struct OneCore {
    #[cfg(feature = "parallel")]
    pool: Option<rayon::ThreadPool>,
}

impl OneCore {
    fn new() -> Self {
        Self {
            #[cfg(feature = "parallel")]
            pool: rayon::ThreadPoolBuilder::new().num_threads(1).build().ok(),
        }
    }

    fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        #[cfg(feature = "parallel")]
        if let Some(pool) = &self.pool {
            return pool.install(work);
        }
        work()
    }
}

/// Runs one client step and measures it.
fn timed<T>(step: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = step();
    (out, start.elapsed().as_secs_f64())
}

struct Driver<'a, 'p> {
    sim: &'a Simulation,
    rounds: Vec<RoundReport>,
    progress: &'p mut dyn FnMut(&str, usize, usize),
    restarts: Option<Restarts>,
    /// With [`Simulation::run_sampled`]: how many clients to measure.
    sample_size: Option<usize>,
    /// With [`Simulation::run_sampled`], once the roster is closed: who runs what.
    sample: Option<Sample>,
    /// With [`Simulation::run_sampled`] in the malicious mode: the identity keys the driver
    /// signs with when it stands in for a neighbour (every client's until the sample is
    /// chosen, then the neighbours' only).
    stand_in_keys: BTreeMap<ClientId, IdentityKey>,
    /// With [`Simulation::run_stand_ins`]: whether every client but the measured ones is a
    /// stand-in (then `stand_ins`, once the sample is chosen).
    stand_in_rest: bool,
    stand_ins: Option<StandIns>,
}

#[derive(Default)]
struct Tally {
    clients: usize,
    client_seconds: f64,
    server_seconds: f64,
    server_close_seconds: f64,
    sent: usize,
    received: usize,
    rejected: Vec<Rejected>,
    client_mask_expansions: usize,
    /// Bytes of the clients' sealed states (with restarts).
    client_state_bytes: usize,
    /// Bytes of the server's sealed state (with restarts).
    server_state_bytes: usize,
    /// The first error an honest client met; it ends the session.
    error: Option<Error>,
}

impl Tally {
    /// Counts one client step that took `seconds`, keeping the first error.
    fn client<T>(&mut self, out: Result<T, Error>, seconds: f64) -> Option<T> {
        self.client_seconds += seconds;
        self.clients += 1;
        match out {
            Ok(out) => Some(out),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// Keeps the first error of a client step that the report does not count.
    fn uncounted<T>(&mut self, out: Result<T, Error>) -> Option<T> {
        out.map_err(|e| {
            self.error.get_or_insert(e);
        })
        .ok()
    }

    /// Times the server's close of the round (or its finish), which is also server time.
    fn close<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let (out, seconds) = timed(step);
        self.server_seconds += seconds;
        self.server_close_seconds += seconds;
        out
    }

    /// Times one server step.
    fn server<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let (out, seconds) = timed(step);
        self.server_seconds += seconds;
        out
    }

    /// Times the server's `receive` of one message, keeping a rejection.
    fn deliver(&mut self, receive: impl FnOnce() -> Result<(), Rejected>) {
        if let Err(r) = self.server(receive) {
            self.rejected.push(r);
        }
    }

    /// The first client error, if any.
    fn check(&mut self) -> Result<(), Error> {
        self.error.take().map_or(Ok(()), Err)
    }
}

/// A client that has sent its masked input and waits for the unmasking request, with or
/// without ConsistencyCheck.
enum Ready {
    Plain(client::MaskedInput),
    Checked(client::Consistency),
}

/// The server and clients (with their generators) after AdvertiseKeys, with the roster.
type Advertised = (
    server::ShareKeys,
    Vec<(ClientId, client::AdvertiseKeys, ChaCha20Rng)>,
    Rosters,
);

/// What the clients receive in ShareKeys: the whole roster (the complete graph), or each
/// member's view, built when its client steps (never all at once).
enum Rosters {
    Whole(msg::Roster),
    Views(Box<server::RosterViews>),
}

impl Rosters {
    fn new(server: &server::ShareKeys) -> Self {
        match server.rosters_if_whole() {
            Some(whole) => Self::Whole(whole),
            None => Self::Views(Box::new(server.views())),
        }
    }

    fn for_client(&self, id: ClientId) -> Option<Cow<'_, msg::Roster>> {
        match self {
            Self::Whole(r) => Some(Cow::Borrowed(r)),
            Self::Views(v) => v.roster_for(id).map(Cow::Owned),
        }
    }
}
/// The server and clients after ShareKeys, with the deliveries.
type Shared = (
    server::MaskedInput,
    BTreeMap<ClientId, client::ShareKeys>,
    server::Deliveries,
);

type Requests = BTreeMap<ClientId, crate::protocol::messages::UnmaskingRequest>;

/// What one client step produced: the client's next state and its message (or the error that
/// ends the session), how long the step took, and the bytes the client received and sent.
struct Step<C, M> {
    id: ClientId,
    out: Result<(C, M), Error>,
    seconds: f64,
    received: usize,
    sent: usize,
    /// Bytes of the client's sealed state, when it was saved and restored.
    state: usize,
    /// The server's work done on the client's worker for this step (building the client's
    /// roster view), counted as the server's.
    server_seconds: f64,
}

impl<M> Step<(), M> {
    /// A stand-in's step: its message is the driver's (not counted); only the server's work
    /// for it (`server_seconds`) is.
    fn stand_in(id: ClientId, out: Result<M, Error>, server_seconds: f64) -> Self {
        Self {
            id,
            out: out.map(|m| ((), m)),
            seconds: 0.0,
            received: 0,
            sent: 0,
            state: 0,
            server_seconds,
        }
    }
}

impl<C, M: crate::wire::Encode> Step<C, M> {
    /// Times `step` for client `id`, which received `received` bytes; the bytes sent are
    /// those of the message's version-3 encoding.
    fn run(id: ClientId, received: usize, step: impl FnOnce() -> Result<(C, M), Error>) -> Self {
        let (out, seconds) = timed(step);
        let sent = out.as_ref().map_or(0, |(_, m)| wire_len(m));
        Self {
            id,
            out,
            seconds,
            received,
            sent,
            state: 0,
            server_seconds: 0.0,
        }
    }
}

impl<'a, 'p> Driver<'a, 'p> {
    fn new(
        sim: &'a Simulation,
        progress: &'p mut dyn FnMut(&str, usize, usize),
        sample_size: Option<usize>,
    ) -> Self {
        Self {
            sim,
            rounds: Vec::new(),
            progress,
            restarts: None,
            sample_size,
            sample: None,
            stand_in_keys: BTreeMap::new(),
            stand_in_rest: false,
            stand_ins: None,
        }
    }

    /// Whether client `id` sends a message in `round`: the dropout schedule and, in a
    /// sampled session, whether it runs that round at all.
    fn runs(&self, id: ClientId, round: Round) -> bool {
        self.sim.speaks(id, round) && self.sample.as_ref().is_none_or(|s| s.runs(id, round))
    }

    /// Runs `step` on every item (clients concurrently, [`for_each_client`]) and, on this
    /// thread in client order, counts each step in `t`, hands its message to the server
    /// (`receive`) and keeps the client's next state (`keep`).
    #[allow(clippy::too_many_arguments)]
    fn drive<I: Send, C: Send, M: Send>(
        &mut self,
        round: &str,
        t: &mut Tally,
        total: usize,
        items: Vec<I>,
        step: impl Fn(I) -> Step<C, M> + Sync,
        mut receive: impl FnMut(ClientId, M) -> Result<(), Rejected>,
        mut keep: impl FnMut(ClientId, C),
    ) {
        let threads = self.sim.client_threads;
        let progress = &mut self.progress;
        let sample = self.sample.as_ref();
        for_each_client(threads, items, step, |s| {
            progress(round, t.clients, total);
            // A sampled session counts its measured clients only (an error of any client
            // still ends the session).
            let counted = sample.is_none_or(|x| x.measured.contains(&s.id));
            t.server_seconds += s.server_seconds;
            let out = if counted {
                t.received += s.received;
                t.client_state_bytes += s.state;
                t.client(s.out, s.seconds)
            } else {
                t.uncounted(s.out)
            };
            if let Some((c, m)) = out {
                if counted {
                    t.sent += s.sent;
                }
                t.deliver(|| receive(s.id, m));
                keep(s.id, c);
            }
        });
    }

    fn record(&mut self, round: Round, t: Tally) {
        let per = |x: f64| {
            if t.clients == 0 {
                0.0
            } else {
                x / t.clients as f64
            }
        };
        self.rounds.push(RoundReport {
            round,
            clients: t.clients,
            client_seconds: per(t.client_seconds),
            server_seconds: t.server_seconds,
            server_close_seconds: t.server_close_seconds,
            bytes_sent_per_client: per(t.sent as f64),
            bytes_received_per_client: per(t.received as f64),
            rejected: t.rejected,
            client_mask_expansions: per(t.client_mask_expansions as f64),
            server_mask_expansions: 0,
            client_state_bytes: per(t.client_state_bytes as f64),
            server_state_bytes: t.server_state_bytes,
            mask_bytes: self.mask_bytes(),
        });
    }

    /// With restarts, the server saved and restored once it holds a round's messages.
    fn restart_server<S: ServerDurable>(&self, server: S, t: &mut Tally) -> Result<S, Error> {
        let Some(restarts) = &self.restarts else {
            return Ok(server);
        };
        let (server, len) = t.server(|| restarts.server(&self.sim.params, server))?;
        t.server_state_bytes = len;
        Ok(server)
    }

    fn mask_bytes(&self) -> u64 {
        let p = &self.sim.params;
        let width = u64::from(p.modulus().bits().div_ceil(8));
        (p.vector_len() as u64).saturating_mul(width)
    }

    /// Runs the session; `None` for a sampled session, which computes no sum.
    fn run(&mut self, seed: u64) -> Result<Option<Output>, Error> {
        let params = &self.sim.params.clone();
        let mut master = ChaCha20Rng::seed_from_u64(seed);
        let ids: Vec<ClientId> = (1..=params.clients())
            .filter_map(|i| u32::try_from(i).ok())
            .map(ClientId)
            .collect();
        let mut rngs = BTreeMap::new();
        for &id in &ids {
            let mut s = [0u8; 32];
            master.fill_bytes(&mut s);
            rngs.insert(id, ChaCha20Rng::from_seed(s));
        }
        let identities = match params.threat_model() {
            ThreatModel::HonestButCurious => None,
            ThreatModel::Malicious => {
                let keys: BTreeMap<ClientId, IdentityKey> = ids
                    .iter()
                    .map(|&id| (id, IdentityKey::generate(&mut master)))
                    .collect();
                let pki = Pki::new(keys.iter().map(|(id, k)| (*id, k.public_key())));
                Some((keys, pki))
            }
        };
        if self.sim.restart {
            let mut key = [0u8; 32];
            master.fill_bytes(&mut key);
            self.restarts = Some(Restarts {
                key: StateKey::new(key),
                identities: identities.as_ref().map_or_else(BTreeMap::new, |(keys, _)| {
                    keys.iter().map(|(id, k)| (*id, k.to_seed())).collect()
                }),
                pki: identities.as_ref().map(|(_, pki)| pki.clone()),
            });
        }
        if let (Some(_), Some((keys, _))) = (self.sample_size, &identities) {
            self.stand_in_keys = keys
                .iter()
                .map(|(id, k)| (*id, IdentityKey::from_seed(&k.to_seed())))
                .collect();
        }
        let mut advertised = self.advertise_keys(rngs, identities)?;
        if let Some(size) = self.sample_size {
            let (_, clients, rosters) = &advertised;
            let members: Vec<ClientId> = clients.iter().map(|(id, _, _)| *id).collect();
            let mut sample = Sample::choose(size, &members, rosters, &self.sim.drops, &mut master);
            if self.stand_in_rest {
                // Every client but the measured ones is a stand-in from here on.
                sample.neighbours.clear();
                let mut dealer_seed = [0u8; 32];
                master.fill_bytes(&mut dealer_seed);
                advertised = self.make_stand_ins(advertised, &sample, dealer_seed);
            }
            self.stand_in_keys
                .retain(|id, _| sample.neighbours.contains(id));
            self.sample = Some(sample);
        }
        let (server, clients, deliveries) = self.share_keys(advertised)?;
        let (server, ready, mut t) = self.masked_input(server, clients, deliveries)?;
        let (server, ready, requests) = match params.threat_model() {
            ThreatModel::HonestButCurious => {
                let closed = t.close(|| server.close());
                self.record(Round::MaskedInput, t);
                let (server, requests) = closed?;
                (server, ready, by_recipient(requests))
            }
            ThreatModel::Malicious => self.consistency(server, ready, t)?,
        };
        self.unmasking(server, ready, requests)
    }

    /// Moves every client but the measured ones out of `advertised` into the stand-ins.
    fn make_stand_ins(
        &mut self,
        (server, clients, rosters): Advertised,
        sample: &Sample,
        dealer_seed: [u8; 32],
    ) -> Advertised {
        let mut measured = BTreeMap::new();
        let mut states = BTreeMap::new();
        let mut kept = Vec::with_capacity(sample.measured.len());
        for (id, c, rng) in clients {
            if sample.measured.contains(&id) {
                measured.insert(id, c.stand_in_share_public_key());
                kept.push((id, c, rng));
            } else {
                states.insert(id, c);
            }
        }
        self.stand_ins = Some(StandIns::new(
            states,
            measured,
            server.graph().clone(),
            dealer_seed,
        ));
        (server, kept, rosters)
    }

    /// Whether the driver stands in for client `id` after ShareKeys.
    fn stands_in(&self, id: ClientId) -> bool {
        self.sample
            .as_ref()
            .is_some_and(|s| s.neighbours.contains(&id))
            || self.stand_ins.as_ref().is_some_and(|s| s.contains(id))
    }

    fn advertise_keys(
        &mut self,
        rngs: BTreeMap<ClientId, ChaCha20Rng>,
        mut identities: Option<(BTreeMap<ClientId, IdentityKey>, Pki)>,
    ) -> Result<Advertised, Error> {
        let params = self.sim.params.clone();
        let mut t = Tally::default();
        let mut server = match &identities {
            Some((_, pki)) => server::AdvertiseKeys::with_pki(&params, pki.clone()),
            None => server::AdvertiseKeys::new(&params),
        };
        let total = rngs.len();
        let items: Vec<_> = rngs
            .into_iter()
            .filter(|(id, _)| self.sim.speaks(*id, Round::AdvertiseKeys))
            .map(|(id, rng)| {
                let identity = identities.as_mut().and_then(|(keys, pki)| {
                    keys.remove(&id)
                        .map(|k| client::Identity::new(k, pki.clone()))
                });
                (id, identity, rng)
            })
            .collect();
        let mut clients = Vec::with_capacity(items.len());
        let restarts = self.restarts.take();
        let step = |(id, identity, mut rng): (ClientId, Option<client::Identity>, ChaCha20Rng)| {
            let mut state = 0;
            let mut step = Step::run(id, 0, || {
                let (c, out) = match identity {
                    Some(identity) => {
                        client::AdvertiseKeys::with_identity(&params, id, identity, &mut rng)
                    }
                    None => client::AdvertiseKeys::new(&params, id, &mut rng),
                };
                let c = match &restarts {
                    Some(r) => {
                        let (c, len) = r.client(&params, id, c)?;
                        state = len;
                        c
                    }
                    None => c,
                };
                Ok(((c, rng), out))
            });
            step.state = state;
            step
        };
        self.drive(
            "advertise_keys",
            &mut t,
            total,
            items,
            step,
            |id, out| server.receive(id, out),
            |id, (c, rng)| clients.push((id, c, rng)),
        );
        self.restarts = restarts;
        let server = self.restart_server(server, &mut t)?;
        // The tree and the ring; each view is built on the worker of its client's step and
        // counted as the server's time in ShareKeys (where the server sends it).
        let closed = t.close(|| {
            server.close_lazy().map(|s| {
                let rosters = Rosters::new(&s);
                (s, rosters)
            })
        });
        self.record(Round::AdvertiseKeys, t);
        let (server, rosters) = closed?;
        Ok((server, clients, rosters))
    }

    fn share_keys(&mut self, (mut server, clients, rosters): Advertised) -> Result<Shared, Error> {
        let mut t = Tally::default();
        let mut next = BTreeMap::new();
        let total = clients.len();
        let items: Vec<_> = clients
            .into_iter()
            .filter(|(id, _, _)| self.runs(*id, Round::ShareKeys))
            .collect();
        let restarts = self.restarts.take();
        let params = &self.sim.params;
        let step = |(id, c, mut rng): (ClientId, client::AdvertiseKeys, ChaCha20Rng)| {
            // The whole roster, or this client's view of a sparse graph: the server's work.
            let (roster, server_seconds) = timed(|| rosters.for_client(id));
            let roster_len = roster.as_deref().map_or(0, wire_len);
            let mut step = Step::run(id, roster_len, || {
                let roster = roster.ok_or(Error::Internal("every member has a roster"))?;
                c.share_keys(&roster, &mut rng)
            })
            .restarted(restarts.as_ref(), params);
            step.server_seconds = server_seconds;
            step
        };
        let mut stand_ins = self.stand_ins.take();
        self.drive(
            "share_keys",
            &mut t,
            total,
            items,
            step,
            |id, out| {
                if let Some(s) = stand_ins.as_mut() {
                    s.keep_sealed(&out);
                }
                server.receive(id, out)
            },
            |id, c| {
                next.insert(id, c);
            },
        );
        if let Some(s) = &stand_ins {
            // Each stand-in's view is built as for a client (the server's work, timed as
            // its own); its message is the driver's (`stand_in.rs`).
            let roster_digest = *server.roster_digest();
            let items: Vec<ClientId> = s
                .ids()
                .filter(|&id| self.sim.speaks(id, Round::ShareKeys))
                .collect();
            let step = |id: ClientId| {
                let (roster, server_seconds) = timed(|| rosters.for_client(id));
                drop(roster);
                Step::stand_in(id, s.share_keys(params, id, &roster_digest), server_seconds)
            };
            self.drive(
                "share_keys: stand-ins",
                &mut t,
                total,
                items,
                step,
                |id, out| server.receive(id, out),
                |_, ()| {},
            );
        }
        self.stand_ins = stand_ins;
        self.restarts = restarts;
        t.check()?;
        let server = self.restart_server(server, &mut t)?;
        let closed = t.close(|| server.close_lazy());
        self.record(Round::ShareKeys, t);
        let (server, deliveries) = closed?;
        Ok((server, next, deliveries))
    }

    fn masked_input(
        &mut self,
        mut server: server::MaskedInput,
        mut clients: BTreeMap<ClientId, client::ShareKeys>,
        mut deliveries: server::Deliveries,
    ) -> Result<(server::MaskedInput, BTreeMap<ClientId, Ready>, Tally), Error> {
        let mut t = Tally::default();
        let mut ready = BTreeMap::new();
        let recipients: Vec<ClientId> = deliveries.recipients().collect();
        let total = recipients.len();
        let sim = self.sim;
        // Each delivery is built when the server sends it: the server's time. A client
        // without an input sends nothing, as if it had dropped.
        let mut items = Vec::new();
        for &id in &recipients {
            if !(self.runs(id, Round::MaskedInput) && sim.has_input(id)) {
                continue;
            }
            let Some(c) = clients.remove(&id) else {
                continue;
            };
            if let Some(delivery) = t.server(|| deliveries.take(id)) {
                items.push((c, delivery));
            }
        }
        // The server sends every other member of U_2 its delivery too (a stand-in's, or a
        // client's that drops now), each built and dropped in turn.
        for &id in &recipients {
            t.server(|| drop(deliveries.take(id)));
        }
        let modulus = sim.params.modulus();
        let restarts = self.restarts.take();
        let step = |(c, delivery): (client::ShareKeys, msg::SharesDelivery)| {
            let id = delivery.recipient;
            // Generated outside the timed step: the input is the client's, not protocol work.
            let input = sim.input(id);
            let (out, seconds) = match &input {
                Some(input) => timed(|| c.masked_input(&delivery, input)),
                // Not reached: clients without an input were filtered out above.
                None => (
                    Err(crate::error::ApiMisuse::InputLength {
                        got: 0,
                        expected: sim.params.vector_len(),
                    }
                    .into()),
                    0.0,
                ),
            };
            drop(input);
            // The masked vector travels bit-packed.
            let sent = out.as_ref().map_or(0, |(_, m)| {
                wire_len(&crate::wire::PackedMaskedInput::new(m, modulus))
            });
            Step {
                id,
                out,
                seconds,
                received: wire_len(&delivery),
                sent,
                state: 0,
                server_seconds: 0.0,
            }
            .restarted(restarts.as_ref(), &sim.params)
        };
        let mut roster_digest = None;
        self.drive(
            "masked_input",
            &mut t,
            total,
            items,
            step,
            |id, out| {
                roster_digest.get_or_insert(out.roster_digest);
                server.receive(id, out)
            },
            |id, c| {
                ready.insert(id, Ready::Plain(c));
            },
        );
        self.restarts = restarts;
        if let (Some(_), Some(roster_digest)) = (&self.sample, roster_digest) {
            // Sampled: the driver stands in for each neighbour that sends a masked input;
            // the server cannot tell its elements from a client's.
            let stand_ins = recipients
                .iter()
                .copied()
                .filter(|&id| self.stands_in(id))
                .filter(|&id| sim.speaks(id, Round::MaskedInput) && sim.has_input(id));
            for sender in stand_ins {
                let message = msg::MaskedInput {
                    session: *sim.params.session(),
                    sender,
                    roster_digest,
                    masked: alloc::vec![0; sim.params.vector_len()],
                };
                t.deliver(|| server.receive(sender, message));
            }
        }
        t.client_mask_expansions = ready
            .values()
            .map(|r| match r {
                Ready::Plain(c) => c.mask_expansions(),
                Ready::Checked(_) => 0,
            })
            .sum();
        t.check()?;
        let server = self.restart_server(server, &mut t)?;
        Ok((server, ready, t))
    }

    fn consistency(
        &mut self,
        server: server::MaskedInput,
        ready: BTreeMap<ClientId, Ready>,
        mut t2: Tally,
    ) -> Result<(server::Unmasking, BTreeMap<ClientId, Ready>, Requests), Error> {
        // The survivor tree; each request is built on the worker of its client's step
        // (counted as the server's time in ConsistencyCheck), never all at once.
        let closed = t2.close(|| {
            server.close_for_consistency_lazy().map(|s| {
                let views = s.views();
                (s, views)
            })
        });
        self.record(Round::MaskedInput, t2);
        let (mut server, views) = closed?;
        let mut t = Tally::default();
        let mut next = BTreeMap::new();
        let total = ready.len();
        let items: Vec<_> = ready
            .into_iter()
            .filter(|(id, _)| self.runs(*id, Round::Consistency))
            .filter_map(|(id, c)| match c {
                Ready::Plain(c) if views.is_survivor(id) => Some((id, c)),
                _ => None,
            })
            .collect();
        let restarts = self.restarts.take();
        let params = &self.sim.params;
        let step = |(id, c): (ClientId, client::MaskedInput)| {
            let (request, server_seconds) = timed(|| views.request_for(id));
            let received = request.as_ref().map_or(0, wire_len);
            let mut step = Step::run(id, received, || match &request {
                Some(request) => c.consistency(request),
                None => Err(Error::Internal("a survivor has a consistency request")),
            })
            .restarted(restarts.as_ref(), params);
            step.server_seconds = server_seconds;
            step
        };
        self.drive(
            "consistency",
            &mut t,
            total,
            items,
            step,
            |id, out| server.receive(id, out),
            |id, c| {
                next.insert(id, Ready::Checked(c));
            },
        );
        self.restarts = restarts;
        // Sampled: the driver stands in for each surviving neighbour that signs, signing the
        // survivor digest, as the honest neighbour would once its slice verified.
        let survivor_digest = *server.survivor_digest();
        let session = *self.sim.params.session();
        for (&sender, key) in &self.stand_in_keys {
            if self.sim.speaks(sender, Round::Consistency) && views.is_survivor(sender) {
                let message = msg::ConsistencySignature {
                    session,
                    sender,
                    signature: key.sign_survivors(&session, &survivor_digest),
                };
                t.deliver(|| server.receive(sender, message));
            }
        }
        let stand_ins = self.stand_ins.take();
        if let Some(s) = &stand_ins {
            // Each stand-in's slice is built as for a client (the server's work, timed as
            // its own); its signature is the driver's.
            let items: Vec<ClientId> = s
                .ids()
                .filter(|&id| self.sim.speaks(id, Round::Consistency) && views.is_survivor(id))
                .collect();
            let step = |sender: ClientId| {
                let (request, server_seconds) = timed(|| views.request_for(sender));
                drop(request);
                let out = s
                    .survivor_signature(sender, &survivor_digest)
                    .map(|signature| msg::ConsistencySignature {
                        session,
                        sender,
                        signature,
                    })
                    .ok_or(Error::Internal("a malicious-mode stand-in signs"));
                Step::stand_in(sender, out, server_seconds)
            };
            self.drive(
                "consistency: stand-ins",
                &mut t,
                total,
                items,
                step,
                |id, out| server.receive(id, out),
                |_, ()| {},
            );
        }
        self.stand_ins = stand_ins;
        t.check()?;
        let server = self.restart_server(server, &mut t)?;
        let closed = t.close(|| server.close());
        self.record(Round::Consistency, t);
        let (server, requests) = closed?;
        Ok((server, next, by_recipient(requests)))
    }

    fn unmasking(
        &mut self,
        mut server: server::Unmasking,
        ready: BTreeMap<ClientId, Ready>,
        mut requests: Requests,
    ) -> Result<Option<Output>, Error> {
        let mut t = Tally::default();
        let total = ready.len();
        let items: Vec<_> = ready
            .into_iter()
            .filter(|(id, _)| self.runs(*id, Round::Unmasking))
            .filter_map(|(id, c)| Some((id, c, requests.get(&id)?)))
            .collect();
        let step = |(id, c, request): (ClientId, Ready, &msg::UnmaskingRequest)| {
            Step::run(id, wire_len(request), || match c {
                Ready::Plain(c) => c.unmasking(request),
                Ready::Checked(c) => c.unmasking(request),
            })
        };
        self.drive(
            "unmasking",
            &mut t,
            total,
            items,
            step,
            |id, out| server.receive(id, out),
            |_, _done| {},
        );
        if let Some(s) = self.stand_ins.take() {
            self.stand_ins_unmask(&s, &mut server, &mut requests, &mut t);
            self.stand_ins = Some(s);
        }
        t.check()?;
        if self.sample.is_some() && self.stand_ins.is_none() {
            // Sampled: the measured clients have answered; there is no sum to compute.
            self.record(Round::Unmasking, t);
            return Ok(None);
        }
        let server = self.restart_server(server, &mut t)?;
        (self.progress)("unmasking: server removes masks", 0, 1);
        let output = t.close(|| server.finish());
        let expansions = output.as_ref().map_or(0, |o| o.mask_expansions);
        self.record(Round::Unmasking, t);
        if let Some(last) = self.rounds.last_mut() {
            last.server_mask_expansions = expansions;
        }
        output.map(Some)
    }

    /// The stand-ins' unmasking responses: their shares dealt again (in chunks of owners,
    /// on the client threads, not counted) and delivered to the server (counted).
    fn stand_ins_unmask(
        &mut self,
        s: &StandIns,
        server: &mut server::Unmasking,
        requests: &mut Requests,
        t: &mut Tally,
    ) {
        const CHUNK: usize = 4096;
        let params = &self.sim.params;
        let owners = s.owners(server.survivors(), server.dropped(), CHUNK);
        let total = owners.len();
        let mut dealt = Dealt::new();
        let progress = &mut self.progress;
        let mut done = 0;
        for_each_client(
            self.sim.client_threads,
            owners,
            |chunk| s.deal_chunk(params, &chunk),
            |chunk| {
                progress("unmasking: stand-ins deal", done, total);
                done += 1;
                if let Some(chunk) = t.uncounted(chunk) {
                    s.file(&mut dealt, chunk);
                }
            },
        );
        for id in s.ids() {
            // Each request is dropped once answered, as a server that sent it would.
            let Some(request) = requests.remove(&id) else {
                continue;
            };
            if !self.sim.speaks(id, Round::Unmasking) {
                continue;
            }
            if let Some(response) = t.uncounted(s.unmasking(params, &request, &mut dealt)) {
                t.deliver(|| server.receive(id, response));
            }
        }
    }
}

/// The raw keystream rate of `suite` on the calling thread, in bytes per second: the best of
/// nine passes (the machine's capability, so the ideal it gives is a conservative
/// yardstick on a noisy machine), each writing `bytes` of keystream chunk by chunk (the
/// chunk size of a mask with 32-bit elements) into one buffer, with nothing added. The mask kernel's speed
/// is judged against it: [`RoundReport`] gives the keystream each side read.
#[must_use]
pub fn keystream_rate(suite: crate::params::MaskSuite, bytes: usize) -> f64 {
    let chunk = 4 * crate::crypto::prg::CHUNK_ELEMENTS;
    let mut buf = alloc::vec![0u8; chunk];
    let seed = [0x5a; 32];
    let chunks = bytes.div_ceil(chunk).max(1);
    let best = (0..9)
        .map(|_| {
            let ((), seconds) = timed(|| {
                for j in 0..chunks {
                    crate::crypto::prg::write_chunk_keystream(suite, &seed, j as u64, &mut buf);
                    core::hint::black_box(&buf);
                }
            });
            seconds
        })
        .fold(f64::INFINITY, f64::min);
    (chunks * chunk) as f64 / best
}

/// How many cores the server's parallel work spreads over.
#[must_use]
pub fn server_threads() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "parallel"))]
    1
}

/// The length of a message's version-3 encoding, from the encoding itself.
fn wire_len<M: crate::wire::Encode>(message: &M) -> usize {
    crate::wire::to_bytes(message).len()
}

fn by_recipient(requests: Vec<msg::UnmaskingRequest>) -> Requests {
    requests.into_iter().map(|r| (r.recipient, r)).collect()
}
