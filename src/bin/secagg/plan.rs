//! `secagg plan`: the float-encoding preflight check (being written).

use std::process::ExitCode;

/// Runs the command with its arguments.
pub(crate) fn run(_args: &[String]) -> ExitCode {
    crate::write_stderr("error: `secagg plan` is not available in this build yet\n");
    ExitCode::from(2)
}
