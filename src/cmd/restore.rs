//! `phlb restore`: arguments to restore options, the call, and the summary as text or
//! JSON.

use anyhow::Result;

use crate::cli::RestoreArgs;
use crate::config::Config;
use crate::ops::restore::{self, Options, Replace};
use crate::ops::Run;
use crate::progress::{Style, Ui};
use crate::Outcome;

/// Runs `phlb restore`.
pub fn run(config: &Config, ui: &Ui, args: &RestoreArgs) -> Result<Outcome> {
    let options = Options {
        snapshot: args.snapshot.clone(),
        paths: args.paths.clone(),
        to: args.to.clone(),
        replace: if args.force {
            Replace::Allowed
        } else {
            Replace::Never
        },
        run: if args.dry_run { Run::DryRun } else { Run::Real },
        verbose: ui.verbose,
    };
    let style = if args.json { Style::Quiet } else { ui.style };
    let done = restore::restore(config, &options, style, ui)?;
    if !ui.quiet() || args.json {
        print!(
            "{}",
            restore::summary(
                &done.label,
                &done.to,
                &done.tally,
                &done.trimmed_at,
                done.took,
                args.dry_run,
                args.json
            )
        );
    }
    Ok(if done.tally.problems() {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}
