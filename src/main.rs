//! The `phlb` binary: parse the command line, run, print the error chain once, exit.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Output into a closed pipe (`phlb find '*' | head -1`) ends phlb as it ends cat:
    // by SIGPIPE (exit 141 in a shell), never a panic. A backup stopped so is left as a
    // kill leaves it, and the next run cleans up.
    phlb::signals::default_sigpipe();
    // stdout or stderr that cannot be written (a redirect to a full disk): nothing more
    // can be said, so phlb stops as a kill would (exit 2), instead of panicking.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to std") {
            std::process::exit(2);
        }
        default_hook(info);
    }));
    phlb::signals::install();
    let cli = match phlb::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version: stdout, exit 0
        Err(e) => {
            // One style for every error, clap's too: `phlb: error: …`, exit 2.
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            eprint!("phlb: error: {text}");
            return ExitCode::from(2);
        }
    };
    let result = phlb::run(cli);
    phlb::signals::exit_if_stopped();
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(err) => {
            eprintln!("phlb: error: {}", phlb::output::error_text(&err));
            ExitCode::from(2)
        }
    }
}
