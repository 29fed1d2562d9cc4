//! `secagg privacy`: the distributed-DP accountant, from the command line.
//!
//! Prints `(ε, δ)` after R rounds for noise of multiplier Z (central standard deviation over
//! the L2 sensitivity after rounding) reached by N contributors, with the noise each client
//! actually samples. The accounting costs O(orders), plus one pass over the contributors
//! only when the distributed discrete Gaussian's `τ` does not vanish.

use std::process::ExitCode;

use clap::ValueEnum;
use secagg::dp::{self, Mechanism, NoiseKind, Privacy};
use secagg::encoding::EncoderConfig;
use serde::Serialize;

use crate::{UsageError, at_least, positive, probability, usage_error};

/// Exit codes, as the help prints them.
const EXIT_CODES: &str = "Exit codes: 0 success, 2 bad flags or values.";

/// Prints (epsilon, delta) after R rounds of a sum released with distributed DP noise: every
/// client adds integer noise so that any N of them reach a central standard deviation of Z
/// times the L2 sensitivity of one client's encoded (clipped, scaled, rounded) vector.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// Central noise standard deviation over L2 sensitivity
    #[arg(long, value_name = "Z", value_parser = positive)]
    noise_multiplier: f64,
    /// Fewest clients whose noise is in a released sum: the threshold t
    #[arg(long, value_name = "N", value_parser = at_least(1usize))]
    clients: usize,
    /// Rounds composed
    #[arg(long, value_name = "R", default_value_t = 1, value_parser = at_least(1u64))]
    rounds: u64,
    /// Delta, strictly between 0 and 1
    #[arg(long, value_name = "D", default_value_t = 1e-5, value_parser = probability)]
    delta: f64,
    /// The noise: distributed discrete Gaussian, Skellam, or the continuous central
    /// Gaussian (for reference)
    #[arg(long, value_name = "M", value_enum, default_value_t = MechanismName::Ddg)]
    mechanism: MechanismName,
    /// Vector length
    #[arg(long, value_name = "D", default_value_t = 1, value_parser = at_least(1usize))]
    dim: usize,
    /// L2 clipping bound
    #[arg(long, value_name = "C", default_value_t = 1.0, value_parser = positive)]
    clip: f64,
    /// Integer units per unit; the sensitivity after rounding is C S + sqrt(D)
    #[arg(long, value_name = "S", default_value_t = 65536.0, value_parser = positive)]
    scale: f64,
    /// Print one JSON object (field "epsilon")
    #[arg(long)]
    json: bool,
}

/// `--mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MechanismName {
    /// Distributed discrete Gaussian
    Ddg,
    /// Skellam
    Skellam,
    /// Continuous central Gaussian, for reference
    Gaussian,
}

impl MechanismName {
    fn name(self) -> &'static str {
        match self {
            Self::Ddg => "ddg",
            Self::Skellam => "skellam",
            Self::Gaussian => "gaussian",
        }
    }
}

/// ε for the requested mechanism, the continuous Gaussian reference, the local variance and
/// the L2 sensitivity.
struct Answer {
    privacy: Privacy,
    gaussian: Privacy,
    local_variance: f64,
    l2: f64,
}

fn answer(req: &Args) -> Result<Answer, String> {
    let kind = if req.mechanism == MechanismName::Skellam {
        NoiseKind::Skellam
    } else {
        NoiseKind::DiscreteGaussian
    };
    let config = EncoderConfig::builder(req.dim, req.scale)
        .l2_clip(req.clip)
        .noise(kind, req.noise_multiplier, req.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let sensitivity = config.sensitivity();
    let noise = config.local_noise().ok_or("no noise")?;
    let central = (req.noise_multiplier * sensitivity.l2).powi(2);
    let reference = Mechanism::Gaussian { variance: central };
    let mechanism = if req.mechanism == MechanismName::Gaussian {
        reference
    } else {
        noise.mechanism(req.clients)
    };
    let eps = |m: &Mechanism| {
        dp::epsilon(m, &sensitivity, req.rounds, req.delta).map_err(|e| e.to_string())
    };
    Ok(Answer {
        privacy: eps(&mechanism)?,
        gaussian: eps(&reference)?,
        local_variance: noise.local_variance(),
        l2: sensitivity.l2,
    })
}

/// Runs the command.
pub(crate) fn run(args: &Args) -> ExitCode {
    let a = match answer(args) {
        Ok(a) => a,
        Err(e) => return usage_error("privacy", &UsageError(e)),
    };
    if args.json {
        crate::write_json(&json(args, &a));
    } else {
        crate::write_stdout(&table(args, &a));
    }
    ExitCode::SUCCESS
}

/// The JSON answer of `privacy --json`.
#[derive(Debug, Serialize)]
struct JsonPrivacy {
    mechanism: &'static str,
    noise_multiplier: f64,
    clients: usize,
    rounds: u64,
    delta: f64,
    dim: usize,
    clip: f64,
    scale: f64,
    l2_sensitivity: f64,
    local_variance: f64,
    epsilon: f64,
    order: f64,
    epsilon_gaussian: f64,
}

fn json(req: &Args, a: &Answer) -> JsonPrivacy {
    JsonPrivacy {
        mechanism: req.mechanism.name(),
        noise_multiplier: req.noise_multiplier,
        clients: req.clients,
        rounds: req.rounds,
        delta: req.delta,
        dim: req.dim,
        clip: req.clip,
        scale: req.scale,
        l2_sensitivity: a.l2,
        local_variance: a.local_variance,
        epsilon: a.privacy.epsilon,
        order: a.privacy.order,
        epsilon_gaussian: a.gaussian.epsilon,
    }
}

/// The answer as a table.
fn table(req: &Args, a: &Answer) -> String {
    let p = &a.privacy;
    let rows = [
        format!(
            "secagg privacy: {} noise, multiplier {}, any {} clients, {} round(s), delta {}",
            req.mechanism.name(),
            req.noise_multiplier,
            req.clients,
            req.rounds,
            req.delta
        ),
        format!(
            "  L2 sensitivity    {:.3} (clip {} x scale {} + sqrt({}))",
            a.l2, req.clip, req.scale, req.dim
        ),
        format!(
            "  local variance    {:.4} per client and coordinate",
            a.local_variance
        ),
        format!(
            "  central noise sd  {:.4} in input units (continuous Gaussian: {:.4})",
            req.noise_multiplier * a.l2 / req.scale,
            req.noise_multiplier * req.clip
        ),
        format!(
            "  epsilon           {:.4} (Renyi order {})",
            p.epsilon, p.order
        ),
        format!(
            "  central Gaussian  {:.4} (same sensitivity and total variance, for reference)",
            a.gaussian.epsilon
        ),
    ];
    rows.join("\n") + "\n"
}
