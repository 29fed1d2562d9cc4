//! Clients drop out at each round, with the number of survivors at the threshold, just
//! above it and just below it.
//!
//! Round by round, using the driver's numbering (`secagg::sim::ROUNDS`):
//! * a client that drops at AdvertiseKeys, ShareKeys or MaskedInput sends no masked input.
//!   It is not in the sum, and the survivors' pairwise masks with it are removed.
//! * a client that drops at Unmasking has already sent its masked input. Its input is in the
//!   sum, and its self-mask is rebuilt from its peers' shares.
//! * the session aborts in the first round that leaves fewer than `t` clients: fewer than
//!   `t` advertisers, share senders, masked inputs, or unmasking responders.
//!
//! The same schedules run on a random Harary graph (SecAgg+), where `t` applies per
//! neighbourhood (a client and its `k` neighbours), and in the malicious-server mode, whose
//! ConsistencyCheck round adds one more place to drop. Schedules whose outcome does not depend
//! on the graph go through `secagg::sim`. Schedules aimed at one neighbourhood need the graph:
//! those sessions are driven round by round ([`Plus`]), the graph is recomputed from the roster
//! as every party does, and the expected outcome is worked out by hand from it.

use core::cell::RefCell;
use std::collections::BTreeMap;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::harness::{Fate, Harness};
use secagg::protocol::graph::{Graph, roster_digest};
use secagg::sim::{ROUNDS, Simulation};
use secagg::wire::{ClientMessage, ServerMessage};
use secagg::{
    AbortReason, ClientId, Error, IdentityKey, Misbehavior, Modulus, Output, Params, Party,
    PlainInput, Round, SessionId, ThreatModel,
};

/// One simulated session and what it should add up to.
struct Session {
    sim: Simulation,
    inputs: Vec<Vec<u64>>,
    modulus: Modulus,
    seed: u64,
}

impl Session {
    fn new(n: usize, t: usize, modulus: Modulus, d: usize, seed: u64) -> Self {
        Self::with_params(
            Params::new(SessionId([3; 32]), n, t, modulus, d).unwrap(),
            seed,
        )
    }

    /// SecAgg+: a Harary graph of degree `k`, threshold `t` per neighbourhood.
    fn sparse(n: usize, k: usize, t: usize, modulus: Modulus, d: usize, seed: u64) -> Self {
        let params = Params::builder(SessionId([3; 32]), n, modulus, d)
            .neighbours(k)
            .threshold(t)
            .build()
            .unwrap();
        Self::with_params(params, seed)
    }

    /// The malicious-server mode on the complete graph.
    fn malicious(n: usize, t: usize, d: usize, seed: u64) -> Self {
        // Dropouts before the roster are part of these schedules: accept any roster of at
        // least t (the default against a malicious server is every client).
        let params = Params::builder(SessionId([3; 32]), n, m32(), d)
            .threshold(t)
            .threat_model(ThreatModel::Malicious)
            .min_roster(t)
            .build()
            .unwrap();
        Self::with_params(params, seed)
    }

    fn with_params(params: Params, seed: u64) -> Self {
        let (n, d, modulus) = (params.clients(), params.vector_len(), params.modulus());
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        // Non-zero inputs, so that a client wrongly left out changes the sum.
        let inputs: Vec<Vec<u64>> = (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        let x = u128::from(rng.next_u64()) % (modulus.value() - 1) + 1;
                        u64::try_from(x).unwrap()
                    })
                    .collect()
            })
            .collect();
        let plain = inputs.iter().cloned().map(PlainInput::new).collect();
        Self {
            sim: Simulation::new(params, plain),
            inputs,
            modulus,
            seed,
        }
    }

    fn drop_from(&mut self, ids: impl IntoIterator<Item = u32>, round: Round) -> &mut Self {
        for id in ids {
            self.sim.drop_from(ClientId(id), round);
        }
        self
    }

    /// The sum of the inputs of `included`, in `u128` arithmetic.
    fn expected_sum(&self, included: &[ClientId]) -> Vec<u64> {
        let d = self.inputs[0].len();
        (0..d)
            .map(|i| {
                let s = included.iter().fold(0u128, |acc, id| {
                    let x = self.inputs[usize::try_from(id.0).unwrap() - 1][i];
                    (acc + u128::from(x)) % self.modulus.value()
                });
                u64::try_from(s).unwrap()
            })
            .collect()
    }

    /// Runs the session and checks that it succeeds with exactly `included` in the sum.
    #[track_caller]
    fn succeeds_with(&self, included: &[u32]) -> Output {
        let seed = self.seed;
        let report = self.sim.run(seed, &mut |_, _, _| {});
        let out = report
            .outcome
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let included: Vec<ClientId> = included.iter().copied().map(ClientId).collect();
        assert_eq!(out.included, included, "seed {seed}");
        assert_eq!(out.sum, self.expected_sum(&included), "seed {seed}");
        assert_eq!(out.sum, self.sim.plain_sum(&included), "seed {seed}");
        out
    }

    /// Runs the session and checks that it aborts at `round` with `have` of `need` clients.
    #[track_caller]
    fn aborts_with(&self, round: Round, have: usize, need: usize) {
        let seed = self.seed;
        let report = self.sim.run(seed, &mut |_, _, _| {});
        assert_eq!(
            report.outcome,
            Err(Error::Abort(AbortReason::TooFewSurvivors {
                round,
                have,
                need
            })),
            "seed {seed}"
        );
        // The driver stops at the round that aborted.
        assert_eq!(report.rounds.last().map(|r| r.round), Some(round));
    }
}

