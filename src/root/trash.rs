//! Owns removing a snapshot from a backup root (prune, forget). In order:
//!
//! 1. the snapshot folder is locked exclusively (a restore or a web download reading it
//!    holds it shared; the removal waits for them, saying so once);
//! 2. an intent marker `.phlb/trash/<name>/<timestamp>.removing` is made: from here on
//!    the removal is finished by whoever runs next, whatever happens;
//! 3. the catalog marks the snapshot `missing` in one small transaction, so no reader
//!    lists it `complete` once its folder may have gone;
//! 4. the folder and its side files leave their places at once: renamed into
//!    `.phlb/trash/<name>/` (should that fail, they go back and it is `complete` again);
//! 5. its rows go in one transaction while the tree in the trash is deleted
//!    (`store::remove_tree`, parallel), at the same time; then the marker goes.
//!
//! A removal killed anywhere after step 2 is finished by the next writer
//! (`open_writer`: backup, add, verify, prune): it moves what is still in place into the
//! trash, drops the rows and deletes the trees.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use anyhow::{Context, Result};

use super::stuck::Stuck;
use super::{BackupRoot, META_DIR};
use crate::catalog::{prune, Catalog, SnapshotRow};
use crate::layout::{SnapshotPaths, IN_PROGRESS};
use crate::lock::snapshot::{self, Hold};
use crate::store;

/// Name of the trash folder inside `<root>/.phlb/`.
pub const TRASH_DIR: &str = "trash";

impl BackupRoot {
    /// Removes snapshot `row` (its folder under its final or in-progress name, and its
    /// side files) and its catalog rows. `removed` counts the names deleted;
    /// `waiting` is called once when a reader holds the snapshot. What cannot be deleted
    /// from the trash (an immutable file) is returned, never an error: the snapshot is
    /// gone from its place and the catalog, and the next writer tries again.
    pub fn remove_snapshot(
        &self,
        row: &SnapshotRow,
        workers: usize,
        removed: &AtomicU64,
        waiting: &dyn Fn(),
    ) -> Result<Vec<Stuck>> {
        let bin = make_bin(&self.meta_dir(), &row.name)?;
        let places = snapshot_places(&self.path, &row.name, &row.timestamp);
        let folder = places.iter().find(|p| is_real_dir(p));
        let _held = match folder {
            Some(dir) => Some(snapshot::lock(dir, Hold::Exclusive, waiting)?),
            None => None,
        };
        let marker = bin.join(format!("{}{REMOVING}", row.timestamp));
        store::create_fresh(&marker)
            .with_context(|| format!("{}: cannot make", marker.display()))?;
        sync_dir(&bin);
        let db = || self.catalog.db();
        if let Err(e) = row.mark_missing(&db()?) {
            let _ = std::fs::remove_file(&marker);
            return Err(e).context(format!("{}: cannot mark it in the catalog", row.label()));
        }
        let moved = match move_into(&places, &bin) {
            Ok(moved) => moved,
            Err(e) => {
                let _ = row.mark_complete(&db()?);
                let _ = std::fs::remove_file(&marker);
                return Err(e);
            }
        };
        sync_dir(&bin);
        if let Some(parent) = places.first().and_then(|p| p.parent()) {
            sync_dir(parent);
        }
        let mut stuck = Vec::new();
        std::thread::scope(|s| -> Result<()> {
            let rows = s.spawn(|| prune::delete_run(&db()?, row.id));
            for there in &moved {
                if let Err(e) = store::remove_tree(there, workers, removed) {
                    stuck.push(Stuck {
                        path: there.clone(),
                        why: e.to_string(),
                        trim: false,
                    });
                }
            }
            rows.join()
                .unwrap_or_else(|_| anyhow::bail!("{}: dropping the rows failed", row.label()))
                .with_context(|| format!("{}: cannot drop from the catalog", row.label()))
        })?;
        // The rows are gone and nothing is left in place: what the trash still holds
        // is deleted by the next writer, marker or not.
        let _ = std::fs::remove_file(&marker);
        let _ = std::fs::remove_dir(&bin);
        super::latest::refresh(&self.catalog.db()?, &self.path, &row.name)?;
        Ok(stuck)
    }
}

/// Suffix of the intent marker of a removal in progress.
const REMOVING: &str = ".removing";

/// `<meta>/trash/<name>`, made private if missing.
fn make_bin(meta: &Path, name: &str) -> Result<PathBuf> {
    let trash = meta.join(TRASH_DIR);
    store::make_private_dir(&trash)?;
    let bin = trash.join(name);
    match std::fs::create_dir(&bin) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(e).with_context(|| format!("{}: cannot make folder", bin.display()))
        }
        _ => Ok(bin),
    }
}

/// Renames each of `places` that exists into folder `bin`; returns where they went. On
/// a failure what was moved goes back.
fn move_into(places: &[PathBuf], bin: &Path) -> Result<Vec<PathBuf>> {
    let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
    for place in places {
        let Some(leaf) = place.file_name() else {
            continue;
        };
        let to = bin.join(leaf);
        match std::fs::rename(place, &to) {
            Ok(()) => moved.push((place.clone(), to)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                put_back(&moved);
                return Err(e).with_context(|| {
                    format!("{}: cannot move into {}", place.display(), bin.display())
                });
            }
        }
    }
    Ok(moved.into_iter().map(|(_, there)| there).collect())
}

