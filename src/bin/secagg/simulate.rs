//! `secagg simulate`: one whole session (one server, N clients) in memory.
//!
//! Every random choice (session id, inputs, which clients drop, the protocol's own
//! randomness) comes from `--seed`, so a run is reproducible. The server's sum is checked
//! against the plain sum of the included inputs before anything is reported as a success.

mod inputs;
mod memory;
mod report;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::sim::{self, Simulation};
use secagg::{ClientId, MaskSuite, Modulus, Params, PlainInput, Round, SessionId, ThreatModel};

use crate::{UsageError, fraction, usage_error, write_stderr};

/// Exit codes, as the help prints them.
const EXIT_CODES: &str = "\
Exit codes: 0 success, 1 the session aborted, 2 bad flags, values or inputs file,
3 the sum differs from the plain sum (a bug: it must never happen).";

/// Exit code of a session that aborted.
const EXIT_ABORTED: u8 = 1;
/// Exit code of a sum that differs from the plain sum; must never happen.
const EXIT_MISMATCH: u8 = 3;

/// The most memory the simulator may need for vectors (8 bytes an element): the server's
/// accumulator, the vectors of the clients in flight, and an inputs file if one is given.
const MAX_SIMULATED_VECTOR_BYTES: u128 = 8 << 30;
/// The most clients run at once: far beyond any machine's cores, and small enough that the
/// memory estimate and the thread pool stay sane.
const MAX_THREADS: usize = 1024;
/// Above this many clients the complete graph's n² key agreements and mask expansions take
/// minutes: a warning suggests `--neighbours`.
const COMPLETE_GRAPH_WARNING_CLIENTS: usize = 5_000;

/// Default number of clients.
const DEFAULT_CLIENTS: usize = 100;
/// Default vector length.
const DEFAULT_DIM: usize = 100_000;
/// Default `log2` of the modulus.
const DEFAULT_BITS: u32 = 32;
/// Default fraction of dropping clients (when no `--drop` is given).
const DEFAULT_DROPOUT: f64 = 0.1;

// Independent ChaCha20 streams under the one seed. Stream 0 belongs to the driver
// (`Simulation::run`), which derives every client's protocol randomness from it; the
// session id, the inputs and the dropout choice each get their own stream, so none of them
// overlaps the protocol's secrets.
/// Stream of the session id.
const STREAM_SESSION: u64 = 1;
/// Stream of the random inputs.
const STREAM_INPUTS: u64 = 2;
/// Stream of the choice of dropping clients.
const STREAM_DROPOUT: u64 = 3;