impl Session {
    /// Runs the session and checks that it fails with exactly `error`, wherever it is found
    /// (a client refusing to go on ends the driver's session with its error).
    #[track_caller]
    fn fails_with(&self, error: Error) {
        let seed = self.seed;
        let report = self.sim.run(seed, &mut |_, _, _| {});
        assert_eq!(report.outcome, Err(error), "seed {seed}");
    }
}

fn too_few(round: Round, have: usize, need: usize) -> Error {
    Error::Abort(AbortReason::TooFewSurvivors { round, have, need })
}

fn m32() -> Modulus {
    Modulus::power_of_two(32).unwrap()
}

/// Ids `1..=n` without `left_out`.
fn all_but(n: u32, left_out: &[u32]) -> Vec<u32> {
    (1..=n).filter(|id| !left_out.contains(id)).collect()
}

#[test]
fn one_client_dropping_at_each_round() {
    for (k, &round) in ROUNDS.iter().enumerate() {
        let seed = 10 + u64::try_from(k).unwrap();
        let mut s = Session::new(7, 4, m32(), 40, seed);
        s.drop_from([3], round);
        if round == Round::Unmasking {
            s.succeeds_with(&all_but(7, &[]));
        } else {
            s.succeeds_with(&all_but(7, &[3]));
        }
    }
}

#[test]
fn input_of_client_dropping_before_unmasking_counts() {
    let mut s = Session::new(7, 4, m32(), 40, 20);
    s.drop_from([2], Round::Unmasking);
    let out = s.succeeds_with(&all_but(7, &[]));
    // Its input is really in the sum: leaving it out gives another vector.
    let without: Vec<ClientId> = all_but(7, &[2]).into_iter().map(ClientId).collect();
    assert_ne!(out.sum, s.expected_sum(&without));
    // Six clients answered in Unmasking; seven masked inputs were collected.
    let report = s.sim.run(20, &mut |_, _, _| {});
    let clients: Vec<(Round, usize)> = report.rounds.iter().map(|r| (r.round, r.clients)).collect();
    assert_eq!(
        clients,
        [
            (Round::AdvertiseKeys, 7),
            (Round::ShareKeys, 7),
            (Round::MaskedInput, 7),
            (Round::Unmasking, 6)
        ]
    );
}

#[test]
fn several_clients_dropping_before_unmasking_count() {
    // Three of seven (t = 4) drop after their masked input: four responders suffice.
    let mut s = Session::new(7, 4, Modulus::new(1_000_003).unwrap(), 40, 21);
    s.drop_from([1, 4, 7], Round::Unmasking);
    s.succeeds_with(&all_but(7, &[]));
}

#[test]
fn drops_leaving_exactly_t_succeed() {
    for (n, t) in [(7, 4), (10, 6), (6, 6), (3, 2)] {
        let n32 = u32::try_from(n).unwrap();
        // Every other client, from client 2.
        let dropped: Vec<u32> = (1..=u32::try_from(n - t).unwrap()).map(|i| 2 * i).collect();
        assert!(dropped.iter().all(|&i| i <= n32));
        assert_eq!(dropped.len(), n - t);
        for (k, &round) in ROUNDS.iter().enumerate() {
            let seed = 30 + u64::try_from(k + 10 * n).unwrap();
            let mut s = Session::new(n, t, m32(), 40, seed);
            s.drop_from(dropped.iter().copied(), round);
            if round == Round::Unmasking {
                s.succeeds_with(&all_but(n32, &[]));
            } else {
                s.succeeds_with(&all_but(n32, &dropped));
            }
        }
    }
}

