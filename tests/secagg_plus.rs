//! SecAgg+ sessions: the same state machines on a random Harary graph.

use secagg::sim::Simulation;
use secagg::{ClientId, Modulus, Params, PlainInput, Round, SessionId};

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
    // the sender id and the count.
    assert_eq!(
        share_keys.bytes_sent_per_client,
        (34 + 4 + 4 + 6 * 84) as f64
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
        let report = sim.run(3, &mut |_, _, _| {});
        let names: Vec<Round> = report.rounds.iter().map(|r| r.round).collect();
        assert!(names.contains(&Round::Consistency), "{names:?}");
        let out = report.outcome.unwrap();
        assert!(out.included.contains(&ClientId(4)) && out.included.contains(&ClientId(5)));
        assert!(!out.included.contains(&ClientId(3)));
        assert_eq!(out.sum, sim.plain_sum(&out.included));
    }
}
