//! Finds and repairs stale inode numbers in the catalog: a backup root copied to another
//! folder of its filesystem (`cp -a`) gives every stored copy a new inode, so no recorded
//! copy qualifies as a link source any more and every backup would write all content
//! again. Each writer checks a few stored copies of the newest snapshot on disk (a
//! handful of `stat`s per run); when all of them have other inode numbers than the
//! catalog while size and mtime match, every stored copy is re-recorded by the path of
//! one of its entries. A root whose runs made clones (`LINK = reflink`) is not judged:
//! its paths have inodes of their own.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::catalog::Db;
use anyhow::Result;

use crate::catalog::inodes::{each_copy, sample, set_inos, CopyAt};
use crate::catalog::snapshots::Status;
use crate::catalog::SnapshotRow;

/// How many stored copies of the newest snapshot each run checks on disk.
pub const SAMPLE: u32 = 8;

/// What the sampled stored copies say about the catalog's inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// At least one sampled copy is still the inode the catalog names.
    Fresh,
    /// Every sampled copy that still has its recorded size and mtime has another inode.
    Stale,
    /// Nothing to judge by (no snapshot on disk, or every sample changed or gone).
    Unknown,
}

/// Checks a sample of stored copies and, when the catalog's inode numbers are stale,
/// re-records every stored copy's inode number; says so in one line through `say`.
/// Returns how many stored copies were re-recorded.
pub fn refresh(db: &Db, root: &Path, say: &dyn crate::tell::Tell) -> Result<u64> {
    // Clones have inodes of their own: in a root with clones another inode number than
    // the catalog's is no sign of a copied root.
    if crate::catalog::settings::get(db, super::linking::CLONED)?.is_some() {
        return Ok(0);
    }
    let mut snaps = on_disk_newest_first(db, root)?;
    let Some((newest, dir)) = snaps.next() else {
        return Ok(0);
    };
    if judge(&dir, &sample(db, newest.id, SAMPLE)?) != Verdict::Stale {
        return Ok(0);
    }
    let all: Vec<_> = std::iter::once((newest, dir)).chain(snaps).collect();
    let n = rerecord(db, &all)?;
    say.note(&format!("{}: the catalog's inode numbers were stale (the root was copied?); re-recorded {n} stored copies",
        root.display()
    ));
    Ok(n)
}

/// Complete snapshots whose folder exists, newest first, with their folders (each
/// folder is looked at only when asked for).
fn on_disk_newest_first<'a>(
    db: &Db,
    root: &'a Path,
) -> Result<impl Iterator<Item = (SnapshotRow, PathBuf)> + 'a> {
    let mut rows: Vec<SnapshotRow> = SnapshotRow::all(db)?
        .into_iter()
        .filter(|s| s.status == Status::Complete)
        .collect();
    rows.sort_by_key(|s| std::cmp::Reverse(s.id));
    Ok(rows
        .into_iter()
        .map(move |s| {
            let dir = root.join(crate::layout::snapshot_dir_rel(&s.name, &s.timestamp, true));
            (s, dir)
        })
        .filter(|(_, dir)| dir.symlink_metadata().is_ok_and(|m| m.file_type().is_dir())))
}

/// The inode number of `copy`'s path under `dir` when it is a regular file with the
/// copy's recorded size and mtime.
fn inode_on_disk(dir: &Path, copy: &CopyAt) -> Option<u64> {
    let md = fs::symlink_metadata(dir.join(&copy.rel)).ok()?;
    let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
    (md.is_file() && md.len() == copy.size && mtime == copy.mtime_ns).then_some(md.ino())
}

fn judge(dir: &Path, sampled: &[CopyAt]) -> Verdict {
    let mut stale = 0;
    for copy in sampled {
        match inode_on_disk(dir, copy) {
            Some(ino) if ino == copy.ino => return Verdict::Fresh,
            Some(_) => stale += 1,
            None => {}
        }
    }
    if stale > 0 {
        Verdict::Stale
    } else {
        Verdict::Unknown
    }
}

/// Records for each stored copy the inode its path has in the newest snapshot that
/// holds it with the recorded size and mtime; copies found nowhere stay as they are
/// (never a link source). Returns how many changed.
fn rerecord(db: &Db, snaps: &[(SnapshotRow, PathBuf)]) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut changed = Vec::new();
    for (snap, dir) in snaps {
        each_copy(db, snap.id, |copy| {
            if seen.contains(&copy.copy_id) {
                return Ok(());
            }
            if let Some(ino) = inode_on_disk(dir, &copy) {
                seen.insert(copy.copy_id);
                if ino != copy.ino {
                    changed.push((copy.copy_id, ino));
                }
            }
            Ok(())
        })?;
    }
    set_inos(db, &changed)?;
    Ok(changed.len() as u64)
}
