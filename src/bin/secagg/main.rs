//! `secagg`: runs a whole secure-aggregation session (Bonawitz et al., CCS 2017) in one
//! process and reports what each round cost.
//!
//! ```text
//! secagg simulate [--clients N] [--dim D] [--bits B | --modulus M] [--threshold T]
//!                 [--neighbours K] [--suite S] [--malicious] [--min-roster M] [--seed S]
//!                 [--dropout F]
//!                 [--dropout-round R] [--drop R:ID,ID,...]... [--threads N] [--inputs FILE]
//!                 [--json]
//! ```
//!
//! Every random choice (session id, inputs, which clients drop, the protocol's own
//! randomness) comes from `--seed`, so a run is reproducible. The server's sum is checked
//! against the plain sum of the included inputs before anything is reported as a success.
//!
//! Exit codes: 0 success; 1 the session aborted; 2 bad flags, values or inputs file;
//! 3 the sum did not match the plain sum (a bug: it must never happen).

#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod params_cmd;
mod plan;
mod privacy;

use core::fmt::Write as _;
use std::collections::BTreeSet;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Instant;

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use secagg::sim::{self, Report, RoundReport, Simulation};
use secagg::{
    ClientId, MaskSuite, Modulus, Neighbourhood, Output, Params, PlainInput, Round, SessionId,
    ThreatModel,
};

/// The help text.
const USAGE: &str = "\
secagg: secure aggregation (Bonawitz et al., CCS 2017), simulated in one process

usage: secagg simulate [options]
       secagg params --clients N --dropout D --corrupt G [--malicious] [--json]
       secagg --help

simulate runs one whole session (one server, N clients) in memory, checks the server's sum
against the plain sum of the included inputs and prints what each round cost.

options:
  --clients N        number of clients (default 100; with --inputs, the number of lines)
  --dim D            vector length (default 100000; with --inputs, the line length)
  --bits B           modulus 2^B, 1 <= B <= 64 (default 32)
  --modulus M        any modulus 2 <= M <= 2^64-1 (excludes --bits)
  --threshold T      Shamir threshold among a client's share holders (default and minimum:
                     a majority, floor(H/2) + 1, or more than two thirds with --malicious;
                     H = N on the complete graph, K + 1 with --neighbours K)
  --neighbours K     SecAgg+: a random Harary graph of degree K (not counting the client
                     itself); default: the complete graph (SecAgg)
  --suite S          mask cipher: chacha20 (default) or aes128ctr
  --malicious        harden against a malicious server: signed keys (Ed25519), signed
                     rosters and the ConsistencyCheck round
  --min-roster M     smallest roster a client accepts (default: with --malicious, N minus
                     the clients the schedule drops at advertise_keys; otherwise T)
  --seed S           seed of all randomness: session id, inputs, dropouts, protocol (default 0)
  --dropout F        fraction of clients that drop, chosen from the seed and spread
                     round-robin over rounds 0..3 (default 0.1, or 0 when --drop is given)
  --dropout-round R  all --dropout clients drop at round R (0..3 or a name) instead of
                     being spread; 2 (masked_input) is the server's costliest case
  --threads N        run at most N clients at once, each on one core (default: all cores);
                     the server uses every core (RAYON_NUM_THREADS limits it)
  --drop R:ID,...    these client ids go silent from round R on; repeatable. R is 0
                     advertise_keys, 1 share_keys, 2 masked_input, 3 unmasking (a client
                     dropping at 3 is still in the sum); the round name is accepted too
  --inputs FILE      client inputs: one line per client (line i is client id i, from 1),
                     whitespace-separated unsigned integers below the modulus, all lines
                     the same length (default: random inputs from the seed)
  --json             print one JSON object on stdout instead of the table
  -h, --help         print this help

exit codes: 0 success, 1 session aborted, 2 bad usage or inputs, 3 sum mismatch (a bug)
";

/// Exit code of a session that aborted.
const EXIT_ABORTED: u8 = 1;
/// Exit code of bad flags, values or inputs files.
const EXIT_USAGE: u8 = 2;
/// Exit code of a sum that differs from the plain sum; must never happen.
const EXIT_MISMATCH: u8 = 3;

