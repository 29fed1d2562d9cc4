//! Cost of the building blocks under `secagg::hazmat`, one group per module: `kx`, `kdf`,
//! `prg` (with the raw ChaCha20 keystream as a baseline), `aead` and `shamir`; and the mask
//! kernel as the server and clients run it: `kernel` (31 masks added chunk by chunk against
//! the raw keystream of the same bytes, on one thread) and `kernel_cores` (the same on one
//! and on two threads); `wire_masked_input`, a masked input of 10^6 elements decoded whole
//! or read in place and summed.
//!
//! Run with `cargo bench --bench primitives`; add `-- --quick` for a fast pass.

// A bench is a measurement harness, not library code: a failed setup should stop the run
// loudly (`unwrap`/`expect`), and `criterion_group!` generates undocumented public items.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use core::hint::black_box;
use core::time::Duration;

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::{ChaCha20, ChaCha20Rng};
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rand_core::{Rng, SeedableRng};

use secagg::encoding::EncoderConfig;
use secagg::hazmat::aead::{self, ShareContext};
use secagg::hazmat::kdf::{self, LABEL_PAIRWISE_MASK, LABEL_SHARE_KEY};
use secagg::hazmat::kx::SecretKey;
use secagg::hazmat::prg::{
    CHUNK_ELEMENTS, SeededMask, Sign, Suite, apply_mask, apply_mask_with, apply_masks,
    write_chunk_keystream,
};
use secagg::hazmat::shamir::{self, Lagrange, SecretScalar};
use secagg::{ClientId, Modulus, SessionId, ShareIndex};

const SESSION: SessionId = SessionId([0x5e; 32]);

fn kx(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let ours = SecretKey::random(&mut rng);
    let peer = SecretKey::random(&mut rng).public_key();
    let mut group = c.benchmark_group("kx");
    group.bench_function("agree", |b| {
        b.iter(|| black_box(&ours).agree(black_box(&peer)))
    });
    group.bench_function("public_key", |b| b.iter(|| black_box(&ours).public_key()));
    group.finish();
}

fn kdf(c: &mut Criterion) {
    let ikm = [0x42u8; 32];
    let mut group = c.benchmark_group("kdf");
    group.bench_function("derive", |b| {
        b.iter(|| {
            kdf::derive(
                LABEL_PAIRWISE_MASK,
                black_box(&SESSION),
                ClientId(1),
                ClientId(2),
                black_box(&ikm),
            )
        });
    });
    group.finish();
}

fn prg(c: &mut Criterion) {
    let seed = [0x17u8; 32];
    let moduli = [
        ("apply_mask_2^32", Modulus::power_of_two(32).unwrap()),
        // Not a power of two: every word goes through the rejection test and a reduced add.
        ("apply_mask_2^32-5", Modulus::new((1u64 << 32) - 5).unwrap()),
    ];
    let mut group = c.benchmark_group("prg");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for d in [1_000usize, 100_000, 1_000_000] {
        group.throughput(Throughput::Elements(u64::try_from(d).unwrap()));
        for (name, modulus) in moduli {
            let mut acc = vec![0u64; d];
            group.bench_with_input(BenchmarkId::new(name, d), &d, |b, _| {
                b.iter(|| apply_mask(black_box(&seed), modulus, Sign::Add, &mut acc));
            });
        }
        // Baseline: the same number of keystream bytes (4 per element for a 32-bit modulus)
        // from one ChaCha20 instance, with nothing done to them.
        let mut keystream = vec![0u8; 4 * d];
        group.bench_with_input(BenchmarkId::new("chacha20_keystream", d), &d, |b, _| {
            b.iter(|| {
                let mut cipher = ChaCha20::new(black_box(&seed).into(), &[0u8; 12].into());
                cipher.write_keystream(&mut keystream);
            });
        });
        // The AES-128-CTR suite against the raw AES-128-CTR keystream of the same length.
        let m32 = Modulus::power_of_two(32).unwrap();
        let mut acc = vec![0u64; d];
        group.bench_with_input(BenchmarkId::new("apply_mask_aes_2^32", d), &d, |b, _| {
            b.iter(|| {
                apply_mask_with(Suite::Aes128Ctr, black_box(&seed), m32, Sign::Add, &mut acc)
            });
        });
        group.bench_with_input(BenchmarkId::new("aes128ctr_keystream", d), &d, |b, _| {
            b.iter(|| {
                let key: [u8; 16] = black_box(&seed)[..16].try_into().unwrap();
                let mut cipher = ctr::Ctr128BE::<aes::Aes128>::new(&key.into(), &[0u8; 16].into());
                cipher.write_keystream(&mut keystream);
            });
        });
    }
    group.finish();
}

