//! `secagg plan`: the float-encoding preflight check, from the command line.
//!
//! ```text
//! secagg plan [--clients N] [--clip C] [--bits B | --modulus M | --precision P]
//!             [--scale S] [--dim D] [--coord-clip X] [--rotate] [--weight-max W]
//!             [--noise ddg:Z | skellam:Z] [--min-clients T] [--wrap-probability P] [--json]
//! ```
//!
//! Prints what the sum of N encodings needs from the modulus and whether the chosen one
//! provides it. Exit codes: 0 it fits, 1 it would (or with noise, may) wrap, 2 bad usage.

use std::collections::BTreeMap;
use std::process::ExitCode;

use secagg::dp::NoiseKind;
use secagg::encoding::{Budget, EncoderConfig, EncodingError, Requirement};
use secagg::{Modulus, Params};

const USAGE: &str = "\
usage: secagg plan [options]

checks that the sum of N clients' float encodings cannot wrap around the modulus (exactly,
or with noise up to a small probability) and prints the budget.

options:
  --clients N            most clients in one sum (default 100)
  --clip C               L2 clipping bound of each client's vector (default 1)
  --bits B               modulus 2^B (default 32)
  --modulus M            any modulus 2..=2^64-1 (excludes --bits)
  --precision P          quantization step: scale 1/P, and the modulus becomes the smallest
                         power of two that fits unless --bits or --modulus is given
  --scale S              integer units per unit (default: the largest power of two that
                         fits the modulus)
  --dim D                vector length (default 1024)
  --coord-clip X         per-coordinate bound (after rotation with --rotate)
  --rotate               randomized Hadamard rotation (pads D to a power of two)
  --weight-max W         weighted mean: weights 0..=W travel as one more element
  --noise KIND:Z         distributed DP noise, KIND ddg or skellam, Z the noise multiplier
  --min-clients T        fewest clients whose noise must reach the central level (default:
                         the smallest safe threshold, floor(N/2)+1)
  --wrap-probability P   largest acceptable wrap probability with noise (default 1e-9)
  --json                 print one JSON object
  -h, --help             print this help

exit codes: 0 fits, 1 would or may wrap, 2 bad usage
";

/// Parsed `--flag value` pairs (`""` for switches), each flag at most once.
pub(crate) type Flags = BTreeMap<String, String>;

/// Parses `--flag value`, `--flag=value` and the given switches; `Ok(None)` for `--help`.
pub(crate) fn parse_flags(
    args: &[String],
    valued: &[&str],
    switches: &[&str],
) -> Result<Option<Flags>, String> {
    let mut flags = Flags::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let value = if switches.contains(&flag) {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            String::new()
        } else if valued.contains(&flag) {
            match inline.or_else(|| it.next().cloned()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value")),
            }
        } else {
            return Err(format!("unknown option '{flag}'"));
        };
        if flags.insert(flag.to_owned(), value).is_some() {
            return Err(format!("{flag} given twice"));
        }
    }
    Ok(Some(flags))
}

/// The value of `flag` parsed as `T`, if given.
pub(crate) fn get<T: core::str::FromStr>(
    flags: &Flags,
    flag: &str,
    what: &str,
) -> Result<Option<T>, String> {
    flags
        .get(flag)
        .map(|v| {
            v.parse()
                .map_err(|_| format!("{flag}: expected {what}, got '{v}'"))
        })
        .transpose()
}

/// Reports a usage error and returns exit code 2.
pub(crate) fn usage_error(e: &str) -> ExitCode {
    crate::write_stderr(&format!("error: {e}\nrun with --help for usage\n"));
    ExitCode::from(2)
}

/// Parses `ddg:Z` or `skellam:Z`.
pub(crate) fn parse_noise(spec: &str) -> Result<(NoiseKind, f64), String> {
    let bad = || format!("--noise: expected ddg:Z or skellam:Z, got '{spec}'");
    let (kind, z) = spec.split_once(':').ok_or_else(bad)?;
    let kind = match kind {
        "ddg" => NoiseKind::DiscreteGaussian,
        "skellam" => NoiseKind::Skellam,
        _ => return Err(bad()),
    };
    let z: f64 = z.parse().map_err(|_| bad())?;
    Ok((kind, z))
}

