//! Owns finding a stored copy to hardlink (or clone, `clones`): this run's own copies
//! first, then the catalog. Every link source is checked on disk (inode, size, link
//! count) before it is used; every clone source (size, its place's recorded mtime).
//!
//! The copies this run made are remembered only until the catalog writer has committed
//! them (with the entry that locates them); the catalog finds them from then on. So the
//! memory this takes stays flat however many files a first backup holds.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::catalog::damage::Verdict;
use crate::catalog::writer::Committed;
use crate::catalog::Db;
use crate::decide::{has_room, CopyMeta, Sharing};
use crate::ops::dedup;
use crate::scan::Meta;
use crate::store::{self, Expect, LinkOutcome};
use crate::xattr_set::XattrSet;

mod clones;

/// A stored copy known to be usable, with the path to link from.
#[derive(Debug, Clone)]
struct Live {
    copy_id: i64,
    path: PathBuf,
    /// What the place must show on disk to serve as a clone source.
    expect: Expect,
    nlink: u64,
    /// Forgotten once the writer has committed this many rows.
    until: u64,
}

/// What a link attempt came to.
#[derive(Debug)]
pub enum Linked {
    /// Linked to the stored copy with this id.
    Yes(i64),
    /// No usable stored copy: a new one must be written.
    No,
}

/// Finds and links stored copies, remembering the ones this run used or made.
pub struct Linker {
    /// `DryRun`: every decision is made as in a real run, and no link is made (the dry
    /// run of `backup` decides through this same code).
    run: crate::ops::Run,
    root: PathBuf,
    sharing: Sharing,
    max_links: u64,
    live: HashMap<crate::decide::LinkKey, Live>,
    committed: Committed,
    /// The committed row count `live` was last pruned at.
    pruned_at: u64,
    /// Set once hardlinks (or clones) fail with EXDEV/EPERM/ENOTSUP; from then on
    /// everything is copied.
    pub unsupported: Option<io::Error>,
    /// What reading unverified copies showed, for the catalog once the run's rows are in.
    pub verdicts: Vec<(i64, Verdict)>,
}

impl Linker {
    /// A linker for the backup root `root`; `committed` tells how far the run's catalog
    /// rows are committed.
    pub fn new(root: &Path, sharing: Sharing, max_links: u64, committed: Committed) -> Linker {
        Linker {
            run: crate::ops::Run::Real,
            root: root.to_path_buf(),
            sharing,
            max_links,
            live: HashMap::new(),
            committed,
            pruned_at: 0,
            unsupported: None,
            verdicts: Vec::new(),
        }
    }

    /// A linker for a dry run: it decides exactly as a real run's does (the copies this
    /// run would have made count, as `remember`ed) and links nothing.
    pub fn planning(root: &Path, sharing: Sharing, max_links: u64) -> Linker {
        Linker {
            run: crate::ops::Run::DryRun,
            ..Linker::new(root, sharing, max_links, Committed::default())
        }
    }

    /// Which stored copies serve a path in this run.
    pub fn sharing(&self) -> Sharing {
        self.sharing
    }

    /// Remembers a stored copy this run made or linked, so later duplicates link to it
    /// without a catalog lookup, until the writer has committed `until` rows (for a new
    /// copy: the rows that record and locate it; 0 for a copy the catalog already has).
    #[allow(clippy::too_many_arguments)]
    pub fn remember(
        &mut self,
        hash: &[u8],
        size: u64,
        copy: CopyMeta,
        copy_id: i64,
        path: &Path,
        nlink: u64,
        until: u64,
    ) {
        let expect = Expect {
            size,
            mtime_ns: copy.mtime_ns,
            copy: None,
        };
        self.remember_at(hash, copy, copy_id, path, expect, nlink, until);
    }

    /// As `remember`, with what the place must show to serve as a clone source.
    #[allow(clippy::too_many_arguments)]
    fn remember_at(
        &mut self,
        hash: &[u8],
        copy: CopyMeta,
        copy_id: i64,
        path: &Path,
        expect: Expect,
        nlink: u64,
        until: u64,
    ) {
        self.forget_committed();
        self.live.insert(
            self.sharing.key(hash, copy),
            Live {
                copy_id,
                path: path.to_path_buf(),
                expect,
                nlink,
                until,
            },
        );
    }

    /// Drops the copies the catalog can find by now. The link counts kept with them go
    /// too; the next use of such a copy reads its count from disk again.
    fn forget_committed(&mut self) {
        let rows = self.committed.rows();
        if rows > self.pruned_at {
            self.pruned_at = rows;
            self.live.retain(|_, l| l.until > rows);
        }
    }

    /// Puts a link to `src` at `dst`; false when this source cannot serve (full, gone,
    /// or links unsupported, which is remembered).
    fn link(&mut self, src: &Path, dst: &Path, put: Put) -> Result<bool> {
        if self.run == crate::ops::Run::DryRun {
            return Ok(true);
        }
        let outcome = match put {
            Put::New => store::hard_link(src, dst),
            Put::Over => match store::replace_with_link(src, dst) {
                Ok(()) => LinkOutcome::Linked,
                Err(e) => store::classify_link_error(e),
            },
        };
        match outcome {
            LinkOutcome::Linked => Ok(true),
            LinkOutcome::Full => Ok(false),
            LinkOutcome::Unsupported(e) => {
                self.unsupported = Some(e);
                Ok(false)
            }
            LinkOutcome::Failed(e) if crate::store::is_fatal(&e) => {
                Err(anyhow::Error::new(e).context(format!("{}: cannot create link", dst.display())))
            }
            LinkOutcome::Failed(_) => Ok(false),
        }
    }

