//! Records one snapshot folder: hashes each inode once, relinks identical content to a
//! stored copy, and writes the catalog rows in one transaction.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Folder, Tally};
use crate::catalog::copies::copies_by_ino;
use crate::catalog::damage::{mark_unverified, record_verdict, Verdict};
use crate::catalog::snapshots::Totals;
use crate::catalog::writer::{record_copy, record_entry};
use crate::catalog::{Db, SnapshotRow};

use crate::config::Config;
use crate::decide::{CopyMeta, LinkKey};
use crate::hash::{hex, HashAlgo};
use crate::layout::SnapshotPaths;
use crate::manifest;
use crate::ops::dedup;
use crate::progress::{Progress, Style};
use crate::scan::{self, Entry, Kind, ScanOptions};
use crate::stamp::Stamp;
use crate::store;
use crate::tell::Tell;
use crate::units::one_line;
use crate::workers::Reader;

/// One physical file of a snapshot being recorded, and the paths that share it.
pub(super) struct Inode {
    /// Index into the scanned entries of each path holding this inode.
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

/// A stored copy this add run can link to.
#[derive(Debug, Clone)]
pub(super) struct LinkTarget {
    pub(super) copy_id: i64,
    pub(super) path: PathBuf,
    pub(super) nlink: u64,
}

pub(super) struct Importer<'a> {
    pub(super) config: &'a Config,
    pub(super) options: &'a super::Options,
    pub(super) root: &'a Path,
    pub(super) style: Style,
    /// Where the run's lines go.
    pub(super) tell: &'a dyn crate::tell::Tell,
    pub(super) live: HashMap<LinkKey, LinkTarget>,
    /// Which stored copies serve a path: `DEDUP`'s hardlinks, or clones (any copy of the
    /// content; nothing on disk is relinked).
    pub(super) sharing: crate::decide::Sharing,
    /// Where temp links are made (`.phlb/tmp`), never inside a snapshot.
    pub(super) tmp_dir: PathBuf,
    /// Stored copies this run recorded, or found at their recorded place: their inode
    /// numbers are theirs, so later snapshots of the run need not look again.
    pub(super) proven: std::collections::HashSet<i64>,
}

