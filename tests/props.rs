//! Property tests: whole sessions under random dropout schedules, Shamir sharing, and
//! mask cancellation.
//!
//! Sessions run on both graph kinds. On the complete graph (SecAgg) the outcome follows from
//! the schedule alone ([`expected_outcome`]). On a Harary graph (SecAgg+) it depends on each
//! neighbourhood: a survivor's self-mask needs `t` responders among itself and its
//! neighbours, a dropped client's key `t` responding neighbours, and every client checks its
//! own neighbourhood before it masks and before it reveals. [`neighbourhood_oracle`] derives
//! the outcome from the schedule and the graph, which it recomputes from the roster exactly
//! as every party does ([`Graph`], [`roster_digest`]); the sessions for it are driven round
//! by round ([`drive`]) so that the roster is known. Sessions through `secagg::sim` on the
//! sparse graph are checked for the weaker property: the exact sum of the clients the
//! schedule puts in it, or a typed abort.
//!
//! Case counts are kept small (16 to 64) so that the file runs in seconds in a debug build.
//! Proptest prints the failing input and its seed on failure.

use std::collections::BTreeSet;

use chacha20::ChaCha20Rng;
use proptest::prelude::*;
use rand_core::{Rng, SeedableRng};
use secagg::harness::{Fate, Harness};
use secagg::hazmat::prg::{self, CHUNK_ELEMENTS, Sign};
use secagg::hazmat::shamir::{self, Lagrange, SecretScalar, ShamirError, Share};
use secagg::protocol::graph::{Graph, roster_digest};
use secagg::protocol::messages as msg;
use secagg::sim::{ROUNDS, Simulation};
use secagg::wire::ServerMessage;
use secagg::{
    AbortReason, ClientId, Error, IdentityKey, Modulus, Output, Params, PlainInput, Round,
    SessionId, ShareIndex, ThreatModel,
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
        // Cancelling is only worth something if the mask is not zero: with 32 or more
        // elements a real mask is all zero with probability at most 2^-32 (an all-zero mask
        // would pass everything else here).
        prop_assert!(d < 32 || acc.iter().any(|x| *x != 0), "all-zero mask");
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
        // Each masked zero is far from zero (probability 2^-32 of failing for a real mask
        // with 32 or more elements), and the two cancel.
        prop_assert!(d < 32 || u.iter().any(|x| *x != 0), "all-zero mask");
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

// ---------------------------------------------------------------------------------------
// Both graph kinds, driven round by round, against an oracle that knows the graph.
// ---------------------------------------------------------------------------------------

/// The rounds a client can go silent from in `sim`'s numbering, with ConsistencyCheck
/// between MaskedInputCollection and Unmasking in the malicious-server mode.
const MALICIOUS_ROUNDS: [Round; 5] = [
    Round::AdvertiseKeys,
    Round::ShareKeys,
    Round::MaskedInput,
    Round::Consistency,
    Round::Unmasking,
];

/// One session on either graph: `k = None` is the complete graph.
#[derive(Debug, Clone)]
struct GraphCase {
    n: usize,
    k: Option<usize>,
    t: usize,
    threat: ThreatModel,
    modulus: Modulus,
    d: usize,
    /// For each client, the round from which it stays silent, if any.
    drops: Vec<Option<Round>>,
    seed: u64,
}

impl GraphCase {
    fn params(&self) -> Params {
        let session = SessionId(self.seed.to_be_bytes().repeat(4).try_into().unwrap());
        let builder = Params::builder(session, self.n, self.modulus, self.d)
            .threshold(self.t)
            .threat_model(self.threat)
            .min_roster(self.min_roster());
        match self.k {
            Some(k) => builder.neighbours(k),
            None => builder,
        }
        .build()
        .unwrap()
    }

    /// The smallest roster these schedules may leave: `t`, and against a malicious server on
    /// a sparse graph at least `k + 2` (a smaller roster would turn the graph complete).
    fn min_roster(&self) -> usize {
        match (self.threat, self.k) {
            (ThreatModel::Malicious, Some(k)) if k + 1 < self.n => self.t.max(k + 2),
            _ => self.t,
        }
    }

    fn ids(&self) -> Vec<ClientId> {
        (1..=self.n)
            .map(|i| ClientId(u32::try_from(i).unwrap()))
            .collect()
    }

    fn speaks(&self, u: ClientId, round: Round) -> bool {
        self.drops[usize::try_from(u.0).unwrap() - 1].is_none_or(|at| at > round)
    }

    fn case_for(&self) -> Case {
        Case {
            n: self.n,
            t: self.t,
            modulus: self.modulus,
            d: self.d,
            drops: Vec::new(),
            seed: self.seed,
        }
    }
}

/// Which graphs a strategy draws.
#[derive(Clone, Copy, Debug)]
enum Kinds {
    Complete,
    Sparse,
    Both,
}

/// `n`, an even degree `k` (or the complete graph), a threshold valid for the threat model
/// among the `min(k + 1, n)` share holders, and a schedule over the threat model's rounds.
fn graph_case(threat: ThreatModel, max_n: usize, kinds: Kinds) -> impl Strategy<Value = GraphCase> {
    let rounds: &'static [Round] = match threat {
        ThreatModel::HonestButCurious => &ROUNDS,
        ThreatModel::Malicious => &MALICIOUS_ROUNDS,
    };
    let sparse = (1usize..=4).prop_map(|h| Some(2 * h));
    let degree = match kinds {
        Kinds::Complete => Just(None).boxed(),
        Kinds::Sparse => sparse.boxed(),
        Kinds::Both => prop_oneof![Just(None), sparse].boxed(),
    };
    (4usize..=max_n, degree).prop_flat_map(move |(n, k)| {
        let holders = k.map_or(n, |k| (k + 1).min(n));
        let min = match threat {
            ThreatModel::HonestButCurious => holders / 2 + 1,
            ThreatModel::Malicious => holders * 2 / 3 + 1,
        };
        let drop = prop_oneof![
            5 => Just(None),
            1 => proptest::sample::select(rounds).prop_map(Some),
        ];
        (
            min..=holders,
            modulus(),
            1usize..=64,
            proptest::collection::vec(drop, n),
            any::<u64>(),
        )
            .prop_map(move |(t, modulus, d, drops, seed)| GraphCase {
                n,
                k,
                t,
                threat,
                modulus,
                d,
                drops,
                seed,
            })
    })
}