/// Everything the command was asked.
struct Request {
    clients: usize,
    clip: f64,
    modulus: Option<Modulus>,
    precision: Option<f64>,
    scale: Option<f64>,
    dim: usize,
    coord_clip: Option<f64>,
    rotate: bool,
    weight_max: Option<u32>,
    noise: Option<(NoiseKind, f64)>,
    min_clients: usize,
    wrap: Option<f64>,
    json: bool,
}

fn request(flags: &Flags) -> Result<Request, String> {
    let clients = get(flags, "--clients", "a client count")?.unwrap_or(100);
    let bits: Option<u32> = get(flags, "--bits", "an integer 1..=64")?;
    let m: Option<u64> = get(flags, "--modulus", "an integer 2..=2^64-1")?;
    let modulus = match (bits, m) {
        (Some(_), Some(_)) => return Err("--bits and --modulus exclude each other".into()),
        (Some(b), None) => Some(Modulus::power_of_two(b).map_err(|e| format!("--bits: {e}"))?),
        (None, Some(m)) => Some(Modulus::new(m).map_err(|e| format!("--modulus: {e}"))?),
        (None, None) => None,
    };
    let noise = flags.get("--noise").map(|s| parse_noise(s)).transpose()?;
    Ok(Request {
        clients,
        clip: get(flags, "--clip", "a positive number")?.unwrap_or(1.0),
        modulus,
        precision: get(flags, "--precision", "a positive number")?,
        scale: get(flags, "--scale", "a positive number")?,
        dim: get(flags, "--dim", "a vector length")?.unwrap_or(1024),
        coord_clip: get(flags, "--coord-clip", "a positive number")?,
        rotate: flags.contains_key("--rotate"),
        weight_max: get(flags, "--weight-max", "an integer 1..=2^32-1")?,
        noise,
        min_clients: get(flags, "--min-clients", "a client count")?
            .unwrap_or_else(|| Params::min_threshold(clients)),
        wrap: get(flags, "--wrap-probability", "a probability")?,
        json: flags.contains_key("--json"),
    })
}