#[test]
fn drops_leaving_t_minus_one_abort_at_that_round() {
    for (n, t) in [(7, 4), (10, 6), (6, 6), (3, 2)] {
        let n32 = u32::try_from(n).unwrap();
        let dropped: Vec<u32> = (1..=n32).rev().take(n - t + 1).collect();
        for (k, &round) in ROUNDS.iter().enumerate() {
            let seed = 40 + u64::try_from(k + 10 * n).unwrap();
            let mut s = Session::new(n, t, m32(), 40, seed);
            s.drop_from(dropped.iter().copied(), round);
            s.aborts_with(round, t - 1, t);
        }
    }
}

#[test]
fn aborts_at_unmasking_with_enough_masked_inputs_but_too_few_responders() {
    // U_3 has t = 4 members, and then one of them does not answer.
    let mut s = Session::new(7, 4, m32(), 40, 50);
    s.drop_from([5, 6, 7], Round::MaskedInput);
    s.drop_from([1], Round::Unmasking);
    s.aborts_with(Round::Unmasking, 3, 4);
    // U_3 has all seven, and four do not answer.
    let mut s = Session::new(7, 4, m32(), 40, 51);
    s.drop_from([2, 3, 4, 5], Round::Unmasking);
    s.aborts_with(Round::Unmasking, 3, 4);
}

#[test]
fn drops_spread_over_every_round() {
    // n = 10, t = 6: one client drops per round, leaving seven masked inputs and exactly
    // six responders.
    let mut s = Session::new(10, 6, m32(), 100, 60);
    s.drop_from([2], Round::AdvertiseKeys)
        .drop_from([4], Round::ShareKeys)
        .drop_from([6], Round::MaskedInput)
        .drop_from([8], Round::Unmasking);
    s.succeeds_with(&[1, 3, 5, 7, 8, 9, 10]);
    // One more at Unmasking leaves five responders.
    s.drop_from([1], Round::Unmasking);
    s.aborts_with(Round::Unmasking, 5, 6);
    // One more at MaskedInput instead leaves five masked inputs.
    let mut s = Session::new(10, 6, m32(), 100, 61);
    s.drop_from([2], Round::AdvertiseKeys)
        .drop_from([4], Round::ShareKeys)
        .drop_from([6, 10, 1], Round::MaskedInput);
    s.aborts_with(Round::MaskedInput, 5, 6);
    // Three at ShareKeys leave six share senders; one more at MaskedInput leaves five.
    let mut s = Session::new(10, 6, m32(), 100, 62);
    s.drop_from([2], Round::AdvertiseKeys)
        .drop_from([4, 1, 3], Round::ShareKeys)
        .drop_from([6], Round::MaskedInput);
    s.aborts_with(Round::MaskedInput, 5, 6);
}

#[test]
fn threshold_equal_to_n_tolerates_no_drop() {
    for (k, &round) in ROUNDS.iter().enumerate() {
        let mut s = Session::new(5, 5, m32(), 10, 70 + u64::try_from(k).unwrap());
        s.drop_from([5], round);
        s.aborts_with(round, 4, 5);
    }
}

#[test]
fn dropouts_under_every_modulus() {
    let moduli = [
        Modulus::power_of_two(1).unwrap(),
        Modulus::power_of_two(16).unwrap(),
        Modulus::power_of_two(64).unwrap(),
        Modulus::new(3).unwrap(),
        Modulus::new(1_000_003).unwrap(),
        Modulus::new(u64::MAX).unwrap(),
    ];
    for (k, m) in moduli.into_iter().enumerate() {
        let mut s = Session::new(8, 5, m, 50, 80 + u64::try_from(k).unwrap());
        s.drop_from([8], Round::ShareKeys)
            .drop_from([3], Round::MaskedInput)
            .drop_from([5], Round::Unmasking);
        s.succeeds_with(&[1, 2, 4, 5, 6, 7]);
    }
}

