//! Records one snapshot folder: walks it and takes its entries a run at a time (each
//! inode hashed once, identical content relinked to a stored copy: `run.rs`), writing
//! the catalog rows in one transaction. What is held does not grow with the folder's
//! file count beyond a bit per path and per stored copy: the manifest is read alongside
//! the walk (`listed.rs`) and a new one is written as the runs go.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::listed::Listed;
use super::{Folder, Tally};
use crate::catalog::snapshots::Totals;
use crate::catalog::versions::IdSet;
use crate::catalog::{Db, SnapshotRow};
use crate::config::Config;
use crate::decide::LinkKey;
use crate::hash::HashAlgo;
use crate::layout::SnapshotPaths;
use crate::progress::{Progress, Style};
use crate::scan::{self, Found, ScanOptions};
use crate::stamp::Stamp;
use crate::store;
use crate::units::one_line;

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
    /// Which stored copies serve a path: `DEDUP`'s hardlinks, or clones (any copy of the
    /// content; nothing on disk is relinked).
    pub(super) sharing: crate::decide::Sharing,
    /// Where temp links and the new manifest are made (`.phlb/tmp`), never inside a
    /// snapshot.
    pub(super) tmp_dir: PathBuf,
    /// Stored copies this run recorded, or found at their recorded place (a bit per copy
    /// id): their inode numbers are theirs, so later snapshots of the run need not look.
    pub(super) proven: IdSet,
}

/// An inode relinked away in an earlier run of this snapshot whose other paths may
/// still come: its content, and how many of its links are left.
pub(super) struct Relinked {
    pub(super) hash: Vec<u8>,
    pub(super) links_left: u64,
    /// Where its paths went: the rest follow (it had room for all of them).
    pub(super) target: LinkTarget,
}