    /// Replaces the new copy a worker wrote at `dst` by a link to another stored copy of
    /// the same content that may serve `want`, so each content is stored once: one this
    /// run remembers, or one the catalog has when this run may have forgotten it since
    /// the worker claimed the content (`claimed_at`, see `Wrote`).
    pub fn relink_copy(
        &mut self,
        db: &Db,
        hash: &[u8],
        want: Want,
        dst: &Path,
        claimed_at: u64,
    ) -> Result<Linked> {
        let catalog = self.pruned_at > claimed_at;
        self.link_to(Some(db), hash, want, dst, Put::Over, catalog)
    }

    /// Links (or clones) `dst` to any stored copy of content `hash` that may serve `want`.
    pub fn link_content(&mut self, db: &Db, hash: &[u8], want: Want, dst: &Path) -> Result<Linked> {
        self.link_to(Some(db), hash, want, dst, Put::New, true)
    }

    /// A dry run's decision for one file of content `hash`: true when a real run would
    /// link it (to a copy in memory, or one the catalog `db` knows, when there is one),
    /// false when it would store a new copy, which later files of the run then link to.
    pub fn would_link(&mut self, db: Option<&Db>, hash: &[u8], meta: Meta) -> Result<bool> {
        let nowhere = Path::new("");
        let want = Want { meta, set: None };
        if let Linked::Yes(_) = self.link_to(db, hash, want, nowhere, Put::New, true)? {
            return Ok(true);
        }
        self.remember(hash, meta.size, meta.into(), 0, nowhere, 1, u64::MAX);
        Ok(false)
    }

    /// Links `dst` to a copy this run remembers, else (with `catalog`) to one the catalog
    /// lists, checked on disk first.
    fn link_to(
        &mut self,
        db: Option<&Db>,
        hash: &[u8],
        full: Want,
        dst: &Path,
        put: Put,
        catalog: bool,
    ) -> Result<Linked> {
        if self.unsupported.is_some() {
            return Ok(Linked::No);
        }
        if self.sharing == Sharing::Clones {
            return self.clone_to(db, hash, full, dst, catalog);
        }
        let (size, want): (u64, CopyMeta) = (full.meta.size, full.meta.into());
        let key = self.sharing.key(hash, want);
        if let Some(live) = self.live.get(&key).cloned() {
            if has_room(live.nlink, self.max_links) {
                if self.link(&live.path, dst, put)? {
                    if let Some(l) = self.live.get_mut(&key) {
                        l.nlink += 1;
                    }
                    return Ok(Linked::Yes(live.copy_id));
                }
                if let Some(l) = self.live.get_mut(&key) {
                    l.nlink = self.max_links;
                }
            }
        }
        let Some(db) = db.filter(|_| catalog) else {
            return Ok(Linked::No);
        };
        for copy in dedup::candidates_for(db, hash, size, want, self.sharing)? {
            if self.live.get(&key).is_some_and(|l| l.copy_id == copy.id) {
                continue;
            }
            let Some((src, nlink)) = dedup::place_of(db, &self.root, &copy, 1, self.max_links)?
            else {
                continue;
            };
            if !copy.verified && !self.proves(&src, copy.id, hash) {
                continue;
            }
            if self.link(&src, dst, put)? {
                self.remember(hash, size, copy.meta, copy.id, &src, nlink + 1, 0);
                return Ok(Linked::Yes(copy.id));
            }
            if self.unsupported.is_some() {
                return Ok(Linked::No);
            }
        }
        Ok(Linked::No)
    }
}

impl Linker {
    /// Reads a stored copy whose hash was only taken from a manifest and says whether its
    /// bytes have that hash; the verdict is kept for the catalog (`verdicts`), so the copy
    /// serves from then on, or never again.
    fn proves(&mut self, src: &Path, copy_id: i64, hash: &[u8]) -> bool {
        let good = dedup::bytes_have(src, hash);
        let verdict = if good {
            Verdict::Good
        } else {
            Verdict::Damaged
        };
        self.verdicts.push((copy_id, verdict));
        good
    }
}

/// What a path wants of a stored copy: its own metadata (a clone gets all of it, a
/// hardlink's copy must match it as `DEDUP` says) and, for a clone, its attribute set.
#[derive(Clone, Copy)]
pub struct Want<'a> {
    pub meta: Meta,
    pub set: Option<&'a XattrSet>,
}

/// How a link is put at its place.
#[derive(Debug, Clone, Copy)]
enum Put {
    /// The place is free.
    New,
    /// The place holds a new copy this run wrote; it is replaced in one step.
    Over,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_forgotten_once_their_rows_are_committed() {
        let committed = Committed::default();
        let mut linker = Linker::new(
            Path::new("/r"),
            Sharing::Links(crate::decide::Dedup::Mode),
            10,
            committed.clone(),
        );
        let meta = CopyMeta {
            mode: 0o644,
            uid: 1,
            gid: 1,
            mtime_ns: 0,
            xattrs: 0,
        };
        linker.remember(b"aaaa", 5, meta, 1, Path::new("/r/a"), 1, 5);
        linker.remember(b"bbbb", 5, meta, 2, Path::new("/r/b"), 1, 9);
        assert_eq!(linker.live.len(), 2);
        committed.set_for_test(5);
        linker.remember(b"cccc", 5, meta, 3, Path::new("/r/c"), 1, 12);
        let mut ids: Vec<i64> = linker.live.values().map(|l| l.copy_id).collect();
        ids.sort();
        assert_eq!(ids, [2, 3], "the copy whose rows are committed is dropped");
        committed.set_for_test(12);
        linker.remember(b"dddd", 5, meta, 4, Path::new("/r/d"), 1, 0);
        assert_eq!(linker.live.len(), 1, "only the newest is left");
    }
}
