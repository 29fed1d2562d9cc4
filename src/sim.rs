//! An in-memory driver: one server and `n` clients run a whole session in one process, from
//! a dropout schedule. It serves the `secagg simulate` command, the tests, the examples and
//! the benchmarks. Time is measured here, in the driver, never in the protocol core.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use std::time::Instant;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use crate::PlainInput;
use crate::crypto::sign::{IdentityKey, Pki};
use crate::error::{Error, Rejected};
use crate::ids::ClientId;
use crate::params::Params;
use crate::params::ThreatModel;
use crate::protocol::messages as msg;
use crate::protocol::server::Output;
use crate::protocol::{Round, client, server};

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
    /// Seconds the server spent receiving this round's messages and closing it.
    pub server_seconds: f64,
    /// Mean bytes a client sent in this round (version-1 encoding).
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
            rngs: BTreeMap::new(),
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
    rngs: BTreeMap<ClientId, ChaCha20Rng>,
}

#[derive(Default)]
struct Tally {
    clients: usize,
    client_seconds: f64,
    server_seconds: f64,
    sent: usize,
    received: usize,
    rejected: Vec<Rejected>,
    client_mask_expansions: usize,
}

impl Tally {
    /// Times one client step.
    fn client<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = step();
        self.client_seconds += start.elapsed().as_secs_f64();
        self.clients += 1;
        out
    }

    /// Times one server step.
    fn server<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = step();
        self.server_seconds += start.elapsed().as_secs_f64();
        out
    }

    /// Times the server's `receive` of one message, keeping a rejection.
    fn deliver(&mut self, receive: impl FnOnce() -> Result<(), Rejected>) {
        if let Err(r) = self.server(receive) {
            self.rejected.push(r);
        }
    }
}

/// A client that has sent its masked input and waits for the unmasking request, with or
/// without ConsistencyCheck.
enum Ready {
    Plain(client::MaskedInput),
    Checked(client::Consistency),
}

/// The server and clients after AdvertiseKeys, with the roster.
type Advertised = (
    server::ShareKeys,
    BTreeMap<ClientId, client::AdvertiseKeys>,
    msg::Roster,
);
/// The server and clients after ShareKeys, with the deliveries.
type Shared = (
    server::MaskedInput,
    BTreeMap<ClientId, client::ShareKeys>,
    Vec<msg::SharesDelivery>,
);

