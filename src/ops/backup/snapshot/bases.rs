//! Owns which earlier run a walked file is compared with and linked from: the previous
//! complete snapshot of the source, else an interrupted run of it that left the file (#28).
//!
//! The previous snapshot's files are read on a thread of their own in the byte order of
//! their paths, which is the order the walk hands files on (`scan`), and merged with the
//! walk: a run holds a few batches of them, never a map of every path (#34). A file the
//! walk hands on out of that order (its type changed between listing and `stat`) finds
//! no basis and is read: slower, never wrong.

use std::collections::{HashMap, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::Previous;
use crate::catalog::entries::{own_entries, previous_in_path_order};
use crate::catalog::Db;
use crate::decide::PrevEntry;
use crate::scan::Entry;

/// Files of the previous snapshot sent at once from the reading thread.
const BATCH: usize = 1024;
/// Batches that may wait for the main thread.
const BATCHES_AHEAD: usize = 8;

/// What an earlier run recorded for a walked file's path, and the folder its stored copy
/// is linked in: the previous complete snapshot's, or an interrupted run's (`resumed`).
#[derive(Clone)]
pub(super) struct Basis {
    pub(super) entry: Arc<PrevEntry>,
    pub(super) dir: Arc<Path>,
    pub(super) resumed: bool,
}

impl std::ops::Deref for Basis {
    type Target = PrevEntry;
    fn deref(&self) -> &PrevEntry {
        &self.entry
    }
}

type Batch = Result<Vec<(Vec<u8>, PrevEntry)>, String>;

/// The previous snapshot's files in path order, consumed as the walk goes by.
struct Listing {
    rx: Receiver<Batch>,
    batch: VecDeque<(Vec<u8>, PrevEntry)>,
}

impl Listing {
    /// Starts reading snapshot `run_id` of the catalog at `catalog` on a thread of
    /// `scope`; it stops when the listing is dropped.
    fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        catalog: &Path,
        run_id: i64,
    ) -> Listing {
        let (tx, rx) = sync_channel::<Batch>(BATCHES_AHEAD);
        let catalog = catalog.to_path_buf();
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut open = true;
            let read = crate::catalog::open_reader(&catalog).and_then(|db| {
                previous_in_path_order(&db, run_id, |path, entry| {
                    batch.push((path, entry));
                    if batch.len() == BATCH {
                        open = tx.send(Ok(std::mem::take(&mut batch))).is_ok();
                    }
                    open
                })
            });
            let last = match read {
                Ok(()) => Ok(batch),
                Err(e) => Err(format!("{e:#}")),
            };
            if open {
                let _ = tx.send(last);
            }
        });
        Listing {
            rx,
            batch: VecDeque::new(),
        }
    }

    /// The entry recorded for `path`, passing over every path before it (files the walk
    /// no longer finds).
    fn find(&mut self, path: &[u8]) -> Result<Option<PrevEntry>> {
        loop {
            let Some((front, _)) = self.batch.front() else {
                match self.rx.recv() {
                    Ok(Ok(batch)) if !batch.is_empty() => self.batch.extend(batch),
                    Ok(Ok(_)) | Err(_) => return Ok(None),
                    Ok(Err(e)) => return Err(anyhow!("cannot read the previous snapshot: {e}")),
                }
                continue;
            };
            match front.as_slice().cmp(path) {
                std::cmp::Ordering::Less => {
                    self.batch.pop_front();
                }
                std::cmp::Ordering::Equal => return Ok(self.batch.pop_front().map(|(_, e)| e)),
                std::cmp::Ordering::Greater => return Ok(None),
            }
        }
    }
}

/// The earlier runs' files a run links from: the previous complete snapshot's and, for
/// paths it does not have unchanged, those of interrupted runs (newest first wins).
pub(super) struct Bases {
    prev: Option<Listing>,
    prev_dir: Arc<Path>,
    resumed: HashMap<Vec<u8>, (Arc<PrevEntry>, usize)>,
    resumed_dirs: Vec<Arc<Path>>,
}

