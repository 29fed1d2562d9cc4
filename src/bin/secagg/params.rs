//! `secagg params`: the SecAgg+ parameter finder (Bell et al., CCS 2020) on the command line.
//!
//! Given the number of clients, the tolerated dropout and corruption rates and the threat
//! model, prints the smallest neighbourhood degree `k` and a threshold `t` that meet the
//! bounds derived in `docs/FINDER.md`, the graph kind, and the expected mask expansions.

use std::process::ExitCode;

use secagg::Neighbourhood;
use secagg::ThreatModel;
use secagg::finder::{self, FinderInput};

use crate::{JsonObject, UsageError, fraction, json_f64, json_string, number, once, usage_error};

/// The help text.
pub(crate) const USAGE: &str = "\
usage: secagg params --clients N --dropout D --corrupt G [--malicious] [--sigma S] [--eta E] [--json]

Finds the smallest SecAgg+ degree k and a threshold t such that, with N clients of which a
fraction D may drop and a fraction G may be corrupt, a random Harary neighbourhood fails
security with probability at most 2^-S (default 40) and correctness at most 2^-E (default 20).
Falls back to the complete graph where the sparse one does not pay or no (k, t) exists.
";

/// Runs the command with its arguments.
pub(crate) fn run(args: &[String]) -> ExitCode {
    let mut it = args.iter();
    let (mut clients, mut dropout, mut corrupt) = (None, None, None);
    let (mut sigma, mut eta) = (None, None);
    let (mut malicious, mut json) = (false, false);
    while let Some(flag) = it.next() {
        let result = match flag.as_str() {
            "-h" | "--help" => {
                crate::write_stdout(USAGE);
                return ExitCode::SUCCESS;
            }
            "--malicious" => {
                malicious = true;
                Ok(())
            }
            "--json" => {
                json = true;
                Ok(())
            }
            _ => match it.next() {
                None => Err(UsageError(format!("{flag} needs a value"))),
                Some(value) => match flag.as_str() {
                    "--clients" => {
                        number(flag, value, "a count").and_then(|v| once(&mut clients, flag, v))
                    }
                    "--dropout" => fraction(flag, value).and_then(|v| once(&mut dropout, flag, v)),
                    "--corrupt" => fraction(flag, value).and_then(|v| once(&mut corrupt, flag, v)),
                    "--sigma" => {
                        number(flag, value, "bits").and_then(|v| once(&mut sigma, flag, v))
                    }
                    "--eta" => number(flag, value, "bits").and_then(|v| once(&mut eta, flag, v)),
                    _ => Err(UsageError(format!("unknown option '{flag}'"))),
                },
            },
        };
        if let Err(e) = result {
            return usage_error(&e);
        }
    }
    let (Some(clients), Some(dropout), Some(corrupt)) = (clients, dropout, corrupt) else {
        return usage_error(&UsageError(
            "--clients, --dropout and --corrupt are required".into(),
        ));
    };
    let threat = if malicious {
        ThreatModel::Malicious
    } else {
        ThreatModel::HonestButCurious
    };
    let mut input = FinderInput::new(clients, dropout, corrupt, threat);
    input.sigma = sigma.unwrap_or(finder::DEFAULT_SIGMA);
    input.eta = eta.unwrap_or(finder::DEFAULT_ETA);
    report(&input, json)
}

/// Runs the finder and prints its answer.
fn report(input: &FinderInput, json: bool) -> ExitCode {
    let found = match finder::find(input) {
        Ok(found) => found,
        Err(e) => {
            if json {
                let obj = JsonObject::default().field("error", json_string(&e.to_string()));
                crate::write_stdout(&(obj.finish() + "\n"));
            }
            crate::write_stderr(&format!("error: {e}\n"));
            return ExitCode::from(1);
        }
    };
    let graph = match found.graph {
        Neighbourhood::Complete => "complete",
        Neighbourhood::Harary { .. } => "harary",
    };
    let threat = match input.threat {
        ThreatModel::HonestButCurious => "honest-but-curious",
        ThreatModel::Malicious => "malicious",
    };
    if json {
        let obj = JsonObject::default()
            .field("clients", input.clients.to_string())
            .field("dropout", json_f64(input.dropout))
            .field("corrupt", json_f64(input.corrupt))
            .field("threat_model", json_string(threat))
            .field("sigma", input.sigma.to_string())
            .field("eta", input.eta.to_string())
            .field("graph", json_string(graph))
            .field("k", found.k.to_string())
            .field("t", found.t.to_string())
            .field(
                "client_mask_expansions",
                json_f64(found.client_mask_expansions),
            )
            .field(
                "server_mask_expansions",
                json_f64(found.server_mask_expansions),
            );
        crate::write_stdout(&(obj.finish() + "\n"));
    } else {
        crate::write_stdout(&format!(
            "clients {}, dropout {}, corrupt {}, {threat} server, sigma {}, eta {}\n\
             graph:  {graph}\n\
             k:      {} (neighbours per client)\n\
             t:      {} (of {} share holders)\n\
             mask expansions: {:.1} per client, {:.1} expected on the server\n",
            input.clients,
            input.dropout,
            input.corrupt,
            input.sigma,
            input.eta,
            found.k,
            found.t,
            found.k + 1,
            found.client_mask_expansions,
            found.server_mask_expansions,
        ));
    }
    ExitCode::SUCCESS
}
