//! `phlb prune` and `phlb forget`: remove snapshots chosen by a retention policy
//! (`crate::retention`) or by name, saying first exactly what that frees (`plan`), then
//! removing each through the root (`BackupRoot::remove_snapshot`). `backup --prune` runs
//! the same removal after a successful backup.

mod freed;
mod plan;
mod show;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};

use crate::catalog::prune::members;
use crate::catalog::snapshots::Status;
use crate::catalog::trim::{self, Old};
use crate::catalog::{prune, Db};
use crate::catalog::{Access, Catalog, SnapshotRow};
use crate::cli::{ForgetArgs, KeepArgs, PruneArgs, RemovalArgs};
use crate::ops::select::{existing_root, resolve};
use crate::config::Config;
use crate::progress::{Progress, Style, Ui};
use crate::retention::Policy;
use crate::root::stuck::Stuck;
use crate::root::{BackupRoot, Filesystem};
use crate::Outcome;

use plan::{Action, Item, Reason};

/// Runs `phlb prune`.
pub fn run_prune(config: &Config, ui: &Ui, args: &PruneArgs) -> Result<Outcome> {
    let policy = policy_of(&args.keep, &config.keep)?;
    let pick = |conn: &Db, root: &Path| -> Result<Vec<Item>> {
        let all = members(conn, None)?;
        for name in &args.names {
            if !all.iter().any(|m| &m.name == name) {
                bail!("{name}: no snapshots of this name in the catalog");
            }
        }
        let chosen: Vec<SnapshotRow> = all
            .into_iter()
            .filter(|m| args.names.is_empty() || args.names.contains(&m.name))
            .collect();
        plan::check_clock(&chosen)?;
        for line in plan::per_source_notes(&chosen) {
            ui.say(line);
        }
        let rules = (!policy.keeps_all_snapshots()).then_some(&policy);
        Ok(plan::by_policy(chosen, rules, root))
    };
    if !args.removal.json && !ui.quiet() {
        println!("policy: {}", policy.describe());
    }
    let removal = RemovalArgs {
        command: "prune",
        ..args.removal
    };
    with_root(config, ui, removal, policy.versions, pick)
}

/// Runs `phlb forget`.
pub fn run_forget(config: &Config, ui: &Ui, args: &ForgetArgs) -> Result<Outcome> {
    let root = existing_root(config)?;
    let pick = |conn: &Db, _: &Path| -> Result<Vec<Item>> {
        let all = members(conn, None)?;
        let mut items: Vec<Item> = Vec::new();
        if args.missing {
            for m in all.iter().cloned() {
                let dir = root.join(crate::layout::snapshot_dir_rel(&m.name, &m.timestamp, true));
                // Gone from disk, whatever the catalog says: a verify that ran while the
                // drive was unmounted marked present snapshots `missing` (found by an
                // attack); their rows are kept.
                let gone = match m.status {
                    Status::Missing | Status::Complete => dir.symlink_metadata().is_err(),
                    Status::Incomplete => false,
                };
                if gone {
                    items.push(Item {
                        member: m,
                        action: Action::Remove(Reason::Missing),
                    });
                }
            }
        }
        for spec in &args.snapshots {
            let row = resolve(conn, &root, spec)?;
            // `forget docs` must not quietly mean "the newest snapshot of docs".
            let exact = Path::new(spec)
                .file_name()
                .is_some_and(|leaf| leaf == row.timestamp.as_str());
            if !exact {
                bail!(
                    "{spec}: name one snapshot exactly (NAME/TIMESTAMP, e.g. {}); forget does not \
                     pick the newest for you",
                    row.label()
                );
            }
            if items.iter().any(|i| i.member.id == row.id) {
                continue;
            }
            let Some(m) = all.iter().find(|m| m.id == row.id) else {
                bail!("{spec}: no such snapshot in the catalog");
            };
            items.push(Item {
                member: m.clone(),
                action: Action::Remove(Reason::Named),
            });
        }
        Ok(items)
    };
    let removal = RemovalArgs {
        command: "forget",
        ..args.removal
    };
    with_root(config, ui, removal, None, pick)
}

