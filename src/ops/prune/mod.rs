//! Removing snapshots (what `phlb prune` and `phlb forget` run): snapshots chosen by a
//! retention policy (`crate::retention`) or by name, told first exactly what that frees
//! (`plan`, shown through `Shows`), then removed through the root
//! (`BackupRoot::remove_snapshot`). `backup --prune` runs the same removal after a
//! successful backup.

mod freed;
mod plan;

pub use crate::ops::Run;
pub use freed::Freed;
pub use plan::{Action, Item, Reason};

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, Result};

use crate::catalog::prune::members;
use crate::catalog::snapshots::Status;
use crate::catalog::trim::{self, Old};
use crate::catalog::{prune, Db};
use crate::catalog::{Access, Catalog, SnapshotRow};
use crate::config::Config;
use crate::lock::Wait;
use crate::ops::open::{existing_root, resolve};
use crate::progress::{Progress, Style};
use crate::retention::Policy;
use crate::root::stuck::Stuck;
use crate::root::{BackupRoot, Filesystem};
use crate::tell::Tell;
use crate::Outcome;

/// How a removal runs.
#[derive(Debug, Clone, Copy)]
pub struct Removal {
    pub run: Run,
    /// How to treat a writer lock another run holds.
    pub wait: Wait,
    /// The progress shown while removing (`Quiet` for none).
    pub style: Style,
    /// Each removed snapshot and trimmed count is said (`--verbose`).
    pub verbose: bool,
    /// The command the progress line names (`prune`, `forget`, `backup --prune`).
    pub command: &'static str,
}

/// The plan of a removal, as it is shown before anything is removed.
pub struct Plan<'a> {
    pub items: &'a [Item],
    /// Older versions `--keep-versions` trims.
    pub olds: &'a [Old],
    pub freed: &'a Freed,
    pub run: Run,
    /// The backup root, canonical.
    pub root: &'a Path,
}

/// Where a removal's plan and result go; the front end shows them as text or JSON.
pub trait Shows {
    /// The plan, before anything is removed.
    fn plan(&self, plan: &Plan);
    /// The result: `removed` snapshots are gone (0 in a dry run).
    fn done(&self, plan: &Plan, removed: usize) -> Result<()>;
}

/// Removes the snapshots of `names` (all when empty) that `policy` does not keep.
pub fn prune(
    config: &Config,
    policy: &Policy,
    names: &[String],
    removal: Removal,
    tell: &dyn Tell,
    shows: &dyn Shows,
) -> Result<Outcome> {
    let pick = |conn: &Db, root: &Path| -> Result<Vec<Item>> {
        let all = members(conn, None)?;
        for name in names {
            if !all.iter().any(|m| &m.name == name) {
                bail!("{name}: no snapshots of this name in the catalog");
            }
        }
        let chosen: Vec<SnapshotRow> = all
            .into_iter()
            .filter(|m| names.is_empty() || names.contains(&m.name))
            .collect();
        plan::check_clock(&chosen)?;
        for line in plan::per_source_notes(&chosen) {
            tell.note(&line);
        }
        let rules = (!policy.keeps_all_snapshots()).then_some(policy);
        Ok(plan::by_policy(chosen, rules, root))
    };
    with_root(config, tell, removal, policy.versions, shows, pick)
}