/// Runs one whole session (one server, N clients) in memory, checks the server's sum against
/// the plain sum of the included inputs and prints what each round cost.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub(crate) struct Args {
    /// Number of clients [default: 100; with --inputs, the number of lines]
    #[arg(long, value_name = "N")]
    clients: Option<usize>,
    /// Vector length [default: 100000; with --inputs, the line length]
    #[arg(long, value_name = "D")]
    dim: Option<usize>,
    /// Modulus 2^B, 1 <= B <= 64 [default: 32]
    #[arg(long, value_name = "B", conflicts_with = "modulus")]
    bits: Option<u32>,
    /// Any modulus 2 <= M <= 2^64-1 (instead of --bits)
    #[arg(long, value_name = "M")]
    modulus: Option<u64>,
    /// Shamir threshold among a client's H share holders (H = N on the complete graph, K + 1
    /// with --neighbours K) [default: a majority, floor(H/2) + 1, or more than two thirds
    /// with --malicious; minimum: 2, or the default with --require-majority or --malicious;
    /// secagg params gives the smallest safe T for a corruption rate]
    #[arg(long, value_name = "T")]
    threshold: Option<usize>,
    /// Defence in depth against an honest-but-curious server: refuse a threshold that is not
    /// a strict majority of the share holders
    #[arg(long)]
    require_majority: bool,
    /// SecAgg+: a random Harary graph of even degree K < N (not counting the client itself)
    /// [default: the complete graph (SecAgg)]
    #[arg(long, value_name = "K")]
    neighbours: Option<usize>,
    /// Mask cipher [default: chacha20]
    #[arg(long, value_name = "S", value_parser = suite)]
    suite: Option<MaskSuite>,
    /// Harden against a malicious server: signed keys (Ed25519), signed rosters and the
    /// ConsistencyCheck round
    #[arg(long)]
    malicious: bool,
    /// Smallest roster a client accepts [default: with --malicious, N minus the clients the
    /// schedule drops at advertise_keys; otherwise T]
    #[arg(long, value_name = "M")]
    min_roster: Option<usize>,
    /// Seed of all randomness: session id, inputs, dropouts, protocol
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Fraction of clients that drop, chosen from the seed and spread round-robin over
    /// rounds 0..3 [default: 0.1, or 0 when --drop is given]
    #[arg(long, value_name = "F", value_parser = fraction)]
    dropout: Option<f64>,
    /// All --dropout clients drop at round R (0..3 or a name) instead of being spread;
    /// 2 (masked_input) is the server's costliest case
    #[arg(long, value_name = "R", value_parser = round)]
    dropout_round: Option<Round>,
    /// Run at most N clients at once, each on one core, 1 <= N <= 1024 [default: all cores];
    /// the server uses every core (RAYON_NUM_THREADS limits it)
    #[arg(long, value_name = "N", value_parser = threads)]
    threads: Option<usize>,
    /// These client ids go silent from round R on; repeatable. R is 0 advertise_keys,
    /// 1 share_keys, 2 masked_input, 3 unmasking (a client dropping at 3 is still in the
    /// sum); the round name is accepted too
    #[arg(long, value_name = "R:ID,..", value_parser = drop_spec)]
    drop: Vec<DropSpec>,
    /// Client inputs: one line per client (line i is client id i, from 1), whitespace-
    /// separated unsigned integers below the modulus, all lines the same length; read up to
    /// 21 bytes a value and a newline a line [default: random inputs from the seed]
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// Save every party between rounds and restore it from its sealed bytes alone, as a
    /// fresh process would (docs/PROTOCOL.md §13.6); the report adds the state sizes
    #[arg(long)]
    restart_every_round: bool,
    /// Measure S clients only: every client runs advertise_keys (the roster and graph of N),
    /// then a client drawn from the seed and its S - 1 nearest in the graph run every round,
    /// their neighbours only share_keys, and the simulator stands in for the neighbours'
    /// later messages. One client's cost at any N without simulating every client; the
    /// rounds after advertise_keys report the measured clients only, and no sum is computed
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..))]
    sample_clients: Option<u32>,
    /// With --sample-clients: the simulator stands in for every other client in every round
    /// after advertise_keys (real shares of real secrets, sealed for real to measured
    /// clients; masked inputs of zeros; honest signatures), so that the server's figures are
    /// those of a whole session of N, at a fraction of N clients' work; the server still
    /// rebuilds and checks every secret, but the sum is not the clients'
    #[arg(long, requires = "sample_clients")]
    stand_ins: bool,
    /// Print one JSON object on stdout instead of the table (and no progress)
    #[arg(long)]
    json: bool,
}

/// One `--drop R:ID,...`.
#[derive(Debug, Clone)]
struct DropSpec {
    round: Round,
    ids: Vec<u32>,
}

/// Runs the command.
pub(crate) fn run(args: &Args) -> ExitCode {
    match (Setup::build(args), args.sample_clients) {
        (Ok(setup), None) => simulate(&setup, args.json),
        (Ok(setup), Some(size)) => {
            simulate_sampled(&setup, size as usize, args.stand_ins, args.json)
        }
        (Err(e), _) => usage_error("simulate", &e),
    }
}

// ---------------------------------------------------------------------------------------
// Value parsers
// ---------------------------------------------------------------------------------------

/// `chacha20` or `aes128ctr`.
fn suite(value: &str) -> Result<MaskSuite, String> {
    match value {
        "chacha20" => Ok(MaskSuite::ChaCha20),
        "aes128ctr" => Ok(MaskSuite::Aes128Ctr),
        _ => Err("expected chacha20 or aes128ctr".into()),
    }
}

