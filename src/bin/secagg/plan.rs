//! `secagg plan`: the float-encoding preflight check, from the command line.
//!
//! Prints what the sum of N encodings needs from the modulus and whether the chosen one
//! provides it.

use std::process::ExitCode;

use secagg::dp::NoiseKind;
use secagg::encoding::{Budget, EncoderConfig, EncodingError, Requirement};
use secagg::{Modulus, Params};
use serde::Serialize;

use crate::{UsageError, at_least, positive, probability, usage_error};

/// Exit codes, as the help prints them.
const EXIT_CODES: &str = "\
Exit codes: 0 it fits, 1 it would (or with noise, may) wrap, 2 bad flags or values.";

/// Checks that the sum of N clients' float encodings cannot wrap around the modulus
/// (exactly, or with noise up to a small probability) and prints the budget.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// Most clients in one sum
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = at_least(1usize))]
    clients: usize,
    /// L2 clipping bound of each client's vector
    #[arg(long, value_name = "C", default_value_t = 1.0, value_parser = positive)]
    clip: f64,
    /// Modulus 2^B [default: 32, or with --precision the smallest power of two that fits]
    #[arg(long, value_name = "B", conflicts_with = "modulus")]
    bits: Option<u32>,
    /// Any modulus 2..=2^64-1 (instead of --bits)
    #[arg(long, value_name = "M")]
    modulus: Option<u64>,
    /// Quantization step: scale 1/P, and the modulus becomes the smallest power of two that
    /// fits unless --bits or --modulus is given
    #[arg(long, value_name = "P", value_parser = positive)]
    precision: Option<f64>,
    /// Integer units per unit [default: the largest power of two that fits the modulus]
    #[arg(long, value_name = "S", value_parser = positive)]
    scale: Option<f64>,
    /// Vector length
    #[arg(long, value_name = "D", default_value_t = 1024, value_parser = at_least(1usize))]
    dim: usize,
    /// Per-coordinate bound (after rotation with --rotate)
    #[arg(long, value_name = "X", value_parser = positive)]
    coord_clip: Option<f64>,
    /// Randomized Hadamard rotation (pads D to a power of two)
    #[arg(long)]
    rotate: bool,
    /// Weighted mean: weights 0..=W travel as one more element
    #[arg(long, value_name = "W", value_parser = at_least(1u32))]
    weight_max: Option<u32>,
    /// Distributed DP noise: KIND ddg or skellam, Z the noise multiplier
    #[arg(long, value_name = "KIND:Z", value_parser = parse_noise)]
    noise: Option<Noise>,
    /// Fewest clients whose noise must reach the central level, 1 <= T <= N [default: a
    /// majority, floor(N/2)+1, the default threshold of a session on the complete graph]
    #[arg(long, value_name = "T", value_parser = at_least(1usize))]
    min_clients: Option<usize>,
    /// Largest acceptable wrap probability with noise [default: 1e-9]
    #[arg(long, value_name = "P", value_parser = probability)]
    wrap_probability: Option<f64>,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

/// `--noise KIND:Z`.
#[derive(Debug, Clone, Copy)]
struct Noise {
    kind: NoiseKind,
    multiplier: f64,
}

/// Parses `ddg:Z` or `skellam:Z` with `Z` a positive number.
fn parse_noise(spec: &str) -> Result<Noise, String> {
    let bad = || "expected ddg:Z or skellam:Z, Z a number above 0".to_owned();
    let (kind, z) = spec.split_once(':').ok_or_else(bad)?;
    let kind = match kind {
        "ddg" => NoiseKind::DiscreteGaussian,
        "skellam" => NoiseKind::Skellam,
        _ => return Err(bad()),
    };
    let multiplier = positive(z).map_err(|_| bad())?;
    Ok(Noise { kind, multiplier })
}

/// Everything the command was asked, with defaults applied.
#[derive(Debug)]
struct Request<'a> {
    args: &'a Args,
    modulus: Option<Modulus>,
    min_clients: usize,
}

