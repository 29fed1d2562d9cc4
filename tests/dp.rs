//! Distributed DP: the exact samplers against their distributions, and the accountant
//! against independent computations and the published closed forms.
//!
//! Sampler checks compare empirical moments and tail frequencies with the exact values,
//! computed here by summing the probability mass function, within six standard errors:
//! a false alarm has probability about 2e-9 per check, while a wrong variance (σ for σ²,
//! a factor of two, a wrong split between clients) misses by hundreds of standard errors.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "statistics and fixtures on small, known values"
)]

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use secagg::dp::{
    DiscreteGaussian, DpError, LocalNoise, Mechanism, NoiseKind, Sensitivity, Skellam, epsilon, rdp,
};

/// Exact moments of a distribution on the integers from its unnormalised mass.
struct Exact {
    mean: f64,
    var: f64,
    m4: f64,
}

fn exact(mass: impl Fn(i64) -> f64, reach: i64) -> Exact {
    let xs = -reach..=reach;
    let z: f64 = xs.clone().map(&mass).sum();
    let mean = xs.clone().map(|x| x as f64 * mass(x)).sum::<f64>() / z;
    let central = |k: i32| {
        xs.clone()
            .map(|x| (x as f64 - mean).powi(k) * mass(x))
            .sum::<f64>()
            / z
    };
    Exact {
        mean,
        var: central(2),
        m4: central(4),
    }
}

