//! Property tests: whole sessions under random dropout schedules, Shamir sharing, and
//! mask cancellation.
//!
//! Case counts are kept small (32 to 64) so that the file runs in seconds in a debug build.
//! Proptest prints the failing input and its seed on failure.

use chacha20::ChaCha20Rng;
use proptest::prelude::*;
use rand_core::{Rng, SeedableRng};
use secagg::hazmat::prg::{self, CHUNK_ELEMENTS, Sign};
use secagg::hazmat::shamir::{self, Lagrange, SecretScalar, ShamirError, Share};
use secagg::sim::{ROUNDS, Simulation};
use secagg::{
    AbortReason, ClientId, Error, Modulus, Params, PlainInput, Round, SessionId, ShareIndex,
};

/// Either `2^b` for `b` in `1..=64`, or an arbitrary `m >= 2`. Small `m` are drawn more often,
/// because they reject many PRG words.
fn modulus() -> impl Strategy<Value = Modulus> {
    prop_oneof![
        (1u32..=64).prop_map(|b| Modulus::power_of_two(b).unwrap()),
        (2u64..=u64::MAX).prop_map(|m| Modulus::new(m).unwrap()),
        (2u64..=40).prop_map(|m| Modulus::new(m).unwrap()),
    ]
}

/// One session: `n` clients, threshold `t`, and for each client the round from which it
/// stays silent (an index into `ROUNDS`), if any.
#[derive(Debug, Clone)]
struct Case {
    n: usize,
    t: usize,
    modulus: Modulus,
    d: usize,
    drops: Vec<Option<usize>>,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (3usize..=12).prop_flat_map(|n| {
        let drop = prop_oneof![3 => Just(None), 1 => (0..ROUNDS.len()).prop_map(Some)];
        (
            (n / 2 + 1)..=n,
            modulus(),
            1usize..=300,
            proptest::collection::vec(drop, n),
            any::<u64>(),
        )
            .prop_map(move |(t, modulus, d, drops, seed)| Case {
                n,
                t,
                modulus,
                d,
                drops,
                seed,
            })
    })
}

/// What the session must end in, derived from the schedule alone. The clients left after
/// round `r` are those not dropped at or before `r`. The first round that leaves fewer than
/// `t` aborts. Otherwise, the sum holds every client that sent a masked input, which means
/// every client not dropped before Unmasking.
fn expected_outcome(case: &Case) -> Result<Vec<ClientId>, Error> {
    for (r, &round) in ROUNDS.iter().enumerate() {
        let alive = case
            .drops
            .iter()
            .filter(|d| d.is_none_or(|at| at > r))
            .count();
        if alive < case.t {
            return Err(Error::Abort(AbortReason::TooFewSurvivors {
                round,
                have: alive,
                need: case.t,
            }));
        }
    }
    let unmasking = ROUNDS.len() - 1;
    Ok((1..=case.n)
        .zip(&case.drops)
        .filter(|(_, d)| d.is_none_or(|at| at >= unmasking))
        .map(|(i, _)| ClientId(u32::try_from(i).unwrap()))
        .collect())
}

fn random_inputs(case: &Case) -> Vec<Vec<u64>> {
    let mut rng = ChaCha20Rng::seed_from_u64(case.seed ^ 0x5eed);
    (0..case.n)
        .map(|_| {
            (0..case.d)
                .map(|_| u64::try_from(u128::from(rng.next_u64()) % case.modulus.value()).unwrap())
                .collect()
        })
        .collect()
}

fn plain_sum(inputs: &[Vec<u64>], included: &[ClientId], m: Modulus) -> Vec<u64> {
    let d = inputs.first().map_or(0, Vec::len);
    (0..d)
        .map(|i| {
            let s = included.iter().fold(0u128, |acc, id| {
                let x = inputs[usize::try_from(id.0).unwrap() - 1][i];
                (acc + u128::from(x)) % m.value()
            });
            u64::try_from(s).unwrap()
        })
        .collect()
}

fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let params = Params::new(
        SessionId(case.seed.to_le_bytes().repeat(4).try_into().unwrap()),
        case.n,
        case.t,
        case.modulus,
        case.d,
    )
    .unwrap();
    let inputs = random_inputs(case);
    let mut sim = Simulation::new(
        params,
        inputs.iter().cloned().map(PlainInput::new).collect(),
    );
    for (i, drop) in case.drops.iter().enumerate() {
        if let Some(r) = drop {
            sim.drop_from(ClientId(u32::try_from(i + 1).unwrap()), ROUNDS[*r]);
        }
    }
    let outcome = sim.run(case.seed, &mut |_, _, _| {}).outcome;
    match expected_outcome(case) {
        Ok(included) => {
            let out = outcome.map_err(|e| TestCaseError::fail(format!("aborted: {e}")))?;
            prop_assert_eq!(&out.included, &included);
            prop_assert_eq!(&out.sum, &plain_sum(&inputs, &included, case.modulus));
        }
        Err(abort) => prop_assert_eq!(outcome, Err(abort)),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn session_sums_or_aborts_as_the_schedule_says(case in case()) {
        run_case(&case)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_t_subset_of_shares_rebuilds(
        (indices, t) in holders_and_threshold(1),
        seed in any::<u64>(),
    ) {
        let n = indices.len();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = SecretScalar::random(&mut rng);
        let shares = shamir::split(&secret, t, &indices, &mut rng).unwrap();
        prop_assert_eq!(shares.len(), n);
        // A random subset of t shares, in random order; and one of more than t.
        for size in [t, (t + 1).min(n)] {
            let subset = random_subset(&shares, size, &mut rng);
            prop_assert!(shamir::reconstruct(&subset, t).unwrap() == secret);
        }
    }

    #[test]
    fn fewer_than_t_shares_do_not_rebuild(
        (indices, t) in holders_and_threshold(2),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = SecretScalar::random(&mut rng);
        let shares = shamir::split(&secret, t, &indices, &mut rng).unwrap();
        let subset = random_subset(&shares, t - 1, &mut rng);
        // Asked with the right threshold, reconstruction refuses.
        prop_assert_eq!(
            shamir::reconstruct(&subset, t).unwrap_err(),
            ShamirError::TooFewShares { have: t - 1, need: t }
        );
        // Interpolating them anyway gives another value (but with probability 1/l).
        let holders: Vec<ShareIndex> = subset.iter().map(|s| s.index).collect();
        let l = Lagrange::new(&holders, t - 1).unwrap();
        let guess = l.reconstruct(subset.iter().map(|s| &s.value)).unwrap();
        prop_assert!(guess != secret);
    }

    #[test]
    fn masks_cancel(
        m in modulus(),
        d in prop_oneof![1usize..=64, (CHUNK_ELEMENTS - 2)..=(CHUNK_ELEMENTS + 2)],
        seed in any::<[u8; 32]>(),
        start_seed in any::<u64>(),
    ) {
        // From zero: Add then Sub gives zero.
        let mut acc = vec![0u64; d];
        prg::apply_mask(&seed, m, Sign::Add, &mut acc);
        m.reduce_lazy(&mut acc);
        prop_assert!(acc.iter().all(|x| m.contains(*x)));
        prg::apply_mask(&seed, m, Sign::Sub, &mut acc);
        m.reduce_lazy(&mut acc);
        prop_assert!(acc.iter().all(|x| *x == 0));
        // From a random vector x: Sub then Add gives x back.
        let mut rng = ChaCha20Rng::seed_from_u64(start_seed);
        let x: Vec<u64> = (0..d)
            .map(|_| u64::try_from(u128::from(rng.next_u64()) % m.value()).unwrap())
            .collect();
        let mut acc = x.clone();
        prg::apply_mask(&seed, m, Sign::Sub, &mut acc);
        m.reduce_lazy(&mut acc);
        prg::apply_mask(&seed, m, Sign::Add, &mut acc);
        m.reduce_lazy(&mut acc);
        prop_assert_eq!(acc, x);
    }

    #[test]
    fn pairwise_masks_of_two_clients_cancel_in_their_sum(
        m in modulus(),
        d in 1usize..=300,
        seed in any::<[u8; 32]>(),
    ) {
        // u < v: u adds PRG(s_uv), v subtracts it; the sum of the two masked zeros is zero.
        let mut u = vec![0u64; d];
        let mut v = vec![0u64; d];
        prg::apply_mask(&seed, m, Sign::Add, &mut u);
        prg::apply_mask(&seed, m, Sign::Sub, &mut v);
        m.reduce_lazy(&mut u);
        m.reduce_lazy(&mut v);
        let sum: Vec<u64> = u.iter().zip(&v).map(|(a, b)| m.add(*a, *b)).collect();
        prop_assert!(sum.iter().all(|x| *x == 0));
    }
}

/// Up to 16 distinct non-zero share indices, and a threshold from `min_t` to their number.
fn holders_and_threshold(min_t: usize) -> impl Strategy<Value = (Vec<ShareIndex>, usize)> {
    proptest::collection::btree_set(1u64..=u64::MAX, min_t..=16).prop_flat_map(move |set| {
        let n = set.len();
        (Just(set.into_iter().map(ShareIndex).collect()), min_t..=n)
    })
}

/// `size` of the shares, chosen and ordered at random.
fn random_subset(shares: &[Share], size: usize, rng: &mut ChaCha20Rng) -> Vec<Share> {
    let mut order: Vec<usize> = (0..shares.len()).collect();
    for i in (1..order.len()).rev() {
        let j = usize::try_from(rng.next_u64() % u64::try_from(i + 1).unwrap()).unwrap();
        order.swap(i, j);
    }
    order
        .into_iter()
        .take(size)
        .map(|i| Share {
            index: shares[i].index,
            value: shares[i].value.duplicate(),
        })
        .collect()
}

/// Sessions with vectors around the PRG's chunk boundary (4096 elements), where each chunk
/// takes its own nonce and, for a non-power-of-two modulus, its own rejection sampling.
#[test]
fn sessions_across_the_chunk_boundary() {
    let moduli = [
        Modulus::power_of_two(64).unwrap(),
        Modulus::power_of_two(7).unwrap(),
        Modulus::new(1_000_003).unwrap(),
        Modulus::new(3).unwrap(),
    ];
    for (k, modulus) in moduli.into_iter().enumerate() {
        for d in [CHUNK_ELEMENTS - 1, CHUNK_ELEMENTS, CHUNK_ELEMENTS + 1] {
            let case = Case {
                n: 5,
                t: 3,
                modulus,
                d,
                // Client 2 drops at MaskedInput (its pairwise masks are removed), client 4 at
                // Unmasking (its self-mask is rebuilt).
                drops: vec![None, Some(2), None, Some(3), None],
                seed: 4000 + u64::try_from(k).unwrap(),
            };
            assert_eq!(
                expected_outcome(&case),
                Ok(vec![ClientId(1), ClientId(3), ClientId(4), ClientId(5)])
            );
            run_case(&case).unwrap();
        }
    }
    // And twice the chunk size plus one, once.
    let case = Case {
        n: 3,
        t: 2,
        modulus: Modulus::new(u64::MAX).unwrap(),
        d: 2 * CHUNK_ELEMENTS + 1,
        drops: vec![Some(2), None, None],
        seed: 4100,
    };
    run_case(&case).unwrap();
}

/// The expectation is derived independently of the library; check that it is itself right.
#[test]
fn expected_outcome_follows_the_schedule() {
    let case = |t, drops: Vec<Option<usize>>| Case {
        n: drops.len(),
        t,
        modulus: Modulus::power_of_two(8).unwrap(),
        d: 1,
        drops,
        seed: 0,
    };
    let too_few = |round, have, need| {
        Err(Error::Abort(AbortReason::TooFewSurvivors {
            round,
            have,
            need,
        }))
    };
    assert_eq!(
        expected_outcome(&case(3, vec![None, Some(3), Some(2), None])),
        too_few(Round::Unmasking, 2, 3)
    );
    assert_eq!(
        expected_outcome(&case(2, vec![None, Some(3), Some(2), None])),
        Ok(vec![ClientId(1), ClientId(2), ClientId(4)])
    );
    assert_eq!(
        expected_outcome(&case(3, vec![Some(0), Some(1), None, None])),
        too_few(Round::ShareKeys, 2, 3)
    );
}