/// Masks per kernel bench: a client's k + 1 at the headline's k = 30.
const KERNEL_MASKS: usize = 31;
/// Elements per kernel bench: the headline's d.
const KERNEL_D: usize = 1 << 20;

fn kernel_masks() -> Vec<SeededMask> {
    (0..KERNEL_MASKS)
        .map(|i| {
            let sign = if i % 2 == 0 { Sign::Add } else { Sign::Sub };
            SeededMask::new(&[u8::try_from(i).unwrap(); 32], sign)
        })
        .collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// The mask kernel against the raw keystream it reads: 31 masks of 2^20 elements mod 2^32
/// (4 bytes of keystream each), one thread. `raw_keystream` writes the same chunks of the
/// same ciphers into a buffer and does nothing else; `apply_masks` also adds them into the
/// accumulator. The ratio of their medians is the kernel's efficiency.
fn kernel(c: &mut Criterion) {
    let masks = kernel_masks();
    let m = Modulus::power_of_two(32).unwrap();
    let one = pool(1);
    let mut group = c.benchmark_group("kernel");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes((KERNEL_MASKS * KERNEL_D * 4) as u64));
    for (name, suite) in [
        ("chacha20", Suite::ChaCha20),
        ("aes128ctr", Suite::Aes128Ctr),
    ] {
        let mut buf = vec![0u8; 4 * CHUNK_ELEMENTS];
        group.bench_function(BenchmarkId::new("raw_keystream", name), |b| {
            b.iter(|| {
                // The same seeds as `kernel_masks` (a mask's own seed is private).
                for i in 0..KERNEL_MASKS {
                    let seed = [u8::try_from(i).unwrap(); 32];
                    for j in 0..KERNEL_D / CHUNK_ELEMENTS {
                        write_chunk_keystream(suite, &seed, j as u64, &mut buf);
                        black_box(&buf);
                    }
                }
            });
        });
        let mut acc = vec![0u64; KERNEL_D];
        group.bench_function(BenchmarkId::new("apply_masks", name), |b| {
            b.iter(|| one.install(|| apply_masks(&masks, suite, m, black_box(&mut acc))));
        });
    }
    group.finish();
}

/// The kernel on one thread and on two: server unmasking spreads the chunks over cores.
fn kernel_cores(c: &mut Criterion) {
    let masks = kernel_masks();
    let m = Modulus::power_of_two(32).unwrap();
    let mut group = c.benchmark_group("kernel_cores");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes((KERNEL_MASKS * KERNEL_D * 4) as u64));
    for (name, suite) in [
        ("chacha20", Suite::ChaCha20),
        ("aes128ctr", Suite::Aes128Ctr),
    ] {
        let mut acc = vec![0u64; KERNEL_D];
        for threads in [1, 2] {
            let pool = pool(threads);
            group.bench_function(BenchmarkId::new(name, format!("{threads}_threads")), |b| {
                b.iter(|| pool.install(|| apply_masks(&masks, suite, m, black_box(&mut acc))));
            });
        }
    }
    group.finish();
}