impl Bases {
    /// Starts reading the previous snapshot (on a thread of `scope`) and loads the
    /// interrupted runs' files (few, and only after a kill).
    pub(super) fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        catalog: &Path,
        reads: &Db,
        prev: Option<&Previous>,
        resume: &[Previous],
    ) -> Result<Bases> {
        let mut bases = Bases {
            prev: prev.map(|p| Listing::start(scope, catalog, p.run_id)),
            prev_dir: Arc::from(prev.map_or(Path::new(""), |p| p.dir.as_path())),
            resumed: HashMap::new(),
            resumed_dirs: Vec::new(),
        };
        for (n, run) in resume.iter().enumerate() {
            for (path, entry) in own_entries(reads, run.run_id)? {
                bases.resumed.entry(path).or_insert((Arc::new(entry), n));
            }
            bases.resumed_dirs.push(Arc::from(run.dir.as_path()));
        }
        Ok(bases)
    }

    /// The basis of the file `e` (handed on in walk order): the previous snapshot's
    /// entry when the file looks unchanged since, else an interrupted run's when it looks
    /// unchanged since that run stored it, else the previous snapshot's (for its path id)
    /// or none.
    pub(super) fn of(&mut self, e: &Entry) -> Result<Option<Basis>> {
        let path = e.rel.as_os_str().as_bytes();
        let found = match &mut self.prev {
            Some(listing) => listing.find(path)?,
            None => None,
        };
        let prev = found.map(|entry| Basis {
            entry: Arc::new(entry),
            dir: Arc::clone(&self.prev_dir),
            resumed: false,
        });
        let same = |b: &Basis| b.looks_unchanged(e.meta, e.seen());
        if prev.as_ref().is_some_and(same) {
            return Ok(prev);
        }
        let resumed = self.resumed.get(path).map(|(entry, n)| Basis {
            entry: Arc::clone(entry),
            dir: Arc::clone(&self.resumed_dirs[*n]),
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
        Ok(resumed.filter(same).filter(alone).or(prev))
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
            rel: std::path::PathBuf::from("a"),
            kind: Kind::File,
            meta: meta(size, mtime_ns),
            target: None,
            ino: 1,
            dev: 1,
            nlink: 1,
            xattrs: Xattrs::None,
            xattr_set: None,
            seen_ctime: None,
            ctime_trusted: false,
            xattrs_unread: false,
        }
    }

    fn listing(entries: Vec<(&str, PrevEntry)>) -> Listing {
        let (tx, rx) = sync_channel(1);
        let owned = entries
            .into_iter()
            .map(|(p, e)| (p.as_bytes().to_vec(), e))
            .collect();
        tx.send(Ok(owned)).unwrap();
        Listing {
            rx,
            batch: VecDeque::new(),
        }
    }

    /// Bases with "a" in the previous snapshot (size 5, mtime 100, copy 1) and in an
    /// interrupted run whose folder is `dead` (size 6, mtime 200, copy 2).
    fn bases(dead: &Path) -> Bases {
        let mut resumed = HashMap::new();
        resumed.insert(b"a".to_vec(), (Arc::new(recorded(6, 200, 2)), 0));
        Bases {
            prev: Some(listing(vec![("a", recorded(5, 100, 1))])),
            prev_dir: Arc::from(Path::new("/r/n/prev")),
            resumed,
            resumed_dirs: vec![Arc::from(dead)],
        }
    }

    #[test]
    fn the_previous_snapshot_wins_then_an_interrupted_run_then_none() {
        // The interrupted run's folder holds the file it finished (one link).
        let dead = tempfile::tempdir().unwrap();
        std::fs::write(dead.path().join("a"), b"finished").unwrap();
        let unchanged = bases(dead.path()).of(&file(5, 100)).unwrap().unwrap();
        assert_eq!((unchanged.copy_id, unchanged.resumed), (1, false));
        let resumed = bases(dead.path()).of(&file(6, 200)).unwrap().unwrap();
        assert_eq!((resumed.copy_id, resumed.resumed), (2, true));
        assert_eq!(&*resumed.dir, dead.path());
        // Linked from elsewhere (found by an attack): never resumed.
        std::fs::hard_link(dead.path().join("a"), dead.path().join("outside")).unwrap();
        let linked = bases(dead.path()).of(&file(6, 200)).unwrap().unwrap();
        assert_eq!((linked.copy_id, linked.resumed), (1, false));
        std::fs::remove_file(dead.path().join("outside")).unwrap();
        // Changed since both: the previous snapshot's entry stays (its path id), and
        // the file is read.
        let changed = bases(dead.path()).of(&file(6, 300)).unwrap().unwrap();
        assert_eq!((changed.copy_id, changed.resumed), (1, false));
        let mut none = bases(dead.path());
        none.prev = None;
        assert!(none.of(&file(6, 300)).unwrap().is_none());
    }

    #[test]
    fn the_listing_is_merged_in_path_byte_order() {
        let mut l = listing(vec![
            ("a.txt", recorded(1, 1, 1)),
            ("a/x", recorded(2, 2, 2)),
            ("b", recorded(3, 3, 3)),
            ("c", recorded(4, 4, 4)),
        ]);
        // "a.txt" is gone from the source: passed over.
        assert_eq!(l.find(b"a/x").unwrap().unwrap().copy_id, 2);
        // A path the listing does not hold, between two it does.
        assert!(l.find(b"a/y").unwrap().is_none());
        assert_eq!(l.find(b"b").unwrap().unwrap().copy_id, 3);
        // Out of order (behind the listing): no basis, the file is read.
        assert!(l.find(b"a.txt").unwrap().is_none());
        assert_eq!(l.find(b"c").unwrap().unwrap().copy_id, 4);
        assert!(l.find(b"d").unwrap().is_none());
    }

    #[test]
    fn a_failed_read_of_the_previous_snapshot_fails_the_run() {
        let (tx, rx) = sync_channel(1);
        tx.send(Err("disk I/O error".to_string())).unwrap();
        let mut l = Listing {
            rx,
            batch: VecDeque::new(),
        };
        let err = l.find(b"a").unwrap_err().to_string();
        assert!(err.contains("disk I/O error"), "{err}");
    }
}