fn request(args: &Args) -> Result<Request<'_>, UsageError> {
    let modulus = match (args.bits, args.modulus) {
        (Some(b), _) => Some(Modulus::power_of_two(b).map_err(|e| UsageError::flag("--bits", e))?),
        (None, Some(m)) => Some(Modulus::new(m).map_err(|e| UsageError::flag("--modulus", e))?),
        (None, None) => None,
    };
    let min_clients = args
        .min_clients
        .unwrap_or_else(|| Params::majority_threshold(args.clients));
    if args.noise.is_some() && min_clients > args.clients {
        return Err(UsageError::flag(
            "--min-clients",
            format!(
                "{min_clients} exceeds --clients {}: the noise of at most N clients is summed",
                args.clients
            ),
        ));
    }
    Ok(Request {
        args,
        modulus,
        min_clients,
    })
}

impl Request<'_> {
    fn config(&self, scale: f64) -> Result<EncoderConfig, EncodingError> {
        let a = self.args;
        let mut b = EncoderConfig::builder(a.dim, scale).l2_clip(a.clip);
        if let Some(x) = a.coord_clip {
            b = b.coordinate_clip(x);
        }
        if a.rotate {
            b = b.rotation([0; 32]); // the seed does not change any bound
        }
        if let Some(w) = a.weight_max {
            b = b.weights(w);
        }
        if let Some(noise) = a.noise {
            b = b.noise(noise.kind, noise.multiplier, self.min_clients);
        }
        if let Some(p) = a.wrap_probability {
            b = b.wrap_probability(p);
        }
        b.build()
    }
}

/// The verdict: the configuration, its requirement and the check's outcome.
struct Verdict {
    config: EncoderConfig,
    modulus: Modulus,
    requirement: Requirement,
    outcome: Result<Budget, EncodingError>,
}

impl Request<'_> {
    /// The configuration at `scale` checked against `modulus`, or against the smallest power
    /// of two that fits. Only arithmetic: no vector of length `d` is built.
    fn check(&self, scale: f64, modulus: Option<Modulus>) -> Result<Verdict, EncodingError> {
        let clients = self.args.clients;
        let config = self.config(scale)?;
        let requirement = config.requirement(clients)?;
        let modulus = match modulus {
            Some(m) => m,
            None => Modulus::power_of_two(requirement.smallest_bits.clamp(1, 64))
                .map_err(|_| EncodingError::Config("no modulus fits"))?,
        };
        let outcome = config.budget(modulus, clients);
        Ok(Verdict {
            config,
            modulus,
            requirement,
            outcome,
        })
    }
}

/// The verdict at the given scale, or at the largest power-of-two scale that fits.
fn decide(req: &Request<'_>) -> Result<Verdict, UsageError> {
    let a = req.args;
    let default_modulus = req.modulus.or_else(|| {
        if a.precision.is_some() {
            None
        } else {
            Modulus::power_of_two(32).ok()
        }
    });
    if let Some(scale) = a.scale {
        return req
            .check(scale, default_modulus)
            .map_err(|e| UsageError::flag("--scale", e));
    }
    if let Some(p) = a.precision {
        return req
            .check(1.0 / p, default_modulus)
            .map_err(|e| UsageError::flag("--precision", format!("scale 1/{p}: {e}")));
    }
    // The largest power-of-two scale that fits, from 2^40 down to 2^-20; a scale whose
    // configuration is invalid (too large for the noise samplers, say) does not fit.
    let mut last = Err(UsageError("no scale to try".to_owned()));
    for s in (-20..=40).rev() {
        match req.check(2f64.powi(s), default_modulus) {
            Ok(v) if v.outcome.is_ok() => return Ok(v),
            Ok(v) => last = Ok(v),
            Err(e) if last.is_err() => last = Err(UsageError(e.to_string())),
            Err(_) => {}
        }
    }
    last
}