/// What recording one snapshot holds while its runs go by.
pub(super) struct Recording<'f> {
    pub(super) folder: &'f Folder,
    pub(super) algo: HashAlgo,
    pub(super) row_id: i64,
    /// The snapshot's manifest, when it has one.
    pub(super) listed: Option<Listed>,
    /// The manifest add writes for a snapshot without one.
    pub(super) written: Option<ManifestOut>,
    pub(super) totals: Totals,
    /// Paths of files that could not be recorded (unreadable), and walk problems.
    pub(super) failed: u64,
    /// Path ids recorded in this snapshot.
    pub(super) recorded: IdSet,
    /// Stored copies recorded in the current run, before their paths are: the catalog
    /// finds a copy's place only once a path of it is recorded.
    pub(super) live: HashMap<LinkKey, LinkTarget>,
    pub(super) relinked: HashMap<u64, Relinked>,
    /// Stored copies recorded in this snapshot.
    pub(super) made: IdSet,
    /// Attribute set ids by the set's hash.
    pub(super) set_ids: HashMap<[u8; 32], i64>,
    pub(super) progress: Progress,
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
        let tx = db.begin()?;
        let now = crate::clock::now_rfc3339();
        let stamp = match side {
            Some(s) => s.clone(),
            None => super::stamp_from_name(&tx, folder, &self.config.sub_dir_formatter)?,
        };
        let row = SnapshotRow::create(&tx, &folder.name, &folder.timestamp, algo, &stamp)?;
        let written = match &manifest_path {
            Some(_) => None,
            None => Some(ManifestOut::create(&self.tmp_dir)?),
        };
        let mut rec = Recording {
            folder,
            algo,
            row_id: row.id,
            listed: manifest_path.as_deref().map(Listed::open),
            written,
            totals: Totals::default(),
            failed: 0,
            recorded: IdSet::default(),
            live: HashMap::new(),
            relinked: HashMap::new(),
            made: IdSet::default(),
            set_ids: HashMap::new(),
            progress: Progress::new(self.style, &format!("add {label}"), 0, 0),
        };
        let walked = self.walk_in_runs(&tx, &mut rec, tally);
        rec.progress.finish();
        walked?;
        // The new row's place inherits the line's current versions: what the folder
        // does not hold ends there.
        crate::catalog::versions::close_unseen(&tx, row.id, &rec.recorded)?;
        rec.totals.failed = rec.failed;
        row.set_totals(&tx, &rec.totals, &now)?;
        row.set_stamp(&tx, &stamp)?;
        row.mark_complete(&tx)?;
        // The manifest goes to disk before the snapshot counts as recorded: a kill in
        // between leaves a snapshot the next add records again, never one without it.
        // (None for a snapshot without regular files: no manifest is an empty one.)
        if let Some(out) = rec.written.take() {
            if rec.failed == 0 && out.lines > 0 {
                let paths = SnapshotPaths::new(
                    self.root,
                    &folder.name,
                    &folder.timestamp,
                    algo.manifest_suffix(),
                );
                out.finish(&paths.manifest).with_context(|| {
                    format!("{}: cannot write manifest", paths.manifest.display())
                })?;
                tally.manifests_written += 1;
            } else {
                out.abandon();
            }
        }
        if side.is_none() {
            let paths = SnapshotPaths::new(self.root, &folder.name, &folder.timestamp, "");
            stamp.write(&paths.stamp)?;
        }
        tx.commit()
            .with_context(|| format!("{label}: cannot record"))?;
        tally.added += 1;
        tally.files += rec.totals.files;
        Ok(())
    }

    /// Walks the folder on a thread of its own and records what it finds a run of
    /// entries at a time.
    fn walk_in_runs(&mut self, db: &Db, rec: &mut Recording, tally: &mut Tally) -> Result<()> {
        // Attributes are read back from the snapshot's inodes, where a backup put them
        // (a root whose filesystem cannot hold them had them in the catalog only).
        let opts = ScanOptions {
            one_file_system: true,
            xattrs: scan::XattrScan::for_root(self.config.xattrs, self.root),
            ..ScanOptions::default()
        };
        let run_size = crate::catalog::entries::run_size().max(1);
        let dir = &rec.folder.dir;
        std::thread::scope(|scope| {
            let (send, found) = std::sync::mpsc::sync_channel::<Found>(4096);
            let opts = &opts;
            scope.spawn(move || scan::walk_folder(dir, opts, |f| send.send(f).is_ok()));
            let mut run = Vec::with_capacity(run_size.min(4096));
            for f in found {
                match f {
                    Found::Entry(e) => {
                        run.push(e);
                        if run.len() >= run_size {
                            self.take_run(db, rec, std::mem::take(&mut run), tally)?;
                        }
                    }
                    Found::Problem(p) => {
                        tally.problems += 1;
                        rec.failed += 1;
                        self.tell
                            .error(&format!("{}: {}", one_line(&p.path), p.message));
                    }
                    _ => {}
                }
            }
            if !run.is_empty() {
                self.take_run(db, rec, run, tally)?;
            }
            Ok(())
        })
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
}

/// The manifest add writes for a snapshot without one: lines appended as the runs go,
/// under a temp name in `.phlb/tmp` (a kill leaves it there, for the next run to remove),
/// synced and renamed into place at the end.
pub(super) struct ManifestOut {
    file: BufWriter<File>,
    tmp: PathBuf,
    line: Vec<u8>,
    pub(super) lines: u64,
}

impl ManifestOut {
    fn create(tmp_dir: &Path) -> Result<ManifestOut> {
        let tmp = tmp_dir.join(store::temp_name());
        let file = store::create_fresh(&tmp)
            .with_context(|| format!("{}: cannot create", tmp.display()))?;
        Ok(ManifestOut {
            file: BufWriter::new(file),
            tmp,
            line: Vec::new(),
            lines: 0,
        })
    }

    /// Appends the line of `rel` with digest `hex`.
    pub(super) fn add(&mut self, hex: &str, rel: &Path) -> Result<()> {
        self.line.clear();
        crate::manifest::line_into(&mut self.line, hex, rel);
        self.lines += 1;
        self.file
            .write_all(&self.line)
            .with_context(|| format!("{}: cannot write", self.tmp.display()))
    }

    fn finish(self, to: &Path) -> std::io::Result<()> {
        let tmp = self.tmp.clone();
        let done = self
            .file
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|_| std::fs::rename(&tmp, to));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done
    }

    fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}
