//! `phlb completions` and `phlb man`: shell completions and the man page, generated from
//! the clap definitions in `cli.rs`, so they never drift from the real options.

use anyhow::{Context, Result};
use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, Shell};
use crate::Outcome;

/// Writes the completion script for one shell to stdout.
pub fn completions(args: &CompletionsArgs) -> Result<Outcome> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "phlb", &mut std::io::stdout());
    Ok(Outcome::Clean)
}

/// Writes the man page (roff, section 1) to stdout: clap_mangen's page for phlb, then
/// one section per command holding its full `--help` text (options and examples).
pub fn man() -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("cannot render the man page")?;
    cmd.build();
    for sub in cmd.get_subcommands_mut() {
        let name = sub.get_name().to_string();
        let help = sub.render_long_help().to_string();
        out.extend_from_slice(format!(".SH \"PHLB {}\"\n.nf\n", name.to_uppercase()).as_bytes());
        for line in help.lines() {
            out.extend_from_slice(roff_line(line).as_bytes());
        }
        out.extend_from_slice(b".fi\n");
    }
    std::io::stdout()
        .write_all(&out)
        .context("cannot write the man page")?;
    Ok(Outcome::Clean)
}

/// One line of plain text as a roff text line: backslashes escaped, and a leading `.`
/// or `'` kept from being read as a request.
fn roff_line(line: &str) -> String {
    let text = line.replace('\\', "\\e");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}\n")
    } else {
        format!("{text}\n")
    }
}