/// Checks mean and variance of `n` samples against the exact moments (6 standard errors).
fn check_moments(label: &str, samples: &[i64], e: &Exact) {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&x| (x as f64 - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    let se_mean = (e.var / n).sqrt();
    let se_var = ((e.m4 - e.var * e.var) / n).sqrt();
    assert!(
        (mean - e.mean).abs() < 6.0 * se_mean,
        "{label}: mean {mean} vs {}",
        e.mean
    );
    assert!(
        (var - e.var).abs() < 6.0 * se_var,
        "{label}: variance {var} vs {} (se {se_var})",
        e.var
    );
}

/// Checks the frequency of `|x| >= k` against the exact probability (6 standard errors).
fn check_tail(label: &str, samples: &[i64], k: i64, p: f64) {
    let n = samples.len() as f64;
    let got = samples.iter().filter(|x| x.abs() >= k).count() as f64 / n;
    let se = (p * (1.0 - p) / n).sqrt();
    assert!(
        (got - p).abs() < 6.0 * se + 1.0 / n,
        "{label}: P(|x| >= {k}) {got} vs {p}"
    );
}

fn gaussian_mass(s2: f64) -> impl Fn(i64) -> f64 {
    move |x| (-(x as f64).powi(2) / (2.0 * s2)).exp()
}

#[test]
fn discrete_gaussian_moments_and_tails() {
    let mut rng = ChaCha20Rng::seed_from_u64(2020);
    for (num, den) in [(1u64, 2u64), (3, 1), (401, 4), (1_000_000, 1)] {
        let s2 = num as f64 / den as f64;
        let g = DiscreteGaussian::new(num, den).unwrap();
        let samples: Vec<i64> = (0..100_000).map(|_| g.sample(&mut rng)).collect();
        let reach = (40.0 * s2.sqrt()) as i64 + 10;
        let mass = gaussian_mass(s2);
        let e = exact(&mass, reach);
        check_moments(&format!("N_Z(0, {s2})"), &samples, &e);
        for k_sd in [1.0, 2.0, 3.0] {
            let k = (k_sd * s2.sqrt()).ceil().max(1.0) as i64;
            let z: f64 = (-reach..=reach).map(&mass).sum();
            let p = (-reach..=reach)
                .filter(|x| x.abs() >= k)
                .map(&mass)
                .sum::<f64>()
                / z;
            check_tail(&format!("N_Z(0, {s2})"), &samples, k, p);
            // Sub-Gaussian tail bound (used by the preflight check) holds.
            assert!(p <= 2.0 * (-(k as f64).powi(2) / (2.0 * s2)).exp());
        }
    }
}

#[test]
fn discrete_gaussian_small_sigma_mass() {
    // σ² = 1/2: the mass of -3..=3 against exp(-x²) / Σ exp(-y²).
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let g = DiscreteGaussian::new(1, 2).unwrap();
    let n = 200_000;
    let mut counts = [0usize; 7];
    for _ in 0..n {
        let x = g.sample(&mut rng);
        if x.abs() <= 3 {
            counts[usize::try_from(x + 3).unwrap()] += 1;
        }
    }
    let mass = gaussian_mass(0.5);
    let z: f64 = (-20..=20).map(&mass).sum();
    for (i, &c) in counts.iter().enumerate() {
        let p = mass(i as i64 - 3) / z;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        let got = c as f64 / n as f64;
        assert!(
            (got - p).abs() < 6.0 * se,
            "x={}: {got} vs {p}",
            i as i64 - 3
        );
    }
}

#[test]
fn skellam_moments_and_mass() {
    let mut rng = ChaCha20Rng::seed_from_u64(2021);
    for (num, den) in [(1u64, 3u64), (2, 1), (1000, 1), (246_913, 2)] {
        let mu = num as f64 / den as f64;
        let s = Skellam::new(num, den).unwrap();
        let samples: Vec<i64> = (0..50_000).map(|_| s.sample(&mut rng)).collect();
        // Skellam(μ): mean 0, variance μ, fourth central moment μ + 3μ² (all even
        // cumulants equal μ).
        let e = Exact {
            mean: 0.0,
            var: mu,
            m4: mu + 3.0 * mu * mu,
        };
        check_moments(&format!("Skellam({mu})"), &samples, &e);
    }
    // μ = 2: P(k) = Σ_j Pois(j + k; 1) Pois(j; 1), against frequencies of -3..=3.
    let s = Skellam::new(2, 1).unwrap();
    let n = 100_000;
    let samples: Vec<i64> = (0..n).map(|_| s.sample(&mut rng)).collect();
    let pois = |j: i64| {
        if j < 0 {
            0.0
        } else {
            (-1.0f64).exp() / (1..=j).map(|i| i as f64).product::<f64>()
        }
    };
    for k in -3i64..=3 {
        let p: f64 = (0..40).map(|j| pois(j + k) * pois(j)).sum();
        let got = samples.iter().filter(|&&x| x == k).count() as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt();
        assert!((got - p).abs() < 6.0 * se, "k={k}: {got} vs {p}");
    }
}

/// `t` clients' calibrated noise sums to the central level: variance `(z Δ₂)²`.
#[test]
fn t_clients_reach_the_central_noise() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (z, l2, t) = (0.8, 300.0, 16);
    let central = (z * l2) * (z * l2);
    for kind in [NoiseKind::DiscreteGaussian, NoiseKind::Skellam] {
        let noise = LocalNoise::calibrate(kind, z, l2, t).unwrap();
        let sums: Vec<i64> = (0..20_000)
            .map(|_| (0..t).map(|_| noise.sample(&mut rng)).sum())
            .collect();
        let e = Exact {
            mean: 0.0,
            var: central,
            m4: 3.0 * central * central, // Gaussian limit; the extra κ4 is < 1e-3 of it
        };
        check_moments(&format!("{kind:?} over {t} clients"), &sums, &e);
    }
}

const UNIT: Sensitivity = Sensitivity {
    l2: 1.0,
    l1: 1.0,
    dim: 1,
};