#[test]
fn every_client_but_one_dropping_at_masked_input() {
    // The smallest session (n = 3, t = 2): a lone survivor could be unmasked, so it aborts.
    let mut s = Session::new(3, 2, m32(), 10, 90);
    s.drop_from([1, 2], Round::MaskedInput);
    s.aborts_with(Round::MaskedInput, 1, 2);
    let mut s = Session::new(3, 2, m32(), 10, 91);
    s.drop_from([1], Round::MaskedInput);
    s.succeeds_with(&[2, 3]);
}

// ---------------------------------------------------------------------------------------
// SecAgg+ (Harary graph, n = 12, k = 6: seven share holders per neighbourhood), schedules
// whose outcome does not depend on which clients are neighbours.
// ---------------------------------------------------------------------------------------

const SPARSE_N: usize = 12;
const K: usize = 6;

#[test]
fn sparse_one_client_dropping_at_each_round() {
    // t = k: a neighbourhood can lose one member. A client dropping before its masked input
    // leaves k neighbours to rebuild its key; one dropping at Unmasking leaves k holders of
    // its self-mask seed.
    for (i, &round) in ROUNDS.iter().enumerate() {
        let seed = 110 + u64::try_from(i).unwrap();
        let mut s = Session::sparse(SPARSE_N, K, K, m32(), 40, seed);
        s.drop_from([7], round);
        if round == Round::Unmasking {
            s.succeeds_with(&all_but(12, &[]));
        } else {
            s.succeeds_with(&all_but(12, &[7]));
        }
    }
}

#[test]
fn sparse_several_clients_dropping_before_unmasking_count() {
    // t = 4 of 7: any three may fail to answer, wherever they sit.
    let mut s = Session::sparse(SPARSE_N, K, 4, m32(), 40, 120);
    s.drop_from([2, 5, 11], Round::Unmasking);
    s.succeeds_with(&all_but(12, &[]));
}

#[test]
fn sparse_drops_leaving_t_minus_one_overall_abort_at_that_round() {
    // Eight of twelve drop: four remain, below t = 5 for the whole session.
    for (i, &round) in ROUNDS.iter().enumerate() {
        let mut s = Session::sparse(SPARSE_N, K, 5, m32(), 40, 130 + u64::try_from(i).unwrap());
        s.drop_from([1, 2, 4, 5, 7, 8, 10, 11], round);
        s.aborts_with(round, 4, 5);
    }
}

#[test]
fn sparse_threshold_of_every_holder_tolerates_no_drop_after_advertise_keys() {
    // t = k + 1 = 7: every share holder is needed. Whoever drops, some neighbourhood is left
    // with six: its members refuse to mask (a drop at ShareKeys) or to reveal (at
    // MaskedInputCollection), or the server cannot rebuild the dropped client's self-mask
    // seed (at Unmasking). A drop at AdvertiseKeys only gives a graph over eleven.
    for (i, &round) in ROUNDS.iter().enumerate() {
        let mut s = Session::sparse(
            SPARSE_N,
            K,
            K + 1,
            m32(),
            20,
            140 + u64::try_from(i).unwrap(),
        );
        s.drop_from([9], round);
        match round {
            Round::AdvertiseKeys => {
                s.succeeds_with(&all_but(12, &[9]));
            }
            Round::ShareKeys => s.fails_with(too_few(Round::MaskedInput, K, K + 1)),
            _ => s.fails_with(too_few(Round::Unmasking, K, K + 1)),
        }
    }
}

#[test]
fn sparse_dropouts_under_every_modulus() {
    // t = 4: one drop at each of ShareKeys, MaskedInputCollection and Unmasking costs any
    // neighbourhood at most three of its seven, and the dropped key at most two of its six
    // holders.
    let moduli = [
        Modulus::power_of_two(1).unwrap(),
        Modulus::power_of_two(64).unwrap(),
        Modulus::new(3).unwrap(),
        Modulus::new(1_000_003).unwrap(),
        Modulus::new(u64::MAX).unwrap(),
    ];
    for (i, m) in moduli.into_iter().enumerate() {
        let mut s = Session::sparse(SPARSE_N, K, 4, m, 30, 150 + u64::try_from(i).unwrap());
        s.drop_from([8], Round::ShareKeys)
            .drop_from([3], Round::MaskedInput)
            .drop_from([5], Round::Unmasking);
        s.succeeds_with(&all_but(12, &[8, 3]));
    }
}

