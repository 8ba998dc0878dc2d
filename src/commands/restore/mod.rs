//! `phlb restore`: copies a snapshot (or paths in it) back out with each path's
//! recorded metadata, verifying every file's hash while copying. It takes no writer
//! lock (it only reads the backup root) and holds the snapshot's shared lock, so a
//! prune or forget waits for it instead of removing the snapshot mid-restore.

mod copy;
mod dry_run;
mod engine;
mod meta;
mod mounts;
mod report;
mod select;
mod target;

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::catalog::entries::snapshot_entries;
use crate::catalog::links::source_link_groups;
use crate::catalog::snapshots::Status;
use crate::cli::RestoreArgs;
use crate::commands::select::{open_read, resolve};
use crate::config::Config;
use crate::layout::snapshot_dir_rel;
use crate::lock::snapshot::{lock, Hold};
use crate::progress::{Progress, Style, Ui};
use crate::units::one_line;
use crate::Outcome;

use copy::Ctx;
use report::{Tally, Tell};
use target::{Replace, Target};

/// Refuses a target inside the backup root: a restore never changes a snapshot.
fn refuse_inside_root(to: &Path, root: &Path) -> Result<()> {
    let abs = std::path::absolute(to).context("cannot read the current folder")?;
    // Judged by the deepest part that exists (the rest is made below it).
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while existing.symlink_metadata().is_err() {
        let Some(parent) = existing.parent() else {
            break;
        };
        rest.push(existing.file_name().unwrap_or_default());
        existing = parent;
    }
    let mut real = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    // Through the mount table too: a bind mount of the root or of any folder inside it
    // (a snapshot, a `<name>` folder, `.phlb`) names a folder in it by another path.
    let bound_inside = mounts::within(&real, root);
    real.extend(rest.iter().rev());
    if real.starts_with(root) || bound_inside {
        bail!(
            "{}: inside the backup root {}; restore to a folder outside it",
            one_line(to),
            one_line(root)
        );
    }
    Ok(())
}

/// Runs `phlb restore`.
pub fn run(config: &Config, ui: &Ui, args: &RestoreArgs) -> Result<Outcome> {
    let started = Instant::now();
    let (root, catalog) = if args.dry_run {
        // A dry run writes nothing, not even the -shm and -wal a reader makes.
        let root = crate::commands::select::existing_root(config)?;
        let meta = root.join(crate::root::META_DIR);
        (
            root,
            crate::catalog::Catalog::open(&meta, crate::catalog::Access::Peek)?,
        )
    } else {
        open_read(config)?
    };
    let conn = catalog.db()?;
    let snap = resolve(&conn, &root, &args.snapshot)?;
    let label = snap.label();
    if snap.status != Status::Complete {
        bail!(
            "{label}: the snapshot is {}; only complete snapshots are restored",
            snap.status.as_str()
        );
    }
    let dir = root.join(snapshot_dir_rel(&snap.name, &snap.timestamp, true));
    let _held = lock(&dir, Hold::Shared, &|| {
        eprintln!(
            "phlb: waiting: {}: a prune or forget is removing this snapshot",
            one_line(&dir)
        )
    })?;
    // Opened after the lock: a snapshot removed while we waited is gone by now.
    let snap_dir: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&dir)
        .map(OwnedFd::from)
        .with_context(|| format!("{}: cannot open snapshot {label}", one_line(&dir)))?;
    let entries = snapshot_entries(&conn, snap.id)?;
    let groups = source_link_groups(&conn, snap.id)?;
    let trimmed = crate::catalog::trim::trimmed_paths(&conn, snap.id)?;
    drop(conn);
    drop(catalog);
    let picked = select::pick(&entries, &args.paths, &trimmed)?;
    refuse_inside_root(&args.to, &root)?;
    let target = Target::open(&args.to, !args.dry_run)
        .with_context(|| format!("{}: cannot open the restore target", one_line(&args.to)))?;
    let style = if args.json { Style::Quiet } else { ui.style };
    let files = picked.len() as u64;
    let bytes = picked.iter().map(|p| p.rec.meta.size).sum();
    let progress = Progress::new(style, &format!("restore {label}"), files, bytes);
    let shown_to = one_line(&args.to);
    let ctx = target.as_ref().map(|target| Ctx {
        snap: snap_dir.as_fd(),
        target,
        replace: if args.force {
            Replace::Allowed
        } else {
            Replace::Never
        },
        as_root: crate::store::running_as_root(),
    });
    let mut tell = Tell {
        progress: &progress,
        to: &args.to,
        verbose: ui.verbose,
        tally: Tally::default(),
    };
    if args.dry_run {
        dry_run::tell_plan(ctx.as_ref(), &picked, &mut tell);
    } else {
        let ctx = ctx.as_ref().expect("the target is open");
        crate::signals::doing(format!(
            "restore of {label} to {shown_to} stopped; the files restored so far are complete, \
             the others are missing (run it again to finish)"
        ));
        engine::restore(ctx, &picked, &groups, config.worker_count(), &mut tell);
    }
    progress.finish();
    let tally = tell.tally;
    if !ui.quiet() || args.json {
        print!(
            "{}",
            report::summary(
                &label,
                &shown_to,
                &tally,
                started.elapsed(),
                args.dry_run,
                args.json
            )
        );
    }
    Ok(if tally.problems() {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}
