//! `secagg privacy`: the distributed-DP accountant, from the command line.
//!
//! ```text
//! secagg privacy --noise-multiplier Z --clients N [--rounds R] [--delta D]
//!                [--mechanism ddg|skellam|gaussian] [--dim D] [--clip C] [--scale S] [--json]
//! ```
//!
//! Prints `(ε, δ)` after R rounds for noise of multiplier Z (central standard deviation over
//! the L2 sensitivity after rounding) reached by N contributors, with the noise each client
//! actually samples. Exit codes: 0 success, 2 bad usage.

use std::process::ExitCode;

use secagg::dp::{self, Mechanism, NoiseKind, Privacy};
use secagg::encoding::EncoderConfig;

use crate::plan::{get, parse_flags, usage_error};

const USAGE: &str = "\
usage: secagg privacy --noise-multiplier Z --clients N [options]

prints (epsilon, delta) after R rounds of a sum released with distributed DP noise: every
client adds integer noise so that any N of them reach a central standard deviation of
Z times the L2 sensitivity of one client's encoded (clipped, scaled, rounded) vector.

options:
  --noise-multiplier Z   central noise standard deviation over L2 sensitivity (required)
  --clients N            fewest clients whose noise is in a released sum: the threshold t
                         (required)
  --rounds R             rounds composed (default 1)
  --delta D              delta (default 1e-5)
  --mechanism M          ddg (distributed discrete Gaussian, default), skellam, or gaussian
                         (continuous central Gaussian, for reference)
  --dim D                vector length (default 1)
  --clip C               L2 clipping bound (default 1)
  --scale S              integer units per unit (default 65536); the sensitivity after
                         rounding is C S + sqrt(D)
  --json                 print one JSON object (field \"epsilon\")
  -h, --help             print this help
";

struct Request {
    z: f64,
    clients: usize,
    rounds: u64,
    delta: f64,
    mechanism: String,
    dim: usize,
    clip: f64,
    scale: f64,
    json: bool,
}

fn request(args: &[String]) -> Result<Option<Request>, String> {
    let valued = [
        "--noise-multiplier",
        "--clients",
        "--rounds",
        "--delta",
        "--mechanism",
        "--dim",
        "--clip",
        "--scale",
    ];
    let Some(flags) = parse_flags(args, &valued, &["--json"])? else {
        return Ok(None);
    };
    let mechanism = flags
        .get("--mechanism")
        .cloned()
        .unwrap_or_else(|| "ddg".into());
    if !["ddg", "skellam", "gaussian"].contains(&mechanism.as_str()) {
        return Err(format!(
            "--mechanism: expected ddg, skellam or gaussian, got '{mechanism}'"
        ));
    }
    Ok(Some(Request {
        z: get(&flags, "--noise-multiplier", "a positive number")?
            .ok_or("--noise-multiplier is required")?,
        clients: get(&flags, "--clients", "a client count")?.ok_or("--clients is required")?,
        rounds: get(&flags, "--rounds", "a round count")?.unwrap_or(1),
        delta: get(&flags, "--delta", "a probability")?.unwrap_or(1e-5),
        mechanism,
        dim: get(&flags, "--dim", "a vector length")?.unwrap_or(1),
        clip: get(&flags, "--clip", "a positive number")?.unwrap_or(1.0),
        scale: get(&flags, "--scale", "a positive number")?.unwrap_or(65536.0),
        json: flags.contains_key("--json"),
    }))
}

/// ε for the requested mechanism, the continuous Gaussian reference, the local variance and
/// the L2 sensitivity.
struct Answer {
    privacy: Privacy,
    gaussian: Privacy,
    local_variance: f64,
    l2: f64,
}

fn answer(req: &Request) -> Result<Answer, String> {
    let kind = if req.mechanism == "skellam" {
        NoiseKind::Skellam
    } else {
        NoiseKind::DiscreteGaussian
    };
    let config = EncoderConfig::builder(req.dim, req.scale)
        .l2_clip(req.clip)
        .noise(kind, req.z, req.clients)
        .build()
        .map_err(|e| e.to_string())?;
    let sensitivity = config.sensitivity();
    let noise = config.local_noise().ok_or("no noise")?;
    let central = (req.z * sensitivity.l2).powi(2);
    let reference = Mechanism::Gaussian { variance: central };
    let mechanism = if req.mechanism == "gaussian" {
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

/// Runs the command with its arguments.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let req = match request(args) {
        Ok(Some(r)) => r,
        Ok(None) => {
            crate::write_stdout(USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e),
    };
    let a = match answer(&req) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    crate::write_stdout(&render(&req, &a));
    ExitCode::SUCCESS
}

/// The answer as a table or as one JSON object.
fn render(req: &Request, a: &Answer) -> String {
    let p = &a.privacy;
    if req.json {
        format!(
            "{{\"mechanism\":\"{}\",\"noise_multiplier\":{},\"clients\":{},\"rounds\":{},\"delta\":{},\
\"dim\":{},\"clip\":{},\"scale\":{},\"l2_sensitivity\":{},\"local_variance\":{},\"epsilon\":{},\
\"order\":{},\"epsilon_gaussian\":{}}}\n",
            req.mechanism,
            req.z,
            req.clients,
            req.rounds,
            req.delta,
            req.dim,
            req.clip,
            req.scale,
            a.l2,
            a.local_variance,
            p.epsilon,
            p.order,
            a.gaussian.epsilon
        )
    } else {
        let rows = [
            format!(
                "secagg privacy: {} noise, multiplier {}, any {} clients, {} round(s), delta {}",
                req.mechanism, req.z, req.clients, req.rounds, req.delta
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
                req.z * a.l2 / req.scale,
                req.z * req.clip
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
}
