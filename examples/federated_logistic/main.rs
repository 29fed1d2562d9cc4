//! Federated logistic regression on the Breast Cancer Wisconsin (Diagnostic) data set
//! (`data/SOURCE.md`): 50 clients, FedAvg weighted by example counts, every round one SecAgg+
//! session (Harary graph of degree 10) on the float encoding, without and with distributed
//! discrete Gaussian noise, next to plain FedAvg in floats with neither.
//!
//! `cargo run --release --example federated_logistic`

mod model;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::dp::NoiseKind;
use secagg::encoding::{EncoderConfig, Encoding, rotation_seed};
use secagg::sim::Simulation;
use secagg::{Modulus, Params, SessionId};

const CLIENTS: usize = 50;
const ROUNDS: u64 = 20;
/// L2 clip of one client's update; the rotated coordinates are clipped at half of it.
const CLIP: f64 = 0.5;
/// Central noise standard deviation over the L2 sensitivity.
const NOISE_MULTIPLIER: f64 = 2.0;
/// The noise of any 40 clients reaches the central level; smaller sums are not decoded.
const MIN_CONTRIBUTORS: usize = 40;
const DELTA: f64 = 1e-5;

/// The encoding, checked by the preflight against the smallest modulus it allows.
fn encoding(noise: bool, session: &SessionId) -> Encoding {
    let mut b = EncoderConfig::builder(31, 4096.0)
        .l2_clip(CLIP)
        .rotation(rotation_seed(session))
        .coordinate_clip(CLIP / 2.0)
        .weights(32);
    if noise {
        b = b.noise(
            NoiseKind::DiscreteGaussian,
            NOISE_MULTIPLIER,
            MIN_CONTRIBUTORS,
        );
    }
    let config = b.build().unwrap();
    let bits = config.requirement(CLIENTS).unwrap().smallest_bits;
    config
        .check(Modulus::power_of_two(bits).unwrap(), CLIENTS)
        .unwrap()
}

/// One round's weighted mean update through a SecAgg+ session.
///
/// The session id, the clients' keys, the stochastic rounding and the DP noise all come from
/// a generator seeded by the operating system, fresh every round. Noise drawn from a seed
/// anyone can guess (the round number, say) can be regenerated and subtracted from the
/// released sum: it protects nothing.
fn secure_mean(updates: &[Vec<f64>], counts: &[u32], noise: bool) -> Vec<f64> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system's random number generator");
    let mut rng = ChaCha20Rng::from_seed(seed);
    let mut session = SessionId([0; 32]);
    rng.fill_bytes(&mut session.0);
    let enc = encoding(noise, &session);
    let inputs = updates.iter().zip(counts);
    let inputs = inputs.map(|(u, &c)| enc.encode_weighted(u, c, &mut rng).unwrap().0);
    let params = Params::builder(session, CLIENTS, enc.modulus(), enc.vector_len())
        .neighbours(10)
        .build()
        .unwrap();
    let sim = Simulation::new(params, inputs.collect());
    let out = sim.run(rng.next_u64(), &mut |_, _, _| {}).outcome.unwrap();
    assert!(out.included.len() >= MIN_CONTRIBUTORS, "too few to release");
    enc.decode(&out.sum, out.included.len()).unwrap()
}

fn main() {
    let (train, test) = model::load();
    let shards: Vec<&[model::Example]> = train.chunks(train.len().div_ceil(CLIENTS)).collect();
    let counts: Vec<u32> = shards
        .iter()
        .map(|s| u32::try_from(s.len()).unwrap())
        .collect();
    for noise in [false, true] {
        let bits = encoding(noise, &SessionId([0; 32]))
            .modulus()
            .power_of_two_bits();
        println!(
            "SecAgg+ {}: modulus 2^{}",
            if noise { "with DP" } else { "without DP" },
            bits.unwrap()
        );
    }
    let private = encoding(true, &SessionId([0; 32]));
    println!("round  plain FedAvg  SecAgg+  SecAgg+ & DP  epsilon (delta {DELTA})");
    let mut models = vec![vec![0.0; 31]; 3];
    for round in 1..=ROUNDS {
        for (variant, w) in models.iter_mut().enumerate() {
            let updates: Vec<Vec<f64>> = shards.iter().map(|s| model::local_update(w, s)).collect();
            let mean = match variant {
                0 => model::weighted_mean(&updates, &counts),
                v => secure_mean(&updates, &counts, v == 2),
            };
            w.iter_mut().zip(&mean).for_each(|(a, d)| *a += d);
        }
        let eps = private.privacy(round, DELTA).unwrap().epsilon;
        let acc: Vec<f64> = models.iter().map(|w| model::accuracy(w, &test)).collect();
        println!(
            "{round:>5}  {:>12.3}  {:>7.3}  {:>12.3}  {eps:.2}",
            acc[0], acc[1], acc[2]
        );
    }
}