impl Importer<'_> {
    /// Records one snapshot folder in a single transaction, relinking duplicates first;
    /// `side` is what its side file says (None: a tree copied in by hand, timed by its
    /// name, and given a side file).
    pub(super) fn import(
        &mut self,
        db: &Db,
        folder: &Folder,
        side: Option<&Stamp>,
        tally: &mut Tally,
    ) -> Result<()> {
        let label =
            crate::snapshot_id::SnapshotId::new(&folder.name, &folder.timestamp).to_string();
        let (algo, manifest_path) = self.manifest_of(folder);
        let listed = manifest_path
            .as_ref()
            .map(|p| manifest::read(p).map(|(m, _)| m).unwrap_or_default());
        // Attributes are read back from the snapshot's inodes, where a backup put them
        // (a root whose filesystem cannot hold them had them in the catalog only).
        let opts = ScanOptions {
            one_file_system: true,
            xattrs: scan::XattrScan::for_root(self.config.xattrs, self.root),
            ..ScanOptions::default()
        };
        let mut scan = scan::scan(&folder.dir, &opts);
        let mut set_ids: HashMap<[u8; 32], i64> = HashMap::new();
        for e in &mut scan.entries {
            if let Some(set) = &e.xattr_set {
                let hash = set.hash();
                e.meta.xattrs = match set_ids.get(&hash) {
                    Some(&id) => id,
                    None => *set_ids
                        .entry(hash)
                        .or_insert(crate::catalog::xattr_sets::id_of(db, set)?),
                };
            }
        }
        super::temp_files::drop_temp_files(
            &folder.dir,
            &mut scan.entries,
            listed.as_ref(),
            self.tell,
        );
        for p in &scan.problems {
            tally.problems += 1;
            self.tell
                .error(&format!("{}: {}", one_line(&p.path), p.message));
        }
        let mut inodes: HashMap<u64, Inode> = HashMap::new();
        for (i, e) in scan.entries.iter().enumerate() {
            if e.kind != Kind::File {
                continue;
            }
            let inode = inodes.entry(e.ino).or_insert_with(|| Inode {
                entries: Vec::new(),
                meta: e.meta.into(),
                size: e.meta.size,
                nlink: fs::symlink_metadata(folder.dir.join(&e.rel))
                    .map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.nlink()
                    })
                    .unwrap_or(1),
                hash: None,
                known_copy: None,
                suspect: false,
                trusted: false,
            });
            inode.entries.push(i);
        }
        self.find_hashes(
            db,
            folder,
            &scan.entries,
            &mut inodes,
            listed.as_ref(),
            algo,
            tally,
        )?;
        let tx = db.begin()?;
        let now = crate::clock::now_rfc3339();
        let stamp = match side {
            Some(s) => s.clone(),
            None => super::stamp_from_name(&tx, folder, &self.config.sub_dir_formatter)?,
        };
        let row = SnapshotRow::create(&tx, &folder.name, &folder.timestamp, algo, &stamp)?;
        let mut totals = Totals::default();
        let mut copy_of: HashMap<u64, i64> = HashMap::new();
        let mut inos: Vec<u64> = inodes.keys().copied().collect();
        inos.sort_by_key(|ino| inodes[ino].entries[0]);
        for ino in inos {
            let inode = &inodes[&ino];
            let Some(hash) = inode.hash.clone() else {
                continue;
            };
            let copy_id = match inode.known_copy {
                Some(id) => id,
                None => match self.relink(&tx, folder, &scan.entries, inode, &hash, tally)? {
                    Some(id) => {
                        totals.linked += inode.entries.len() as u64;
                        id
                    }
                    None => {
                        let first = folder.dir.join(&scan.entries[inode.entries[0]].rel);
                        let id = record_copy(&tx, None, &hash, inode.size, ino, inode.meta)?;
                        self.proven.insert(id);
                        if inode.suspect {
                            // Its bytes differ from its manifest: never a link source.
                            record_verdict(&tx, id, Verdict::Damaged)?;
                        } else if inode.trusted {
                            mark_unverified(&tx, id)?;
                        }
                        totals.copied += 1;
                        totals.new_bytes += inode.size;
                        if !inode.suspect {
                            self.live.insert(
                                self.sharing.key(&hash, inode.meta),
                                LinkTarget {
                                    copy_id: id,
                                    path: first,
                                    nlink: inode.nlink,
                                },
                            );
                        }
                        id
                    }
                },
            };
            copy_of.insert(ino, copy_id);
        }
        let mut lines: Vec<u8> = Vec::new();
        let mut recorded = crate::catalog::versions::PathSet::default();
        for e in &scan.entries {
            let copy_id = if e.kind == Kind::File {
                match copy_of.get(&e.ino) {
                    Some(&id) => Some(id),
                    None => continue,
                }
            } else {
                None
            };
            if e.kind == Kind::File {
                totals.files += 1;
                totals.bytes += e.meta.size;
                if let Some(h) = &inodes[&e.ino].hash {
                    lines.extend(manifest::line(&hex(h), &e.rel));
                }
            }
            let target = e.target.as_ref().map(|t| t.as_os_str().as_bytes());
            let path_id = record_entry(
                &tx,
                row.id,
                None,
                e.rel.as_os_str().as_bytes(),
                e.kind,
                &e.meta,
                copy_id,
                target,
                None,
            )?;
            recorded.insert(path_id);
        }
        // The new row's place inherits the line's current versions: what the folder
        // does not hold ends there.
        crate::catalog::versions::close_unseen(&tx, row.id, &recorded)?;
        let failed = scan.problems.len() as u64
            + inodes
                .values()
                .filter(|i| i.hash.is_none())
                .map(|i| i.entries.len() as u64)
                .sum::<u64>();
        totals.failed = failed;
        row.set_totals(&tx, &totals, &now)?;
        row.set_stamp(&tx, &stamp)?;
        row.mark_complete(&tx)?;
        // The manifest goes to disk before the snapshot counts as recorded: a kill in
        // between leaves a snapshot the next add records again, never one without it.
        // (None for a snapshot without regular files: no manifest is an empty one.)
        if manifest_path.is_none() && failed == 0 && !lines.is_empty() {
            let paths = SnapshotPaths::new(
                self.root,
                &folder.name,
                &folder.timestamp,
                algo.manifest_suffix(),
            );
            store::write_file(&paths.manifest, &lines)
                .with_context(|| format!("{}: cannot write manifest", paths.manifest.display()))?;
            tally.manifests_written += 1;
        }
        if side.is_none() {
            let paths = SnapshotPaths::new(self.root, &folder.name, &folder.timestamp, "");
            stamp.write(&paths.stamp)?;
        }
        tx.commit()
            .with_context(|| format!("{label}: cannot record"))?;
        tally.added += 1;
        tally.files += totals.files;
        Ok(())
    }

    /// The manifest beside a folder (its suffix tells the hash), or the configured hash.
    fn manifest_of(&self, folder: &Folder) -> (HashAlgo, Option<PathBuf>) {
        for algo in [HashAlgo::Sha256, HashAlgo::Sha512] {
            let p = SnapshotPaths::new(
                self.root,
                &folder.name,
                &folder.timestamp,
                algo.manifest_suffix(),
            )
            .manifest;
            if p.is_file() {
                return (algo, Some(p));
            }
        }
        (self.config.hash, None)
    }

    /// Gives every inode its hash: from the catalog when it knows the inode, from the
    /// manifest with --trust-manifests, else by reading it (in parallel, once per inode).
    #[allow(clippy::too_many_arguments)]
    fn find_hashes(
        &mut self,
        db: &Db,
        folder: &Folder,
        entries: &[Entry],
        inodes: &mut HashMap<u64, Inode>,
        listed: Option<&HashMap<PathBuf, String>>,
        algo: HashAlgo,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut to_read: Vec<u64> = Vec::new();
        // One read transaction for the lookups: no lock taken and dropped per query.
        let reading = db.begin()?;
        let db = &*reading;
        for (&ino, inode) in inodes.iter_mut() {
            let first = &entries[inode.entries[0]];
            let want_len = algo.digest_len();
            // An inode number is only the catalog's copy while a path the catalog records
            // for that copy still holds it: numbers are reused after a snapshot is deleted.
            let mut known = None;
            for (c, h) in copies_by_ino(db, ino)? {
                if c.size == inode.size
                    && c.meta == inode.meta
                    && h.len() == want_len
                    && (self.proven.contains(&c.id) || dedup::still_on_disk(db, self.root, &c)?)
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
                if let Some(h) = listed
                    .and_then(|m| m.get(&first.rel))
                    .and_then(|h| crate::hash::unhex(h))
                {
                    inode.hash = Some(h);
                    inode.trusted = true;
                    continue;
                }
            }
            to_read.push(ino);
        }
        reading.commit()?;
        to_read.sort_by_key(|ino| inodes[ino].entries[0]);
        let paths: Vec<PathBuf> = to_read
            .iter()
            .map(|ino| folder.dir.join(&entries[inodes[ino].entries[0]].rel))
            .collect();
        let total: u64 = to_read.iter().map(|ino| inodes[ino].size).sum();
        let progress = Progress::new(
            self.style,
            &format!(
                "add {}",
                crate::snapshot_id::SnapshotId::new(&folder.name, &folder.timestamp)
            ),
            to_read.len() as u64,
            total,
        );
        std::thread::scope(|scope| {
            let mut reader = Reader::reads(scope, paths, algo, self.config.worker_count());
            for ino in &to_read {
                let inode = inodes.get_mut(ino).expect("listed inode");
                let path = folder.dir.join(&entries[inode.entries[0]].rel);
                match reader.next_read() {
                    Ok(read) => {
                        tally.hashed_bytes += read.meta.size;
                        inode.hash = Some(read.hash);
                    }
                    Err(why) => {
                        tally.problems += 1;
                        progress.error(&format!("{}: {why}", one_line(&path)));
                    }
                }
                progress.advance(inode.size);
            }
        });
        progress.finish();
        if let Some(listed) = listed {
            for inode in inodes.values_mut() {
                let Some(hash) = &inode.hash else { continue };
                for &i in &inode.entries {
                    let rel = &entries[i].rel;
                    match listed.get(rel) {
                        Some(h) if *h == hex(hash) => {}
                        Some(_) => {
                            inode.suspect = true;
                            tally.problems += 1;
                            self.tell.error(&format!(
                                "{}: content differs from the manifest; recorded as found, not linked",
                                one_line(&folder.dir.join(rel))
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