/// A round of `sim::ROUNDS`, by number or name.
fn round(value: &str) -> Result<Round, String> {
    sim::ROUNDS
        .iter()
        .find(|r| r.to_string() == value)
        .or_else(|| value.parse::<usize>().ok().and_then(|i| sim::ROUNDS.get(i)))
        .copied()
        .ok_or_else(|| "expected 0, 1, 2 or 3 (or a round name)".into())
}

/// `1 ..= MAX_THREADS`.
fn threads(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!("expected an integer from 1 to {MAX_THREADS}")),
    }
}

/// Parses `R:ID,ID,...`, where `R` is a round number 0..=3 or a round name.
fn drop_spec(value: &str) -> Result<DropSpec, String> {
    let (r, ids) = value
        .split_once(':')
        .ok_or("expected R:ID,ID,... (for example 1:3,7)")?;
    let round = round(r).map_err(|_| "the round must be 0, 1, 2 or 3 (or a round name)")?;
    let ids = ids
        .split(',')
        .map(|id| match id.trim().parse::<u32>() {
            Ok(id) if id >= 1 => Ok(id),
            _ => Err(format!("'{id}' is not a client id (ids start at 1)")),
        })
        .collect::<Result<Vec<u32>, _>>()?;
    Ok(DropSpec { round, ids })
}

// ---------------------------------------------------------------------------------------
// Session setup
// ---------------------------------------------------------------------------------------

/// A session ready to run, with everything derived from the options.
#[derive(Debug)]
struct Setup {
    sim: Simulation,
    params: Params,
    seed: u64,
    /// Clients run at once.
    threads: usize,
}

impl Setup {
    /// Applies defaults, validates, reads or draws the inputs and the dropout schedule.
    fn build(args: &Args) -> Result<Self, UsageError> {
        let modulus = modulus(args)?;
        let threads = args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .min(MAX_THREADS);
        let file = match &args.inputs {
            Some(path) => Some(inputs::read(
                path,
                modulus,
                &inputs::expected(args, threads),
            )?),
            None => None,
        };
        let (n, d) = shape(args, file.as_deref())?;
        check_memory(n, d, threads, file.is_some())?;
        check_graph(args, n)?;
        let schedule = schedule(args, n)?;
        let params = params(args, n, d, modulus, &schedule)?;
        let sim = match file {
            Some(rows) => Simulation::new(
                params.clone(),
                rows.into_iter().map(PlainInput::new).collect(),
            ),
            None => Simulation::seeded(params.clone(), stream(args.seed, STREAM_INPUTS).next_u64()),
        };
        let mut sim = sim
            .client_threads(threads)
            .restart_every_round(args.restart_every_round);
        for (id, round) in schedule {
            sim.drop_from(id, round);
        }
        Ok(Self {
            sim,
            params,
            seed: args.seed,
            threads,
        })
    }
}

/// The session's parameters, with the roster the schedule leaves as the malicious default.
fn params(
    args: &Args,
    n: usize,
    d: usize,
    modulus: Modulus,
    schedule: &[(ClientId, Round)],
) -> Result<Params, UsageError> {
    let mut rng = stream(args.seed, STREAM_SESSION);
    let mut session = [0u8; 32];
    rng.fill_bytes(&mut session);
    let mut builder = Params::builder(SessionId(session), n, modulus, d);
    if let Some(t) = args.threshold {
        builder = builder.threshold(t);
    }
    builder = builder.require_majority(args.require_majority);
    if let Some(k) = args.neighbours {
        builder = builder.neighbours(k);
    }
    if args.malicious {
        builder = builder.threat_model(ThreatModel::Malicious);
        // The simulated deployment accepts the roster its own schedule leaves.
        let before_roster = schedule
            .iter()
            .filter(|(_, round)| *round == Round::AdvertiseKeys)
            .count();
        builder = builder.min_roster(n.saturating_sub(before_roster));
    }
    if let Some(m) = args.min_roster {
        builder = builder.min_roster(m);
    }
    if let Some(suite) = args.suite {
        builder = builder.mask_suite(suite);
    }
    builder
        .build()
        .map_err(|e| UsageError(format!("invalid parameters: {e}")))
}

