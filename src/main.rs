//! The `phlb` binary: parse the command line, run, print the error chain once, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