/// The Gaussian mechanism through our RDP conversion against the exact privacy curve of the
/// Gaussian mechanism (Balle and Wang, ICML 2018, Theorem 8: δ(ε) = Φ(-ε/μ + μ/2) -
/// e^ε Φ(-ε/μ - μ/2), μ = √R Δ/σ), inverted numerically in Python with `math.erfc`. RDP is
/// a bound, so ours must be at least the exact value, and within 25% of it.
#[test]
fn gaussian_epsilon_brackets_the_exact_curve() -> Result<(), DpError> {
    // (z, rounds, δ, exact ε, our ε from an independent Python evaluation of the same
    // integer-order RDP conversion)
    let cases = [
        (1.0, 1, 1e-5, 4.377_178_095_7, 4.752_728_336_8),
        (0.5, 1, 1e-5, 9.997_256_146_4, 10.801_691_480_0),
        (2.0, 10, 1e-6, 8.306_225_050_0, 8.855_389_993_2),
        (10.0, 1000, 1e-5, 17.856_586_830_1, 19.801_691_480_0),
    ];
    for (z, rounds, delta, tight, ours) in cases {
        let g = Mechanism::Gaussian { variance: z * z };
        let p = epsilon(&g, &UNIT, rounds, delta)?;
        assert!(
            (p.epsilon - ours).abs() < 1e-8,
            "z={z}: {} vs {ours}",
            p.epsilon
        );
        assert!(p.epsilon >= tight && p.epsilon <= 1.25 * tight);
    }
    Ok(())
}

/// The distributed discrete Gaussian and Skellam accountants against an independent Python
/// evaluation (written separately from this crate, standard library only) of Kairouz, Liu
/// and Steinke (ICML 2021) Proposition 14 and the multi-dimensional Skellam RDP bound of
/// Agarwal, Kairouz and Liu (NeurIPS 2021), as both are stated in the authors' reference
/// code (`google-research/federated`, `distributed_dp/accounting_utils.py`), with the
/// rounding sensitivity `cγ + √d` of Kairouz et al.'s Theorem 1 and `Δ₁ = min(√d Δ₂, Δ₂²)`.
#[test]
fn ddg_and_skellam_match_independent_evaluation() -> Result<(), DpError> {
    // (z, n, rounds, d, cγ, DDG ε, Skellam ε)
    let cases = [
        (1.0, 100, 1, 1, 1024.0, 4.752_728_336_8, 4.752_730_479_8),
        (1.0, 1000, 10, 1000, 8.0, 19.803_472_216_5, 19.817_278_737_0),
        (0.8, 50, 100, 64, 32.0, 166.376_631_103_9, 166.536_848_389_0),
    ];
    for (z, n, rounds, d, radius, want_ddg, want_sk) in cases {
        let l2: f64 = radius + (d as f64).sqrt();
        let s = Sensitivity {
            l2,
            l1: ((d as f64).sqrt() * l2).min(l2 * l2),
            dim: d,
        };
        let local = (z * l2).powi(2) / n as f64;
        let ddg = Mechanism::DistributedDiscreteGaussian {
            local_variance: local,
            contributors: n,
        };
        let sk = Mechanism::Skellam {
            variance: local * n as f64,
        };
        let e_ddg = epsilon(&ddg, &s, rounds, 1e-5)?.epsilon;
        let e_sk = epsilon(&sk, &s, rounds, 1e-5)?.epsilon;
        assert!(
            (e_ddg - want_ddg).abs() < 1e-7 * want_ddg,
            "{e_ddg} vs {want_ddg}"
        );
        assert!(
            (e_sk - want_sk).abs() < 1e-7 * want_sk,
            "{e_sk} vs {want_sk}"
        );
    }
    Ok(())
}