fn identity_key(u: ClientId) -> IdentityKey {
    let mut seed = [0x42; 32];
    seed[..4].copy_from_slice(&u.0.to_be_bytes());
    IdentityKey::from_seed(&seed)
}

/// Runs the session round by round on the harness, as `secagg::sim` does: clients in id order, a silent
/// client skips the round and every later one, and the first client that refuses ends the
/// session with its error. Every honest message must be accepted by the server. The roster
/// the server sent is left in `roster` (empty if it never sent one).
fn drive(
    case: &GraphCase,
    inputs: &[Vec<u64>],
    roster_out: &mut Vec<msg::AdvertiseKeys>,
) -> Result<Output, Error> {
    let params = case.params();
    let plain = inputs.iter().cloned().map(PlainInput::new).collect();
    let mut session = Harness::new(&params, plain, case.seed).on_server_message(|_, _, m| {
        // Every member's view holds its own entry: together the views are the roster.
        if let ServerMessage::Roster(roster) = m {
            for e in &roster.entries {
                if let Err(at) = roster_out.binary_search_by_key(&e.sender, |x| x.sender) {
                    roster_out.insert(at, e.clone());
                }
            }
        }
        Fate::Deliver
    });
    if case.threat == ThreatModel::Malicious {
        session = session.with_identities(identity_key);
    }
    for (u, at) in case.ids().into_iter().zip(&case.drops) {
        if let Some(at) = at {
            session.schedule_mut().drop_from(u, *at);
        }
    }
    let outcome = session.run();
    // Every honest message must be accepted by the server.
    assert!(session.rejected().is_empty(), "{:?}", session.rejected());
    outcome
}

