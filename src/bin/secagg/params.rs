//! `secagg params`: the SecAgg+ parameter finder (Bell et al., CCS 2020) on the command line.
//!
//! Given the number of clients, the tolerated dropout and corruption rates and the threat
//! model, prints the smallest neighbourhood degree `k` and a threshold `t` that meet the
//! bounds derived in `docs/FINDER.md`, the graph kind, and the expected mask expansions.

use std::process::ExitCode;

use secagg::finder::{self, FinderInput, GraphParams, MAX_FINDER_CLIENTS};
use secagg::{Neighbourhood, ThreatModel};
use serde::Serialize;

use crate::{at_least, rate};

/// Exit codes, as the help prints them.
const EXIT_CODES: &str = "\
Exit codes: 0 found, 1 no (k, t) and not even the complete graph meets the bounds,
2 bad flags or values.";

/// Finds the smallest SecAgg+ degree k and a threshold t such that, with N clients of which
/// a fraction D may drop and a fraction G may be corrupt, a random Harary neighbourhood fails
/// security with probability at most 2^-S and correctness at most 2^-E. Falls back to the
/// complete graph where the sparse one does not pay or no (k, t) exists.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// Number of clients, 2 <= N <= 2^24
    #[arg(long, value_name = "N", value_parser = clients)]
    clients: usize,
    /// Fraction of clients that may drop, 0 <= D < 1
    #[arg(long, value_name = "D", value_parser = rate)]
    dropout: f64,
    /// Fraction of clients that may be corrupt (colluding with the server), 0 <= G < 1
    #[arg(long, value_name = "G", value_parser = rate)]
    corrupt: f64,
    /// The server is malicious, not only honest-but-curious
    #[arg(long)]
    malicious: bool,
    /// Defence in depth against an honest-but-curious server: also require t to be a strict
    /// majority of the k + 1 share holders, so that a server showing different survivor sets
    /// to different holders needs 2t - k - 1 corrupt holders to unmask a client (the model
    /// needs only t above the corrupt holders; --malicious already requires two thirds)
    #[arg(long)]
    require_majority: bool,
    /// Security: failure probability at most 2^-S, S >= 1
    #[arg(long, value_name = "S", default_value_t = finder::DEFAULT_SIGMA, value_parser = at_least(1u32))]
    sigma: u32,
    /// Correctness: failure probability at most 2^-E, E >= 1
    #[arg(long, value_name = "E", default_value_t = finder::DEFAULT_ETA, value_parser = at_least(1u32))]
    eta: u32,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

/// `2 ..= MAX_FINDER_CLIENTS`.
fn clients(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (2..=MAX_FINDER_CLIENTS).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a number of clients from 2 to {MAX_FINDER_CLIENTS}"
        )),
    }
}

/// The JSON answer.
#[derive(Debug, Serialize)]
struct JsonAnswer {
    clients: usize,
    dropout: f64,
    corrupt: f64,
    threat_model: &'static str,
    require_majority: bool,
    sigma: u32,
    eta: u32,
    graph: &'static str,
    k: usize,
    t: usize,
    client_mask_expansions: f64,
    server_mask_expansions: f64,
}

/// The JSON error.
#[derive(Debug, Serialize)]
struct JsonError {
    error: String,
}

/// Runs the command.
pub(crate) fn run(args: &Args) -> ExitCode {
    let threat = if args.malicious {
        ThreatModel::Malicious
    } else {
        ThreatModel::HonestButCurious
    };
    let mut input = FinderInput::new(args.clients, args.dropout, args.corrupt, threat);
    input.sigma = args.sigma;
    input.eta = args.eta;
    input.require_majority = args.require_majority;
    match finder::find(&input) {
        Ok(found) => {
            report(&input, &found, args.json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                crate::write_json(&JsonError {
                    error: e.to_string(),
                });
            }
            crate::write_stderr(&format!("error: {e}\n"));
            ExitCode::from(1)
        }
    }
}

/// Prints the finder's answer.
fn report(input: &FinderInput, found: &GraphParams, json: bool) {
    let graph = match found.graph {
        Neighbourhood::Complete => "complete",
        Neighbourhood::Harary { .. } => "harary",
    };
    let threat = match input.threat {
        ThreatModel::HonestButCurious => "honest-but-curious",
        ThreatModel::Malicious => "malicious",
    };
    if json {
        crate::write_json(&JsonAnswer {
            clients: input.clients,
            dropout: input.dropout,
            corrupt: input.corrupt,
            threat_model: threat,
            require_majority: input.require_majority,
            sigma: input.sigma,
            eta: input.eta,
            graph,
            k: found.k,
            t: found.t,
            client_mask_expansions: found.client_mask_expansions,
            server_mask_expansions: found.server_mask_expansions,
        });
    } else {
        let majority = if input.require_majority {
            ", majority required"
        } else {
            ""
        };
        crate::write_stdout(&format!(
            "clients {}, dropout {}, corrupt {}, {threat} server{majority}, sigma {}, eta {}\n\
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
}
