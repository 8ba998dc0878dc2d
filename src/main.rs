//! The `phlb` binary: parse the command line, run, print the error chain once, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Output into a closed pipe (`phlb find '*' | head -1`) ends phlb as it ends cat:
    // by SIGPIPE (exit 141 in a shell), never a panic. A backup stopped so is left as a
    // kill leaves it, and the next run cleans up.
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    phlb::signals::install();
    let cli = phlb::cli::Cli::parse();
    let result = phlb::run(cli);
    phlb::signals::exit_if_stopped();
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            eprintln!("phlb: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