type Requests = BTreeMap<ClientId, crate::protocol::messages::UnmaskingRequest>;

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
            client_mask_expansions: per(t.client_mask_expansions as f64),
            server_mask_expansions: 0,
            mask_bytes: self.mask_bytes(),
        });
    }

    fn mask_bytes(&self) -> u64 {
        let p = &self.sim.params;
        let width = u64::from(p.modulus().bits().div_ceil(8));
        (p.vector_len() as u64).saturating_mul(width)
    }

    fn rng(&mut self, id: ClientId) -> Option<&mut ChaCha20Rng> {
        self.rngs.get_mut(&id)
    }

    fn run(&mut self, seed: u64) -> Result<Output, Error> {
        let params = &self.sim.params.clone();
        let mut master = ChaCha20Rng::seed_from_u64(seed);
        let ids: Vec<ClientId> = (1..=params.clients())
            .filter_map(|i| u32::try_from(i).ok())
            .map(ClientId)
            .collect();
        for &id in &ids {
            let mut s = [0u8; 32];
            master.fill_bytes(&mut s);
            self.rngs.insert(id, ChaCha20Rng::from_seed(s));
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
        let advertised = self.advertise_keys(&ids, identities)?;
        let (server, clients, deliveries) = self.share_keys(advertised)?;
        let (server, ready, mut t) = self.masked_input(server, clients, &deliveries)?;
        let (server, ready, requests) = match params.threat_model() {
            ThreatModel::HonestButCurious => {
                let closed = t.server(|| server.close());
                self.record(Round::MaskedInput, t);
                let (server, requests) = closed?;
                (server, ready, by_recipient(requests))
            }
            ThreatModel::Malicious => self.consistency(server, ready, t)?,
        };
        self.unmasking(server, ready, &requests)
    }

    fn advertise_keys(
        &mut self,
        ids: &[ClientId],
        mut identities: Option<(BTreeMap<ClientId, IdentityKey>, Pki)>,
    ) -> Result<Advertised, Error> {
        let params = self.sim.params.clone();
        let mut t = Tally::default();
        let mut server = match &identities {
            Some((_, pki)) => server::AdvertiseKeys::with_pki(&params, pki.clone()),
            None => server::AdvertiseKeys::new(&params),
        };
        let mut clients = BTreeMap::new();
        for (done, &id) in ids.iter().enumerate() {
            (self.progress)("advertise_keys", done, ids.len());
            if !self.sim.speaks(id, Round::AdvertiseKeys) {
                continue;
            }
            let identity = identities.as_mut().and_then(|(keys, pki)| {
                keys.remove(&id)
                    .map(|k| client::Identity::new(k, pki.clone()))
            });
            let Some(rng) = self.rng(id) else { continue };
            let (c, out) = t.client(|| match identity {
                Some(identity) => client::AdvertiseKeys::with_identity(&params, id, identity, rng),
                None => client::AdvertiseKeys::new(&params, id, rng),
            });
            t.sent += wire_len(&out);
            t.deliver(|| server.receive(id, out));
            clients.insert(id, c);
        }
        let closed = t.server(|| server.close());
        self.record(Round::AdvertiseKeys, t);
        let (server, roster) = closed?;
        Ok((server, clients, roster))
    }

    fn share_keys(&mut self, (mut server, clients, roster): Advertised) -> Result<Shared, Error> {
        let mut t = Tally::default();
        let mut next = BTreeMap::new();
        let total = clients.len();
        for (done, (id, c)) in clients.into_iter().enumerate() {
            (self.progress)("share_keys", done, total);
            if !self.sim.speaks(id, Round::ShareKeys) {
                continue;
            }
            let Some(rng) = self.rngs.get_mut(&id) else {
                continue;
            };
            t.received += wire_len(&roster);
            let (c, out) = t.client(|| c.share_keys(&roster, rng))?;
            t.sent += wire_len(&out);
            t.deliver(|| server.receive(id, out));
            next.insert(id, c);
        }
        let closed = t.server(|| server.close());
        self.record(Round::ShareKeys, t);
        let (server, deliveries) = closed?;
        Ok((server, next, deliveries))
    }

    fn masked_input(
        &mut self,
        mut server: server::MaskedInput,
        mut clients: BTreeMap<ClientId, client::ShareKeys>,
        deliveries: &[msg::SharesDelivery],
    ) -> Result<(server::MaskedInput, BTreeMap<ClientId, Ready>, Tally), Error> {
        let mut t = Tally::default();
        let mut ready = BTreeMap::new();
        for (done, delivery) in deliveries.iter().enumerate() {
            (self.progress)("masked_input", done, deliveries.len());
            let id = delivery.recipient;
            let Some(c) = clients.remove(&id) else {
                continue;
            };
            let input = (id.0 as usize)
                .checked_sub(1)
                .and_then(|i| self.sim.inputs.get(i));
            let Some(input) = input.filter(|_| self.sim.speaks(id, Round::MaskedInput)) else {
                continue;
            };
            t.received += wire_len(delivery);
            let (c, out) = t.client(|| c.masked_input(delivery, input))?;
            t.client_mask_expansions += c.mask_expansions();
            t.sent += wire_len(&crate::wire::PackedMaskedInput::new(
                &out,
                self.sim.params.modulus(),
            ));
            t.deliver(|| server.receive(id, out));
            ready.insert(id, Ready::Plain(c));
        }
        Ok((server, ready, t))
    }

    fn consistency(
        &mut self,
        server: server::MaskedInput,
        ready: BTreeMap<ClientId, Ready>,
        mut t2: Tally,
    ) -> Result<(server::Unmasking, BTreeMap<ClientId, Ready>, Requests), Error> {
        let closed = t2.server(|| server.close_for_consistency());
        self.record(Round::MaskedInput, t2);
        let (mut server, requests) = closed?;
        let requests: BTreeMap<ClientId, _> =
            requests.into_iter().map(|r| (r.recipient, r)).collect();
        let mut t = Tally::default();
        let mut next = BTreeMap::new();
        let total = ready.len();
        for (done, (id, c)) in ready.into_iter().enumerate() {
            (self.progress)("consistency", done, total);
            let (Ready::Plain(c), Some(request)) = (c, requests.get(&id)) else {
                continue;
            };
            if !self.sim.speaks(id, Round::Consistency) {
                continue;
            }
            t.received += wire_len(request);
            let (c, out) = t.client(|| c.consistency(request))?;
            t.sent += wire_len(&out);
            t.deliver(|| server.receive(id, out));
            next.insert(id, Ready::Checked(c));
        }
        let closed = t.server(|| server.close());
        self.record(Round::Consistency, t);
        let (server, requests) = closed?;
        Ok((server, next, by_recipient(requests)))
    }

    fn unmasking(
        &mut self,
        mut server: server::Unmasking,
        ready: BTreeMap<ClientId, Ready>,
        requests: &Requests,
    ) -> Result<Output, Error> {
        let mut t = Tally::default();
        let total = ready.len();
        for (done, (id, c)) in ready.into_iter().enumerate() {
            (self.progress)("unmasking", done, total);
            if !self.sim.speaks(id, Round::Unmasking) {
                continue;
            }
            let Some(request) = requests.get(&id) else {
                continue;
            };
            t.received += wire_len(request);
            let (_done, out) = t.client(|| match c {
                Ready::Plain(c) => c.unmasking(request),
                Ready::Checked(c) => c.unmasking(request),
            })?;
            t.sent += wire_len(&out);
            t.deliver(|| server.receive(id, out));
        }
        (self.progress)("unmasking: server removes masks", 0, 1);
        let output = t.server(|| server.finish());
        let expansions = output.as_ref().map_or(0, |o| o.mask_expansions);
        self.record(Round::Unmasking, t);
        if let Some(last) = self.rounds.last_mut() {
            last.server_mask_expansions = expansions;
        }
        output
    }
}

/// The length of a message's version-1 encoding, from the encoding itself.
fn wire_len<M: crate::wire::Encode>(message: &M) -> usize {
    crate::wire::to_bytes(message).len()
}

fn by_recipient(requests: Vec<msg::UnmaskingRequest>) -> Requests {
    requests.into_iter().map(|r| (r.recipient, r)).collect()
}
