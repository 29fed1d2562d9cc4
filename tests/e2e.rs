//! Whole sessions through the in-memory driver.

use secagg::sim::Simulation;
use secagg::{ClientId, Modulus, Params, PlainInput, Round, SessionId};

fn inputs(n: usize, d: usize, m: Modulus, seed: u64) -> Vec<PlainInput> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            PlainInput::new(
                (0..d)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((x >> 11) as u128 % m.value()) as u64
                    })
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn sum_with_dropouts_at_every_round() {
    let m = Modulus::power_of_two(32).unwrap();
    let params = Params::new(SessionId([7; 32]), 10, 6, m, 100).unwrap();
    let mut sim = Simulation::new(params, inputs(10, 100, m, 1));
    sim.drop_from(ClientId(2), Round::AdvertiseKeys);
    sim.drop_from(ClientId(3), Round::ShareKeys);
    sim.drop_from(ClientId(4), Round::MaskedInput);
    sim.drop_from(ClientId(5), Round::Unmasking);
    let report = sim.run(42, &mut |_, _, _| {});
    let out = report.outcome.unwrap();
    let expected: Vec<ClientId> = [1, 5, 6, 7, 8, 9, 10].into_iter().map(ClientId).collect();
    assert_eq!(out.included, expected);
    assert_eq!(out.sum, sim.plain_sum(&out.included));
}
