//! `phlb backup`: arguments to backup options, the call (recorded as an attempt of each
//! of its names), and each snapshot's summary as text or JSON lines.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::cli::BackupArgs;
use crate::config::Config;
use crate::ops::backup::{self, Counts, Failures, Options, RunKind, SnapshotReport};
use crate::ops::prune::{Plan, Removal};
use crate::ops::Run;
use crate::progress::{Style, Ui};
use crate::render::prune::Printed as PrintedRemoval;
use crate::Outcome;

/// Each snapshot's summary on stdout: text, or one JSON line per snapshot (then one
/// `{"prune": …}` line with `--prune`).
struct Printed<'a> {
    config: &'a Config,
    json: bool,
    quiet: bool,
    removal: PrintedRemoval<'a>,
}

impl backup::Shows for Printed<'_> {
    fn made(&self, made: &SnapshotReport, root: &Path) -> Result<()> {
        if self.json {
            let line = made
                .counts
                .json(&made.label, made.elapsed, RunKind::Real, &made.failures);
            let doc: serde_json::Value = serde_json::from_str(&line)?;
            let doc = crate::root::with_where(doc, root, self.config.file.as_deref());
            println!("{doc}");
        } else if !self.quiet {
            // Where it went: the root and the config file, on screen (the summary file
            // beside the snapshot is the same text without it).
            println!(
                "{}  where:   {}",
                made.summary,
                crate::root::used_line(root, self.config.file.as_deref())
            );
        }
        Ok(())
    }

    fn planned(&self, name: &str, counts: &Counts, elapsed: Duration) {
        if self.json {
            println!(
                "{}",
                counts.json(name, elapsed, RunKind::Dry, &Failures::default())
            );
        } else if !self.quiet {
            print!("{}", counts.summary(name, elapsed, RunKind::Dry));
        }
    }
}

impl crate::ops::prune::Shows for Printed<'_> {
    fn plan(&self, plan: &Plan) {
        self.removal.plan(plan)
    }

    fn done(&self, plan: &Plan, removed: usize) -> Result<()> {
        self.removal.done(plan, removed)
    }
}

/// Runs `phlb backup`, recorded as an attempt of each of its names.
pub fn run(config: &Config, ui: &Ui, args: &BackupArgs) -> Result<Outcome> {
    // A selection that does not compile is a usage error, not an attempt.
    let mut config = crate::cli::with_selection(config, &args.select)?;
    if args.link.is_some() {
        config.link = args.link;
    }
    config.rsync_opts = args.rsync_opt.clone();
    let config = &config;
    let options = Options {
        sources: args.sources.clone(),
        name: args.name.clone(),
        source_moved: args.source_moved,
        run: if args.dry_run { Run::DryRun } else { Run::Real },
        prune: args.prune.then_some(Removal {
            run: Run::Real,
            wait: args.wait.into(),
            style: Style::detect(ui.quiet() || args.json),
            verbose: ui.verbose,
            command: "backup --prune",
        }),
        wait: args.wait.into(),
    };
    let shows = Printed {
        config,
        json: args.json,
        quiet: ui.quiet(),
        removal: PrintedRemoval {
            config,
            json: args.json,
            json_line: true,
            show_lost: false,
            bytes: false,
            quiet: ui.quiet(),
            verbose: ui.verbose,
        },
    };
    let started = crate::clock::now_rfc3339();
    let mut done = Vec::new();
    let result = backup::backup(config, &options, ui, &shows, &mut done);
    backup::record_attempt(config, ui, &options, &started, &done, &result);
    result
}