/// What the session must end in, from the schedule and the graph recomputed from `roster`
/// (the AdvertiseKeys of the clients that advertised), following the checks of
/// docs/PROTOCOL.md §7 and §12 in the order [`drive`] meets them.
fn neighbourhood_oracle(
    case: &GraphCase,
    roster: &[msg::AdvertiseKeys],
) -> Result<Vec<ClientId>, Error> {
    let t = case.t;
    let too_few = |round, have| {
        Err(Error::Abort(AbortReason::TooFewSurvivors {
            round,
            have,
            need: t,
        }))
    };
    let speaking = |set: &BTreeSet<ClientId>, round| -> BTreeSet<ClientId> {
        set.iter()
            .copied()
            .filter(|u| case.speaks(*u, round))
            .collect()
    };
    let u1 = speaking(&case.ids().into_iter().collect(), Round::AdvertiseKeys);
    if u1.len() < t {
        return too_few(Round::AdvertiseKeys, u1.len());
    }
    // An honest server sends no roster below the session's minimum.
    if u1.len() < case.min_roster() {
        return Err(Error::Abort(AbortReason::TooFewSurvivors {
            round: Round::AdvertiseKeys,
            have: u1.len(),
            need: case.min_roster(),
        }));
    }
    let members: Vec<ClientId> = roster.iter().map(|e| e.sender).collect();
    assert_eq!(members, u1.iter().copied().collect::<Vec<_>>());
    let params = case.params();
    let graph = Graph::new(
        params.neighbourhood(),
        params.session(),
        &roster_digest(roster),
        &members,
    );
    let neighbours = |u| graph.neighbours(u);
    let holders = |u| {
        let mut h = graph.neighbours(u);
        h.insert(u);
        h
    };
    let count = |set: &BTreeSet<ClientId>, of: BTreeSet<ClientId>| set.intersection(&of).count();

    // ShareKeys: every neighbourhood of the graph has at least t members.
    let u2 = speaking(&u1, Round::ShareKeys);
    if u2.len() < t {
        return too_few(Round::ShareKeys, u2.len());
    }
    // MaskedInputCollection: a client masks only with t live members in its neighbourhood.
    for &u in &speaking(&u2, Round::MaskedInput) {
        let alive = 1 + count(&u2, neighbours(u));
        if alive < t {
            return too_few(Round::MaskedInput, alive);
        }
    }
    let u3 = speaking(&u2, Round::MaskedInput);
    if u3.len() < t {
        return too_few(Round::MaskedInput, u3.len());
    }
    // The server asks for shares only if the survivors are one connected group of the graph
    // (counted here by a search of its own over the neighbour lists).
    let mut unseen = u3.clone();
    let mut components = 0;
    while let Some(start) = unseen.pop_first() {
        components += 1;
        let mut stack = vec![start];
        while let Some(u) = stack.pop() {
            for v in neighbours(u) {
                if unseen.remove(&v) {
                    stack.push(v);
                }
            }
        }
    }
    if components > 1 {
        return Err(Error::Abort(AbortReason::DisconnectedSurvivors {
            components,
        }));
    }
    let responders = match case.threat {
        ThreatModel::HonestButCurious => {
            // A client reveals only with t survivors in its neighbourhood.
            for &u in &speaking(&u3, Round::Unmasking) {
                let have = count(&u3, holders(u));
                if have < t {
                    return too_few(Round::Unmasking, have);
                }
            }
            speaking(&u3, Round::Unmasking)
        }
        ThreatModel::Malicious => {
            // A client signs only with t survivors in its neighbourhood, and reveals only
            // with t signatures from it.
            for &u in &speaking(&u3, Round::Consistency) {
                let have = count(&u3, holders(u));
                if have < t {
                    return too_few(Round::Consistency, have);
                }
            }
            let u4 = speaking(&u3, Round::Consistency);
            if u4.len() < t {
                return too_few(Round::Consistency, u4.len());
            }
            // The server asks only signers with t signers in their own neighbourhood.
            let asked: BTreeSet<ClientId> = u4
                .iter()
                .copied()
                .filter(|&u| count(&u4, holders(u)) >= t)
                .collect();
            if asked.len() < t {
                return too_few(Round::Consistency, asked.len());
            }
            speaking(&asked, Round::Unmasking)
        }
    };
    if responders.len() < t {
        return too_few(Round::Unmasking, responders.len());
    }
    // The server rebuilds every survivor's self-mask seed from its neighbourhood, then every
    // dropped client's mask key from its neighbours, in id order.
    for &v in &u3 {
        let have = count(&responders, holders(v));
        if have < t {
            return too_few(Round::Unmasking, have);
        }
    }
    for &u in u2.difference(&u3) {
        let have = count(&responders, neighbours(u));
        if have < t {
            return too_few(Round::Unmasking, have);
        }
    }
    Ok(u3.into_iter().collect())
}