/// Removes the snapshots `specs` names exactly (`NAME/TIMESTAMP` or a folder path), and
/// with `missing` every snapshot whose folder is gone.
pub fn forget(
    config: &Config,
    specs: &[String],
    missing: bool,
    removal: Removal,
    tell: &dyn Tell,
    shows: &dyn Shows,
) -> Result<Outcome> {
    let root = existing_root(config)?;
    let pick = |conn: &Db, _: &Path| -> Result<Vec<Item>> {
        let all = members(conn, None)?;
        let mut items: Vec<Item> = Vec::new();
        if missing {
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
        for spec in specs {
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
    with_root(config, tell, removal, None, shows, pick)
}

/// Prunes the snapshots of `names` by the config's `KEEP_*` rules in the root a backup
/// holds open (`backup --prune`, and watch's prune after each snapshot).
pub fn after_backup(
    opened: &BackupRoot,
    config: &Config,
    names: &[String],
    removal: Removal,
    tell: &dyn Tell,
    shows: &dyn Shows,
) -> Result<Outcome> {
    let conn = opened.catalog.db()?;
    let chosen: Vec<SnapshotRow> = members(&conn, None)?
        .into_iter()
        .filter(|m| names.contains(&m.name))
        .collect();
    plan::check_clock(&chosen)?;
    for line in plan::per_source_notes(&chosen) {
        tell.note(&line);
    }
    let rules = (!config.keep.keeps_all_snapshots()).then_some(&config.keep);
    let items = plan::by_policy(chosen, rules, opened.path());
    let removal = Removal {
        run: Run::Real,
        ..removal
    };
    let versions = config.keep.rules().versions;
    carry_out(
        Some(opened),
        &conn,
        items,
        versions,
        config,
        tell,
        removal,
        shows,
    )
}

/// Refuses a bad `backup --prune` before the backup starts.
pub fn check_backup_policy(config: &Config) -> Result<()> {
    if config.keep.is_empty() {
        bail!("--prune needs retention rules: set KEEP_LAST, KEEP_DAILY, ... or KEEP_WITHIN in the config");
    }
    Ok(())
}

/// Opens the root (read-only for a dry run, as the writer otherwise), picks the items and
/// carries out the plan.
fn with_root(
    config: &Config,
    tell: &dyn Tell,
    removal: Removal,
    versions: Option<u32>,
    shows: &dyn Shows,
    pick: impl Fn(&Db, &Path) -> Result<Vec<Item>>,
) -> Result<Outcome> {
    if removal.run == Run::DryRun {
        // Peek: not even the -shm and -wal files a reader would make.
        let root = existing_root(config)?;
        let catalog = Catalog::open(&root.join(crate::root::META_DIR), Access::Peek)?;
        let conn = catalog.db()?;
        let items = pick(&conn, &root)?;
        return carry_out(None, &conn, items, versions, config, tell, removal, shows);
    }
    existing_root(config)?;
    let opened =
        BackupRoot::open_remover(&config.backup_path, Filesystem::Any, removal.wait, tell)?;
    crate::signals::doing("prune stopped; the next prune or backup finishes the removal it began");
    // Room for the catalog's changes on a full disk; made again when `opened` closes.
    opened.make_room();
    crate::ops::record::settle_times(&opened.catalog, config)?;
    let conn = opened.catalog.db()?;
    let items = pick(&conn, opened.path())?;
    carry_out(
        Some(&opened),
        &conn,
        items,
        versions,
        config,
        tell,
        removal,
        shows,
    )
}

/// Shows the plan, and (with a root open for writing) removes what it says.
#[allow(clippy::too_many_arguments)]
fn carry_out(
    opened: Option<&BackupRoot>,
    conn: &Db,
    items: Vec<Item>,
    versions: Option<u32>,
    config: &Config,
    tell: &dyn Tell,
    removal: Removal,
    shows: &dyn Shows,
) -> Result<Outcome> {
    let root = match opened {
        Some(o) => o.path().to_path_buf(),
        None => existing_root(config)?,
    };
    let olds = plan::trims(conn, &items, versions)?;
    let freed = freed::measure(conn, &root, &items, &olds)?;
    let to_remove: Vec<&Item> = items.iter().filter(|i| i.removes()).collect();
    let plan = Plan {
        items: &items,
        olds: &olds,
        freed: &freed,
        run: removal.run,
        root: &root,
    };
    shows.plan(&plan);
    let Some(opened) = opened.filter(|_| removal.run == Run::Real) else {
        shows.done(&plan, 0)?;
        return Ok(Outcome::Clean);
    };
    let total = names_to_remove(conn, opened.path(), &to_remove)?;
    let progress = Progress::counting(removal.style, removal.command, total);
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
                tell.step(&format!(
                    "waiting for a reader of {} (a restore or download) to finish",
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
        if removal.verbose {
            progress.info(&format!(
                "removed {}",
                crate::units::escape_controls(&row.label())
            ));
        }
    }
    progress.finish();
    stuck.extend(trim_versions(opened, conn, &olds, tell, removal.verbose)?);
    // Said once each; the run goes on and the next writer tries again.
    for s in &stuck {
        tell.warning(&s.line());
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
    shows.done(&plan, done)?;
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
fn trim_versions(
    opened: &BackupRoot,
    db: &Db,
    olds: &[Old],
    tell: &dyn Tell,
    verbose: bool,
) -> Result<Vec<Stuck>> {
    let mut ids: Vec<i64> = olds.iter().map(|o| o.snapshot_id).collect();
    ids.dedup();
    let now = crate::clock::now_rfc3339();
    for id in ids {
        trim::record(db, id, olds, &now)?;
    }
    let (removed, stuck) = crate::root::finish_trims(opened.path(), &opened.catalog, tell)?;
    if removed > 0 && verbose {
        tell.info(&format!("trimmed {removed} old versions"));
    }
    Ok(stuck)
}

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