/// The most memory the simulator may need for vectors (8 bytes an element): the server's
/// accumulator, the vectors of the clients in flight, and an inputs file if one is given.
const MAX_SIMULATED_VECTOR_BYTES: u128 = 8 << 30;

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

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(bad) => return usage_error(&UsageError(format!("argument {bad:?} is not UTF-8"))),
        }
    }
    match parse_args(&args) {
        Ok(Command::Help) => {
            write_stdout(USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Simulate(opts)) => match Setup::build(&opts) {
            Ok(setup) => simulate(&setup, opts.json),
            Err(e) => usage_error(&e),
        },
        Ok(Command::Other(name, rest)) => match name {
            "plan" => plan::run(&rest),
            "privacy" => privacy::run(&rest),
            _ => params_cmd::run(&rest),
        },
        Err(e) => usage_error(&e),
    }
}

/// Reports a usage error on stderr and returns exit code 2.
fn usage_error(e: &UsageError) -> ExitCode {
    write_stderr(&format!("error: {}\nrun `secagg --help` for usage\n", e.0));
    ExitCode::from(EXIT_USAGE)
}

/// Writes to stdout; a closed pipe is not worth a panic.
fn write_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
}

/// Writes to stderr, ignoring failure.
fn write_stderr(s: &str) {
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

// ---------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------

/// A bad flag, value or inputs file, explained.
#[derive(Debug)]
struct UsageError(String);

/// What to do.
#[derive(Debug)]
enum Command {
    /// Print the help text.
    Help,
    /// Run a session.
    Simulate(Options),
    /// Another command (`params`, `plan`, `privacy`) and its arguments, parsed by its module.
    Other(&'static str, Vec<String>),
}

/// The options of `simulate`, as given (defaults are applied by [`Setup::build`]).
#[derive(Debug, Default)]
struct Options {
    clients: Option<usize>,
    dim: Option<usize>,
    bits: Option<u32>,
    modulus: Option<u64>,
    threshold: Option<usize>,
    neighbours: Option<usize>,
    suite: Option<MaskSuite>,
    malicious: bool,
    min_roster: Option<usize>,
    seed: Option<u64>,
    dropout: Option<f64>,
    /// Index into `sim::ROUNDS` of `--dropout-round`.
    dropout_round: Option<usize>,
    threads: Option<usize>,
    /// `(index into sim::ROUNDS, client ids)` per `--drop`.
    drops: Vec<(usize, Vec<u32>)>,
    inputs: Option<String>,
    json: bool,
}

/// Parses the whole command line (without the program name).
fn parse_args(args: &[String]) -> Result<Command, UsageError> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        None => Err(UsageError("missing command (try `secagg simulate`)".into())),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        Some("simulate") => parse_simulate(it),
        Some(name @ ("params" | "plan" | "privacy")) => {
            let name = match name {
                "params" => "params",
                "plan" => "plan",
                _ => "privacy",
            };
            Ok(Command::Other(name, it.cloned().collect()))
        }
        Some(other) => Err(UsageError(format!(
            "unknown command '{other}' (commands: simulate, params, plan, privacy)"
        ))),
    }
}

/// Parses the options of `simulate`; accepts `--flag value` and `--flag=value`.
fn parse_simulate(mut it: core::slice::Iter<'_, String>) -> Result<Command, UsageError> {
    let mut opts = Options::default();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        match (flag, inline) {
            ("-h" | "--help", None) => return Ok(Command::Help),
            ("--json", None) => opts.json = true,
            ("--malicious", None) => opts.malicious = true,
            ("-h" | "--help" | "--json" | "--malicious", Some(_)) => {
                return Err(UsageError(format!("{flag} takes no value")));
            }
            (_, Some(value)) => opts.set(flag, value)?,
            (_, None) => {
                if !flag.starts_with('-') {
                    return Err(UsageError(format!("unexpected argument '{flag}'")));
                }
                let value = it
                    .next()
                    .ok_or_else(|| UsageError(format!("{flag} needs a value")))?;
                opts.set(flag, value)?;
            }
        }
    }
    Ok(Command::Simulate(opts))
}

