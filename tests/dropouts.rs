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

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::sim::{ROUNDS, Simulation};
use secagg::{AbortReason, ClientId, Error, Modulus, Output, Params, PlainInput, Round, SessionId};

/// One simulated session and what it should add up to.
struct Session {
    sim: Simulation,
    inputs: Vec<Vec<u64>>,
    modulus: Modulus,
    seed: u64,
}

impl Session {
    fn new(n: usize, t: usize, modulus: Modulus, d: usize, seed: u64) -> Self {
        let params = Params::new(SessionId([3; 32]), n, t, modulus, d).unwrap();
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
