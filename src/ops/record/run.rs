//! Records one run of a snapshot's entries (at most `entries::run_size()` of them, in
//! walk order): each inode's hash (from the catalog when it knows the inode, from the
//! manifest with --trust-manifests, else read, in parallel, once per inode), its stored
//! copy (known, relinked, or new), then the entries and their manifest lines.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;

use anyhow::Result;

use super::import::{Importer, LinkTarget, Recording};
use super::Tally;
use crate::catalog::copies::copies_by_ino;
use crate::catalog::damage::{mark_unverified, record_verdict, Verdict};
use crate::catalog::writer::{record_copy, record_entry};
use crate::catalog::Db;
use crate::decide::CopyMeta;
use crate::hash::hex;
use crate::ops::dedup;
use crate::scan::{Entry, Kind};
use crate::tell::Tell;
use crate::units::one_line;
use crate::workers::Reader;

/// One physical file among a run's entries, and the paths of the run that share it.
pub(super) struct Inode {
    pub(super) ino: u64,
    /// Indexes into the run's entries of each path holding this inode.
    pub(super) entries: Vec<usize>,
    pub(super) meta: CopyMeta,
    pub(super) size: u64,
    pub(super) nlink: u64,
    hash: Option<Vec<u8>>,
    /// The catalog already knows this inode as stored copy `id`.
    known_copy: Option<i64>,
    /// The manifest disagrees: record, never link.
    pub(super) suspect: bool,
    /// The hash was taken from the manifest (`--trust-manifests`), not read.
    trusted: bool,
}