impl Options {
    /// Records one `flag value` pair.
    fn set(&mut self, flag: &str, value: &str) -> Result<(), UsageError> {
        const COUNT: &str = "a non-negative integer";
        match flag {
            "--clients" => once(&mut self.clients, flag, number(flag, value, COUNT)?),
            "--dim" => once(&mut self.dim, flag, number(flag, value, COUNT)?),
            "--bits" => once(
                &mut self.bits,
                flag,
                number(flag, value, "an integer 1..=64")?,
            ),
            "--modulus" => once(
                &mut self.modulus,
                flag,
                number(flag, value, "an integer 2..=18446744073709551615")?,
            ),
            "--threshold" => once(&mut self.threshold, flag, number(flag, value, COUNT)?),
            "--neighbours" => once(&mut self.neighbours, flag, number(flag, value, COUNT)?),
            "--min-roster" => once(&mut self.min_roster, flag, number(flag, value, COUNT)?),
            "--suite" => {
                let suite = match value {
                    "chacha20" => MaskSuite::ChaCha20,
                    "aes128ctr" => MaskSuite::Aes128Ctr,
                    _ => {
                        return Err(UsageError(format!(
                            "--suite: expected chacha20 or aes128ctr, got '{value}'"
                        )));
                    }
                };
                once(&mut self.suite, flag, suite)
            }
            "--seed" => once(
                &mut self.seed,
                flag,
                number(flag, value, "an integer 0..2^64")?,
            ),
            "--dropout" => once(&mut self.dropout, flag, fraction(flag, value)?),
            "--dropout-round" => {
                let round = round_index(value).ok_or_else(|| {
                    UsageError(format!(
                        "--dropout-round: expected 0, 1, 2 or 3 (or a round name), got '{value}'"
                    ))
                })?;
                once(&mut self.dropout_round, flag, round)
            }
            "--threads" => match number(flag, value, "a positive integer")? {
                0 => Err(UsageError("--threads: at least one".into())),
                threads => once(&mut self.threads, flag, threads),
            },
            "--inputs" => once(&mut self.inputs, flag, value.to_owned()),
            "--drop" => {
                self.drops.push(parse_drop(value)?);
                Ok(())
            }
            _ => Err(UsageError(format!("unknown option '{flag}'"))),
        }
    }
}

