//! Owns opening a backup root for writing: the checks every writer makes (nobody else can
//! change the root, `.phlb` is private), the writer lock, the catalog (made or upgraded
//! atomically), and the repairs a writer makes on opening (stale inode numbers). backup,
//! add and verify open a root this one way; a long-running caller (a watch loop) keeps
//! the value and lets go of the lock by dropping it.

use std::path::{Path, PathBuf};

use anyhow::Result;

mod stale_inodes;

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
    _lock: Lock,
}

impl BackupRoot {
    /// Opens the existing folder `path` (canonical) for writing; lines worth telling the
    /// user (a stale lock taken over, a catalog made anew, inode numbers re-recorded) go
    /// to `say`.
    pub fn open_writer(path: PathBuf, fs: Filesystem, say: &dyn Fn(String)) -> Result<Self> {
        store::check_root_safe(&path)?;
        let meta_dir = path.join(META_DIR);
        store::make_private_dir(&meta_dir)?;
        let lock = lock::acquire(&meta_dir)?;
        if let Some(pid) = &lock.stale_pid {
            say(format!(
                "phlb: note: taking over the stale lock of process {pid}, which is gone"
            ));
        }
        let catalog = Catalog::open(&meta_dir, Access::Write)?;
        if fs == Filesystem::MustMatch {
            catalog.check_filesystem(&path)?;
        }
        for note in &catalog.notes {
            say(note.clone());
        }
        if let Origin::Remade { aside, why } = &catalog.origin {
            say(format!(
                "phlb: note: {}: the catalog was half-made ({why}); moved it to {} and made a new one",
                catalog.path().display(),
                aside.display()
            ));
        }
        stale_inodes::refresh(&*catalog.conn()?, &path, say)?;
        Ok(BackupRoot {
            path,
            catalog,
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
}
