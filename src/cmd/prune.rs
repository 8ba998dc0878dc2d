//! `phlb prune` and `phlb forget`: arguments to a policy and removal options, the call,
//! and the plan and result shown as text or JSON (`render::prune`).

use anyhow::{bail, Result};

use crate::cli::{ForgetArgs, KeepArgs, PruneArgs, RemovalArgs};
use crate::config::Config;
use crate::ops::prune::{self, Removal, Run};
use crate::progress::{Style, Ui};
use crate::render::prune::Printed;
use crate::retention::Policy;
use crate::Outcome;

/// Runs `phlb prune`.
pub fn run_prune(config: &Config, ui: &Ui, args: &PruneArgs) -> Result<Outcome> {
    let policy = policy_of(&args.keep, &config.keep)?;
    if !args.removal.json && !ui.quiet() {
        println!("policy: {}", policy.describe());
    }
    let shows = printed(config, ui, &args.removal);
    let removal = removal_of(ui, &args.removal, "prune");
    prune::prune(config, &policy, &args.names, removal, ui, &shows)
}

/// Runs `phlb forget`.
pub fn run_forget(config: &Config, ui: &Ui, args: &ForgetArgs) -> Result<Outcome> {
    let shows = printed(config, ui, &args.removal);
    let removal = removal_of(ui, &args.removal, "forget");
    prune::forget(config, &args.snapshots, args.missing, removal, ui, &shows)
}

fn removal_of(ui: &Ui, args: &RemovalArgs, command: &'static str) -> Removal {
    Removal {
        run: if args.dry_run { Run::DryRun } else { Run::Real },
        wait: args.wait.into(),
        style: Style::detect(ui.quiet() || args.json),
        verbose: ui.verbose,
        command,
    }
}

fn printed<'a>(config: &'a Config, ui: &Ui, args: &RemovalArgs) -> Printed<'a> {
    Printed {
        config,
        json: args.json,
        json_line: false,
        show_lost: args.show_lost,
        bytes: args.bytes,
        quiet: ui.quiet(),
        verbose: ui.verbose,
    }
}

/// The policy of the command line, or the config's when the command line gives none; an
/// empty policy is refused.
fn policy_of(keep: &KeepArgs, defaults: &Policy) -> Result<Policy> {
    let given = Policy {
        last: keep.keep_last,
        hourly: keep.keep_hourly,
        daily: keep.keep_daily,
        weekly: keep.keep_weekly,
        monthly: keep.keep_monthly,
        yearly: keep.keep_yearly,
        within: keep.keep_within,
        versions: keep.keep_versions,
    };
    let policy = if given.is_empty() { *defaults } else { given };
    let policy = policy.rules();
    if policy.is_empty() {
        bail!(
            "no retention rule given: use --keep-last, --keep-hourly, --keep-daily, --keep-weekly, \
             --keep-monthly, --keep-yearly or --keep-within (or KEEP_* in the config); \
             phlb never removes all but the newest snapshot by default"
        );
    }
    Ok(policy)
}