fn aead(c: &mut Criterion) {
    let key = kdf::derive(
        LABEL_SHARE_KEY,
        &SESSION,
        ClientId(1),
        ClientId(2),
        &[7; 32],
    );
    let ctx = ShareContext {
        session: &SESSION,
        sender: ClientId(1),
        recipient: ClientId(2),
        round: 1,
    };
    // Two 32-byte scalar shares: the plaintext of one ShareKeys ciphertext.
    let plaintext = [0xabu8; 64];
    let mut group = c.benchmark_group("aead");
    group.throughput(Throughput::Bytes(64));
    group.bench_function(BenchmarkId::new("seal", 64), |b| {
        b.iter(|| aead::seal(&key, &ctx, black_box(&plaintext)));
    });
    let sealed = aead::seal(&key, &ctx, &plaintext).unwrap();
    group.bench_function(BenchmarkId::new("open", 64), |b| {
        b.iter(|| aead::open(&key, &ctx, black_box(&sealed)));
    });
    group.finish();
}

fn shamir(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut group = c.benchmark_group("shamir");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    // The last case is a SecAgg+ neighbourhood at n = 10^6 (malicious, k = 78, t = 55):
    // its holders' indices are spread over the roster, not 1..=n.
    let spread = |count: u64| -> Vec<ShareIndex> {
        (0..count)
            .map(|i| ShareIndex(1 + i * 12_821 + (i * i) % 997))
            .collect()
    };
    let cases = [
        (
            "n10_t6",
            6usize,
            (1..=10).map(ShareIndex).collect::<Vec<_>>(),
        ),
        ("n100_t51", 51, (1..=100).map(ShareIndex).collect()),
        ("n1000_t501", 501, (1..=1000).map(ShareIndex).collect()),
        ("spread79_t55", 55, spread(79)),
    ];
    for (label, t, indices) in cases {
        let secret = SecretScalar::random(&mut rng);
        group.bench_with_input(BenchmarkId::new("split", label), &t, |b, &t| {
            b.iter(|| shamir::split(black_box(&secret), t, &indices, &mut rng).unwrap());
        });

        // The server's view: t responders, coefficients computed once, then one
        // multiply-add per share for every secret they hold.
        let shares = shamir::split(&secret, t, &indices, &mut rng).unwrap();
        let holders: Vec<ShareIndex> = shares[..t].iter().map(|s| s.index).collect();
        let values: Vec<&SecretScalar> = shares[..t].iter().map(|s| &s.value).collect();
        group.bench_with_input(
            BenchmarkId::new("lagrange_new_and_reconstruct", label),
            &t,
            |b, &t| {
                b.iter(|| {
                    Lagrange::new(black_box(&holders), t)
                        .unwrap()
                        .reconstruct(values.iter().copied())
                        .unwrap()
                });
            },
        );
        let lagrange = Lagrange::new(&holders, t).unwrap();
        assert_eq!(
            lagrange.reconstruct(values.iter().copied()).unwrap(),
            secret
        );
        group.bench_with_input(BenchmarkId::new("reconstruct", label), &t, |b, _| {
            b.iter(|| {
                black_box(&lagrange)
                    .reconstruct(values.iter().copied())
                    .unwrap()
            });
        });
    }
    group.finish();
}

/// The parameter finder (`secagg params`): a typical rate, and extreme rates that send the
/// doubling search towards `k = n - 2`.
fn finder(c: &mut Criterion) {
    use secagg::ThreatModel;
    use secagg::finder::{FinderInput, find};
    let mut group = c.benchmark_group("finder");
    for (name, input) in [
        (
            "n=1e6, 5% corrupt, 5% dropout, malicious",
            FinderInput::new(1_000_000, 0.05, 0.05, ThreatModel::Malicious),
        ),
        (
            "n=1e6, 39% corrupt, 60% dropout",
            FinderInput::new(1_000_000, 0.6, 0.39, ThreatModel::HonestButCurious),
        ),
        (
            "n=2^24, 39% corrupt, 60% dropout, malicious",
            FinderInput::new(1 << 24, 0.6, 0.39, ThreatModel::Malicious),
        ),
    ] {
        group.bench_function(name, |b| b.iter(|| find(black_box(&input))));
    }
    group.finish();
}

