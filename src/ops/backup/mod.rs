//! Backing up (what `phlb backup` and `watch` run): checks the sources and the backup
//! root, takes the writer lock, and makes one snapshot per source.

mod attempt;
mod counts;
mod dry_run;
mod hooks;
mod leftovers;
mod links;
mod pull;
mod side_files;
mod snapshot;
mod sources;
mod start;

pub(crate) use sources::{check_owner, check_sources_against_root, prepare_root, sources_of_run};

pub use attempt::{record as record_attempt, record_snapshot};
pub use counts::{Counts, Failures, RunKind};
pub use hooks::snapshot_with_hooks;
pub(crate) use start::{fast_path_base, open_for_backup, scan_options, Base};
use start::{pick_timestamp, previous};

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use self::leftovers::DeadRuns;
use crate::catalog::{Catalog, SnapshotRow, Writer};
use crate::config::{Config, LogLevel};
use crate::layout::SnapshotPaths;
use crate::lock::Wait;
use crate::ops::Run;
use crate::progress::{Progress, Ui};
use crate::remote::Remote;
use crate::root::BackupRoot;
use crate::scan::SourceDir;
use crate::stamp::{SourceId, Stamp, TimeSource};
use crate::store;
use crate::sys::flush::Flusher;
use crate::tell::Tell;
use crate::Outcome;

/// A source folder to back up and the snapshot name it goes under.
#[derive(Debug, Clone)]
pub struct Source {
    /// The folder a snapshot is made from: the canonical absolute path of a local
    /// source; for a remote one, its mirror's tree (set once the backup root is open).
    pub path: PathBuf,
    pub name: String,
    /// The user said the name's source moved here (`--source-moved`).
    pub moved: bool,
    /// A folder on another machine, pulled into `path` with rsync before each snapshot.
    pub remote: Option<Remote>,
}

impl Source {
    /// This source as the catalog and the side file record it: host and canonical path
    /// (for a remote source `user@host` and its normalised path).
    pub fn id(&self) -> SourceId {
        match &self.remote {
            Some(r) => SourceId {
                host: r.login(),
                path: r.path.as_bytes().to_vec(),
            },
            None => SourceId {
                host: crate::stamp::hostname(),
                path: self.path.as_os_str().as_bytes().to_vec(),
            },
        }
    }

    /// The source as messages show it: its folder, or `user@host:/path`.
    pub fn shown(&self) -> String {
        match &self.remote {
            Some(r) => r.shown(),
            None => self.path.display().to_string(),
        }
    }
}

/// What to back up and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Source folders; the config's `SOURCES` when empty.
    pub sources: Vec<PathBuf>,
    /// The snapshot name of the one source (`--name`).
    pub name: Option<String>,
    /// The name's source moved here (`--source-moved`).
    pub source_moved: bool,
    pub run: Run,
    /// Prune the names backed up by the config's `KEEP_*` rules after a clean backup,
    /// this way (`--prune`).
    pub prune: Option<crate::ops::prune::Removal>,
    /// How to treat a writer lock another run holds.
    pub wait: Wait,
}

/// Where a backup's results go as each snapshot is made; the front end shows them as
/// text or JSON (and a `--prune` after it through `prune::Shows`).
pub trait Shows: crate::ops::prune::Shows {
    /// A snapshot was made in the backup root `root`.
    fn made(&self, made: &SnapshotReport, root: &Path) -> Result<()>;
    /// What a dry run of one source would do.
    fn planned(&self, name: &str, counts: &Counts, elapsed: std::time::Duration);
}

