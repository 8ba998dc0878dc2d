//! Owns opening a backup root for writing: the checks every writer makes (nobody else can
//! change the root, `.phlb` is private), the writer lock, the catalog (made or upgraded
//! atomically), and the repairs a writer makes on opening (stale inode numbers, removals
//! a killed prune left unfinished), removing a snapshot (`trash`) and trimmed versions
//! (`trim`). backup,
//! add and verify open a root this one way; a long-running caller (a watch loop) keeps
//! the value and lets go of the lock by dropping it.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub mod attempts;
pub mod latest;
pub mod linking;
mod required;
mod reserve;
mod stale_inodes;
pub mod stuck;
mod trash;
mod trim;

pub use required::{is_default_root, require, still_a_root, used_line, where_from, with_where};
pub use trash::{remove_empty_name_folder, remove_side_files, snapshot_places, TRASH_DIR};
pub use trim::finish as finish_trims;

use crate::catalog::{Access, Catalog, Origin};
use crate::lock::{self, Lock};
use crate::store;

/// Name of phlb's own folder in a backup root.
pub const META_DIR: &str = ".phlb";

/// Whether the root must still be on the filesystem its catalog was made on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filesystem {
    /// backup and add: the catalog's inode numbers drive linking, so another filesystem
    /// is refused.
    MustMatch,
    /// verify: it reads what is on disk wherever it is.
    Any,
}

/// A backup root opened by a writer that holds its lock.
pub struct BackupRoot {
    /// The root's canonical path.
    pub path: PathBuf,
    pub catalog: Catalog,
    /// How a backup links in this root, resolved once per run (`open_for_backup`).
    pub linking: Option<linking::Linking>,
    _lock: Lock,
}

impl BackupRoot {
    /// Opens the existing folder `given` (as the user named it: symlinks on the way are
    /// judged too) for writing; lines worth telling the user (a stale lock taken over, a
    /// catalog made anew, inode numbers re-recorded) go to `say`.
    /// `wait` says whether to wait for a lock another run holds.
    /// A folder without `.phlb` is refused (the drive may have been unmounted since the
    /// command started, as under a long `watch`), but for the default root.
    pub fn open_writer(
        given: &Path,
        fs: Filesystem,
        wait: lock::Wait,
        say: &dyn crate::tell::Tell,
    ) -> Result<Self> {
        Self::open_writer_once(given, fs, wait, say)
    }

    /// As `open_writer`, for a removal (`prune`, `forget`): on a full disk it gives the
    /// space reserve back and tries once more, so a full disk can be pruned. Only a
    /// removal may use the reserve: it frees space; any other writer would only use it up.
    pub fn open_remover(
        given: &Path,
        fs: Filesystem,
        wait: lock::Wait,
        say: &dyn crate::tell::Tell,
    ) -> Result<Self> {
        match Self::open_writer_once(given, fs, wait, say) {
            Err(e) if reserve::is_disk_full(&e) && reserve::release(&given.join(META_DIR)) => {
                Self::open_writer_once(given, fs, wait, say)
            }
            other => other,
        }
    }

    fn open_writer_once(
        given: &Path,
        fs: Filesystem,
        wait: lock::Wait,
        say: &dyn crate::tell::Tell,
    ) -> Result<Self> {
        store::check_root_safe(given)?;
        let path = given
            .canonicalize()
            .with_context(|| format!("{}: cannot open backup root", given.display()))?;
        let meta_dir = path.join(META_DIR);
        if meta_dir.symlink_metadata().is_err() && !required::is_default_root(&path) {
            anyhow::bail!(
                "{}: not a phlb backup root (no .phlb folder): is the drive mounted? `phlb init {}` makes one",
                path.display(),
                path.display()
            );
        }
        store::make_private_dir(&meta_dir)?;
        let lock = lock::acquire_waiting(&meta_dir, wait, say)?;
        // What killed runs left under temp names: phlb's own temp folder, and the temp
        // names of side files (summary, manifest) beside the snapshots.
        store::fresh_temp_dir(&meta_dir)?;
        remove_side_temp_files(&path);
        if let Some(pid) = &lock.stale_pid {
            say.note(&format!(
                "taking over the stale lock of process {pid}, which is gone"
            ));
        }
        let catalog = Catalog::open(&meta_dir, Access::Write)?;
        if fs == Filesystem::MustMatch {
            catalog.check_filesystem(&path)?;
        }
        for note in &catalog.notes {
            say.note(note);
        }
        if let Origin::Remade { aside, why } = &catalog.origin {
            say.note(&format!(
                "{}: the catalog was half-made ({why}); moved it to {} and made a new one",
                catalog.path().display(),
                aside.display()
            ));
        }
        // What cannot be deleted (an immutable file) is said once and never stops a run.
        let mut stuck = trash::finish(&path, &catalog, say)?;
        let (trimmed, trims_stuck) = trim::finish(&path, &catalog, say)?;
        stuck.extend(trims_stuck);
        for s in &stuck {
            say.warning(&s.line());
        }
        if trimmed > 0 {
            say.note(&format!(
                "finished trimming {trimmed} old versions, which an interrupted prune left"
            ));
        }
        // A `latest` left dangling by a snapshot deleted by hand points at the newest
        // one on disk again (best effort: it is only for people browsing the disk).
        let mut names: Vec<String> = crate::catalog::SnapshotRow::all(&catalog.db()?)?
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let _ = latest::refresh(&catalog.db()?, &path, &name);
        }
        stale_inodes::refresh(&catalog.db()?, &path, say)?;
        reserve::ensure(&meta_dir);
        Ok(BackupRoot {
            path,
            catalog,
            linking: None,
            _lock: lock,
        })
    }

    /// `<root>/.phlb`.
    pub fn meta_dir(&self) -> PathBuf {
        self.path.join(META_DIR)
    }

    /// The root's canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the space reserve in `.phlb` back to the filesystem, so a removal (prune,
    /// forget) can write its catalog changes on a full disk; it is made again when the
    /// root is closed.
    pub fn make_room(&self) {
        reserve::release(&self.meta_dir());
    }
}

impl Drop for BackupRoot {
    /// Makes the space reserve again (from what a removal freed) while the lock is held.
    fn drop(&mut self) {
        reserve::ensure(&self.meta_dir());
    }
}

/// Removes temp files (`.phlb-tmp-<pid>-<n>`) directly in the `<name>` folders of `root`,
/// which only phlb writes into: what a run killed while it renamed a side file left.
fn remove_side_temp_files(root: &Path) {
    use std::os::unix::fs::MetadataExt;
    let me = store::running_uid();
    let Ok(names) = std::fs::read_dir(root) else {
        return;
    };
    for name in names.flatten() {
        let ours = name
            .path()
            .symlink_metadata()
            .is_ok_and(|md| md.is_dir() && md.uid() == me);
        if name.file_name().as_encoded_bytes().starts_with(b".") || !ours {
            continue;
        }
        let Ok(items) = std::fs::read_dir(name.path()) else {
            continue;
        };
        for item in items.flatten() {
            // A symlink too: what a run killed while it replaced `latest` left.
            let is_file = item
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink());
            if is_file && store::is_temp_name(&item.file_name()) {
                let _ = std::fs::remove_file(item.path());
            }
        }
    }
}