/// A client's float encoding as the Flower drop-in runs it (d = 10^5 float32 values in
/// [-1, 1], coordinate clip 8, Flower's scale `(2^22 - 1) / 16`, weight 37 of 1000 with unit
/// 1, modulus 2^32): the step-by-step reference (`encode_weighted` of the widened copy)
/// against the one-pass path, from `f64` and straight from `f32`.
fn encoding(c: &mut Criterion) {
    let d = 100_000usize;
    let enc = EncoderConfig::builder(d, f64::from((1u32 << 22) - 1) / 16.0)
        .coordinate_clip(8.0)
        .weights(1000)
        .weight_unit(1)
        .build()
        .unwrap()
        .check(Modulus::power_of_two(32).unwrap(), 100)
        .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let x32: Vec<f32> = (0..d)
        .map(|_| (rng.next_u32() as f32 / u32::MAX as f32) * 2.0 - 1.0)
        .collect();
    let x64: Vec<f64> = x32.iter().map(|v| f64::from(*v)).collect();
    let mut group = c.benchmark_group("encoding");
    group.throughput(Throughput::Elements(u64::try_from(d).unwrap()));
    group.bench_function(BenchmarkId::new("encode_weighted", d), |b| {
        b.iter(|| enc.encode_weighted(black_box(&x64), 37, &mut rng).unwrap())
    });
    group.bench_function(BenchmarkId::new("encode_one_pass_f64", d), |b| {
        b.iter(|| {
            enc.encode_one_pass(black_box(&x64), Some(37), &mut rng)
                .unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("encode_one_pass_f32", d), |b| {
        b.iter(|| {
            enc.encode_one_pass(black_box(&x32), Some(37), &mut rng)
                .unwrap()
        })
    });
    group.finish();
}

/// A masked input of `d = 10^6` elements as the server takes it: decoded whole (`y_u`
/// allocated, as `wire::from_bytes` gives it) or read in place (`MaskedInputRef`, what
/// `ServerSession::receive` sums from), then added into an accumulator; at `m = 2^32` (4
/// bytes an element) and `m = 2^20` (the bit accumulator).
fn wire_masked_input(c: &mut Criterion) {
    use secagg::Params;
    use secagg::wire::{self, ClientMessage, Limits, MaskedInput, MaskedInputRef};
    let d = 1_000_000;
    let mut group = c.benchmark_group("wire_masked_input");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(d as u64));
    for bits in [32u32, 20] {
        let m = Modulus::power_of_two(bits).unwrap();
        let params = Params::builder(SESSION, 10, m, d).build().unwrap();
        let limits = Limits::for_params(&params);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let message = MaskedInput {
            session: SESSION,
            sender: ClientId(3),
            roster_digest: [7; 32],
            masked: (0..d).map(|_| rng.next_u64() & (m.max_element())).collect(),
        };
        let bytes = wire::to_bytes(&wire::PackedMaskedInput::new(&message, m));
        let mut acc = vec![0u64; d];
        group.bench_function(BenchmarkId::new("decode_then_add", bits), |b| {
            b.iter(|| {
                let Ok(ClientMessage::MaskedInput(y)) =
                    wire::from_bytes::<ClientMessage>(black_box(&bytes), &limits)
                else {
                    panic!("a masked input")
                };
                for (a, x) in acc.iter_mut().zip(&y.masked) {
                    *a = a.wrapping_add(*x);
                }
            });
        });
        group.bench_function(BenchmarkId::new("in_place_add", bits), |b| {
            b.iter(|| {
                let y = MaskedInputRef::from_bytes(black_box(&bytes), &limits).unwrap();
                for (a, x) in acc.iter_mut().zip(y.masked.elements()) {
                    *a = a.wrapping_add(x);
                }
            });
        });
        black_box(&acc);
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = kx, kdf, prg, kernel, kernel_cores, aead, shamir, finder, encoding, wire_masked_input
}
criterion_main!(benches);