/// Backs up every source of `options`, one snapshot each; the names whose snapshot was
/// made go to `done` with their exit code (0, or 1 when files failed).
pub fn backup(
    config: &Config,
    options: &Options,
    ui: &Ui,
    shows: &dyn Shows,
    done: &mut Vec<(String, i32)>,
) -> Result<Outcome> {
    let mut sources = sources_of_run(config, &options.sources, options.name.as_deref())?;
    for s in &mut sources {
        s.moved = options.source_moved;
    }
    if options.run == Run::DryRun {
        if let Some(s) = sources.iter().find(|s| s.remote.is_some()) {
            anyhow::bail!(
                "{}: a dry run does not pull a remote source; run the backup (only changed \
                 files cross the network)",
                s.shown()
            );
        }
        return dry_run::run(config, &sources, ui, shows);
    }
    if options.prune.is_some() {
        crate::ops::prune::check_backup_policy(config)?;
    }
    let root = prepare_root(config)?;
    check_sources_against_root(&sources, &root)?;
    for s in sources.iter_mut().filter(|s| s.remote.is_some()) {
        s.path = crate::remote::mirror_tree(&root, &s.name);
    }
    let say: &dyn Tell = ui;
    let opened = open_for_backup(config, &root, ui, options.wait)?;
    // A name is one source: every source is checked before any snapshot is made.
    let db = opened.catalog.db()?;
    crate::ops::open::note_mixed(&db, say)?;
    for source in &sources {
        check_owner(&db, source, say)?;
    }
    drop(db);
    let mut outcome = Outcome::Clean;
    for source in &sources {
        // Ctrl-C or SIGTERM: the run starts nothing new, finishes the files in hand and
        // records them, committed at once, within the signal's grace period (2 s), so the
        // large files being copied when it came are linked by the next run, not copied
        // again (#28); a stopped run is never completed (`make_snapshot`).
        crate::signals::on_stop(|| {});
        let made = snapshot_with_hooks(&opened, config, source, ui);
        crate::signals::clear_on_stop();
        let made = made?;
        for gone in &made.removed_leftovers {
            say.note(&format!("removed the leftovers of interrupted run {gone}"));
        }
        shows.made(&made, &opened.path)?;
        if made.counts.failed > 0 {
            outcome = Outcome::Problems;
        }
        done.push((source.name.clone(), i32::from(made.counts.failed > 0)));
    }
    if let Some(removal) = options.prune {
        if outcome == Outcome::Clean {
            let names: Vec<String> = sources.iter().map(|s| s.name.clone()).collect();
            crate::ops::prune::after_backup(&opened, config, &names, removal, say, shows)?;
        } else {
            say.note("not pruning: some files could not be backed up");
        }
    }
    drop(opened);
    Ok(outcome)
}

/// What one snapshot run did, for its caller to show: nothing is printed while it runs
/// but the progress and, with `--verbose`, the per-file lines (both as `Ui` says).
#[derive(Debug, Clone)]
pub struct SnapshotReport {
    /// `NAME/TIMESTAMP` of the new snapshot.
    pub label: String,
    pub counts: counts::Counts,
    /// The summary text, as written beside the snapshot.
    pub summary: String,
    /// Interrupted runs of the same name whose leftovers were removed.
    pub removed_leftovers: Vec<String>,
    /// How long the run took.
    pub elapsed: std::time::Duration,
    /// The paths that could not be backed up, and why.
    pub failures: counts::Failures,
}

