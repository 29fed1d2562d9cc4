//! An in-memory driver: one server and `n` clients run a whole session in one process, from
//! a dropout schedule. It serves the `secagg simulate` command, the tests, the examples and
//! the benchmarks. Time is measured here, in the driver, never in the protocol core.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use std::time::Instant;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::PlainInput;
use crate::error::{Error, Rejected};
use crate::ids::ClientId;
use crate::params::Params;
use crate::protocol::messages::Message;
use crate::protocol::server::Output;
use crate::protocol::{Round, client, server};

/// The four rounds a client takes part in, in order, as numbered by `--drop R:..`
/// (0 AdvertiseKeys, 1 ShareKeys, 2 MaskedInputCollection, 3 Unmasking).
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
    /// Seconds the server spent receiving this round's messages and closing it.
    pub server_seconds: f64,
    /// Mean bytes a client sent in this round (version-1 encoding).
    pub bytes_sent_per_client: f64,
    /// Mean bytes a client received for this round.
    pub bytes_received_per_client: f64,
    /// Messages the server refused.
    pub rejected: Vec<Rejected>,
}

/// The outcome of a simulated session.
#[derive(Debug)]
pub struct Report {
    /// One entry per round that ran.
    pub rounds: Vec<RoundReport>,
    /// The server's output, or why the session aborted.
    pub outcome: Result<Output, Error>,
}

/// A session to simulate: the parameters, each client's input (client `i + 1` holds
/// `inputs[i]`) and the round from which each dropping client goes silent.
#[derive(Debug)]
pub struct Simulation {
    params: Params,
    inputs: Vec<PlainInput>,
    drops: BTreeMap<ClientId, Round>,
}

impl Simulation {
    /// A session of `params.clients()` clients with ids `1 ..= n` and the given inputs.
    #[must_use]
    pub fn new(params: Params, inputs: Vec<PlainInput>) -> Self {
        Self {
            params,
            inputs,
            drops: BTreeMap::new(),
        }
    }

    /// Makes `client` go silent from `round` on (it sends nothing in that round or later).
    /// A client dropped twice keeps the earlier round.
    pub fn drop_from(&mut self, client: ClientId, round: Round) {
        let r = self.drops.entry(client).or_insert(round);
        *r = (*r).min(round);
    }

    /// The dropout schedule.
    #[must_use]
    pub fn drops(&self) -> &BTreeMap<ClientId, Round> {
        &self.drops
    }

    fn speaks(&self, id: ClientId, round: Round) -> bool {
        self.drops.get(&id).is_none_or(|r| *r > round)
    }

    /// The plain sum of the inputs of `included`, for checking a result.
    #[must_use]
    pub fn plain_sum(&self, included: &[ClientId]) -> Vec<u64> {
        let m = self.params.modulus();
        let mut sum = alloc::vec![0u64; self.params.vector_len()];
        for id in included {
            let Some(input) = (id.0 as usize)
                .checked_sub(1)
                .and_then(|i| self.inputs.get(i))
            else {
                continue;
            };
            for (s, x) in sum.iter_mut().zip(input.values()) {
                *s = m.add(*s, *x);
            }
        }
        sum
    }

    /// Runs the session with all randomness drawn from `seed`. `progress` is told the name of
    /// each round and how many clients have done it so far.
    #[must_use]
    pub fn run(&self, seed: u64, progress: &mut dyn FnMut(&str, usize, usize)) -> Report {
        let mut driver = Driver {
            sim: self,
            rounds: Vec::new(),
            progress,
        };
        let outcome = driver.run(seed);
        Report {
            rounds: driver.rounds,
            outcome,
        }
    }
}

struct Driver<'a, 'p> {
    sim: &'a Simulation,
    rounds: Vec<RoundReport>,
    progress: &'p mut dyn FnMut(&str, usize, usize),
}

#[derive(Default)]
struct Tally {
    clients: usize,
    client_seconds: f64,
    server_seconds: f64,
    sent: usize,
    received: usize,
    rejected: Vec<Rejected>,
}