/// The published qualitative claims: the distributed discrete Gaussian costs more than the
/// Gaussian of the same total variance and approaches it as the local noise grows
/// (Kairouz, Liu and Steinke, ICML 2021, Theorem 1); Skellam matches the Gaussian at large
/// variance (Agarwal, Kairouz and Liu, NeurIPS 2021, abstract and §1); one discrete Gaussian
/// is ½(Δ/σ)²-zCDP (Canonne, Kamath and Steinke, NeurIPS 2020).
#[test]
fn accountant_respects_the_published_orderings() -> Result<(), DpError> {
    let s = Sensitivity {
        l2: 10.0,
        l1: 40.0,
        dim: 16,
    };
    for local in [0.3, 1.0, 4.0, 100.0] {
        let n = 64;
        let ddg = Mechanism::DistributedDiscreteGaussian {
            local_variance: local,
            contributors: n,
        };
        let gauss = Mechanism::Gaussian {
            variance: local * n as f64,
        };
        for alpha in [2.0, 8.0, 64.0] {
            let (a, b) = (rdp(&ddg, &s, alpha)?, rdp(&gauss, &s, alpha)?);
            assert!(a >= b, "σ²={local}, α={alpha}");
            if local >= 4.0 {
                assert!(a <= b * (1.0 + 1e-9), "σ²={local}: {a} vs {b}");
            }
        }
    }
    let big = 1e8;
    let sk = epsilon(&Mechanism::Skellam { variance: big }, &s, 10, 1e-5)?.epsilon;
    let ga = epsilon(&Mechanism::Gaussian { variance: big }, &s, 10, 1e-5)?.epsilon;
    assert!(sk >= ga && sk <= ga * 1.001, "{sk} vs {ga}");
    let one = Mechanism::DistributedDiscreteGaussian {
        local_variance: 25.0,
        contributors: 1,
    };
    assert!((rdp(&one, &s, 3.0)? - 3.0 * 100.0 / 50.0).abs() < 1e-12);
    // Composition: more rounds, more ε; larger δ, smaller ε.
    let g = Mechanism::Gaussian { variance: 400.0 };
    let e1 = epsilon(&g, &s, 1, 1e-5)?.epsilon;
    let e10 = epsilon(&g, &s, 10, 1e-5)?.epsilon;
    let e10_loose = epsilon(&g, &s, 10, 1e-3)?.epsilon;
    assert!(e1 < e10 && e10_loose < e10);
    // ε is never negative: at δ = 1/2 and a vanishing RDP curve the conversion itself is
    // negative (ln(1/2) at α = 2), and the bound reported is 0.
    let quiet = Mechanism::Gaussian { variance: 1e12 };
    assert_eq!(epsilon(&quiet, &UNIT, 1, 0.5)?.epsilon, 0.0);
    Ok(())
}

/// `secagg privacy` prints ε in the JSON field "epsilon", matching the library.
#[test]
fn privacy_command_prints_epsilon() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_secagg"))
            .arg("privacy")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--noise-multiplier",
        "1",
        "--clients",
        "100",
        "--rounds",
        "1",
        "--delta",
        "1e-5",
        "--json",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let eps: f64 = text
        .split("\"epsilon\":")
        .nth(1)
        .and_then(|s| s.split([',', '}']).next())
        .unwrap()
        .parse()
        .unwrap();
    // Scale 2^16 makes the discretisation negligible: the Gaussian value of the table above.
    assert!((eps - 4.752_728).abs() < 1e-3, "{text}");
    for bad in [
        &["--clients", "10"][..],
        &["--noise-multiplier", "1"],
        &[
            "--noise-multiplier",
            "1",
            "--clients",
            "10",
            "--mechanism",
            "laplace",
        ],
        &["--noise-multiplier", "1", "--clients", "10", "--delta", "2"],
    ] {
        assert_eq!(run(bad).status.code(), Some(2), "{bad:?}");
    }
}