impl Request {
    fn config(&self, scale: f64) -> Result<EncoderConfig, EncodingError> {
        let mut b = EncoderConfig::builder(self.dim, scale).l2_clip(self.clip);
        if let Some(x) = self.coord_clip {
            b = b.coordinate_clip(x);
        }
        if self.rotate {
            b = b.rotation([0; 32]); // the seed does not change any bound
        }
        if let Some(w) = self.weight_max {
            b = b.weights(w);
        }
        if let Some((kind, z)) = self.noise {
            b = b.noise(kind, z, self.min_clients);
        }
        if let Some(p) = self.wrap {
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

fn decide(req: &Request) -> Result<Verdict, String> {
    let fixed = req.scale.or(req.precision.map(|p| 1.0 / p));
    let check = |scale: f64, modulus: Option<Modulus>| -> Result<Verdict, EncodingError> {
        let config = req.config(scale)?;
        let requirement = config.requirement(req.clients)?;
        let modulus = match modulus {
            Some(m) => m,
            None => Modulus::power_of_two(requirement.smallest_bits.clamp(1, 64))
                .map_err(|_| EncodingError::Config("no modulus fits"))?,
        };
        let outcome = config
            .clone()
            .check(modulus, req.clients)
            .map(|e| *e.budget());
        Ok(Verdict {
            config,
            modulus,
            requirement,
            outcome,
        })
    };
    let default_modulus = req.modulus.or_else(|| {
        if req.precision.is_some() {
            None
        } else {
            Modulus::power_of_two(32).ok()
        }
    });
    if let Some(scale) = fixed {
        return check(scale, default_modulus).map_err(|e| e.to_string());
    }
    // The largest power-of-two scale that fits, from 2^40 down to 2^-20; a scale whose
    // configuration is invalid (too large for the noise samplers, say) does not fit.
    let mut last = Err("no scale to try".to_owned());
    for s in (-20..=40).rev() {
        match check(2f64.powi(s), default_modulus) {
            Ok(v) if v.outcome.is_ok() => return Ok(v),
            Ok(v) => last = Ok(v),
            Err(e) if last.is_err() => last = Err(e.to_string()),
            Err(_) => {}
        }
    }
    last
}

/// Runs the command with its arguments.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let valued = [
        "--clients",
        "--clip",
        "--bits",
        "--modulus",
        "--precision",
        "--scale",
        "--dim",
        "--coord-clip",
        "--weight-max",
        "--noise",
        "--min-clients",
        "--wrap-probability",
    ];
    let flags = match parse_flags(args, &valued, &["--json", "--rotate"]) {
        Ok(Some(f)) => f,
        Ok(None) => {
            crate::write_stdout(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e),
    };
    let verdict = match request(&flags).and_then(|r| decide(&r).map(|v| (r, v))) {
        Ok(v) => v,
        Err(e) => return usage_error(&e),
    };
    let (req, v) = verdict;
    crate::write_stdout(&if req.json {
        json(&req, &v)
    } else {
        table(&req, &v)
    });
    if v.outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn modulus_text(m: Modulus) -> String {
    match m.power_of_two_bits() {
        Some(bits) => format!("2^{bits}"),
        None => m.value().to_string(),
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

fn table(req: &Request, v: &Verdict) -> String {
    let r = &v.requirement;
    let c = &v.config;
    let mut s = format!(
        "secagg plan: {} clients, d = {} ({} elements on the wire), L2 clip {}, scale {} (step {:.3e}), modulus {}\n",
        req.clients,
        c.dim(),
        c.vector_len(),
        req.clip,
        c.scale(),
        1.0 / c.scale(),
        modulus_text(v.modulus)
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
        ("capacity", format!("{}", (v.modulus.value() - 1) / 2)),
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
        let sens = c.sensitivity();
        s.push_str(&format!(
            "  {:<18}{:?}, local variance {:.4} per client, L2 sensitivity {:.2}\n",
            "noise",
            n.kind(),
            n.local_variance(),
            sens.l2
        ));
    }
    s.push_str(&format!("verdict: {}\n", verdict_text(v)));
    s
}

fn json(req: &Request, v: &Verdict) -> String {
    let r = &v.requirement;
    let c = &v.config;
    let (noise, variance) = c
        .local_noise()
        .map_or(("null".to_owned(), "null".to_owned()), |n| {
            (
                format!("\"{:?}\"", n.kind()),
                format!("{}", n.local_variance()),
            )
        });
    let (fits, wrap) = match &v.outcome {
        Ok(b) => ("true", format!("{}", b.wrap_probability)),
        Err(EncodingError::NoiseMayWrap { probability, .. }) => ("false", format!("{probability}")),
        Err(_) => ("false", "1".to_owned()),
    };
    format!(
        "{{\"clients\":{},\"dim\":{},\"vector_len\":{},\"clip\":{},\"scale\":{},\"modulus\":\"{}\",\
\"coordinate_bound\":{},\"weight_bound\":{},\"signal_bound\":{},\"noise_margin\":{},\"capacity\":{},\
\"smallest_modulus\":{},\"smallest_bits\":{},\"noise\":{},\"local_variance\":{},\"l2_sensitivity\":{},\
\"wrap_probability\":{},\"fits\":{},\"verdict\":\"{}\"}}\n",
        req.clients,
        c.dim(),
        c.vector_len(),
        req.clip,
        c.scale(),
        modulus_text(v.modulus),
        r.coordinate_bound,
        r.weight_bound,
        r.signal_bound,
        r.noise_margin,
        (v.modulus.value() - 1) / 2,
        r.smallest_modulus,
        r.smallest_bits,
        noise,
        variance,
        c.sensitivity().l2,
        wrap,
        fits,
        verdict_text(v).replace('"', "'")
    )
}