impl Driver<'_, '_> {
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
            bytes_sent_per_client: per(t.sent as f64),
            bytes_received_per_client: per(t.received as f64),
            rejected: t.rejected,
        });
    }

    fn run(&mut self, seed: u64) -> Result<Output, Error> {
        let sim = self.sim;
        let params = &sim.params;
        let bits = params.modulus().bits();
        let n = params.clients();
        let mut master = ChaCha20Rng::seed_from_u64(seed);
        let mut rngs: BTreeMap<ClientId, ChaCha20Rng> = BTreeMap::new();
        let ids: Vec<ClientId> = (1..=n)
            .filter_map(|i| u32::try_from(i).ok())
            .map(ClientId)
            .collect();
        for &id in &ids {
            let mut s = [0u8; 32];
            master.fill_bytes(&mut s);
            rngs.insert(id, ChaCha20Rng::from_seed(s));
        }

        // Round 0: AdvertiseKeys.
        let mut t = Tally::default();
        let mut server = server::AdvertiseKeys::new(params);
        let mut clients = BTreeMap::new();
        for (done, &id) in ids.iter().enumerate() {
            (self.progress)("advertise_keys", done, n);
            if !sim.speaks(id, Round::AdvertiseKeys) {
                continue;
            }
            let Some(rng) = rngs.get_mut(&id) else {
                continue;
            };
            let start = Instant::now();
            let (c, out) = client::AdvertiseKeys::new(params, id, rng);
            t.client_seconds += start.elapsed().as_secs_f64();
            t.sent += out.encoded_len(bits);
            t.clients += 1;
            let start = Instant::now();
            if let Err(r) = server.receive(id, out) {
                t.rejected.push(r);
            }
            t.server_seconds += start.elapsed().as_secs_f64();
            clients.insert(id, c);
        }
        let start = Instant::now();
        let closed = server.close();
        t.server_seconds += start.elapsed().as_secs_f64();
        self.record(Round::AdvertiseKeys, t);
        let (mut server, roster) = closed?;

        // Round 1: ShareKeys.
        let mut t = Tally::default();
        let mut next = BTreeMap::new();
        let total = clients.len();
        for (done, (id, c)) in clients.into_iter().enumerate() {
            (self.progress)("share_keys", done, total);
            if !sim.speaks(id, Round::ShareKeys) {
                continue;
            }
            let Some(rng) = rngs.get_mut(&id) else {
                continue;
            };
            t.received += roster.encoded_len(bits);
            let start = Instant::now();
            let result = c.share_keys(&roster, rng);
            t.client_seconds += start.elapsed().as_secs_f64();
            t.clients += 1;
            let (c, out) = result?;
            t.sent += out.encoded_len(bits);
            let start = Instant::now();
            if let Err(r) = server.receive(id, out) {
                t.rejected.push(r);
            }
            t.server_seconds += start.elapsed().as_secs_f64();
            next.insert(id, c);
        }
        let start = Instant::now();
        let closed = server.close();
        t.server_seconds += start.elapsed().as_secs_f64();
        self.record(Round::ShareKeys, t);
        let (mut server, deliveries) = closed?;

        // Round 2: MaskedInputCollection.
        let mut t = Tally::default();
        let mut next2 = BTreeMap::new();
        let total = deliveries.len();
        for (done, delivery) in deliveries.iter().enumerate() {
            (self.progress)("masked_input", done, total);
            let id = delivery.recipient;
            let Some(c) = next.remove(&id) else { continue };
            if !sim.speaks(id, Round::MaskedInput) {
                continue;
            }
            let Some(input) = (id.0 as usize)
                .checked_sub(1)
                .and_then(|i| sim.inputs.get(i))
            else {
                continue;
            };
            t.received += delivery.encoded_len(bits);
            let start = Instant::now();
            let result = c.masked_input(delivery, input);
            t.client_seconds += start.elapsed().as_secs_f64();
            t.clients += 1;
            let (c, out) = result?;
            t.sent += out.encoded_len(bits);
            let start = Instant::now();
            if let Err(r) = server.receive(id, out) {
                t.rejected.push(r);
            }
            t.server_seconds += start.elapsed().as_secs_f64();
            next2.insert(id, c);
        }
        let start = Instant::now();
        let closed = server.close();
        t.server_seconds += start.elapsed().as_secs_f64();
        self.record(Round::MaskedInput, t);
        let (mut server, requests) = closed?;
        let requests: BTreeMap<ClientId, _> =
            requests.into_iter().map(|r| (r.recipient, r)).collect();

        // Round 4: Unmasking.
        let mut t = Tally::default();
        let total = next2.len();
        for (done, (id, c)) in next2.into_iter().enumerate() {
            (self.progress)("unmasking", done, total);
            if !sim.speaks(id, Round::Unmasking) {
                continue;
            }
            let Some(request) = requests.get(&id) else {
                continue;
            };
            t.received += request.encoded_len(bits);
            let start = Instant::now();
            let result = c.unmasking(request);
            t.client_seconds += start.elapsed().as_secs_f64();
            t.clients += 1;
            let (_done, out) = result?;
            t.sent += out.encoded_len(bits);
            let start = Instant::now();
            if let Err(r) = server.receive(id, out) {
                t.rejected.push(r);
            }
            t.server_seconds += start.elapsed().as_secs_f64();
        }
        (self.progress)("unmasking: server removes masks", 0, 1);
        let start = Instant::now();
        let output = server.finish();
        t.server_seconds += start.elapsed().as_secs_f64();
        self.record(Round::Unmasking, t);
        output
    }
}

/// A short lowercase name of a round, as used in reports.
#[must_use]
pub fn round_name(round: Round) -> String {
    alloc::format!("{round}")
}