fn run_graph_case(case: &GraphCase) -> Result<(), TestCaseError> {
    let inputs = random_inputs(&case.case_for());
    let mut roster = Vec::new();
    let outcome = drive(case, &inputs, &mut roster);
    match neighbourhood_oracle(case, &roster) {
        Ok(included) => {
            let out = outcome.map_err(|e| TestCaseError::fail(format!("aborted: {e}")))?;
            prop_assert_eq!(&out.included, &included);
            prop_assert_eq!(&out.sum, &plain_sum(&inputs, &included, case.modulus));
        }
        Err(expected) => prop_assert_eq!(outcome, Err(expected)),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn session_on_either_graph_sums_or_aborts_as_its_neighbourhoods_say(
        case in graph_case(ThreatModel::HonestButCurious, 16, Kinds::Both),
    ) {
        run_graph_case(&case)?;
    }

    /// On the complete graph the neighbourhood oracle is the schedule oracle.
    #[test]
    fn neighbourhood_oracle_agrees_with_schedule_oracle_on_complete_graph(
        case in graph_case(ThreatModel::HonestButCurious, 12, Kinds::Complete),
    ) {
        let mut roster = Vec::new();
        let outcome = drive(&case, &random_inputs(&case.case_for()), &mut roster);
        let mut schedule = case.case_for();
        schedule.drops = case
            .drops
            .iter()
            .map(|d| d.map(|r| ROUNDS.iter().position(|x| *x == r).unwrap()))
            .collect();
        let expected = expected_outcome(&schedule);
        prop_assert_eq!(neighbourhood_oracle(&case, &roster), expected.clone());
        prop_assert_eq!(outcome.map(|o| o.included), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn malicious_session_on_either_graph_sums_or_aborts_as_its_neighbourhoods_say(
        case in graph_case(ThreatModel::Malicious, 12, Kinds::Both),
    ) {
        run_graph_case(&case)?;
    }

    /// Through the in-memory driver on a sparse graph, whose roster the test does not see:
    /// the sum of exactly the clients the schedule puts in it, or a typed abort (too few
    /// survivors, or survivors cut into groups); never a wrong sum, never a panic.
    #[test]
    fn sparse_simulation_sums_exactly_or_aborts(
        case in graph_case(ThreatModel::HonestButCurious, 16, Kinds::Sparse),
    ) {
        let inputs = random_inputs(&case.case_for());
        let mut sim = Simulation::new(
            case.params(),
            inputs.iter().cloned().map(PlainInput::new).collect(),
        );
        for (u, drop) in case.ids().into_iter().zip(&case.drops) {
            if let Some(r) = drop {
                sim.drop_from(u, *r);
            }
        }
        match sim.run(case.seed, &mut |_, _, _| {}).outcome {
            Ok(out) => {
                let included: Vec<ClientId> = case
                    .ids()
                    .into_iter()
                    .filter(|u| case.speaks(*u, Round::MaskedInput))
                    .collect();
                prop_assert_eq!(&out.included, &included);
                prop_assert_eq!(&out.sum, &plain_sum(&inputs, &included, case.modulus));
            }
            Err(e) => prop_assert!(
                matches!(
                    e,
                    Error::Abort(
                        AbortReason::TooFewSurvivors { .. }
                            | AbortReason::DisconnectedSurvivors { .. }
                    )
                ),
                "{e}"
            ),
        }
    }
}

/// The sparse oracle is not vacuous: with k = 2 and t = 3 (every share holder needed),
/// one client dropping at MaskedInputCollection is fatal only to its neighbourhood.
#[test]
fn neighbourhood_oracle_sees_single_neighbourhoods() {
    let mut case = GraphCase {
        n: 9,
        k: Some(2),
        t: 3,
        threat: ThreatModel::HonestButCurious,
        modulus: Modulus::power_of_two(16).unwrap(),
        d: 4,
        drops: vec![None; 9],
        seed: 77,
    };
    // Nobody drops: everyone is in the sum.
    let mut roster = Vec::new();
    drive(&case, &random_inputs(&case.case_for()), &mut roster).unwrap();
    let all: Vec<ClientId> = case.ids();
    assert_eq!(neighbourhood_oracle(&case, &roster), Ok(all));
    // Client 5 drops before its masked input: its two neighbours have t - 1 = 2 survivors
    // among their share holders and refuse to reveal, though 8 of 9 clients remain.
    case.drops[4] = Some(Round::MaskedInput);
    let expected = Err(Error::Abort(AbortReason::TooFewSurvivors {
        round: Round::Unmasking,
        have: 2,
        need: 3,
    }));
    assert_eq!(neighbourhood_oracle(&case, &roster), expected);
    run_graph_case(&case).unwrap();
}