// ---------------------------------------------------------------------------------------
// The malicious-server mode on the complete graph (n = 7, t = 5), with ConsistencyCheck.
// ---------------------------------------------------------------------------------------

const MALICIOUS_ROUNDS: [Round; 5] = [
    Round::AdvertiseKeys,
    Round::ShareKeys,
    Round::MaskedInput,
    Round::Consistency,
    Round::Unmasking,
];

#[test]
fn malicious_drops_leaving_exactly_t_succeed() {
    for (i, &round) in MALICIOUS_ROUNDS.iter().enumerate() {
        let mut s = Session::malicious(7, 5, 20, 160 + u64::try_from(i).unwrap());
        s.drop_from([2, 6], round);
        // Clients that drop at ConsistencyCheck or later sent their masked inputs.
        if round >= Round::Consistency {
            s.succeeds_with(&all_but(7, &[]));
        } else {
            s.succeeds_with(&all_but(7, &[2, 6]));
        }
    }
}

#[test]
fn malicious_drops_leaving_t_minus_one_abort_at_that_round() {
    for (i, &round) in MALICIOUS_ROUNDS.iter().enumerate() {
        let mut s = Session::malicious(7, 5, 20, 170 + u64::try_from(i).unwrap());
        s.drop_from([1, 4, 7], round);
        s.aborts_with(round, 4, 5);
    }
}

// ---------------------------------------------------------------------------------------
// SecAgg+ schedules aimed at one neighbourhood, driven round by round so the graph is known.
// ---------------------------------------------------------------------------------------

/// A SecAgg+ session of `SPARSE_N` clients with degree `K`, driven through the per-round API
/// with the client order and error handling of `secagg::sim`.
struct Plus {
    params: Params,
    seed: u64,
}

fn identity_key(u: ClientId) -> IdentityKey {
    let mut seed = [0x24; 32];
    seed[..4].copy_from_slice(&u.0.to_be_bytes());
    IdentityKey::from_seed(&seed)
}

fn ids(n: usize) -> Vec<ClientId> {
    (1..=u32::try_from(n).unwrap()).map(ClientId).collect()
}

impl Plus {
    fn new(t: usize, threat: ThreatModel, seed: u64) -> Self {
        let params = Params::builder(SessionId([9; 32]), SPARSE_N, m32(), 16)
            .neighbours(K)
            .threshold(t)
            .threat_model(threat)
            .build()
            .unwrap();
        Self { params, seed }
    }

    fn malicious(&self) -> bool {
        self.params.threat_model() == ThreatModel::Malicious
    }

    fn input(u: ClientId) -> Vec<u64> {
        (0..16).map(|i| u64::from(u.0) * 65_537 + i).collect()
    }

    fn sum(included: &[ClientId]) -> Vec<u64> {
        (0..16)
            .map(|i| {
                included
                    .iter()
                    .map(|u| Self::input(*u)[i])
                    .fold(0u64, u64::wrapping_add)
                    & 0xffff_ffff
            })
            .collect()
    }

    /// The session on the harness, every client in it, nobody dropping yet.
    fn harness<'h>(&self) -> Harness<'h> {
        let inputs = ids(SPARSE_N)
            .into_iter()
            .map(|u| PlainInput::new(Self::input(u)))
            .collect();
        let session = Harness::new(&self.params, inputs, self.seed);
        if self.malicious() {
            session.with_identities(identity_key)
        } else {
            session
        }
    }

    /// The graph every party derives from the roster.
    fn graph(&self) -> Graph {
        let mut session = self.harness();
        session.step().unwrap();
        let Some(ServerMessage::Roster(roster)) = session.inbox(ClientId(1)) else {
            panic!("client 1 has the roster");
        };
        let members: Vec<ClientId> = roster.entries.iter().map(|e| e.sender).collect();
        Graph::new(
            self.params.neighbourhood(),
            self.params.session(),
            &roster_digest(&roster.entries),
            &members,
        )
    }