/// Makes one complete snapshot of `source` in the open backup root and returns what it
/// did; one engine entry point for `phlb backup` and any caller that holds a root (a
/// watch loop).
pub fn make_snapshot(
    opened: &BackupRoot,
    config: &Config,
    source: &Source,
    ui: &Ui,
) -> Result<SnapshotReport> {
    let (root, catalog) = (opened.path(), &opened.catalog);
    let started = Instant::now();
    let name = &source.name;
    let sums = config.hash.manifest_suffix();
    let db = catalog.db()?;
    let format = &config.sub_dir_formatter;
    // Checked by the caller before anything was written (`phlb backup`); again here for
    // every other caller (a watch), silently.
    let moved = check_owner(&db, source, &crate::tell::Silent)?;
    // A remote source is pulled into its mirror first; a pull that fails leaves no
    // trace of a snapshot (exit 2).
    let pulled = match &source.remote {
        Some(remote) => Some(pull::pull(config, root, source, remote, ui)?),
        None => None,
    };
    let settled = leftovers::clean(&db, root, name, sums, format, DeadRuns::Keep)?;
    crate::root::still_a_root(root)?;
    store::make_private_dir(&root.join(name))?;
    let prev = previous(&db, root, source, config.hash)?;
    let prev_run = prev.as_ref().map(|p| p.run_id);
    // The manifest a no-change run can share (see `finish_manifest`).
    let prev_manifest = prev.as_ref().map(|p| {
        let mut side = p.dir.clone().into_os_string();
        side.push(".");
        side.push(sums);
        std::path::PathBuf::from(side)
    });
    let resume = leftovers::resumable(&db, root, source, sums, config.hash)?;
    let now = crate::clock::now_utc();
    let (ts, paths) = pick_timestamp(&db, root, config, name, now.with_timezone(&chrono::Local))?;
    let label = crate::snapshot_id::SnapshotId::new(name, &ts).to_string();
    crate::signals::doing(format!(
        "backup of {label} stopped; nothing was marked complete, the next run links the files it finished, then removes the leftovers"
    ));
    // Held until this function returns: `status` asks it whether the run is alive.
    let _alive = crate::lock::run::hold(&config.meta_dir(), name, &ts)?;
    let stamp = Stamp {
        instant_ns: now.timestamp_nanos_opt().unwrap_or(0),
        offset_secs: crate::stamp::local_offset(now),
        sequence: SnapshotRow::next_sequence(&db)?,
        time_source: TimeSource::Run,
        source: Some(source.id()),
        source_moved: moved,
    };
    let snapshot = SnapshotRow::create(&db, name, &ts, config.hash, &stamp)?;
    store::make_dir(&paths.work_dir).with_context(|| {
        format!(
            "{}: cannot create snapshot folder",
            paths.work_dir.display()
        )
    })?;
    let source_dir = SourceDir::open_canonical(&source.path)
        .with_context(|| format!("{}: cannot back up", source.path.display()))?;
    let linking = match &opened.linking {
        Some(l) => l.clone(),
        None => crate::root::linking::resolve(config, root, &catalog.db()?, ui)?,
    };
    let inputs = snapshot::Inputs {
        config,
        catalog_path: catalog.path(),
        root,
        source: Arc::new(source_dir),
        snapshot: &snapshot,
        paths: &paths,
        prev,
        resume,
        verbose: ui.verbose,
        sharing: linking.sharing,
    };
    let flusher = config
        .sync
        .then(|| Flusher::start(&paths.work_dir))
        .transpose()
        .with_context(|| format!("{}: cannot open snapshot folder", paths.work_dir.display()))?;
    let mut scan = scan_options(config, root)?;
    snapshot.set_xattrs_read(&db, scan.xattrs.label())?;
    scan.defer_attrs = start::defer_attrs(&db, prev_run, scan.xattrs, linking.sharing)?;
    let writer = Writer::start(db)?;
    let linker = links::Linker::new(root, linking.sharing, config.max_links, writer.committed());
    let progress = Progress::new(ui.style, &format!("backup {label}"), 0, 0);
    let mut run = snapshot::Run::start(inputs, writer, catalog.db()?, linker)?;
    for label in &settled.finished {
        run.log
            .line(LogLevel::Info, &format!("finished interrupted run {label}"));
    }
    if let Some(pulled) = &pulled {
        pulled.log_into(&mut run.log);
    }
    let walked = run.walk(&scan, &progress);
    // From here a signal ends the process at once (nothing more is worth finishing); one
    // that came before stops the run here, never marked complete.
    crate::signals::clear_on_stop();
    walked?;
    if crate::signals::stopped() {
        anyhow::bail!("{label}: stopped by a signal before the snapshot was complete");
    }
    if let (Some(pulled), Some(remote)) = (&pulled, &source.remote) {
        pulled.count_into(&mut run, remote, &progress);
    }
    let (counts, mut log, failures) = run.finish(&progress)?;
    progress.finish();
    let summary = counts.summary(&label, started.elapsed(), RunKind::Real)
        + &format!("  links:   {}\n", linking.line)
        + &failures.text();
    let finish = Finish {
        catalog,
        snapshot: &snapshot,
        stamp: &stamp,
        paths: &paths,
        prev_manifest: prev_manifest.as_deref(),
    };
    complete(&finish, &counts, &summary, &mut log, flusher)?;
    crate::signals::doing(format!(
        "backup stopped after {label} was complete; the next run removes any leftovers"
    ));
    let db = catalog.db()?;
    let cleaned = leftovers::clean(&db, root, name, sums, format, DeadRuns::Remove)?;
    for why in &cleaned.stuck {
        ui.warning(&why.to_string());
    }
    // The snapshot is complete whatever happens to the link; a failure is only told.
    if let Err(e) = crate::root::latest::refresh(&db, root, name) {
        ui.warning(&format!("{e:#}"));
    }
    Ok(SnapshotReport {
        label,
        counts,
        summary,
        removed_leftovers: cleaned.removed,
        elapsed: started.elapsed(),
        failures,
    })
}

