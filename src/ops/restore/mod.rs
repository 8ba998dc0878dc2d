//! Restoring (what `phlb restore` runs): copies a snapshot (or paths in it) back out with each path's
//! recorded metadata, verifying every file's hash while copying. It takes no writer
//! lock (it only reads the backup root) and holds the snapshot's shared lock, so a
//! prune or forget waits for it instead of removing the snapshot mid-restore.

mod attrs;
mod copy;
mod dry_run;
mod engine;
mod ledger;
mod meta;
mod pick;
mod resolve;
mod target;

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::catalog::entries::{
    run_size, snapshot_entries, snapshot_non_files, snapshot_totals, Recorded, SnapshotRuns,
};
use crate::catalog::links::source_link_groups;
use crate::catalog::snapshots::Status;

use crate::config::Config;
use crate::layout::snapshot_dir_rel;
use crate::lock::snapshot::{lock, Hold};
use crate::ops::open::{open_read, resolve};
use crate::ops::Run;
use crate::progress::{Progress, Style};
use crate::tell::Tell;
use crate::units::one_line;

use copy::Ctx;
use ledger::Ledger;
pub use ledger::{summary, Tally};
pub use target::Replace;
use target::Target;

/// What to restore, where, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The snapshot as the user named it (`NAME`, `NAME/TIMESTAMP`, a folder path).
    pub snapshot: String,
    /// Paths inside the snapshot; all of it when empty.
    pub paths: Vec<PathBuf>,
    /// The target folder.
    pub to: PathBuf,
    /// Whether existing files in the target may be replaced (`--force`).
    pub replace: Replace,
    pub run: Run,
    /// Each restored path is said (`--verbose`).
    pub verbose: bool,
}

/// What a restore did (or would do), for its summary.
#[derive(Debug)]
pub struct Restored {
    /// `NAME/TIMESTAMP` of the snapshot.
    pub label: String,
    /// The target as the user named it, on one line.
    pub to: String,
    pub tally: Tally,
    /// Paths asked for that lie in trimmed versions.
    pub trimmed_at: Vec<String>,
    pub took: Duration,
}

/// Restores `options.snapshot` (or paths in it) to `options.to`, showing progress as
/// `style` says and its lines through `tell`.
pub fn restore(
    config: &Config,
    options: &Options,
    style: Style,
    tell: &dyn Tell,
) -> Result<Restored> {
    let started = Instant::now();
    let dry_run = options.run == Run::DryRun;
    let (root, catalog) = if dry_run {
        // A dry run writes nothing, not even the -shm and -wal a reader makes.
        let root = crate::ops::open::existing_root(config)?;
        let meta = root.join(crate::root::META_DIR);
        (
            root,
            crate::catalog::Catalog::open(&meta, crate::catalog::Access::Peek)?,
        )
    } else {
        open_read(config, tell)?
    };
    let conn = catalog.db()?;
    let snap = resolve(&conn, &root, &options.snapshot)?;
    let label = snap.label();
    if snap.status != Status::Complete {
        bail!(
            "{label}: the snapshot is {}; only complete snapshots are restored",
            snap.status.as_str()
        );
    }
    let dir = root.join(snapshot_dir_rel(&snap.name, &snap.timestamp, true));
    let _held = lock(&dir, Hold::Shared, &|| {
        tell.step(&format!(
            "waiting: {}: a prune or forget is removing this snapshot",
            one_line(&dir)
        ))
    })?;
    // Opened after the lock: a snapshot removed while we waited is gone by now.
    let snap_dir: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&dir)
        .map(OwnedFd::from)
        .with_context(|| format!("{}: cannot open snapshot {label}", one_line(&dir)))?;
    // A whole snapshot is restored file run by file run from the catalog (memory flat in
    // its size): only its folders and symlinks are read first. Paths and globs are
    // picked from every entry, and a dry run tells every entry.
    let streamed = options.paths.is_empty() && !dry_run;
    // Everything the restore reads of the catalog from here on is one state of it (one
    // read transaction, held to the end): a `prune --keep-versions` that trims this
    // snapshot meanwhile (it records the trim, then waits for our lock to delete the
    // files) cannot take files out of the runs read later.
    let read = conn.begin()?;
    let conn = &*read;
    let entries = if streamed {
        snapshot_non_files(conn, snap.id)?
    } else {
        snapshot_entries(conn, snap.id)?
    };
    let groups = source_link_groups(conn, snap.id)?;
    let trimmed = crate::catalog::trim::trimmed_paths(conn, snap.id)?;
    let attrs = attrs::Attrs::load(conn, snap.id)?;
    let picked = pick::pick(&entries, &options.paths, &trimmed)?;
    let (trimmed_files, trimmed_at) = pick::trimmed_within(&picked, &options.paths, &trimmed);
    let target = match resolve::walk(&options.to, !dry_run, &root)? {
        resolve::Walked::Open(fd) => Some(Target::new(fd)),
        resolve::Walked::Missing => None,
    };
    let (files, bytes) = if streamed {
        snapshot_totals(conn, snap.id)?
    } else {
        (
            picked.len() as u64,
            picked.iter().map(|p| p.rec.meta.size).sum(),
        )
    };
    let progress = Progress::new(style, &format!("restore {label}"), files, bytes);
    let shown_to = one_line(&options.to);
    let ctx = target.as_ref().map(|target| Ctx {
        snap: snap_dir.as_fd(),
        target,
        replace: options.replace,
        as_root: crate::store::running_as_root(),
        attrs: &attrs,
    });
    let mut tell = Ledger {
        progress: &progress,
        to: &options.to,
        verbose: options.verbose,
        tally: Tally {
            trimmed: trimmed_files,
            ..Tally::default()
        },
    };
    if dry_run {
        dry_run::tell_plan(ctx.as_ref(), &picked, &mut tell);
    } else {
        let ctx = ctx.as_ref().expect("the target is open");
        crate::signals::doing(format!(
            "restore of {label} to {shown_to} stopped; the files restored so far are complete, \
             the others are missing (run it again to finish)"
        ));
        let workers = config.worker_count();
        if streamed {
            let runs = SnapshotRuns::files(conn, snap.id, run_size());
            engine::restore(ctx, &picked, runs, &groups, workers, &mut tell)?;
        } else {
            let chosen: Vec<Recorded> = picked
                .iter()
                .filter(|p| p.rec.kind == crate::scan::Kind::File)
                .map(|p| p.rec.clone())
                .collect();
            let runs = std::iter::once(Ok(chosen));
            engine::restore(ctx, &picked, runs, &groups, workers, &mut tell)?;
        }
    }
    drop(read);
    drop(catalog);
    let dropped = attrs.dropped_so_far();
    if let Some((rel, why)) = &dropped.first {
        tell.tally.attrs_dropped = dropped.paths;
        progress.note(&format!(
            "{}: {why}; the extended attributes of {} path{} were not all put back \
             (counted in the summary)",
            one_line(&options.to.join(copy::os(rel))),
            dropped.paths,
            if dropped.paths == 1 { "" } else { "s" },
        ));
    }
    progress.finish();
    Ok(Restored {
        label,
        to: shown_to,
        tally: tell.tally,
        trimmed_at,
        took: started.elapsed(),
    })
}