/// Runs the command.
pub(crate) fn run(args: &Args) -> ExitCode {
    let (req, v) = match request(args).and_then(|r| decide(&r).map(|v| (r, v))) {
        Ok(v) => v,
        Err(e) => return usage_error("plan", &e),
    };
    if args.json {
        crate::write_json(&json(&req, &v));
    } else {
        crate::write_stdout(&table(&req, &v));
    }
    if v.outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn verdict_text(v: &Verdict) -> String {
    let r = &v.requirement;
    match &v.outcome {
        Ok(b) if v.config.local_noise().is_none() => format!(
            "fits: proven, |sum| <= {} <= {} for any inputs",
            r.signal_bound, b.capacity
        ),
        Ok(b) => format!(
            "fits: the noise wraps a coordinate with probability at most {:.3e}",
            b.wrap_probability
        ),
        Err(e) => format!("does not fit: {e}"),
    }
}

/// Half the modulus: the largest magnitude a centred sum may reach.
fn capacity(m: Modulus) -> u128 {
    (m.value() - 1) / 2
}

fn table(req: &Request<'_>, v: &Verdict) -> String {
    let r = &v.requirement;
    let c = &v.config;
    let mut s = format!(
        "secagg plan: {} clients, d = {} ({} elements on the wire), L2 clip {}, scale {} (step {:.3e}), modulus {}\n",
        req.args.clients,
        c.dim(),
        c.vector_len(),
        req.args.clip,
        c.scale(),
        1.0 / c.scale(),
        crate::modulus_text(v.modulus)
    );
    let weight = if r.weight_bound == 0 {
        "-".to_owned()
    } else {
        r.weight_bound.to_string()
    };
    let rows = [
        ("coordinate bound", r.coordinate_bound.to_string()),
        ("weight bound", weight),
        (
            "signal bound",
            format!("{} (clients x largest element)", r.signal_bound),
        ),
        ("noise margin", r.noise_margin.to_string()),
        ("capacity", capacity(v.modulus).to_string()),
        (
            "smallest modulus",
            format!(
                "{} (power of two: 2^{})",
                r.smallest_modulus, r.smallest_bits
            ),
        ),
    ];
    for (k, val) in rows {
        s.push_str(&format!("  {k:<18}{val}\n"));
    }
    if let Some(n) = c.local_noise() {
        s.push_str(&format!(
            "  {:<18}{:?}, local variance {:.4} per client, L2 sensitivity {:.2}\n",
            "noise",
            n.kind(),
            n.local_variance(),
            c.sensitivity().l2
        ));
    }
    s.push_str(&format!("verdict: {}\n", verdict_text(v)));
    s
}

/// The JSON answer of `plan --json`.
#[derive(Debug, Serialize)]
struct JsonPlan {
    clients: usize,
    dim: usize,
    vector_len: usize,
    clip: f64,
    scale: f64,
    modulus: String,
    coordinate_bound: u64,
    weight_bound: u64,
    signal_bound: u128,
    noise_margin: u128,
    capacity: u128,
    smallest_modulus: u128,
    smallest_bits: u32,
    noise: Option<String>,
    local_variance: Option<f64>,
    l2_sensitivity: f64,
    wrap_probability: f64,
    fits: bool,
    verdict: String,
}

fn json(req: &Request<'_>, v: &Verdict) -> JsonPlan {
    let r = &v.requirement;
    let c = &v.config;
    let noise = c.local_noise();
    let wrap_probability = match &v.outcome {
        Ok(b) => b.wrap_probability,
        Err(EncodingError::NoiseMayWrap { probability, .. }) => *probability,
        Err(_) => 1.0,
    };
    JsonPlan {
        clients: req.args.clients,
        dim: c.dim(),
        vector_len: c.vector_len(),
        clip: req.args.clip,
        scale: c.scale(),
        modulus: crate::modulus_text(v.modulus),
        coordinate_bound: r.coordinate_bound,
        weight_bound: r.weight_bound,
        signal_bound: r.signal_bound,
        noise_margin: r.noise_margin,
        capacity: capacity(v.modulus),
        smallest_modulus: r.smallest_modulus,
        smallest_bits: r.smallest_bits,
        noise: noise.map(|n| format!("{:?}", n.kind())),
        local_variance: noise.map(|n| n.local_variance()),
        l2_sensitivity: c.sensitivity().l2,
        wrap_probability,
        fits: v.outcome.is_ok(),
        verdict: verdict_text(v),
    }
}