/// Stores a value given at most once.
fn once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), UsageError> {
    if slot.is_some() {
        return Err(UsageError(format!("{flag} given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Parses a number, naming the flag and what it expects on failure.
fn number<T: core::str::FromStr>(flag: &str, value: &str, what: &str) -> Result<T, UsageError> {
    value
        .parse()
        .map_err(|_| UsageError(format!("{flag}: expected {what}, got '{value}'")))
}

/// Parses a fraction in `0 ..= 1`.
fn fraction(flag: &str, value: &str) -> Result<f64, UsageError> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(UsageError(format!(
            "{flag}: expected a fraction between 0 and 1, got '{value}'"
        ))),
    }
}

/// A round of `sim::ROUNDS`, by number or name.
fn round_index(round: &str) -> Option<usize> {
    sim::ROUNDS
        .iter()
        .position(|r| r.to_string() == round)
        .or_else(|| round.parse().ok().filter(|i| *i < sim::ROUNDS.len()))
}

/// Parses `R:ID,ID,...`, where `R` is a round number 0..=3 or a round name.
fn parse_drop(value: &str) -> Result<(usize, Vec<u32>), UsageError> {
    let bad = |why: &str| UsageError(format!("--drop '{value}': {why}"));
    let (round, ids) = value
        .split_once(':')
        .ok_or_else(|| bad("expected R:ID,ID,... (for example 1:3,7)"))?;
    let index = round_index(round)
        .ok_or_else(|| bad("the round must be 0, 1, 2 or 3 (or a round name)"))?;
    let ids = ids
        .split(',')
        .map(|id| match id.trim().parse::<u32>() {
            Ok(id) if id >= 1 => Ok(id),
            _ => Err(bad(&format!("'{id}' is not a client id (ids start at 1)"))),
        })
        .collect::<Result<Vec<u32>, _>>()?;
    Ok((index, ids))
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
    fn build(opts: &Options) -> Result<Self, UsageError> {
        let modulus = modulus(opts)?;
        let seed = opts.seed.unwrap_or(0);
        let file = match &opts.inputs {
            Some(path) => Some(read_inputs(path, modulus)?),
            None => None,
        };
        let (n, d) = shape(opts, file.as_deref())?;
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        // Vectors of 8-byte elements: the server's accumulator and the sum check's, three per
        // client in flight (input, masked output, its encoding), and an inputs file.
        let held = if file.is_some() { n as u128 } else { 0 };
        let vector_bytes = (2 + 3 * threads as u128 + held) * (d as u128) * 8;
        if vector_bytes > MAX_SIMULATED_VECTOR_BYTES {
            return Err(UsageError(format!(
                "{n} clients x {d} elements would need about {:.1} GiB of memory for vectors; \
                 the simulator allows {} GiB",
                vector_bytes as f64 / f64::from(1u32 << 30),
                MAX_SIMULATED_VECTOR_BYTES >> 30
            )));
        }
        let mut rng = stream(seed, STREAM_SESSION);
        let mut session = [0u8; 32];
        rng.fill_bytes(&mut session);
        let mut builder = Params::builder(SessionId(session), n, modulus, d);
        if let Some(t) = opts.threshold {
            builder = builder.threshold(t);
        }
        if let Some(k) = opts.neighbours {
            builder = builder.neighbours(k);
        }
        let schedule = schedule(opts, n, seed)?;
        if opts.malicious {
            builder = builder.threat_model(ThreatModel::Malicious);
            // The simulated deployment accepts the roster its own schedule leaves.
            let before_roster = schedule
                .iter()
                .filter(|(_, round)| *round == Round::AdvertiseKeys)
                .count();
            builder = builder.min_roster(n.saturating_sub(before_roster));
        }
        if let Some(m) = opts.min_roster {
            builder = builder.min_roster(m);
        }
        if let Some(suite) = opts.suite {
            builder = builder.mask_suite(suite);
        }
        let params = builder
            .build()
            .map_err(|e| UsageError(format!("invalid parameters: {e}")))?;
        let sim = match file {
            Some(rows) => Simulation::new(
                params.clone(),
                rows.into_iter().map(PlainInput::new).collect(),
            ),
            None => Simulation::seeded(params.clone(), stream(seed, STREAM_INPUTS).next_u64()),
        };
        let mut sim = sim.client_threads(threads);
        for (id, round) in schedule {
            sim.drop_from(id, round);
        }
        Ok(Self {
            sim,
            params,
            seed,
            threads,
        })
    }
}

/// The modulus from `--bits` or `--modulus`.
fn modulus(opts: &Options) -> Result<Modulus, UsageError> {
    let m = match (opts.bits, opts.modulus) {
        (Some(_), Some(_)) => {
            return Err(UsageError(
                "--bits and --modulus exclude each other; give one".into(),
            ));
        }
        (None, Some(m)) => Modulus::new(m),
        (bits, None) => Modulus::power_of_two(bits.unwrap_or(DEFAULT_BITS)),
    };
    m.map_err(|e| UsageError(format!("invalid parameters: {e}")))
}

/// The number of clients and the vector length, from the flags or the inputs file.
fn shape(opts: &Options, file: Option<&[Vec<u64>]>) -> Result<(usize, usize), UsageError> {
    let Some(rows) = file else {
        return Ok((
            opts.clients.unwrap_or(DEFAULT_CLIENTS),
            opts.dim.unwrap_or(DEFAULT_DIM),
        ));
    };
    let n = rows.len();
    let d = rows.first().map_or(0, Vec::len);
    if let Some(c) = opts.clients.filter(|c| *c != n) {
        return Err(UsageError(format!(
            "--clients {c} disagrees with the inputs file, which has {n} lines (one per client)"
        )));
    }
    if let Some(dim) = opts.dim.filter(|x| *x != d) {
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
fn schedule(opts: &Options, n: usize, seed: u64) -> Result<Vec<(ClientId, Round)>, UsageError> {
    let mut drops = Vec::new();
    for (index, ids) in &opts.drops {
        let round = sim::ROUNDS
            .get(*index)
            .copied()
            .ok_or_else(|| UsageError("--drop: round out of range".into()))?;
        for &id in ids {
            if usize::try_from(id).map_or(true, |i| i > n) {
                return Err(UsageError(format!(
                    "--drop: there is no client {id} (ids run from 1 to {n})"
                )));
            }
            drops.push((ClientId(id), round));
        }
    }
    let default = if opts.drops.is_empty() {
        DEFAULT_DROPOUT
    } else {
        0.0
    };
    let fraction = opts.dropout.unwrap_or(default);
    let named: BTreeSet<ClientId> = drops.iter().map(|(id, _)| *id).collect();
    // Shuffle by sorting on random keys (ties have probability ~n^2 / 2^64 and are broken
    // by id, so the result is still deterministic).
    let mut rng = stream(seed, STREAM_DROPOUT);
    let mut candidates: Vec<(u64, ClientId)> = (1..=n)
        .filter_map(|i| u32::try_from(i).ok().map(ClientId))
        .filter(|id| !named.contains(id))
        .map(|id| (rng.next_u64(), id))
        .collect();
    candidates.sort_unstable();
    let count = dropout_count(fraction, n).min(candidates.len());
    let chosen = candidates.iter().take(count).map(|(_, id)| *id);
    match opts.dropout_round.and_then(|i| sim::ROUNDS.get(i)) {
        Some(&round) => drops.extend(chosen.map(|id| (id, round))),
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
// Inputs file
// ---------------------------------------------------------------------------------------

/// Reads and checks an inputs file.
fn read_inputs(path: &str, modulus: Modulus) -> Result<Vec<Vec<u64>>, UsageError> {
    let bytes = std::fs::read(path).map_err(|e| UsageError(format!("cannot read {path}: {e}")))?;
    parse_inputs(&bytes, modulus).map_err(|why| UsageError(format!("{path}: {why}")))
}

/// Parses an inputs file: one client per line, whitespace-separated integers below the
/// modulus, every line the same length. Errors name the line (from 1) and the fault.
fn parse_inputs(bytes: &[u8], modulus: Modulus) -> Result<Vec<Vec<u64>>, String> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("empty file: expected one line of integers per client".into());
    }
    let mut rows: Vec<Vec<u64>> = Vec::new();
    for (index, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = index.saturating_add(1);
        let text =
            core::str::from_utf8(raw).map_err(|_| format!("line {line}: not valid UTF-8 text"))?;
        let row = parse_line(text, modulus).map_err(|why| format!("line {line}: {why}"))?;
        if let Some(first) = rows.first().filter(|f| f.len() != row.len()) {
            return Err(format!(
                "line {line}: ragged: {} values, but line 1 has {}",
                row.len(),
                first.len()
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Parses one line of an inputs file.
fn parse_line(text: &str, modulus: Modulus) -> Result<Vec<u64>, String> {
    let m = modulus.value();
    let values = text
        .split_ascii_whitespace()
        .map(|token| {
            let value = match token.parse::<u128>() {
                Ok(v) => v,
                Err(_) if token.bytes().all(|b| b.is_ascii_digit()) => u128::MAX,
                Err(_) => return Err(format!("'{token}' is not an unsigned integer")),
            };
            if value >= m {
                return Err(format!("value {token} is not below the modulus {m}"));
            }
            u64::try_from(value).map_err(|_| format!("value {token} is not below the modulus {m}"))
        })
        .collect::<Result<Vec<u64>, String>>()?;
    if values.is_empty() {
        return Err("empty line: every line holds one client's vector".into());
    }
    Ok(values)
}

// ---------------------------------------------------------------------------------------
// Running and reporting
// ---------------------------------------------------------------------------------------

/// Runs the session, checks the sum and prints the report.
fn simulate(setup: &Setup, json: bool) -> ExitCode {
    let tty = std::io::stderr().is_terminal();
    // Progress goes to stderr: always as a live percentage on a terminal, as plain
    // per-round lines otherwise, except that --json stays quiet off a terminal.
    let mut progress = Progress::new(tty, tty || !json);
    // The raw keystream rate of the session's cipher on one core, measured in this run: the
    // yardstick of the ideal times the report prints.
    let speed = Speed {
        rate: sim::keystream_rate(setup.params.mask_suite(), KEYSTREAM_PROBE_BYTES),
        server_cores: sim::server_threads(),
    };
    let start = Instant::now();
    let report = setup.sim.run(setup.seed, &mut |name, done, total| {
        progress.update(name, done, total)
    });
    progress.finish();
    let elapsed = start.elapsed().as_secs_f64();
    let result = match &report.outcome {
        Ok(output) => Ok((output, output.sum == setup.sim.plain_sum(&output.included))),
        Err(e) => Err(e.to_string()),
    };
    if json {
        write_stdout(&json_report(setup, &report, &result, elapsed, speed));
    } else if let Ok((output, verified)) = &result {
        write_stdout(&human_report(
            setup, &report, output, *verified, elapsed, speed,
        ));
    } else {
        write_stdout(&format!(
            "{}\n{}",
            describe(setup),
            human_rounds(&report.rounds)
        ));
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

/// Bytes of keystream the rate probe writes per pass.
const KEYSTREAM_PROBE_BYTES: usize = 64 << 20;

/// The yardstick of a run: the raw keystream rate of its cipher on one core, and the cores
/// the server spreads over.
#[derive(Debug, Clone, Copy)]
struct Speed {
    /// Bytes per second.
    rate: f64,
    server_cores: usize,
}

impl Speed {
    /// Seconds one client would take to read `bytes` of keystream on its one core.
    fn client_ideal(self, bytes: f64) -> f64 {
        bytes / self.rate
    }

    /// Seconds the server would take to read `bytes` of keystream on all its cores.
    fn server_ideal(self, bytes: f64) -> f64 {
        bytes / (self.rate * self.server_cores as f64)
    }
}

/// Progress on stderr.
#[derive(Debug)]
struct Progress {
    tty: bool,
    enabled: bool,
    round: String,
    percent: Option<usize>,
}

impl Progress {
    fn new(tty: bool, enabled: bool) -> Self {
        Self {
            tty,
            enabled,
            round: String::new(),
            percent: None,
        }
    }

    /// Called by the driver before each client's step.
    fn update(&mut self, name: &str, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        if name != self.round {
            self.finish();
            self.round = name.to_owned();
            self.percent = None;
            if !self.tty {
                write_stderr(&format!("running {name}\n"));
            }
        }
        if self.tty {
            let percent = done.saturating_mul(100).checked_div(total).unwrap_or(0);
            if self.percent != Some(percent) {
                self.percent = Some(percent);
                write_stderr(&format!("\r{name}: {percent:>3}%"));
            }
        }
    }

    /// Ends the live line of the current round.
    fn finish(&mut self) {
        if self.enabled && self.tty && !self.round.is_empty() {
            write_stderr(&format!("\r{}: done\n", self.round));
        }
        self.round.clear();
    }
}

/// The header line describing the session.
fn describe(setup: &Setup) -> String {
    let p = &setup.params;
    format!(
        "session {}: {} clients, {} elements, modulus {}, {} graph (degree {}), threshold {}, \
         {} server, seed {}\n",
        hex(&p.session().0[..8]),
        p.clients(),
        p.vector_len(),
        modulus_text(p.modulus()),
        graph_name(p.neighbourhood()),
        neighbours(p),
        p.threshold(),
        match p.threat_model() {
            ThreatModel::HonestButCurious => "honest-but-curious",
            ThreatModel::Malicious => "malicious",
        },
        setup.seed
    )
}

/// `2^k` or the decimal modulus.
fn modulus_text(m: Modulus) -> String {
    match m.power_of_two_bits() {
        Some(bits) => format!("2^{bits}"),
        None => m.value().to_string(),
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The human-readable report of a finished session.
fn human_report(
    setup: &Setup,
    report: &Report,
    output: &Output,
    verified: bool,
    elapsed: f64,
    speed: Speed,
) -> String {
    let mut s = describe(setup);
    s.push('\n');
    s.push_str(&human_rounds(&report.rounds));
    s.push('\n');
    let drops = setup.sim.drops();
    let mut per_round = Vec::new();
    for round in sim::ROUNDS {
        let k = drops.values().filter(|r| **r == round).count();
        per_round.push(format!("{k} at {round}"));
    }
    let _ = writeln!(s, "dropped:  {} ({})", drops.len(), per_round.join(", "));
    s.push_str(&keystream_lines(&report.rounds, speed));
    let n = output.included.len();
    let _ = writeln!(s, "included: {n}");
    let shown: Vec<String> = output.sum.iter().take(6).map(u64::to_string).collect();
    let more = if output.sum.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    let _ = writeln!(s, "sum:      [{}{more}]", shown.join(", "));
    let _ = writeln!(s, "total:    {elapsed:.3} s");
    if verified {
        let _ = writeln!(
            s,
            "verified: sum equals the plain sum of the {n} included inputs"
        );
    } else {
        let _ = writeln!(s, "NOT VERIFIED: sum differs from the plain sum");
    }
    s
}

/// Keystream each side expanded, the effective rate, and the time against the ideal (the
/// raw keystream of the same bytes at the rate measured in this run), from the rounds that
/// mask.
fn keystream_lines(rounds: &[RoundReport], speed: Speed) -> String {
    let mut s = format!(
        "raw keystream: {:.2} GB/s on one core (best of 9 passes in this run); server on {} core{}\n",
        speed.rate / 1e9,
        speed.server_cores,
        if speed.server_cores == 1 { "" } else { "s" }
    );
    for r in rounds {
        let client = r.client_mask_expansions * r.mask_bytes as f64;
        if client > 0.0 && r.client_seconds > 0.0 {
            let ideal = speed.client_ideal(client);
            let _ = writeln!(
                s,
                "keystream: {:.1} MB per client in {}: {:.4} s, {:.2} GB/s effective; ideal {:.4} s \
                 on one core, {:.2}x (key agreements and share decryption included)",
                client / 1e6,
                r.round,
                r.client_seconds,
                client / r.client_seconds / 1e9,
                ideal,
                r.client_seconds / ideal
            );
        }
        let server = r.server_mask_expansions as f64 * r.mask_bytes as f64;
        if server > 0.0 && r.server_seconds > 0.0 {
            let ideal = speed.server_ideal(server);
            let _ = writeln!(
                s,
                "keystream: {:.1} MB on the server in {}: {:.3} s, {:.2} GB/s effective; ideal \
                 {:.3} s on {} core{}, {:.2}x (key agreements and reconstruction included)",
                server / 1e6,
                r.round,
                r.server_seconds,
                server / r.server_seconds / 1e9,
                ideal,
                speed.server_cores,
                if speed.server_cores == 1 { "" } else { "s" },
                r.server_seconds / ideal
            );
        }
    }
    s
}

/// The per-round table.
fn human_rounds(rounds: &[RoundReport]) -> String {
    let mut s = format!(
        "{:<16}{:>8}{:>18}{:>14}{:>16}{:>16}{:>12}{:>12}\n",
        "round",
        "clients",
        "client s (mean)",
        "server s",
        "sent B/client",
        "recv B/client",
        "masks/cl",
        "masks/srv"
    );
    for r in rounds {
        let _ = writeln!(
            s,
            "{:<16}{:>8}{:>18.6}{:>14.6}{:>16.0}{:>16.0}{:>12.1}{:>12}",
            r.round.to_string(),
            r.clients,
            r.client_seconds,
            r.server_seconds,
            r.bytes_sent_per_client,
            r.bytes_received_per_client,
            r.client_mask_expansions,
            r.server_mask_expansions
        );
        for rejected in &r.rejected {
            let _ = writeln!(s, "  {rejected}");
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

/// A JSON object under construction; values are already-encoded JSON.
#[derive(Debug, Default)]
struct JsonObject(Vec<(String, String)>);

impl JsonObject {
    /// Adds `"key": value`.
    fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.push((key.into(), value.into()));
        self
    }

    /// The encoded object.
    fn finish(self) -> String {
        let fields: Vec<String> = self
            .0
            .into_iter()
            .map(|(k, v)| format!("{}: {v}", json_string(&k)))
            .collect();
        format!("{{{}}}", fields.join(", "))
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number from a float (`null` if not finite, which JSON cannot express).
fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

/// A JSON array of already-encoded values.
fn json_array<I: IntoIterator<Item = String>>(items: I) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

/// `complete` or `harary`.
fn graph_name(n: Neighbourhood) -> &'static str {
    match n {
        Neighbourhood::Complete => "complete",
        Neighbourhood::Harary { .. } => "harary",
    }
}

/// The degree: `k` on a sparse graph, `n - 1` on the complete one.
fn neighbours(p: &Params) -> usize {
    p.share_holders() - 1
}

/// A JSON array of client ids.
fn json_ids<'a>(ids: impl IntoIterator<Item = &'a ClientId>) -> String {
    json_array(ids.into_iter().map(|id| id.0.to_string()))
}

/// One round's figures.
fn json_round(r: &RoundReport, speed: Speed) -> String {
    let client_keystream = r.client_mask_expansions * r.mask_bytes as f64;
    let server_keystream = r.server_mask_expansions as f64 * r.mask_bytes as f64;
    JsonObject::default()
        .field("name", json_string(&r.round.to_string()))
        .field("clients", r.clients.to_string())
        .field("client_seconds", json_f64(r.client_seconds))
        .field("server_seconds", json_f64(r.server_seconds))
        .field("bytes_sent_per_client", json_f64(r.bytes_sent_per_client))
        .field("client_mask_expansions", json_f64(r.client_mask_expansions))
        .field(
            "client_keystream_bytes",
            json_f64(r.client_mask_expansions * r.mask_bytes as f64),
        )
        .field(
            "server_keystream_bytes",
            (r.server_mask_expansions as u64 * r.mask_bytes).to_string(),
        )
        .field(
            "server_mask_expansions",
            r.server_mask_expansions.to_string(),
        )
        .field(
            "client_ideal_seconds",
            json_f64(speed.client_ideal(client_keystream)),
        )
        .field(
            "server_ideal_seconds",
            json_f64(speed.server_ideal(server_keystream)),
        )
        .field(
            "bytes_received_per_client",
            json_f64(r.bytes_received_per_client),
        )
        .field(
            "rejected",
            json_array(r.rejected.iter().map(|x| json_string(&x.to_string()))),
        )
        .finish()
}

/// The JSON report: the session, the rounds that ran, then the sum or the error.
fn json_report(
    setup: &Setup,
    report: &Report,
    result: &Result<(&Output, bool), String>,
    elapsed: f64,
    speed: Speed,
) -> String {
    let p = &setup.params;
    let drops = setup.sim.drops();
    let mut by_round = JsonObject::default();
    for round in sim::ROUNDS {
        let ids = drops.iter().filter(|(_, r)| **r == round).map(|(id, _)| id);
        by_round = by_round.field(round.to_string(), json_ids(ids));
    }
    let mut obj = JsonObject::default()
        .field("clients", p.clients().to_string())
        .field("dim", p.vector_len().to_string())
        .field("modulus", p.modulus().value().to_string())
        .field("threshold", p.threshold().to_string())
        .field("graph", json_string(graph_name(p.neighbourhood())))
        .field(
            "suite",
            json_string(match p.mask_suite() {
                MaskSuite::ChaCha20 => "chacha20",
                MaskSuite::Aes128Ctr => "aes128ctr",
            }),
        )
        .field("neighbours", neighbours(p).to_string())
        .field(
            "threat_model",
            json_string(match p.threat_model() {
                ThreatModel::HonestButCurious => "honest-but-curious",
                ThreatModel::Malicious => "malicious",
            }),
        )
        .field("seed", setup.seed.to_string())
        .field("session", json_string(&hex(&p.session().0)))
        .field("dropped", json_ids(drops.keys()))
        .field("dropped_by_round", by_round.finish())
        .field("client_threads", setup.threads.to_string())
        .field("server_threads", speed.server_cores.to_string())
        .field("keystream_bytes_per_second", json_f64(speed.rate))
        .field(
            "rounds",
            json_array(report.rounds.iter().map(|r| json_round(r, speed))),
        )
        .field("total_seconds", json_f64(elapsed));
    match result {
        Ok((output, verified)) => {
            obj = obj
                .field("included", json_ids(&output.included))
                .field("verified", verified.to_string())
                .field("sum", json_array(output.sum.iter().map(u64::to_string)));
            if !verified {
                obj = obj.field("error", json_string("sum differs from the plain sum"));
            }
        }
        Err(e) => obj = obj.field("error", json_string(e)),
    }
    let mut s = obj.finish();
    s.push('\n');
    s
}