/// Prunes the snapshots of `names` by the config's `KEEP_*` rules in the root a backup
/// holds open (`backup --prune`); with `json` its report is one JSON line
/// `{"prune": …}` (after `backup --json`'s lines).
pub fn after_backup(
    opened: &BackupRoot,
    config: &Config,
    ui: &Ui,
    names: &[String],
    json: bool,
) -> Result<Outcome> {
    let conn = opened.catalog.db()?;
    let chosen: Vec<SnapshotRow> = members(&conn, None)?
        .into_iter()
        .filter(|m| names.contains(&m.name))
        .collect();
    plan::check_clock(&chosen)?;
    for line in plan::per_source_notes(&chosen) {
        ui.say(line);
    }
    let rules = (!config.keep.keeps_all_snapshots()).then_some(&config.keep);
    let items = plan::by_policy(chosen, rules, opened.path());
    let removal = RemovalArgs {
        dry_run: false,
        json,
        show_lost: false,
        bytes: false,
        wait: Default::default(),
        command: "backup --prune",
        json_line: true,
    };
    carry_out(
        Some(opened),
        &conn,
        items,
        config.keep.rules().versions,
        config,
        ui,
        removal,
    )
}

/// Refuses a bad `backup --prune` before the backup starts.
pub fn check_backup_policy(config: &Config) -> Result<()> {
    if config.keep.is_empty() {
        bail!("--prune needs retention rules: set KEEP_LAST, KEEP_DAILY, ... or KEEP_WITHIN in the config");
    }
    Ok(())
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

/// Opens the root (read-only for a dry run, as the writer otherwise), picks the items and
/// carries out the plan.
fn with_root(
    config: &Config,
    ui: &Ui,
    removal: RemovalArgs,
    versions: Option<u32>,
    pick: impl Fn(&Db, &Path) -> Result<Vec<Item>>,
) -> Result<Outcome> {
    if removal.dry_run {
        // Peek: not even the -shm and -wal files a reader would make.
        let root = existing_root(config)?;
        let catalog = Catalog::open(&root.join(crate::root::META_DIR), Access::Peek)?;
        let conn = catalog.db()?;
        let items = pick(&conn, &root)?;
        return carry_out(None, &conn, items, versions, config, ui, removal);
    }
    existing_root(config)?;
    let say = |line: String| ui.say(line);
    let opened = BackupRoot::open_remover(
        &config.backup_path,
        Filesystem::Any,
        removal.wait.into(),
        &say,
    )?;
    crate::signals::doing("prune stopped; the next prune or backup finishes the removal it began");
    // Room for the catalog's changes on a full disk; made again when `opened` closes.
    opened.make_room();
    crate::ops::record::settle_times(&opened.catalog, config)?;
    let conn = opened.catalog.db()?;
    let items = pick(&conn, opened.path())?;
    carry_out(Some(&opened), &conn, items, versions, config, ui, removal)
}

/// Prints the plan, and (with a root open for writing) removes what it says.
fn carry_out(
    opened: Option<&BackupRoot>,
    conn: &Db,
    items: Vec<Item>,
    versions: Option<u32>,
    config: &Config,
    ui: &Ui,
    removal: RemovalArgs,
) -> Result<Outcome> {
    let root = match opened {
        Some(o) => o.path().to_path_buf(),
        None => existing_root(config)?,
    };
    let olds = plan::trims(conn, &items, versions)?;
    let freed = freed::measure(conn, &root, &items, &olds)?;
    let to_remove: Vec<&Item> = items.iter().filter(|i| i.removes()).collect();
    let text = !removal.json && !ui.quiet();
    if text {
        for line in show::plan_lines(&items)
            .into_iter()
            .chain(show::trim_lines(&items, &olds, ui.verbose))
        {
            println!("{line}");
        }
        let lines = show::freed_lines(
            &freed,
            to_remove.len(),
            removal.dry_run,
            removal.show_lost,
            removal.bytes,
        );
        for line in lines {
            println!("{line}");
        }
    }
    let Some(opened) = opened.filter(|_| !removal.dry_run) else {
        if removal.json {
            print_json(
                show::json(&items, &olds, &freed, true, removal.show_lost, 0),
                &removal,
                &root,
                config,
            )?;
        }
        return Ok(Outcome::Clean);
    };
    let total = names_to_remove(conn, opened.path(), &to_remove)?;
    let progress = Progress::counting(
        Style::detect(ui.quiet() || removal.json),
        removal.command,
        total,
    );
    let removed = AtomicU64::new(0);
    let mut done = 0usize;
    let mut stuck = Vec::new();
    for item in &to_remove {
        let row = &item.member;
        if item.action == Action::Remove(Reason::Missing) {
            prune::delete_run(conn, row.id)?;
            crate::root::remove_side_files(opened.path(), &row.name, &row.timestamp);
        } else {
            let waiting = || {
                ui.say(format!(
                    "phlb: waiting for a reader of {} (a restore or download) to finish",
                    row.label()
                ))
            };
            stuck.extend(std::thread::scope(|s| -> Result<_> {
                let work = s.spawn(|| {
                    opened.remove_snapshot(row, config.worker_count(), &removed, &waiting)
                });
                while !work.is_finished() {
                    progress.set_done(removed.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(10));
                }
                work.join()
                    .unwrap_or_else(|_| bail!("{}: removal failed", row.label()))
            })?);
        }
        done += 1;
        if ui.verbose {
            progress.warn(&format!(
                "removed {}",
                crate::units::escape_controls(&row.label())
            ));
        }
    }
    progress.finish();
    stuck.extend(trim_versions(opened, conn, &olds, ui)?);
    // Said once each; the run goes on and the next writer tries again.
    for s in &stuck {
        eprintln!("{}", s.line());
    }
    // `latest` of every name looked at points at its newest snapshot on disk (also when
    // nothing was removed but the newest was deleted by hand).
    let mut names: Vec<&str> = items.iter().map(|i| i.member.name.as_str()).collect();
    names.dedup();
    for name in names {
        crate::root::latest::refresh(conn, opened.path(), name)?;
        // Its last snapshot gone: no empty `<name>` folder is left behind.
        crate::root::remove_empty_name_folder(opened.path(), name);
    }
    if removal.json {
        print_json(
            show::json(&items, &olds, &freed, false, removal.show_lost, done),
            &removal,
            &root,
            config,
        )?;
    } else if text {
        println!(
            "removed {done} snapshot{}",
            if done == 1 { "" } else { "s" }
        );
    }
    Ok(if stuck.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// Removes the older versions `olds` (`--keep-versions`): per snapshot, the catalog rows
/// move to `trimmed_entries` first, then the files and manifest lines go
/// (`root::finish_trims`, which the next writer also runs after a kill).
/// Returns what could not be deleted.
fn trim_versions(opened: &BackupRoot, db: &Db, olds: &[Old], ui: &Ui) -> Result<Vec<Stuck>> {
    let mut ids: Vec<i64> = olds.iter().map(|o| o.snapshot_id).collect();
    ids.dedup();
    let now = crate::clock::now_rfc3339();
    for id in ids {
        trim::record(db, id, olds, &now)?;
    }
    let (removed, stuck) =
        crate::root::finish_trims(opened.path(), &opened.catalog, &|line| ui.say(line))?;
    if removed > 0 && ui.verbose {
        ui.say(format!("trimmed {removed} old versions"));
    }
    Ok(stuck)
}

/// Prints the one JSON document of a run.
/// How many names removing `items` unlinks, as the removal counts them: each entry the
/// catalog records (the snapshot's folder is one, `.`) and the files beside it (summary,
/// log, manifest). Not `files`, which leaves out folders and symlinks (the count passed
/// it).
fn names_to_remove(conn: &Db, root: &Path, items: &[&Item]) -> Result<u64> {
    let mut total = 0;
    for item in items {
        let row = &item.member;
        if item.action == Action::Remove(Reason::Missing) {
            continue;
        }
        total += prune::entry_count(conn, row.id)?;
        total += crate::root::snapshot_places(root, &row.name, &row.timestamp)
            .iter()
            .filter(|p| p.symlink_metadata().is_ok_and(|m| !m.is_dir()))
            .count() as u64;
    }
    Ok(total)
}

fn print_json(
    doc: serde_json::Value,
    removal: &RemovalArgs,
    root: &Path,
    config: &Config,
) -> Result<()> {
    let doc = crate::root::with_where(doc, root, config.file.as_deref());
    if removal.json_line {
        println!("{}", serde_json::json!({ "prune": doc }));
    } else {
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(())
}