    /// Runs the session; each client in `drops` is silent from its round on (none drops at
    /// AdvertiseKeys, so the graph is [`Plus::graph`]).
    fn run(&self, drops: &BTreeMap<ClientId, Round>) -> Result<Output, Error> {
        // The consistency requests go to the clients that masked, in id order.
        let masked = RefCell::new(Vec::new());
        let checked = RefCell::new(Vec::new());
        let mut session = self
            .harness()
            .on_client_message(|_, u, m| {
                if matches!(m, ClientMessage::MaskedInput(_)) {
                    masked.borrow_mut().push(u);
                }
                Fate::Deliver
            })
            .on_server_message(|_, _, m| {
                if let ServerMessage::ConsistencyRequest(r) = m {
                    checked.borrow_mut().push(r.recipient);
                }
                Fate::Deliver
            });
        for (&u, &round) in drops {
            session.schedule_mut().drop_from(u, round);
        }
        let outcome = session.run();
        // Every honest message is accepted.
        assert!(session.rejected().is_empty(), "{:?}", session.rejected());
        drop(session);
        for (request, u) in checked.borrow().iter().zip(masked.borrow().iter()) {
            assert_eq!(request, u);
        }
        outcome
    }
}

/// The first `count` neighbours of `u`, by id.
fn first_neighbours(graph: &Graph, u: ClientId, count: usize) -> Vec<ClientId> {
    let out: Vec<ClientId> = graph.neighbours(u).into_iter().take(count).collect();
    assert_eq!(out.len(), count);
    out
}

fn schedule(clients: &[ClientId], round: Round) -> BTreeMap<ClientId, Round> {
    clients.iter().map(|u| (*u, round)).collect()
}

/// The thresholds of a neighbourhood of seven: from the smallest safe one to `top`.
fn thresholds(threat: ThreatModel, top: usize) -> core::ops::RangeInclusive<usize> {
    let min = match threat {
        ThreatModel::HonestButCurious => 4,
        ThreatModel::Malicious => 5,
    };
    min..=top
}

const THREATS: [ThreatModel; 2] = [ThreatModel::HonestButCurious, ThreatModel::Malicious];

/// The rounds after AdvertiseKeys (a drop there changes the graph itself).
fn later_rounds(threat: ThreatModel) -> Vec<Round> {
    MALICIOUS_ROUNDS[1..]
        .iter()
        .copied()
        .filter(|r| *r != Round::Consistency || threat == ThreatModel::Malicious)
        .collect()
}

#[test]
fn sparse_drops_leaving_exactly_t_in_a_neighbourhood_succeed() {
    // k + 1 - t neighbours of client 1 drop: its neighbourhood keeps exactly t, and no other
    // neighbourhood loses more.
    for threat in THREATS {
        for t in thresholds(threat, K) {
            let plus = Plus::new(t, threat, 200 + u64::try_from(t).unwrap());
            let graph = plus.graph();
            let victim = ClientId(1);
            let dropped = first_neighbours(&graph, victim, K + 1 - t);
            for round in later_rounds(threat) {
                let out = plus.run(&schedule(&dropped, round)).unwrap_or_else(|e| {
                    panic!("{threat:?} t = {t}, {dropped:?} dropping at {round}: {e}")
                });
                let included: Vec<ClientId> = ids(SPARSE_N)
                    .into_iter()
                    .filter(|u| round > Round::MaskedInput || !dropped.contains(u))
                    .collect();
                assert_eq!(out.included, included);
                assert_eq!(out.sum, Plus::sum(&included));
            }
        }
    }
}

#[test]
fn sparse_drops_leaving_t_minus_one_in_a_neighbourhood_abort() {
    // k + 2 - t neighbours of client 1 drop, far fewer than the n - t the complete graph
    // would tolerate: a neighbourhood is left with t - 1 (and none with fewer), and the first
    // check that meets it aborts. (ConsistencyCheck: see the ignored test below.)
    for threat in THREATS {
        for t in thresholds(threat, K + 1) {
            let plus = Plus::new(t, threat, 300 + u64::try_from(t).unwrap());
            let graph = plus.graph();
            let dropped = first_neighbours(&graph, ClientId(1), K + 2 - t);
            assert!(SPARSE_N - dropped.len() >= t);
            for round in later_rounds(threat) {
                let expected = match round {
                    // Its members refuse to mask with fewer than t live holders.
                    Round::ShareKeys => too_few(Round::MaskedInput, t - 1, t),
                    // Its members refuse to sign (malicious) or reveal with fewer than t
                    // survivors among them.
                    Round::MaskedInput if threat == ThreatModel::Malicious => {
                        too_few(Round::Consistency, t - 1, t)
                    }
                    Round::MaskedInput => too_few(Round::Unmasking, t - 1, t),
                    // The server cannot rebuild a self-mask seed.
                    Round::Unmasking => too_few(Round::Unmasking, t - 1, t),
                    _ => continue,
                };
                assert_eq!(
                    plus.run(&schedule(&dropped, round)),
                    Err(expected),
                    "{threat:?} t = {t}, {dropped:?} dropping at {round}"
                );
            }
        }
    }
}

