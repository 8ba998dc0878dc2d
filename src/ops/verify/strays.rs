//! What `verify` finds beside the recorded snapshots: folders the catalog does not know,
//! and the leftovers of interrupted runs (notes, not damage).

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;

use super::Report;
use crate::catalog::snapshots::Status;
use crate::catalog::{Db, SnapshotRow};
use crate::config::Config;
use crate::layout::IN_PROGRESS;
use crate::units::one_line;

/// Notes runs that never finished and their in-progress folders (the next backup of
/// their name settles them); they are not damage.
pub(super) fn leftovers(db: &Db, root: &Path, report: &mut Report) -> Result<()> {
    for snap in SnapshotRow::all(db)? {
        if snap.status == Status::Incomplete {
            let done = root.join(&snap.name).join(&snap.timestamp).is_dir();
            let why = if done {
                "finished on disk but not yet marked complete (the next backup of this name marks it)"
            } else {
                "interrupted run, not complete (the next backup of this name removes it)"
            };
            report.note(&snap.label(), why);
        }
    }
    let Ok(names) = std::fs::read_dir(root) else {
        return Ok(());
    };
    for name in names.flatten().filter(|e| e.path().is_dir()) {
        let Ok(items) = std::fs::read_dir(name.path()) else {
            continue;
        };
        for item in items.flatten() {
            if item.file_name().to_string_lossy().ends_with(IN_PROGRESS) && item.path().is_dir() {
                report.note(
                    &one_line(&item.path()),
                    "leftover of an interrupted run (the next backup of this name removes it)",
                );
            }
        }
    }
    Ok(())
}

/// Reports snapshot folders on disk that the catalog does not know (`phlb add` records
/// them).
pub(super) fn unknown_folders(
    db: &Db,
    root: &Path,
    config: &Config,
    report: &mut Report,
) -> Result<()> {
    let known: HashSet<(String, String)> = SnapshotRow::all(db)?
        .into_iter()
        .map(|s| (s.name, s.timestamp))
        .collect();
    let Ok(names) = std::fs::read_dir(root) else {
        return Ok(());
    };
    for name in names.flatten() {
        let Some(n) = name.file_name().to_str().map(String::from) else {
            continue;
        };
        if n.starts_with('.') || !name.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(items) = std::fs::read_dir(name.path()) else {
            continue;
        };
        for item in items.flatten() {
            let Some(ts) = item.file_name().to_str().map(String::from) else {
                continue;
            };
            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
            if is_dir
                && crate::layout::is_timestamp(&ts, &config.sub_dir_formatter)
                && !known.contains(&(n.clone(), ts.clone()))
            {
                report.problem(
                    &one_line(&item.path()),
                    "snapshot folder not in the catalog (`phlb add` records it)",
                );
            }
        }
    }
    Ok(())
}