/// Refuses a session whose vectors would not fit the simulator's memory allowance.
fn check_memory(n: usize, d: usize, threads: usize, file: bool) -> Result<(), UsageError> {
    // Vectors of 8-byte elements: the server's accumulator and the sum check's, three per
    // client in flight (input, masked output, its encoding), and an inputs file.
    let held = if file { n as u128 } else { 0 };
    let vector_bytes = (2 + 3 * threads as u128 + held) * (d as u128) * 8;
    if vector_bytes > MAX_SIMULATED_VECTOR_BYTES {
        return Err(UsageError(format!(
            "{n} clients x {d} elements would need about {:.1} GiB of memory for vectors; \
             the simulator allows {} GiB",
            vector_bytes as f64 / f64::from(1u32 << 30),
            MAX_SIMULATED_VECTOR_BYTES >> 30
        )));
    }
    Ok(())
}

/// Refuses a degree the graph cannot have, and warns of the complete graph's n² cost.
fn check_graph(args: &Args, n: usize) -> Result<(), UsageError> {
    match args.neighbours {
        // SECURITY/usability: the library would clamp the share holders to N; say so instead
        // of silently running a different graph than the one asked for.
        Some(k) if k >= n => Err(UsageError::flag(
            "--neighbours",
            format!(
                "{k} neighbours need at least {} clients, there are {n}; omit --neighbours for \
                 the complete graph, or choose an even K below {n}",
                k.saturating_add(1)
            ),
        )),
        Some(_) => Ok(()),
        None => {
            if n > COMPLETE_GRAPH_WARNING_CLIENTS {
                write_stderr(&format!(
                    "warning: the complete graph on {n} clients costs about n^2 = {:.1e} key \
                     agreements and mask expansions; this may run for minutes or hours \
                     (`secagg params` finds a sparse --neighbours K)\n",
                    (n as f64) * (n as f64)
                ));
            }
            Ok(())
        }
    }
}

/// The modulus from `--bits` or `--modulus` (clap refuses both at once).
fn modulus(args: &Args) -> Result<Modulus, UsageError> {
    match args.modulus {
        Some(m) => Modulus::new(m).map_err(|e| UsageError::flag("--modulus", e)),
        None => Modulus::power_of_two(args.bits.unwrap_or(DEFAULT_BITS))
            .map_err(|e| UsageError::flag("--bits", e)),
    }
}

/// The number of clients and the vector length, from the flags or the inputs file.
fn shape(args: &Args, file: Option<&[Vec<u64>]>) -> Result<(usize, usize), UsageError> {
    let Some(rows) = file else {
        return Ok((
            args.clients.unwrap_or(DEFAULT_CLIENTS),
            args.dim.unwrap_or(DEFAULT_DIM),
        ));
    };
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if let Some(c) = args.clients.filter(|c| *c != n) {
        return Err(UsageError(format!(
            "--clients {c} disagrees with the inputs file, which has {n} lines (one per client)"
        )));
    }
    if let Some(dim) = args.dim.filter(|x| *x != d) {
        return Err(UsageError(format!(
            "--dim {dim} disagrees with the inputs file, whose lines hold {d} values"
        )));
    }
    Ok((n, d))
}