#[test]
fn sparse_dropped_key_needs_t_responding_neighbours() {
    // Client 1 drops before its masked input, so the server must rebuild its mask key from its
    // k neighbours; k - t of them do not answer (exactly t do), or one more.
    for threat in THREATS {
        for t in thresholds(threat, K) {
            let plus = Plus::new(t, threat, 400 + u64::try_from(t).unwrap());
            let graph = plus.graph();
            let dropped = ClientId(1);
            for silent in [K - t, K - t + 1] {
                let mut drops =
                    schedule(&first_neighbours(&graph, dropped, silent), Round::Unmasking);
                drops.insert(dropped, Round::MaskedInput);
                let outcome = plus.run(&drops);
                if silent == K - t {
                    let included = ids(SPARSE_N)
                        .into_iter()
                        .filter(|u| *u != dropped)
                        .collect::<Vec<_>>();
                    let out = outcome.unwrap();
                    assert_eq!(out.included, included);
                    assert_eq!(out.sum, Plus::sum(&included));
                } else {
                    // Its key (or first a self-mask seed that lost the same holders) has
                    // t - 1 holders left.
                    assert_eq!(outcome, Err(too_few(Round::Unmasking, t - 1, t)));
                }
            }
        }
    }
}

/// BUG (src/protocol/server.rs, `Consistency::close`, line 494, and src/protocol/client.rs,
/// `Consistency::unmasking`, line 953): with SecAgg+ in the malicious-server mode, dropouts at
/// ConsistencyCheck that leave one neighbourhood with t - 1 signers (the session as a whole
/// keeps more than t) used to make the honest clients of that neighbourhood refuse with
/// `Misbehaved { by: Server, what: TooFewSignatures }`, blaming an honest server. The server
/// now asks only survivors with t signers in their own neighbourhood, and the session aborts
/// with `TooFewSurvivors` (that client's self-mask has only t - 1 possible holders left).
#[test]
fn sparse_drops_at_consistency_leaving_t_minus_one_abort() {
    let t = 5;
    let plus = Plus::new(t, ThreatModel::Malicious, 500);
    let dropped = first_neighbours(&plus.graph(), ClientId(1), K + 2 - t);
    let outcome = plus.run(&schedule(&dropped, Round::Consistency));
    assert_ne!(
        outcome,
        Err(Error::Misbehaved {
            by: Party::Server,
            round: Round::Unmasking,
            what: Misbehavior::TooFewSignatures {
                have: t - 1,
                need: t
            },
        })
    );
    assert!(
        matches!(
            outcome,
            Err(Error::Abort(AbortReason::TooFewSurvivors { .. }))
        ),
        "{outcome:?}"
    );
}

/// The contrast: the same k + 2 - t drops at Unmasking that abort when they sit in one
/// neighbourhood are harmless when no neighbourhood holds all of them.
#[test]
fn sparse_same_drops_spread_over_neighbourhoods_succeed() {
    let t = 4;
    let plus = Plus::new(t, ThreatModel::HonestButCurious, 600);
    let graph = plus.graph();
    let holders = |v: ClientId| {
        let mut h = graph.neighbours(v);
        h.insert(v);
        h
    };
    let members = ids(SPARSE_N);
    let count = K + 2 - t;
    // The first set of `count` clients (by id) that no neighbourhood holds entirely.
    let spread = (0u32..1 << SPARSE_N)
        .filter(|bits| bits.count_ones() as usize == count)
        .map(|bits| -> Vec<ClientId> {
            members
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, u)| *u)
                .collect()
        })
        .find(|set| {
            members
                .iter()
                .all(|v| set.iter().filter(|u| holders(*v).contains(u)).count() < count)
        })
        .unwrap();
    let out = plus.run(&schedule(&spread, Round::Unmasking)).unwrap();
    assert_eq!(out.included, members);
    assert_eq!(out.sum, Plus::sum(&members));
}