impl Importer<'_> {
    /// Records `entries`, the next run of the walk.
    pub(super) fn take_run(
        &mut self,
        db: &Db,
        rec: &mut Recording,
        entries: Vec<Entry>,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut entries = entries;
        for e in &mut entries {
            if let Some(set) = &e.xattr_set {
                let hash = set.hash();
                e.meta.xattrs = match rec.set_ids.get(&hash) {
                    Some(&id) => id,
                    None => *rec
                        .set_ids
                        .entry(hash)
                        .or_insert(crate::catalog::xattr_sets::id_of(db, set)?),
                };
            }
        }
        // The manifest's word on each file, asked once and in walk order.
        let mut items: Vec<(Entry, Option<String>)> = entries
            .into_iter()
            .map(|e| {
                let said = match (&mut rec.listed, e.kind) {
                    (Some(l), Kind::File) => l.get(&e.rel),
                    _ => None,
                };
                (e, said)
            })
            .collect();
        if rec.listed.is_some() {
            super::temp_files::drop_temp_files(&rec.folder.dir, &mut items, self.tell);
        }
        let (entries, listed): (Vec<Entry>, Vec<Option<String>>) = items.into_iter().unzip();
        let mut inodes = inodes_of(&entries);
        self.find_hashes(db, rec, &entries, &listed, &mut inodes, tally)?;
        let mut copy_of: HashMap<u64, i64> = HashMap::new();
        for inode in &inodes {
            match self.copy_for(db, rec, &entries, inode, tally)? {
                Some(id) => {
                    copy_of.insert(inode.ino, id);
                }
                None => rec.failed += inode.entries.len() as u64,
            }
        }
        let hashes: HashMap<u64, &[u8]> = inodes
            .iter()
            .filter_map(|i| i.hash.as_deref().map(|h| (i.ino, h)))
            .collect();
        for e in &entries {
            let copy_id = if e.kind == Kind::File {
                match copy_of.get(&e.ino) {
                    Some(&id) => Some(id),
                    None => continue,
                }
            } else {
                None
            };
            if e.kind == Kind::File {
                rec.totals.files += 1;
                rec.totals.bytes += e.meta.size;
                if let (Some(out), Some(h)) = (&mut rec.written, hashes.get(&e.ino)) {
                    out.add(&hex(h), &e.rel)?;
                }
            }
            let target = e.target.as_ref().map(|t| t.as_os_str().as_bytes());
            let path_id = record_entry(
                db,
                rec.row_id,
                None,
                e.rel.as_os_str().as_bytes(),
                e.kind,
                &e.meta,
                copy_id,
                target,
                None,
            )?;
            rec.recorded.insert(path_id);
        }
        // The copies of this run now have recorded places the catalog finds.
        rec.live.clear();
        Ok(())
    }

    /// The stored copy `inode`'s paths are recorded with: the one the catalog knows, one
    /// it is relinked to, or itself as a new copy; None when it could not be read.
    fn copy_for(
        &mut self,
        db: &Db,
        rec: &mut Recording,
        entries: &[Entry],
        inode: &Inode,
        tally: &mut Tally,
    ) -> Result<Option<i64>> {
        let Some(hash) = inode.hash.as_deref() else {
            return Ok(None);
        };
        if let Some(id) = inode.known_copy {
            if inode.suspect && rec.made.contains(id) {
                // A copy an earlier run of this snapshot recorded, whose later path
                // disagrees with the manifest: never a link source from now on. (Paths
                // already linked to it hold the very bytes: they were compared.)
                record_verdict(db, id, Verdict::Damaged)?;
            }
            return Ok(Some(id));
        }
        if let Some(id) = self.relink(db, rec, entries, inode, hash, tally)? {
            rec.totals.linked += inode.entries.len() as u64;
            return Ok(Some(id));
        }
        let first = rec.folder.dir.join(&entries[inode.entries[0]].rel);
        let id = record_copy(db, None, hash, inode.size, inode.ino, inode.meta)?;
        self.proven.insert(id);
        rec.made.insert(id);
        if inode.suspect {
            // Its bytes differ from its manifest: never a link source.
            record_verdict(db, id, Verdict::Damaged)?;
        } else if inode.trusted {
            mark_unverified(db, id)?;
        }
        rec.totals.copied += 1;
        rec.totals.new_bytes += inode.size;
        if !inode.suspect {
            rec.live.insert(
                self.sharing.key(hash, inode.meta),
                LinkTarget {
                    copy_id: id,
                    path: first,
                    nlink: inode.nlink,
                },
            );
        }
        Ok(Some(id))
    }

    /// Gives every inode of the run its hash: from an inode relinked in an earlier run,
    /// from the catalog when it knows the inode, from the manifest with
    /// --trust-manifests, else by reading it (in parallel, once per inode); then marks
    /// the inodes whose manifest lines disagree.
    fn find_hashes(
        &mut self,
        db: &Db,
        rec: &mut Recording,
        entries: &[Entry],
        listed: &[Option<String>],
        inodes: &mut [Inode],
        tally: &mut Tally,
    ) -> Result<()> {
        let want_len = rec.algo.digest_len();
        let mut to_read: Vec<usize> = Vec::new();
        for (n, inode) in inodes.iter_mut().enumerate() {
            if let Some(r) = rec.relinked.get(&inode.ino) {
                inode.hash = Some(r.hash.clone());
                continue;
            }
            // An inode number is only the catalog's copy while a path the catalog records
            // for that copy still holds it: numbers are reused after a snapshot is deleted.
            let mut known = None;
            for (c, h) in copies_by_ino(db, inode.ino)? {
                if c.size == inode.size
                    && c.meta == inode.meta
                    && h.len() == want_len
                    && (self.proven.contains(c.id)
                        || dedup::still_on_disk(db, self.root, &c, Some(rec.row_id))?)
                {
                    known = Some((c, h));
                    break;
                }
            }
            if let Some((copy, hash)) = known {
                self.proven.insert(copy.id);
                inode.known_copy = Some(copy.id);
                inode.hash = Some(hash);
                continue;
            }
            if self.options.manifests == super::Manifests::Trust {
                if let Some(h) = listed[inode.entries[0]]
                    .as_deref()
                    .and_then(crate::hash::unhex)
                {
                    inode.hash = Some(h);
                    inode.trusted = true;
                    continue;
                }
            }
            to_read.push(n);
        }
        let dir = &rec.folder.dir;
        for &n in &to_read {
            rec.progress.grow(inodes[n].size);
        }
        let paths = to_read
            .iter()
            .map(|&n| dir.join(&entries[inodes[n].entries[0]].rel))
            .collect();
        std::thread::scope(|scope| {
            let mut reader = Reader::reads(scope, paths, rec.algo, self.config.worker_count());
            for &n in &to_read {
                let inode = &mut inodes[n];
                match reader.next_read() {
                    Ok(read) => {
                        tally.hashed_bytes += read.meta.size;
                        inode.hash = Some(read.hash);
                    }
                    Err(why) => {
                        tally.problems += 1;
                        let path = dir.join(&entries[inode.entries[0]].rel);
                        rec.progress.error(&format!("{}: {why}", one_line(&path)));
                    }
                }
                rec.progress.advance(inode.size);
            }
        });
        if rec.listed.is_some() {
            for inode in inodes.iter_mut() {
                let Some(hash) = &inode.hash else { continue };
                let hash = hex(hash);
                for &i in &inode.entries {
                    match &listed[i] {
                        Some(h) if *h == hash => {}
                        Some(_) => {
                            inode.suspect = true;
                            tally.problems += 1;
                            self.tell.error(&format!(
                                "{}: content differs from the manifest; recorded as found, not linked",
                                one_line(&dir.join(&entries[i].rel))
                            ));
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// The inodes of a run's regular files, in the order of their first path.
fn inodes_of(entries: &[Entry]) -> Vec<Inode> {
    let mut at: HashMap<u64, usize> = HashMap::new();
    let mut inodes: Vec<Inode> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.kind != Kind::File {
            continue;
        }
        let n = *at.entry(e.ino).or_insert_with(|| {
            inodes.push(Inode {
                ino: e.ino,
                entries: Vec::new(),
                meta: e.meta.into(),
                size: e.meta.size,
                nlink: e.nlink,
                hash: None,
                known_copy: None,
                suspect: false,
                trusted: false,
            });
            inodes.len() - 1
        });
        inodes[n].entries.push(i);
    }
    inodes
}
