//! `secagg params`: the SecAgg+ (k, t) finder (being written).

use std::process::ExitCode;

/// Runs the command with its arguments.
pub(crate) fn run(_args: &[String]) -> ExitCode {
    crate::write_stderr("error: `secagg params` is not available in this build yet\n");
    ExitCode::from(2)
}
