//! `secagg`: runs a whole secure-aggregation session (Bonawitz et al., CCS 2017) in one
//! process and reports what each round cost; finds SecAgg+ parameters; checks a float
//! encoding against the modulus; accounts for distributed DP noise.
//!
//! One file per command (`simulate`, `params`, `plan`, `privacy`); this one holds the
//! command line's top level and the helpers the commands share. Every command exits with 2
//! on a bad flag, value or inputs file, naming the flag.

#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "net")]
mod net;
mod params;
mod plan;
mod privacy;
mod simulate;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secagg::Modulus;
use serde::Serialize;

/// Exit code of bad flags, values or inputs files (clap uses it too).
const EXIT_USAGE: u8 = 2;

/// The end of `secagg --help`.
const AFTER_HELP: &str = "\
Examples:
  secagg simulate --clients 1000 --dim 10000 --neighbours 20 --dropout 0.1 --seed 1
  secagg params --clients 1000 --dropout 0.05 --corrupt 0.05
  secagg plan --clients 100 --clip 1 --noise ddg:1
  secagg privacy --noise-multiplier 1 --clients 50 --rounds 100

Run `secagg <COMMAND> --help` for a command's options, defaults and exit codes.
Exit code 2 always means a bad flag, value or inputs file.";

/// Secure aggregation (Bonawitz et al., CCS 2017), simulated in one process, with the tools
/// that choose its parameters.
#[derive(Debug, Parser)]
#[command(
    name = "secagg",
    version,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = false,
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run one whole session in memory, check the sum against the plain sum, print the cost
    Simulate(simulate::Args),
    /// Find the smallest SecAgg+ degree k and threshold t for N clients (Bell et al., CCS 2020)
    Params(params::Args),
    /// Check that the sum of N float encodings cannot wrap around the modulus
    Plan(plan::Args),
    /// Compute (epsilon, delta) of a sum released with distributed DP noise
    Privacy(privacy::Args),
    /// Run the aggregation server over gRPC and mutual TLS (feature `net`)
    #[cfg(feature = "net")]
    Serve(net::ServeArgs),
    /// Join the server's session with a vector and print the outcome (feature `net`)
    #[cfg(feature = "net")]
    Client(net::ClientArgs),
    /// Write development certificates and configuration files for serve and client
    #[cfg(feature = "net")]
    Certs(net::CertsArgs),
    /// Print the stored outcomes of a stopped server's finished sessions (feature `net`)
    #[cfg(feature = "net")]
    Results(net::ResultsArgs),
}

fn main() -> ExitCode {
    // Help and version exit 0, every parse error exits 2 (clap's convention and ours).
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate(args) => simulate::run(&args),
        Command::Params(args) => params::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Privacy(args) => privacy::run(&args),
        #[cfg(feature = "net")]
        Command::Serve(args) => net::serve(&args),
        #[cfg(feature = "net")]
        Command::Client(args) => net::client(&args),
        #[cfg(feature = "net")]
        Command::Certs(args) => net::certs(&args),
        #[cfg(feature = "net")]
        Command::Results(args) => net::results(&args),
    }
}

/// A bad flag, value or inputs file, explained (the message names the flag).
#[derive(Debug)]
struct UsageError(String);

impl UsageError {
    /// A message blaming `flag`.
    fn flag(flag: &str, why: impl core::fmt::Display) -> Self {
        Self(format!("{flag}: {why}"))
    }
}

/// Reports a usage error of `command` on stderr and returns exit code 2.
fn usage_error(command: &str, e: &UsageError) -> ExitCode {
    write_stderr(&format!(
        "error: {}\nrun `secagg {command} --help` for usage\n",
        e.0
    ));
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

/// Prints `value` as one JSON object on a line of stdout.
fn write_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(text) => write_stdout(&(text + "\n")),
        // Our report types are plain structs of numbers and strings: this cannot happen,
        // but if it did the message is better than a panic.
        Err(e) => write_stderr(&format!("error: cannot encode the JSON report: {e}\n")),
    }
}

/// `2^k` or the decimal modulus.
fn modulus_text(m: Modulus) -> String {
    match m.power_of_two_bits() {
        Some(bits) => format!("2^{bits}"),
        None => m.value().to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Value parsers shared by the commands (clap names the flag in its error message)
// ---------------------------------------------------------------------------------------

/// A fraction in `0 ..= 1`.
fn fraction(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err("expected a fraction between 0 and 1".into()),
    }
}

/// A rate in `0 ..= 1` excluded (a dropout or corruption rate of 1 leaves no one).
fn rate(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..1.0).contains(&f) => Ok(f),
        _ => Err("expected a rate at least 0 and below 1".into()),
    }
}

/// A finite number above 0.
fn positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("expected a finite number above 0".into()),
    }
}

/// A probability strictly between 0 and 1.
fn probability(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err("expected a probability strictly between 0 and 1".into()),
    }
}

/// An integer of at least `min`.
fn at_least<T>(min: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: core::str::FromStr + PartialOrd + core::fmt::Display + Copy + Send + Sync + 'static,
{
    move |value: &str| match value.parse::<T>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(format!("expected an integer of at least {min}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
