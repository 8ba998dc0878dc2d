//! Owns which earlier run a walked file is compared with and linked from: the previous
//! complete snapshot of the source, else an interrupted run of it that left the file (#28).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Previous;
use crate::catalog::entries::previous_entries;
use crate::catalog::Db;
use crate::decide::{looks_unchanged, PrevEntry, PrevMap};
use crate::scan::Entry;

/// What an earlier run recorded for a walked file's path, and the folder its stored copy
/// is linked in: the previous complete snapshot's, or an interrupted run's (`resumed`).
#[derive(Clone, Copy)]
pub(super) struct Basis<'m> {
    pub(super) entry: &'m PrevEntry,
    pub(super) dir: &'m Path,
    pub(super) resumed: bool,
}

impl std::ops::Deref for Basis<'_> {
    type Target = PrevEntry;
    fn deref(&self) -> &PrevEntry {
        self.entry
    }
}

/// The earlier runs' files a run links from: the previous complete snapshot's and, for
/// paths it does not have unchanged, those of interrupted runs (newest first wins).
#[derive(Default)]
pub(super) struct Bases {
    prev: PrevMap,
    prev_dir: PathBuf,
    resumed: HashMap<Vec<u8>, (PrevEntry, usize)>,
    resumed_dirs: Vec<PathBuf>,
}

impl Bases {
    pub(super) fn load(reads: &Db, prev: Option<&Previous>, resume: &[Previous]) -> Result<Bases> {
        let mut bases = Bases::default();
        if let Some(p) = prev {
            bases.prev = previous_entries(reads, p.run_id)?;
            bases.prev_dir = p.dir.clone();
        }
        for (n, run) in resume.iter().enumerate() {
            for (path, entry) in previous_entries(reads, run.run_id)? {
                bases.resumed.entry(path).or_insert((entry, n));
            }
            bases.resumed_dirs.push(run.dir.clone());
        }
        Ok(bases)
    }

    /// The basis of the file `e`: the previous snapshot's entry when the file looks
    /// unchanged since, else an interrupted run's when it looks unchanged since that
    /// run stored it, else the previous snapshot's (for its path id) or none.
    pub(super) fn of(&self, e: &Entry) -> Option<Basis<'_>> {
        let path = e.rel.as_os_str().as_bytes();
        let prev = self.prev.get(path).map(|entry| Basis {
            entry,
            dir: &self.prev_dir,
            resumed: false,
        });
        let same = |b: &Basis| looks_unchanged(e.meta, b.size, b.mtime_ns);
        if prev.as_ref().is_some_and(same) {
            return prev;
        }
        let resumed = self.resumed.get(path).map(|(entry, n)| Basis {
            entry,
            dir: &self.resumed_dirs[*n],
            resumed: true,
        });
        // A leftover with a link that no interrupted run of this name accounts for was
        // linked from elsewhere (or replaced by a link to an outside file): whoever holds
        // the other name could change the snapshot through it. A run resumed from
        // another holds the same inode at the same path: those links are accounted for.
        // A few `lstat`s, for resumed files only.
        let alone = |b: &Basis| {
            use std::os::unix::fs::MetadataExt;
            let Ok(m) = std::fs::symlink_metadata(b.dir.join(&e.rel)) else {
                return false;
            };
            let accounted = self
                .resumed_dirs
                .iter()
                .filter(|d| {
                    std::fs::symlink_metadata(d.join(&e.rel))
                        .is_ok_and(|o| (o.dev(), o.ino()) == (m.dev(), m.ino()))
                })
                .count() as u64;
            m.nlink() <= accounted
        };
        resumed.filter(same).filter(alone).or(prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::CopyMeta;
    use crate::scan::{Kind, Meta};
    use crate::sys::xattr::Xattrs;

    fn meta(size: u64, mtime_ns: i128) -> Meta {
        Meta {
            size,
            mtime_ns,
            mode: 0o644,
            uid: 1,
            gid: 1,
            xattrs: 0,
        }
    }

    fn recorded(size: u64, mtime_ns: i128, copy_id: i64) -> PrevEntry {
        PrevEntry {
            size,
            mtime_ns,
            hash: vec![copy_id as u8],
            copy_id,
            copy_ino: copy_id as u64,
            copy: CopyMeta::from(meta(size, mtime_ns)),
            path_id: 7,
            set_id: 0,
            seen: None,
        }
    }

    fn file(size: u64, mtime_ns: i128) -> Entry {
        Entry {
            rel: PathBuf::from("a"),
            kind: Kind::File,
            meta: meta(size, mtime_ns),
            target: None,
            ino: 1,
            dev: 1,
            nlink: 1,
            xattrs: Xattrs::None,
            xattr_set: None,
            seen_ctime: None,
            xattrs_unread: false,
        }
    }

    #[test]
    fn the_previous_snapshot_wins_then_an_interrupted_run_then_none() {
        // The interrupted run's folder holds the file it finished (one link).
        let dead = tempfile::tempdir().unwrap();
        std::fs::write(dead.path().join("a"), b"finished").unwrap();
        let mut bases = Bases {
            prev_dir: PathBuf::from("/r/n/prev"),
            resumed_dirs: vec![dead.path().to_path_buf()],
            ..Bases::default()
        };
        bases.prev.insert(b"a".to_vec(), recorded(5, 100, 1));
        bases
            .resumed
            .insert(b"a".to_vec(), (recorded(6, 200, 2), 0));
        let unchanged = bases.of(&file(5, 100)).unwrap();
        assert_eq!((unchanged.copy_id, unchanged.resumed), (1, false));
        let resumed = bases.of(&file(6, 200)).unwrap();
        assert_eq!((resumed.copy_id, resumed.resumed), (2, true));
        assert_eq!(resumed.dir, dead.path());
        // Linked from elsewhere (found by an attack): never resumed.
        std::fs::hard_link(dead.path().join("a"), dead.path().join("outside")).unwrap();
        let linked = bases.of(&file(6, 200)).unwrap();
        assert_eq!((linked.copy_id, linked.resumed), (1, false));
        std::fs::remove_file(dead.path().join("outside")).unwrap();
        // Changed since both: the previous snapshot's entry stays (its path id), and
        // the file is read.
        let changed = bases.of(&file(6, 300)).unwrap();
        assert_eq!((changed.copy_id, changed.resumed), (1, false));
        bases.prev.clear();
        assert!(bases.of(&file(6, 300)).is_none());
    }
}
