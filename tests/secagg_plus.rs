//! SecAgg+ sessions: the same state machines on a random Harary graph.
//!
//! The graph is checked against an independent implementation, and a session driven round
//! by round is checked against it at every step: who seals shares to whom, what the server
//! delivers and asks, and how many masks each side expands. The dropout schedules and
//! property tests run on both graph kinds in `dropouts.rs` and `props.rs`, the malicious
//! server in `malicious.rs`.

use core::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use secagg::harness::{Fate, Harness};
use secagg::protocol::graph::{Graph, roster_digest};
use secagg::protocol::messages as msg;
use secagg::protocol::session::ClientSession;
use secagg::sim::Simulation;
use secagg::wire::{ClientMessage, ServerMessage};
use secagg::{
    ClientId, Misbehavior, Modulus, Neighbourhood, Params, PlainInput, PublicKey, Round, SessionId,
};

fn inputs(n: usize, d: usize) -> Vec<PlainInput> {
    (0..n)
        .map(|i| {
            PlainInput::new(
                (0..d)
                    .map(|j| ((i * 7919 + j * 104_729) % 65_536) as u64)
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn harary_session_sums_with_dropouts() {
    let m = Modulus::power_of_two(16).unwrap();
    let n = 40;
    let params = Params::builder(SessionId([3; 32]), n, m, 50)
        .neighbours(8)
        .build()
        .unwrap();
    assert_eq!(params.threshold(), 5);
    let mut sim = Simulation::new(params, inputs(n, 50));
    sim.drop_from(ClientId(2), Round::AdvertiseKeys);
    sim.drop_from(ClientId(3), Round::ShareKeys);
    sim.drop_from(ClientId(4), Round::MaskedInput);
    sim.drop_from(ClientId(5), Round::Unmasking);
    let report = sim.run(9, &mut |_, _, _| {});
    let out = report.outcome.unwrap();
    assert_eq!(out.included.len(), n - 3);
    assert!(out.included.contains(&ClientId(5)));
    assert!(!out.included.contains(&ClientId(4)));
    assert_eq!(out.sum, sim.plain_sum(&out.included));
}

#[test]
fn harary_client_shares_with_k_neighbours_only() {
    let m = Modulus::power_of_two(32).unwrap();
    let n = 30;
    let params = Params::builder(SessionId([4; 32]), n, m, 10)
        .neighbours(6)
        .build()
        .unwrap();
    let sim = Simulation::new(params, inputs(n, 10));
    let report = sim.run(1, &mut |_, _, _| {});
    assert!(report.outcome.is_ok());
    let share_keys = &report.rounds[1];
    // One sealed share pair (4-byte id + 80 bytes) per neighbour, after a 34-byte header,
    // the sender id and the count; then the option byte of the roster signature (absent
    // against an honest-but-curious server).
    assert_eq!(
        share_keys.bytes_sent_per_client,
        (34 + 4 + 4 + 6 * 84 + 1) as f64
    );
}

#[test]
fn malicious_mode_runs_consistency_check() {
    use secagg::ThreatModel;
    let m = Modulus::power_of_two(32).unwrap();
    for neighbours in [None, Some(8)] {
        let n = 24;
        let mut builder =
            Params::builder(SessionId([5; 32]), n, m, 20).threat_model(ThreatModel::Malicious);
        if let Some(k) = neighbours {
            builder = builder.neighbours(k);
        }
        let params = builder.build().unwrap();
        let mut sim = Simulation::new(params, inputs(n, 20));
        sim.drop_from(ClientId(2), Round::ShareKeys);
        sim.drop_from(ClientId(3), Round::MaskedInput);
        sim.drop_from(ClientId(4), Round::Consistency);
        sim.drop_from(ClientId(5), Round::Unmasking);
        // Seed 8: a graph in which no share holder set loses more than two of the four
        // dropped clients (t = 7 of 9 holders), so the session completes.
        let report = sim.run(8, &mut |_, _, _| {});
        let names: Vec<Round> = report.rounds.iter().map(|r| r.round).collect();
        assert!(names.contains(&Round::Consistency), "{names:?}");
        let out = report.outcome.unwrap();
        assert!(out.included.contains(&ClientId(4)) && out.included.contains(&ClientId(5)));
        assert!(!out.included.contains(&ClientId(3)));
        assert_eq!(out.sum, sim.plain_sum(&out.included));
    }
}

fn ids(n: u32) -> Vec<ClientId> {
    (1..=n).map(ClientId).collect()
}

fn set(list: &[u32]) -> BTreeSet<ClientId> {
    list.iter().copied().map(ClientId).collect()
}

/// Known answers from an independent implementation: Python 3 with `cryptography` 48
/// (HKDF-SHA256, ChaCha20) and `hashlib`, following docs/PROTOCOL.md §6 step by step
/// (the roster tree's digest, written from the hash definitions of §6 alone, seed `HKDF(salt = none, ikm = digest, info = label || sid || BE32(0) ||
/// BE32(0))`, the ChaCha20 keystream under that key with a zero nonce read as little-endian
/// 64-bit words, Fisher-Yates with rejection sampling, then `floor(k / 2)` ring positions on
/// either side).
#[test]
fn graph_matches_an_independent_implementation() {
    // The worked example of docs/PROTOCOL.md §6: ring [1, 10, 7, 4, 8, 2, 9, 6, 5, 3].
    let g = Graph::new(
        Neighbourhood::Harary { k: 4 },
        &SessionId([7; 32]),
        &[9; 32],
        &ids(10),
    );
    assert_eq!(g.neighbours(ClientId(1)), set(&[3, 5, 7, 10]));
    assert_eq!(g.neighbours(ClientId(2)), set(&[4, 6, 8, 9]));
    assert_eq!(g.neighbours(ClientId(8)), set(&[2, 4, 7, 9]));

    // A synthetic roster of 16 entries: client i advertises share key [i; 32], mask key
    // [i + 100; 32] and commitment [i + 200; 32]; session [0x5c; 32], k = 6. Listed out of
    // order: the digest sorts by id.
    let entries: Vec<msg::AdvertiseKeys> = (1u8..=16)
        .rev()
        .map(|i| msg::AdvertiseKeys {
            session: SessionId([0x5c; 32]),
            sender: ClientId(u32::from(i)),
            share_public_key: PublicKey([i; 32]),
            mask_public_key: PublicKey([i + 100; 32]),
            self_mask_commitment: [i + 200; 32],
            signature: None,
        })
        .collect();
    let digest = roster_digest(&entries);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "a7634df5152ab409358e2df815164452767ffd4d703c4d090312431aca862ec7"
    );
    let members: Vec<ClientId> = entries.iter().map(|e| e.sender).collect();
    let g = Graph::new(
        Neighbourhood::Harary { k: 6 },
        &SessionId([0x5c; 32]),
        &digest,
        &members,
    );
    // Ring [9, 7, 10, 13, 11, 6, 5, 1, 12, 14, 16, 2, 3, 8, 4, 15].
    let expected: [&[u32]; 16] = [
        &[5, 6, 11, 12, 14, 16],
        &[3, 4, 8, 12, 14, 16],
        &[2, 4, 8, 14, 15, 16],
        &[2, 3, 7, 8, 9, 15],
        &[1, 6, 11, 12, 13, 14],
        &[1, 5, 10, 11, 12, 13],
        &[4, 9, 10, 11, 13, 15],
        &[2, 3, 4, 9, 15, 16],
        &[4, 7, 8, 10, 13, 15],
        &[6, 7, 9, 11, 13, 15],
        &[1, 5, 6, 7, 10, 13],
        &[1, 2, 5, 6, 14, 16],
        &[5, 6, 7, 9, 10, 11],
        &[1, 2, 3, 5, 12, 16],
        &[3, 4, 7, 8, 9, 10],
        &[1, 2, 3, 8, 12, 14],
    ];
    for (u, want) in ids(16).into_iter().zip(expected) {
        assert_eq!(g.neighbours(u), set(want), "{u}");
    }
}

/// Runs an honest-but-curious session round by round and checks every step against the graph
/// recomputed from the roster: the clients in `share_silent` send no shares, those in
/// `mask_silent` no masked input.
fn check_session_against_graph(
    params: &Params,
    seed: u64,
    share_silent: &BTreeSet<ClientId>,
    mask_silent: &BTreeSet<ClientId>,
) -> Graph {
    let n = u32::try_from(params.clients()).unwrap();
    let d = params.vector_len();
    // What the server sent, and what each client sent, round by round.
    let from_server = RefCell::new(Vec::new());
    let sealed_to = RefCell::new(BTreeMap::new());
    let masked_by = RefCell::new(BTreeSet::new());
    let plain = ids(n)
        .into_iter()
        .map(|u| PlainInput::new(vec![u64::from(u.0); d]))
        .collect();
    let mut session = Harness::new(params, plain, seed)
        .on_client_message(|_, u, m| {
            match m {
                ClientMessage::ShareKeys(out) => {
                    let recipients: BTreeSet<ClientId> =
                        out.sealed.iter().map(|s| s.recipient).collect();
                    sealed_to
                        .borrow_mut()
                        .insert(u, (recipients, out.sealed.len()));
                }
                ClientMessage::MaskedInput(_) => {
                    masked_by.borrow_mut().insert(u);
                }
                _ => {}
            }
            Fate::Deliver
        })
        .on_server_message(|_, _, m| {
            from_server.borrow_mut().push(m.clone());
            Fate::Deliver
        });
    for &u in share_silent {
        session = session.drop_from(u, Round::ShareKeys);
    }
    for &u in mask_silent {
        session = session.drop_from(u, Round::MaskedInput);
    }
    let sent = |round: fn(&ServerMessage) -> bool| -> Vec<ServerMessage> {
        let all = from_server.borrow();
        let mut seen = Vec::new();
        for m in all.iter().filter(|m| round(m)) {
            if !seen.contains(m) {
                seen.push(m.clone());
            }
        }
        seen
    };

    session.step().unwrap();
    // Each member receives its view: its own entry and its neighbours', no other.
    let views = sent(|m| matches!(m, ServerMessage::Roster(_)));
    let mut entries: BTreeMap<ClientId, msg::AdvertiseKeys> = BTreeMap::new();
    for m in &views {
        if let ServerMessage::Roster(r) = m {
            entries.extend(r.entries.iter().map(|e| (e.sender, e.clone())));
        }
    }
    let entries: Vec<msg::AdvertiseKeys> = entries.into_values().collect();
    let members: Vec<ClientId> = entries.iter().map(|e| e.sender).collect();
    let graph = Graph::new(
        params.neighbourhood(),
        params.session(),
        &roster_digest(&entries),
        &members,
    );
    for m in &views {
        let ServerMessage::Roster(r) = m else {
            continue;
        };
        let to = r.slice.as_ref().map(|s| s.recipient);
        let held: BTreeSet<ClientId> = r.entries.iter().map(|e| e.sender).collect();
        match to {
            Some(u) => {
                let mut view = graph.neighbours(u);
                view.insert(u);
                assert_eq!(held, view, "the view of {u}");
            }
            None => assert_eq!(held.len(), members.len(), "a whole roster"),
        }
    }
    let holders = |u: ClientId| {
        let mut h = graph.neighbours(u);
        h.insert(u);
        h
    };

    // ShareKeys: one ciphertext for each neighbour, none for anyone else.
    session.step().unwrap();
    for (&u, (recipients, sealed)) in sealed_to.borrow().iter() {
        assert_eq!(*recipients, graph.neighbours(u), "{u}");
        assert_eq!(*sealed, recipients.len());
    }
    let u2: BTreeSet<ClientId> = sealed_to.borrow().keys().copied().collect();

    // MaskedInputCollection: each client receives its live neighbours' shares and masks with
    // them only.
    for delivery in sent(|m| matches!(m, ServerMessage::SharesDelivery(_))) {
        let ServerMessage::SharesDelivery(delivery) = delivery else {
            unreachable!()
        };
        let u = delivery.recipient;
        let senders: BTreeSet<ClientId> = delivery.sealed.iter().map(|s| s.sender).collect();
        let live: BTreeSet<ClientId> = graph.neighbours(u).intersection(&u2).copied().collect();
        assert_eq!(senders, live, "{u}");
    }
    session.step().unwrap();
    for &u in masked_by.borrow().iter() {
        let live = graph.neighbours(u).intersection(&u2).count();
        let Some(ClientSession::MaskedInput(c)) = session.client(u) else {
            panic!("{u} masked");
        };
        assert_eq!(c.mask_expansions(), 1 + live, "{u}");
    }
    let u3: BTreeSet<ClientId> = masked_by.borrow().clone();
    let dropped: BTreeSet<ClientId> = u2.difference(&u3).copied().collect();

    // Unmasking: each request names the survivors of the recipient's neighbourhood and its
    // dropped neighbours.
    let requests = sent(|m| matches!(m, ServerMessage::UnmaskingRequest(_)));
    assert_eq!(requests.len(), u3.len());
    for request in requests {
        let ServerMessage::UnmaskingRequest(request) = request else {
            unreachable!()
        };
        let u = request.recipient;
        let survivors: Vec<ClientId> = holders(u).intersection(&u3).copied().collect();
        let gone: Vec<ClientId> = graph
            .neighbours(u)
            .intersection(&dropped)
            .copied()
            .collect();
        assert_eq!(request.survivors, survivors, "{u}");
        assert_eq!(request.dropped, gone, "{u}");
    }
    let out = session.step().unwrap().unwrap();
    assert!(session.rejected().is_empty(), "{:?}", session.rejected());
    assert_eq!(out.included, u3.iter().copied().collect::<Vec<_>>());
    let m = params.modulus().value();
    let sum = u3.iter().map(|u| u128::from(u.0)).sum::<u128>() % m;
    assert!(out.sum.iter().all(|x| u128::from(*x) == sum));
    // One self-mask per survivor, one pairwise mask per surviving neighbour of each dropped
    // client.
    let pairwise: usize = dropped
        .iter()
        .map(|&x| graph.neighbours(x).intersection(&u3).count())
        .sum();
    assert_eq!(out.mask_expansions, u3.len() + pairwise);
    graph
}

#[test]
fn every_round_follows_the_graph_derived_from_the_roster() {
    let m = Modulus::power_of_two(32).unwrap();
    let params = Params::builder(SessionId([6; 32]), 30, m, 12)
        .neighbours(6)
        .build()
        .unwrap();
    let graph = check_session_against_graph(&params, 7, &set(&[4]), &set(&[9, 20]));
    assert_eq!(graph.kind(), Neighbourhood::Harary { k: 6 });
    assert!(ids(30).iter().all(|u| graph.neighbours(*u).len() == 6));
    // The same checks hold on the complete graph.
    let params = Params::new(SessionId([6; 32]), 9, 5, m, 12).unwrap();
    let graph = check_session_against_graph(&params, 8, &set(&[2]), &set(&[3]));
    assert_eq!(graph.kind(), Neighbourhood::Complete);
}

#[test]
fn dense_degree_falls_back_to_the_complete_graph() {
    let m = Modulus::power_of_two(16).unwrap();
    // k + 1 >= n: every client neighbours every other.
    for (n, k) in [(7usize, 6usize), (7, 8), (5, 10)] {
        let params = Params::builder(SessionId([8; 32]), n, m, 6)
            .neighbours(k)
            .build()
            .unwrap();
        let graph = check_session_against_graph(&params, 9, &BTreeSet::new(), &set(&[1]));
        assert_eq!(graph.kind(), Neighbourhood::Complete, "n = {n}, k = {k}");
    }
}

#[test]
fn odd_rosters_keep_regular_neighbourhoods() {
    // 13 and 15 clients with an even degree: every neighbourhood has k members.
    let m = Modulus::power_of_two(16).unwrap();
    for n in [13u32, 15] {
        let params = Params::builder(SessionId([10; 32]), usize::try_from(n).unwrap(), m, 6)
            .neighbours(4)
            .build()
            .unwrap();
        let graph = check_session_against_graph(&params, 11, &set(&[5]), &set(&[6]));
        assert!(ids(n).iter().all(|u| graph.neighbours(*u).len() == 4));
    }
}

#[test]
fn server_with_another_degree_rejects_the_clients_shares() {
    // The graph comes from each party's own configuration and the roster, never from the
    // other side: a client configured for k = 6 refuses the view of a server configured for
    // k = 2, and one for k = 2 the view of a server for k = 6.
    let m = Modulus::power_of_two(16).unwrap();
    for (server_k, client_k) in [(2usize, 6usize), (6, 2)] {
        let build = |k| {
            Params::builder(SessionId([12; 32]), 20, m, 4)
                .neighbours(k)
                .build()
                .unwrap()
        };
        let (server_params, client_params) = (build(server_k), build(client_k));
        let shared = core::cell::Cell::new(0);
        let mut session = Harness::new(&client_params, inputs(20, 4), 13)
            .with_server_params(&server_params)
            .on_client_message(|_, _, m| {
                if let ClientMessage::ShareKeys(_) = m {
                    shared.set(shared.get() + 1);
                }
                Fate::Deliver
            });
        session.step().unwrap();
        // The view the server sends is the neighbourhood of its own graph, which is not the
        // client's: the client refuses it before it shares anything.
        assert_eq!(
            session.send().map(|_| ()),
            Err(secagg::Error::Misbehaved {
                by: secagg::Party::Server,
                round: Round::ShareKeys,
                what: Misbehavior::RosterWrongView,
            })
        );
        drop(session);
        assert_eq!(shared.get(), 0);
    }
}

#[test]
fn hundred_clients_with_ten_percent_dropouts() {
    let m = Modulus::power_of_two(32).unwrap();
    let n = 100;
    let params = Params::builder(SessionId([14; 32]), n, m, 200)
        .neighbours(10)
        .build()
        .unwrap();
    assert_eq!(params.threshold(), 6);
    let mut sim = Simulation::new(params, inputs(n, 200));
    // Ten clients, spread over the rounds and the id range.
    for (i, round) in [
        Round::AdvertiseKeys,
        Round::ShareKeys,
        Round::MaskedInput,
        Round::Unmasking,
    ]
    .into_iter()
    .cycle()
    .take(10)
    .enumerate()
    {
        sim.drop_from(ClientId(u32::try_from(7 + 10 * i).unwrap()), round);
    }
    let report = sim.run(15, &mut |_, _, _| {});
    let out = report.outcome.unwrap();
    // Clients 37 and 77 drop at Unmasking, after their masked inputs; the other eight before
    // theirs, 27 and 67 after sending shares (so their keys are rebuilt).
    let missing = set(&[7, 17, 27, 47, 57, 67, 87, 97]);
    let included: Vec<ClientId> = ids(100)
        .into_iter()
        .filter(|u| !missing.contains(u))
        .collect();
    assert_eq!(out.included, included);
    assert_eq!(out.sum, sim.plain_sum(&included));
    // Each client expanded its self-mask and at most k pairwise masks; the server one
    // self-mask per survivor and at most k pairwise masks for each of 27 and 67.
    let masked = report
        .rounds
        .iter()
        .find(|r| r.round == Round::MaskedInput)
        .unwrap();
    assert!(masked.client_mask_expansions <= 11.0);
    assert!(out.mask_expansions > included.len());
    assert!(out.mask_expansions <= included.len() + 2 * 10);
}

/// `Simulation::run_sampled`: a few clients measured at full fidelity, the rest of the roster
/// silent after AdvertiseKeys.
mod sampled {
    use super::*;
    use secagg::ThreatModel;

    fn params(n: usize, k: usize, t: usize, model: ThreatModel) -> Params {
        Params::builder(
            SessionId([21; 32]),
            n,
            Modulus::power_of_two(32).unwrap(),
            30,
        )
        .neighbours(k)
        .threshold(t)
        .threat_model(model)
        .min_roster(n - 4)
        .build()
        .unwrap()
    }

    fn schedule(sim: &mut Simulation) {
        sim.drop_from(ClientId(7), Round::AdvertiseKeys);
        for id in [11, 12] {
            sim.drop_from(ClientId(id), Round::ShareKeys);
        }
        for id in [20, 21] {
            sim.drop_from(ClientId(id), Round::MaskedInput);
        }
        sim.drop_from(ClientId(30), Round::Unmasking);
    }

    /// Measuring every client is the whole session, round for round, without the sum.
    #[test]
    fn sampling_every_client_reports_the_whole_session() {
        for model in [ThreatModel::HonestButCurious, ThreatModel::Malicious] {
            let n = 60;
            let mut sim = Simulation::seeded(params(n, 12, 10, model), 5);
            schedule(&mut sim);
            let whole = sim.run(3, &mut |_, _, _| {});
            assert!(whole.outcome.is_ok(), "{:?}", whole.outcome);
            let sampled = sim.run_sampled(3, n, &mut |_, _, _| {});
            assert!(sampled.result.is_ok(), "{:?}", sampled.result);
            // The clients the schedule never drops are measured; the five it drops after
            // AdvertiseKeys are neighbours, run (ShareKeys) or stood in for as scheduled.
            assert_eq!(sampled.measured.len(), n - 6);
            assert_eq!(sampled.neighbours, 5);
            assert_eq!(sampled.rounds.len(), whole.rounds.len());
            for (s, w) in sampled.rounds.iter().zip(&whole.rounds) {
                assert_eq!(s.round, w.round);
                if s.round == Round::AdvertiseKeys {
                    assert_eq!(s.clients, w.clients);
                    assert_eq!(s.bytes_sent_per_client, w.bytes_sent_per_client);
                } else {
                    // The measured clients are the ones speaking throughout: their figures
                    // are those of the whole session's clients that speak in the round,
                    // less the ones dropping later.
                    assert_eq!(s.clients, n - 6, "{:?}", s.round);
                }
            }
        }
    }

    /// A few measured clients out of many: their neighbours run ShareKeys, the driver
    /// stands in for the neighbours' masked inputs and signatures, and the measured clients
    /// get through every check of every round (without the stand-ins they would abort:
    /// fewer than `t` of their neighbourhood survive).
    #[test]
    fn a_few_measured_clients_get_through_every_round() {
        for (model, k, t) in [
            (ThreatModel::HonestButCurious, 10, 6),
            (ThreatModel::Malicious, 12, 9),
        ] {
            let n = 400;
            let mut sim = Simulation::seeded(params(n, k, t, model), 6);
            schedule(&mut sim);
            let sampled = sim.run_sampled(4, 3, &mut |_, _, _| {});
            assert!(sampled.result.is_ok(), "{model:?}: {:?}", sampled.result);
            assert_eq!(sampled.measured.len(), 3);
            assert!(sampled.neighbours >= k && sampled.neighbours <= 3 * k);
            let rounds: Vec<Round> = sampled.rounds.iter().map(|r| r.round).collect();
            assert_eq!(
                rounds.contains(&Round::Consistency),
                model == ThreatModel::Malicious
            );
            for r in &sampled.rounds[1..] {
                assert_eq!(r.clients, 3, "{:?}", r.round);
                assert!(r.bytes_received_per_client > 0.0, "{:?}", r.round);
            }
            // Each measured client masked against its live neighbours.
            let masked = &sampled.rounds[2];
            assert!(masked.client_mask_expansions > (t - 1) as f64);
            // AdvertiseKeys ran for the whole roster.
            assert_eq!(sampled.rounds[0].clients, n - 1);
        }
    }

    /// With stand-ins for every other client, the server runs the whole session: it
    /// accepts every stand-in's message, rebuilds every survivor's self-mask seed and every
    /// dropped client's mask key from the stand-ins' and the measured clients' shares and
    /// checks each against its commitment (a wrong share would abort the session), and
    /// expands exactly the masks the whole session's server expands.
    #[test]
    fn stand_ins_give_the_server_a_whole_session() {
        for (model, k, t) in [
            (ThreatModel::HonestButCurious, 10, 6),
            (ThreatModel::Malicious, 12, 9),
        ] {
            let n = 400;
            let mut sim = Simulation::seeded(params(n, k, t, model), 6);
            schedule(&mut sim);
            let whole = sim.run(4, &mut |_, _, _| {});
            assert!(whole.outcome.is_ok(), "{model:?}: {:?}", whole.outcome);
            let stood = sim.run_stand_ins(4, 3, &mut |_, _, _| {});
            assert!(stood.result.is_ok(), "{model:?}: {:?}", stood.result);
            assert_eq!(stood.measured.len(), 3);
            assert_eq!(stood.neighbours, 0);
            // Client 7 never advertised.
            assert_eq!(stood.stand_ins, n - 1 - 3);
            assert_eq!(stood.rounds.len(), whole.rounds.len());
            for (s, w) in stood.rounds.iter().zip(&whole.rounds) {
                assert_eq!(s.round, w.round);
                assert!(
                    s.rejected.is_empty(),
                    "{model:?} {:?}: {:?}",
                    s.round,
                    s.rejected
                );
                if s.round != Round::AdvertiseKeys {
                    assert_eq!(s.clients, 3, "{:?}", s.round);
                    assert!(s.server_seconds > 0.0, "{:?}", s.round);
                }
            }
            let last = |rounds: &[secagg::sim::RoundReport]| {
                rounds.last().map(|r| (r.round, r.server_mask_expansions))
            };
            assert_eq!(last(&stood.rounds), last(&whole.rounds));
            assert!(last(&stood.rounds).is_some_and(|(_, e)| e > n / 2));
        }
    }
}
