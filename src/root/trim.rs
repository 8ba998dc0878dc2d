//! Owns the on-disk half of `prune --keep-versions`: removing the trimmed paths from a
//! snapshot folder and its manifest. The catalog half (`catalog::trim::record`) goes
//! first and leaves each trim pending; this finishes every pending trim, so a prune
//! killed in between is finished by the next writer (`open_writer` runs it too).
//!
//! A removed file's folder keeps its recorded mtime (it is set back after the unlink),
//! so `verify` still finds the folder as the catalog has it.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::stuck::Stuck;
use crate::catalog::{trim, Catalog};
use crate::layout::{snapshot_dir_rel, SnapshotPaths};
use crate::lock::snapshot::{self, Hold};
use crate::manifest;
use crate::sys::at::{self, Scope};

/// Finishes every pending trim under `root`; returns how many files were removed, and
/// the files that could not be (an immutable file: the trim stays pending for the next
/// writer, and the rest goes on). Each snapshot is locked exclusively meanwhile (a
/// restore reading it is waited for; `waiting` is told).
pub fn finish(
    root: &Path,
    catalog: &Catalog,
    waiting: &dyn crate::tell::Tell,
) -> Result<(u64, Vec<Stuck>)> {
    let db = catalog.db()?;
    let mut removed = 0;
    let mut stuck = Vec::new();
    let mut rewritten = Rewritten::default();
    for trim::Pending { run, paths } in trim::pending(&db)? {
        let (id, name, ts, algo) = (run.id, run.name, run.timestamp, run.hash_algo);
        let dir = root.join(snapshot_dir_rel(&name, &ts, true));
        let _held = match dir.symlink_metadata() {
            Ok(md) if md.is_dir() => Some(snapshot::lock(&dir, Hold::Exclusive, &|| {
                waiting.step(&format!(
                    "waiting for a reader of {name}/{ts} (a restore or download) to finish"
                ))
            })?),
            _ => None,
        };
        match at::open_no_symlinks(
            None,
            &dir,
            libc::O_RDONLY | libc::O_DIRECTORY,
            Scope::Anywhere,
        ) {
            Ok(top) => {
                for rel in &paths {
                    let rel = Path::new(OsStr::from_bytes(rel));
                    match unlink_keeping_folder_time(top.as_fd(), rel) {
                        Ok(gone) => removed += u64::from(gone),
                        Err(e) => stuck.push(Stuck {
                            path: dir.join(rel),
                            why: e.to_string(),
                            trim: true,
                        }),
                    }
                }
            }
            // The snapshot folder is gone (deleted by hand): nothing left to remove.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot open", dir.display())),
        }
        let sums = SnapshotPaths::new(root, &name, &ts, algo.manifest_suffix()).manifest;
        rewritten
            .drop_lines(&sums, &paths)
            .with_context(|| format!("{}: cannot rewrite", sums.display()))?;
        if !stuck.iter().any(|s| s.path.starts_with(&dir)) {
            trim::mark_done(&db, id)?;
        }
    }
    Ok((removed, stuck))
}

/// Removes file `rel` of the snapshot folder `top` (never through a symlink) and sets
/// its folder's times back; false when it was already gone.
fn unlink_keeping_folder_time(top: BorrowedFd, rel: &Path) -> io::Result<bool> {
    let Some(name) = rel.file_name() else {
        return Ok(false);
    };
    let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let owned;
    let folder = match parent {
        Some(p) => {
            owned = match at::open_no_symlinks(
                Some(top),
                p,
                libc::O_RDONLY | libc::O_DIRECTORY,
                Scope::Beneath,
            ) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
            };
            owned.as_fd()
        }
        None => top,
    };
    let before = at::stat_fd(folder)?;
    let gone = at::with_cstr(name.as_bytes(), |c| match at::unlink_at(folder, c, 0) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    })?;
    let times = [
        libc::timespec {
            tv_sec: before.st_atime,
            tv_nsec: before.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: before.st_mtime,
            tv_nsec: before.st_mtime_nsec,
        },
    ];
    crate::sys::meta::set_times_fd(folder, &times)?;
    Ok(gone)
}

/// The manifests rewritten so far, by the manifest they were (device, inode: unchanged
/// snapshots share one) and the lines they lost.
#[derive(Default)]
struct Rewritten(HashMap<(u64, u64, Vec<Vec<u8>>), PathBuf>);

impl Rewritten {
    /// Drops the lines of `paths` from manifest `sums`. A manifest shared with another
    /// snapshot that lost the same lines is linked to that one's new manifest instead of
    /// written again, so trimmed snapshots that shared a manifest still share one.
    fn drop_lines(&mut self, sums: &Path, paths: &[Vec<u8>]) -> io::Result<()> {
        // The last link of a shared manifest has a link count of 1 by the time it comes.
        let shared = match sums.symlink_metadata() {
            Ok(md) if md.is_file() => {
                let mut gone = paths.to_vec();
                gone.sort();
                Some((md.dev(), md.ino(), gone))
            }
            _ => None,
        };
        if let Some(done) = shared.as_ref().and_then(|k| self.0.get(k)) {
            if done.is_file() {
                return crate::store::replace_with_link(done, sums);
            }
        }
        drop_from_manifest(sums, paths)?;
        if let (Some(key), true) = (shared, sums.is_file()) {
            self.0.insert(key, sums.to_path_buf());
        }
        Ok(())
    }
}

/// Rewrites manifest `sums` without the lines of `paths` (same order, same mode); a
/// missing manifest stays missing, and one left with no line is removed.
fn drop_from_manifest(sums: &Path, paths: &[Vec<u8>]) -> io::Result<()> {
    let mode = match sums.symlink_metadata() {
        Ok(md) if md.is_file() => md.permissions().mode() & 0o7777,
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let gone: HashSet<PathBuf> = paths
        .iter()
        .map(|p| PathBuf::from(OsStr::from_bytes(p)))
        .collect();
    let mut out = Vec::new();
    manifest::for_each(sums, |hex, rel| {
        if !gone.contains(&rel) {
            manifest::line_into(&mut out, &hex, &rel);
        }
    })?;
    if out.is_empty() {
        // Trimmed of every file: no manifest, as for a snapshot without files.
        return std::fs::remove_file(sums);
    }
    crate::store::write_file(sums, &out)?;
    std::fs::set_permissions(sums, std::fs::Permissions::from_mode(mode))
}
