//! Owns removing a snapshot from a backup root (prune, forget). In order:
//!
//! 1. the snapshot folder is locked exclusively (a restore or a web download reading it
//!    holds it shared; the removal waits for them, saying so once);
//! 2. the folder and its side files leave their places at once: renamed into
//!    `.phlb/trash/<name>/`, so nobody sees a half-deleted snapshot;
//! 3. the catalog marks it `missing` in one small transaction (should that fail, the
//!    folder is moved back);
//! 4. its rows go in one transaction while the tree in the trash is deleted
//!    (`store::remove_tree`, parallel), at the same time.
//!
//! A removal killed after step 2 leaves the snapshot whole in the trash; the next writer
//! (`open_writer`: backup, add, verify, prune) drops its rows and deletes it.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use anyhow::{Context, Result};

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
    /// `waiting` is called once when a reader holds the snapshot.
    pub fn remove_snapshot(
        &self,
        row: &SnapshotRow,
        workers: usize,
        removed: &AtomicU64,
        waiting: &dyn Fn(),
    ) -> Result<()> {
        let trash = self.meta_dir().join(TRASH_DIR);
        store::make_private_dir(&trash)?;
        let bin = trash.join(&row.name);
        match std::fs::create_dir(&bin) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(e).with_context(|| format!("{}: cannot make folder", bin.display()))
            }
            _ => {}
        }
        let places = snapshot_places(&self.path, row);
        let folder = places.iter().find(|p| is_real_dir(p));
        let _held = match folder {
            Some(dir) => Some(snapshot::lock(dir, Hold::Exclusive, waiting)?),
            None => None,
        };
        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        for place in &places {
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
        sync_dir(&bin);
        if let Some(parent) = places.first().and_then(|p| p.parent()) {
            sync_dir(parent);
        }
        // One small transaction says at once that the folder is gone (`missing`); the
        // rows then go while the tree is deleted. A kill from here on leaves the rest to
        // the next writer (`finish`), and never a half-deleted snapshot listed complete.
        if let Err(e) = row.mark_missing(&self.catalog.db()?) {
            put_back(&moved);
            return Err(e).context(format!("{}: cannot drop from the catalog", row.label()));
        }
        std::thread::scope(|s| -> Result<()> {
            let rows = s.spawn(|| prune::delete_run(&self.catalog.db()?, row.id));
            for (_, there) in &moved {
                store::remove_tree(there, workers, removed)
                    .with_context(|| format!("{}: cannot delete", there.display()))?;
            }
            rows.join()
                .unwrap_or_else(|_| anyhow::bail!("{}: dropping the rows failed", row.label()))
                .with_context(|| format!("{}: cannot drop from the catalog", row.label()))
        })?;
        let _ = std::fs::remove_dir(&bin);
        super::latest::refresh(&self.catalog.db()?, &self.path, &row.name)
    }
}

/// The places snapshot `row` may have on disk: its folder (final and in-progress
/// names) and side files, existing or not; the folder comes first.
pub fn snapshot_places(root: &Path, row: &SnapshotRow) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sums in ["SHA256SUMS", "SHA512SUMS"] {
        let p = SnapshotPaths::new(root, &row.name, &row.timestamp, sums);
        if out.is_empty() {
            out.extend([p.dir, p.work_dir, p.summary, p.log, p.work_log]);
        }
        out.extend([p.manifest, p.work_manifest]);
    }
    out
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

/// Finishes what killed removals left in `<root>/.phlb/trash`: drops the catalog rows of
/// each snapshot found there and deletes it. Lines for the user go to `say`.
pub fn finish(root: &Path, catalog: &Catalog, say: &dyn Fn(String)) -> Result<()> {
    let trash = root.join(META_DIR).join(TRASH_DIR);
    let Ok(bins) = std::fs::read_dir(&trash) else {
        return Ok(());
    };
    let conn = catalog.db()?;
    let removed = AtomicU64::new(0);
    for bin in bins.flatten() {
        let Some(name) = bin.file_name().to_str().map(String::from) else {
            continue;
        };
        let Ok(items) = std::fs::read_dir(bin.path()) else {
            continue;
        };
        for item in items.flatten() {
            let leaf = item.file_name();
            let Some(leaf) = leaf.to_str() else { continue };
            if is_real_dir(&item.path()) {
                let ts = leaf.strip_suffix(IN_PROGRESS).unwrap_or(leaf);
                if let Some(row) = SnapshotRow::find(&conn, &name, ts)? {
                    prune::delete_run(&conn, row.id)?;
                }
                say(format!(
                    "phlb: note: finishing the removal of {name}/{ts}, which an interrupted run left"
                ));
            }
            store::remove_tree(&item.path(), 1, &removed)
                .with_context(|| format!("{}: cannot delete", item.path().display()))?;
        }
        let _ = std::fs::remove_dir(bin.path());
        super::latest::refresh(&conn, root, &name)?;
    }
    Ok(())
}