/// A ChaCha20 generator on one stream of the seed.
fn stream(seed: u64, stream: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The dropout schedule: the `--drop` lists, then `--dropout` of the clients (chosen from
/// the seed among those not named by `--drop`), spread round-robin over rounds 0..=3 or all
/// at `--dropout-round`.
fn schedule(args: &Args, n: usize) -> Result<Vec<(ClientId, Round)>, UsageError> {
    let mut drops = Vec::new();
    for spec in &args.drop {
        for &id in &spec.ids {
            if usize::try_from(id).map_or(true, |i| i > n) {
                return Err(UsageError(format!(
                    "--drop: there is no client {id} (ids run from 1 to {n})"
                )));
            }
            drops.push((ClientId(id), spec.round));
        }
    }
    let default = if args.drop.is_empty() {
        DEFAULT_DROPOUT
    } else {
        0.0
    };
    let fraction = args.dropout.unwrap_or(default);
    let named: BTreeSet<ClientId> = drops.iter().map(|(id, _)| *id).collect();
    // Shuffle by sorting on random keys (ties have probability ~n^2 / 2^64 and are broken
    // by id, so the result is still deterministic).
    let mut rng = stream(args.seed, STREAM_DROPOUT);
    let mut candidates: Vec<(u64, ClientId)> = (1..=n)
        .filter_map(|i| u32::try_from(i).ok().map(ClientId))
        .filter(|id| !named.contains(id))
        .map(|id| (rng.next_u64(), id))
        .collect();
    candidates.sort_unstable();
    let count = dropout_count(fraction, n).min(candidates.len());
    let chosen = candidates.iter().take(count).map(|(_, id)| *id);
    match args.dropout_round {
        Some(round) => drops.extend(chosen.map(|id| (id, round))),
        None => drops.extend(chosen.zip(sim::ROUNDS.iter().cycle().copied())),
    }
    Ok(drops)
}

/// `round(fraction * n)`, for a fraction already checked to lie in `0 ..= 1`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn dropout_count(fraction: f64, n: usize) -> usize {
    // The product lies in 0 ..= n and is finite, so the cast neither truncates nor wraps;
    // `min` guards the bound anyway.
    ((fraction * n as f64).round() as usize).min(n)
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

/// Runs the session, checks the sum and prints the report.
fn simulate(setup: &Setup, json: bool) -> ExitCode {
    let mut progress = report::Progress::new(!json);
    let speed = report::Speed::measure(&setup.params);
    let start = std::time::Instant::now();
    let mut peaks = memory::Peaks::new();
    let outcome = setup.sim.run(setup.seed, &mut |name, done, total| {
        peaks.update(name);
        progress.update(name, done, total);
    });
    progress.finish();
    let peaks = peaks.finish();
    let elapsed = start.elapsed().as_secs_f64();
    let result = match &outcome.outcome {
        Ok(output) => Ok((output, output.sum == setup.sim.plain_sum(&output.included))),
        Err(e) => Err(e.to_string()),
    };
    let run = report::Run {
        setup,
        rounds: &outcome.rounds,
        peaks: &peaks,
        sampled: None,
        elapsed,
        speed,
    };
    if json {
        crate::write_json(&run.json(&result));
    } else {
        crate::write_stdout(&run.human(&result));
    }
    match result {
        Ok((_, true)) => ExitCode::SUCCESS,
        Ok((output, false)) => {
            let n = output.included.len();
            write_stderr(&format!(
                "error: the sum differs from the plain sum of the {n} included inputs\n"
            ));
            ExitCode::from(EXIT_MISMATCH)
        }
        Err(e) => {
            write_stderr(&format!("error: {e}\n"));
            ExitCode::from(EXIT_ABORTED)
        }
    }
}

/// Runs a sampled session (`--sample-clients`) and prints the measured clients' report.
fn simulate_sampled(setup: &Setup, size: usize, stand_ins: bool, json: bool) -> ExitCode {
    let mut progress = report::Progress::new(!json);
    let speed = report::Speed::measure(&setup.params);
    let start = std::time::Instant::now();
    let mut peaks = memory::Peaks::new();
    let mut on_progress = |name: &str, done, total| {
        peaks.update(name);
        progress.update(name, done, total);
    };
    let sampled = if stand_ins {
        setup.sim.run_stand_ins(setup.seed, size, &mut on_progress)
    } else {
        setup.sim.run_sampled(setup.seed, size, &mut on_progress)
    };
    progress.finish();
    let peaks = peaks.finish();
    let elapsed = start.elapsed().as_secs_f64();
    let run = report::Run {
        setup,
        rounds: &sampled.rounds,
        peaks: &peaks,
        sampled: Some(report::Sampled {
            measured: &sampled.measured,
            neighbours: sampled.neighbours,
            stand_ins: sampled.stand_ins,
        }),
        elapsed,
        speed,
    };
    let result = match &sampled.result {
        Ok(()) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    if json {
        crate::write_json(&run.json_sampled(&result));
    } else {
        crate::write_stdout(&run.human_sampled(&result));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            write_stderr(&format!("error: {e}\n"));
            ExitCode::from(EXIT_ABORTED)
        }
    }
}