/// The places snapshot `name/timestamp` may have on disk: its folder (final and
/// in-progress names) and side files, existing or not; the folder comes first.
pub fn snapshot_places(root: &Path, name: &str, timestamp: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sums in ["SHA256SUMS", "SHA512SUMS"] {
        let p = SnapshotPaths::new(root, name, timestamp, sums);
        if out.is_empty() {
            out.extend([p.dir, p.work_dir, p.summary, p.log, p.work_log, p.stamp]);
        }
        out.extend([p.manifest, p.work_manifest]);
    }
    out
}

/// Removes the side files phlb made beside snapshot `name/timestamp` (manifest,
/// summary, log) when its folder is gone (`forget --missing`); only regular files of
/// those exact names go, and nothing while a folder of the snapshot is there.
pub fn remove_side_files(root: &Path, name: &str, timestamp: &str) {
    let places = snapshot_places(root, name, timestamp);
    if places.iter().any(|p| is_real_dir(p)) {
        return;
    }
    for p in places {
        if p.symlink_metadata().is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Removes `<root>/<name>` when nothing is left in it (its last snapshot went); a
/// folder holding anything, phlb's or not, stays.
pub fn remove_empty_name_folder(root: &Path, name: &str) {
    let dir = root.join(name);
    if dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir(&dir);
    }
}

fn is_real_dir(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.is_dir())
}

/// Moves what was moved into the trash back to its place (best effort: the removal
/// failed, and the snapshot must stay as it was).
fn put_back(moved: &[(PathBuf, PathBuf)]) {
    for (place, there) in moved.iter().rev() {
        let _ = std::fs::rename(there, place);
    }
}

/// Makes a rename in folder `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Finishes what killed removals left in `<root>/.phlb/trash`: for each intent marker,
/// moves what is still in place into the trash and drops the snapshot's rows; then
/// drops the rows of every snapshot folder found there and deletes everything in it.
/// Anything but a real folder at `trash/<name>` is removed, never followed. Lines for
/// the user go to `say`. What cannot be moved or deleted (an immutable file) is
/// returned and the rest goes on: it never stops a run.
pub fn finish(root: &Path, catalog: &Catalog, say: &dyn crate::tell::Tell) -> Result<Vec<Stuck>> {
    let trash = root.join(META_DIR).join(TRASH_DIR);
    let Ok(bins) = std::fs::read_dir(&trash) else {
        return Ok(Vec::new());
    };
    let db = catalog.db()?;
    let removed = AtomicU64::new(0);
    let mut stuck = Vec::new();
    for bin in bins.flatten() {
        if !bin.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_file(bin.path());
            continue;
        }
        let Some(name) = bin.file_name().to_str().map(String::from) else {
            continue;
        };
        let leaves = |bin: &Path| -> Vec<String> {
            std::fs::read_dir(bin)
                .map(|it| {
                    it.flatten()
                        .filter_map(|e| e.file_name().to_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        // Markers whose snapshot could not leave its place: kept for the next run.
        let mut held = Vec::new();
        for marker in leaves(&bin.path()).iter().filter(|l| l.ends_with(REMOVING)) {
            let ts = &marker[..marker.len() - REMOVING.len()];
            if let Err(e) = move_into(&snapshot_places(root, &name, ts), &bin.path()) {
                stuck.push(Stuck {
                    path: root.join(&name).join(ts),
                    why: format!("{e:#}"),
                    trim: false,
                });
                held.push(marker.clone());
                continue;
            }
            if let Some(row) = SnapshotRow::find(&db, &name, ts)? {
                prune::delete_run(&db, row.id)?;
            }
            say.note(&format!(
                "finishing the removal of {name}/{ts}, which an interrupted run began"
            ));
        }
        for leaf in leaves(&bin.path()) {
            let item = bin.path().join(&leaf);
            if is_real_dir(&item) {
                let ts = leaf.strip_suffix(IN_PROGRESS).unwrap_or(&leaf);
                // Rows of a snapshot whose folder is in its place are that snapshot's
                // (one made later under the same name), never the trashed one's.
                let live = is_real_dir(&root.join(&name).join(ts));
                if let Some(row) = SnapshotRow::find(&db, &name, ts)?.filter(|_| !live) {
                    prune::delete_run(&db, row.id)?;
                }
            }
            if !leaf.ends_with(REMOVING) {
                if let Err(e) = store::remove_tree(&item, 1, &removed) {
                    stuck.push(Stuck {
                        path: item,
                        why: e.to_string(),
                        trim: false,
                    });
                }
            }
        }
        for marker in leaves(&bin.path()).iter().filter(|l| l.ends_with(REMOVING)) {
            if !held.contains(marker) {
                let _ = std::fs::remove_file(bin.path().join(marker));
            }
        }
        let _ = std::fs::remove_dir(bin.path());
        super::latest::refresh(&db, root, &name)?;
    }
    Ok(stuck)
}
