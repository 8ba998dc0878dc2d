//! Owns what interrupted runs leave behind: finishing runs that completed on disk but not
//! in the catalog, and removing the folders, side files and rows of runs that died.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::snapshot::Previous;
use super::Source;
use crate::catalog::{Db, SnapshotRow};
use crate::layout::{leftover_of, SnapshotPaths};

/// What cleaning up found.
#[derive(Debug, Default)]
pub struct Cleaned {
    /// Runs whose snapshot folder had its final name: marked complete.
    pub finished: Vec<String>,
    /// Runs that died part-way: removed.
    pub removed: Vec<String>,
    /// Leftovers that could not be deleted (an immutable file), with why: told, never
    /// a reason to fail a run whose snapshot is complete.
    pub stuck: Vec<String>,
}

/// What `clean` does with runs that died part-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadRuns {
    /// Leave them: their stored copies stay link sources for the run about to start.
    Keep,
    /// Delete them, with any in-progress leftovers on disk the catalog does not know.
    Remove,
}

/// Settles the incomplete runs of `name`. Runs whose folder has its final name are marked
/// complete. With `DeadRuns::Remove`, dead runs are deleted, with any in-progress
/// leftovers on disk that the catalog does not know (a killed run whose rows were lost).
/// Only call it while holding the writer lock.
pub fn clean(
    db: &Db,
    root: &Path,
    name: &str,
    sums: &str,
    format: &str,
    dead: DeadRuns,
) -> Result<Cleaned> {
    let mut out = Cleaned::default();
    for run in SnapshotRow::incomplete(db, name)? {
        let paths = SnapshotPaths::new(root, name, &run.timestamp, sums);
        let label = crate::snapshot_id::SnapshotId::new(name, &run.timestamp).to_string();
        if paths.dir.is_dir() && !paths.work_dir.exists() {
            run.mark_complete(db)?;
            out.finished.push(label);
            continue;
        }
        if dead == DeadRuns::Keep {
            continue;
        }
        for side in [&paths.manifest, &paths.summary, &paths.log, &paths.stamp] {
            remove_any(side)?;
        }
        run.delete(db)?;
        out.removed.push(label);
    }
    if dead == DeadRuns::Keep {
        return Ok(out);
    }
    let parent = root.join(name);
    let Ok(listing) = fs::read_dir(&parent) else {
        return Ok(out);
    };
    for item in listing {
        let item = item.with_context(|| format!("{}: cannot list", parent.display()))?;
        let file_name = item.file_name();
        let Some(text) = file_name.to_str() else {
            continue;
        };
        // Only the exact names a run gives its in-progress folder and side files, with a
        // timestamp of this root's format (which can never itself hold `.inprogress`).
        let Some(ts) = leftover_of(text, format) else {
            continue;
        };
        if let Err(e) = remove_any(&item.path()) {
            out.stuck.push(format!(
                "{}; it stays until it can be deleted (an immutable file? `chattr -R -ia` on it, then the next run removes it)",
                crate::output::error_text(&e)
            ));
            continue;
        }
        if !out.removed.iter().any(|r| r.ends_with(ts)) {
            out.removed
                .push(crate::snapshot_id::SnapshotId::new(name, ts).to_string());
        }
    }
    Ok(out)
}

/// The runs of `source` (same name, same source folder, same `HASH`) that died part-way
/// and whose in-progress folder is still on disk, newest first. The files they finished
/// and recorded are linked by the next run when the source still looks the same, not
/// copied again (#28); `clean` removes the leftovers only after that run is complete.
pub fn resumable(
    db: &Db,
    root: &Path,
    source: &Source,
    sums: &str,
    algo: crate::hash::HashAlgo,
) -> Result<Vec<Previous>> {
    let from = source.id().path;
    let runs = crate::catalog::resume::dead_runs_of_source(db, &source.name, &from, algo)?;
    Ok(runs
        .into_iter()
        .filter_map(|run| {
            let paths = SnapshotPaths::new(root, &source.name, &run.timestamp, sums);
            let real_dir = paths.work_dir.symlink_metadata().is_ok_and(|m| m.is_dir());
            real_dir.then_some(Previous {
                dir: paths.work_dir,
                run_id: run.id,
            })
        })
        .collect())
}

/// Removes a file or a whole folder tree; missing is fine. Read-only folders inside a
/// dead snapshot are made writable first so nothing is left half-deleted.
fn remove_any(path: &Path) -> Result<()> {
    let Ok(md) = path.symlink_metadata() else {
        return Ok(());
    };
    let result = if md.is_dir() {
        make_writable(path);
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    result.with_context(|| {
        format!(
            "{}: cannot remove leftover of an interrupted run",
            path.display()
        )
    })
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_dir() {
            let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o700));
        }
    }
}