/// Kairouz, Liu and Steinke (ICML 2021), Proposition 14, where the third term of the
/// minimum, `(α/2)(Δ₂/s + τ√d)²`, is the smallest and `τ` is far from zero: a small local
/// variance (σ² = 0.36 and 0.5, just above Theorem 1's 1/4), a long vector (d = 100) and an
/// L1 bound looser than `√d Δ₂` (a caller may pass one), so neither the first term (`+ τd`)
/// nor the second (`2Δ₁τ/s`) wins. Expected values from an independent Python evaluation
/// (standard library only) of `τ = 10 Σ_{k=1}^{n-1} exp(-2π²σ² k/(k+1))`, the three terms,
/// and the conversion `ε = min_α R ε(α) + ln((α-1)/α) - (ln δ + ln α)/(α-1)` over the
/// orders `2..=256`, `288..=1024` (step 32) of docs/PRIVACY.md. Dropping the third term
/// would give ε 34.36 and 12.34 instead of 26.47 and 8.70; dropping τ, 5.72 and 3.76.
#[test]
fn ddg_third_term_and_tau_bind() -> Result<(), DpError> {
    let s = Sensitivity {
        l2: 1.0,
        l1: 1000.0,
        dim: 100,
    };
    // (σ², n, ε(2), ε(3), ε at R = 1 and R = 10 for δ = 1e-5)
    let cases = [
        (
            0.36,
            2,
            16.339_428_374_827_378,
            24.509_142_562_241_067,
            26.466_059_478_677_714,
            173.520_914_852_124_12,
        ),
        (
            0.5,
            3,
            2.803_971_860_911_723,
            4.205_957_791_367_584_5,
            8.695_805_350_655_11,
            38.166_349_712_967_57,
        ),
    ];
    for (local, n, at2, at3, eps1, eps10) in cases {
        let m = Mechanism::DistributedDiscreteGaussian {
            local_variance: local,
            contributors: n,
        };
        let close = |got: f64, want: f64| (got - want).abs() <= 1e-10 * want;
        let (r2, r3) = (rdp(&m, &s, 2.0)?, rdp(&m, &s, 3.0)?);
        assert!(close(r2, at2), "σ²={local}, n={n}: ε(2) {r2} vs {at2}");
        assert!(close(r3, at3), "σ²={local}, n={n}: ε(3) {r3} vs {at3}");
        let e1 = epsilon(&m, &s, 1, 1e-5)?.epsilon;
        let e10 = epsilon(&m, &s, 10, 1e-5)?.epsilon;
        assert!(close(e1, eps1), "σ²={local}, n={n}: ε {e1} vs {eps1}");
        assert!(close(e10, eps10), "σ²={local}, n={n}: ε {e10} vs {eps10}");
    }
    Ok(())
}

/// Agarwal, Kairouz and Liu (NeurIPS 2021), the multi-dimensional Skellam bound
/// `ε(α) = αΔ₂²/(2μ) + min(((2α-1)Δ₂² + 6Δ₁)/(4μ²), 3Δ₁/(2μ))` (docs/PRIVACY.md) where the
/// second branch of the minimum, `3Δ₁/(2μ)`, is the smaller: a total variance `μ` small
/// against `Δ₂²`. At (μ, Δ₂, Δ₁) = (1.2, 1, 1) the branches are 1.5625 and 1.25 at α = 2;
/// at (2, 10, 20) they are 26.25 and 15. Expected values from the independent Python
/// evaluation described above; halving the branch would give ε 4.887 and 67.63 instead of
/// 5.512 and 75.13.
#[test]
fn skellam_loose_branch_binds() -> Result<(), DpError> {
    // (μ, Δ₂, Δ₁, ε(2), ε(3), ε at R = 1, δ = 1e-5, ε at R = 5, δ = 1e-3)
    let cases = [
        (
            1.2,
            1.0,
            1.0,
            0.833_333_333_333_333_4 + 1.25,
            1.25 + 1.25,
            5.511_911_642_354_48,
            14.999_106_387_048_85,
        ),
        (
            2.0,
            10.0,
            20.0,
            50.0 + 15.0,
            75.0 + 15.0,
            75.126_631_103_850_34,
            330.521_460_917_862_27,
        ),
    ];
    for (mu, l2, l1, at2, at3, eps1, eps5) in cases {
        let s = Sensitivity { l2, l1, dim: 1 };
        let m = Mechanism::Skellam { variance: mu };
        let close = |got: f64, want: f64| (got - want).abs() <= 1e-10 * want;
        let (r2, r3) = (rdp(&m, &s, 2.0)?, rdp(&m, &s, 3.0)?);
        assert!(close(r2, at2), "μ={mu}: ε(2) {r2} vs {at2}");
        assert!(close(r3, at3), "μ={mu}: ε(3) {r3} vs {at3}");
        let e1 = epsilon(&m, &s, 1, 1e-5)?.epsilon;
        let e5 = epsilon(&m, &s, 5, 1e-3)?.epsilon;
        assert!(close(e1, eps1), "μ={mu}: ε {e1} vs {eps1}");
        assert!(close(e5, eps5), "μ={mu}: ε {e5} vs {eps5}");
    }
    Ok(())
}
