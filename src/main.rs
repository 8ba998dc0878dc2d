//! The `phlb` binary: parse the command line, run, print the error chain once, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = phlb::cli::Cli::parse();
    match phlb::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            eprintln!("phlb: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
