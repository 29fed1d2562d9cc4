//! Cost of the building blocks under `secagg::hazmat`, one group per module: `kx`, `kdf`,
//! `prg` (with the raw ChaCha20 keystream as a baseline), `aead` and `shamir`.
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
use rand_core::SeedableRng;

use secagg::hazmat::aead::{self, ShareContext};
use secagg::hazmat::kdf::{self, LABEL_PAIRWISE_MASK, LABEL_SHARE_KEY};
use secagg::hazmat::kx::SecretKey;
use secagg::hazmat::prg::{Sign, Suite, apply_mask, apply_mask_with};
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
    for (n, t) in [(10u64, 6usize), (100, 51), (1000, 501)] {
        let label = format!("n{n}_t{t}");
        let indices: Vec<ShareIndex> = (1..=n).map(ShareIndex).collect();
        let secret = SecretScalar::random(&mut rng);
        group.bench_with_input(BenchmarkId::new("split", &label), &t, |b, &t| {
            b.iter(|| shamir::split(black_box(&secret), t, &indices, &mut rng).unwrap());
        });

        // The server's view: t responders, coefficients computed once, then one
        // multiply-add per share for every secret they hold.
        let shares = shamir::split(&secret, t, &indices, &mut rng).unwrap();
        let holders: Vec<ShareIndex> = shares[..t].iter().map(|s| s.index).collect();
        let values: Vec<&SecretScalar> = shares[..t].iter().map(|s| &s.value).collect();
        group.bench_with_input(
            BenchmarkId::new("lagrange_new_and_reconstruct", &label),
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
        group.bench_with_input(BenchmarkId::new("reconstruct", &label), &t, |b, _| {
            b.iter(|| {
                black_box(&lagrange)
                    .reconstruct(values.iter().copied())
                    .unwrap()
            });
        });
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
    targets = kx, kdf, prg, aead, shamir
}
criterion_main!(benches);