/// What the last steps of a run work on.
#[derive(Clone, Copy)]
struct Finish<'a> {
    catalog: &'a Catalog,
    snapshot: &'a SnapshotRow,
    stamp: &'a Stamp,
    paths: &'a SnapshotPaths,
    /// The previous snapshot's manifest, which an identical one is linked to.
    prev_manifest: Option<&'a Path>,
}

/// The last steps of a run, in an order that a kill (or, with `SYNC`, a power cut) at any
/// point leaves safe: everything written out to disk, side files under final names (the
/// stamp with the summary, before the flush), the counters, the folder rename, and
/// `complete` in the catalog last.
fn complete(
    finish: &Finish,
    counts: &counts::Counts,
    summary: &str,
    log: &mut counts::Log,
    flusher: Option<Flusher>,
) -> Result<()> {
    let Finish {
        catalog,
        snapshot,
        stamp,
        paths,
        prev_manifest,
    } = *finish;
    let ctx = |p: &Path| format!("{}: cannot finish snapshot", p.display());
    store::write_file(&paths.summary, summary.as_bytes()).with_context(|| ctx(&paths.summary))?;
    stamp.write(&paths.stamp)?;
    log.line(LogLevel::Info, "snapshot complete");
    log.flush()?;
    let synced = flusher.is_some();
    if let Some(flusher) = flusher {
        flusher.finish().with_context(|| {
            format!(
                "{}: cannot write the snapshot to disk",
                paths.work_dir.display()
            )
        })?;
    }
    std::fs::rename(&paths.work_log, &paths.log).with_context(|| ctx(&paths.log))?;
    // A snapshot without regular files gets no manifest: an empty one is refused by
    // `sha256sum -c` ("no properly formatted checksum lines").
    side_files::finish_manifest(&paths.work_manifest, &paths.manifest, prev_manifest)
        .with_context(|| ctx(&paths.manifest))?;
    let db = catalog.db()?;
    let finished_at = crate::clock::now_rfc3339();
    snapshot.set_totals(&db, &counts.totals(), &finished_at)?;
    std::fs::rename(&paths.work_dir, &paths.dir).with_context(|| ctx(&paths.dir))?;
    if synced {
        let parent = paths.dir.parent().unwrap_or(Path::new("."));
        crate::sys::flush::sync_dir(parent).with_context(|| ctx(&paths.dir))?;
    }
    snapshot.mark_complete(&db)?;
    Ok(())
}
