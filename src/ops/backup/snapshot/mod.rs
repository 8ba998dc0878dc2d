//! Owns one snapshot run: walks the source into a snapshot folder, its manifest and its
//! catalog rows; `files` decides and stores each regular file, `folders` the folders and
//! symlinks.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TryRecvError};
use std::sync::Arc;

use anyhow::{Context, Result};

mod bases;
mod claims;
mod dirs;
mod failure;
mod files;
mod notes;
mod order;
mod settled;

use bases::{Bases, Basis};
use failure::{fatal_or, EntryResult, Failure};

use super::counts::{Counts, Failures, Log};
use super::links::Linker;
use crate::catalog::{Db, SnapshotRow, Writer};
use crate::config::{Config, LogLevel};
use crate::decide::{first_step, FirstStep};
use crate::layout::SnapshotPaths;
use crate::progress::Report;
use crate::scan::{self, Entry, Found, Kind, Meta, ScanOptions, SourceDir};
use crate::store;
use crate::sys::xattr::Xattrs;
use crate::workers::{Job, Leftover, NewCopies, Reader, SourceFile};

/// Everything one snapshot run needs, handed in by the command.
pub struct Inputs<'a> {
    pub config: &'a Config,
    /// The catalog file, for the workers' own read connections.
    pub catalog_path: &'a Path,
    pub root: &'a Path,
    /// The source folder, held open: the walk and every file read resolve beneath it.
    pub source: Arc<SourceDir>,
    pub snapshot: &'a SnapshotRow,
    pub paths: &'a SnapshotPaths,
    /// The previous complete snapshot of this name, if any.
    pub prev: Option<Previous>,
    /// Runs of this source that died part-way, newest first, with their in-progress
    /// folder on disk: the files they finished are linked from there (#28).
    pub resume: Vec<Previous>,
    pub verbose: bool,
    /// How stored content is put at paths: hardlinks under `DEDUP`, or clones.
    pub sharing: crate::decide::Sharing,
}

/// An earlier run of a name, complete or interrupted: unchanged files are linked from it.
pub struct Previous {
    /// Its snapshot folder (an interrupted run's in-progress folder).
    pub dir: PathBuf,
    pub run_id: i64,
}

/// How many walked entries may wait ahead of the one being recorded.
const LOOKAHEAD: usize = 4096;
/// How many walked entries may wait for the main thread: enough for the walk to go on
/// while the main thread loads the previous snapshot's files.
const WALK_AHEAD: usize = 16384;
/// Findings the walk hands over at once, so the two threads do not wake each other for
/// every entry.
const WALK_BATCH: usize = 256;

/// One finding of the walk and, for a folder, how making it in the snapshot went.
type Walked = (Found, Option<std::io::Error>);

/// Walks `source`, makes each folder it finds under `work_dir` (so workers can link into
/// it as soon as the main thread hands them the folder's files), and sends what it finds
/// in batches; stops when the receiver is gone.
fn walk_in_batches(
    source: &SourceDir,
    work_dir: &Path,
    opts: &ScanOptions,
    tx: SyncSender<Vec<Walked>>,
) {
    let mut batch = Vec::with_capacity(WALK_BATCH);
    let mut open = true;
    scan::walk(source, opts, |found| {
        let made = match &found {
            Found::Entry(e) if e.kind == Kind::Dir && e.rel.as_os_str() != "." => {
                store::make_dir(&work_dir.join(&e.rel)).err()
            }
            _ => None,
        };
        batch.push((found, made));
        if batch.len() >= WALK_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(WALK_BATCH));
            open = tx.send(full).is_ok();
        }
        open
    });
    if open && !batch.is_empty() {
        let _ = tx.send(batch);
    }
}

/// How one regular file got into the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    /// Linked to the previous snapshot's copy without reading (same path, size, mtime).
    Unchanged,
    /// Read, and linked to a stored copy of the same content.
    Linked,
    /// Read, and written as a new stored copy.
    Copied,
    /// Linked to the copy an interrupted run stored for the same path, size and mtime:
    /// without reading when the run recorded it, else once its bytes proved to be the
    /// content read (#28).
    Resumed,
}

/// How one regular file was stored.
struct Stored {
    how: How,
    copy_id: i64,
    /// The content digest; `None` when it is the previous snapshot's for the same path.
    hash: Option<Vec<u8>>,
    meta: Meta,
    /// For a new copy: the mtime its filesystem stored (see `NewCopy::commit`).
    stored_mtime: Option<i128>,
}

/// The state of a run in progress.
pub struct Run<'a> {
    inp: Inputs<'a>,
    writer: Writer,
    /// A second connection for lookups; it sees what earlier runs committed.
    reads: Db,
    linker: Linker,
    manifest: BufWriter<File>,
    pub log: Log,
    pub counts: Counts,
    failures: Failures,
    dirs: Vec<(PathBuf, Meta, Option<Arc<crate::xattr_set::XattrSet>>)>,
    /// Folders that could not be made, reported when their entry comes up.
    dir_errors: HashMap<PathBuf, String>,
    told_no_links: bool,
    told_xattrs: bool,
    /// Source hardlink group of each (device, inode) met with more than one link.
    link_groups: HashMap<(u64, u64), i64>,
    /// Reused for each file's manifest line and hex digest.
    line_buf: Vec<u8>,
    hex_buf: String,
}

impl<'a> Run<'a> {
    /// Starts a run: opens the manifest and log under their in-progress names.
    pub fn start(
        inp: Inputs<'a>,
        mut writer: Writer,
        reads: Db,
        linker: Linker,
    ) -> Result<Run<'a>> {
        if let Some(prev) = &inp.prev {
            writer.know_sets_of(prev.run_id);
        }
        let manifest = store::create_fresh(&inp.paths.work_manifest).with_context(|| {
            format!(
                "{}: cannot create manifest",
                inp.paths.work_manifest.display()
            )
        })?;
        let log = Log::create(&inp.paths.work_log, inp.config.log_level)?;
        Ok(Run {
            inp,
            writer,
            reads,
            linker,
            manifest: BufWriter::new(manifest),
            log,
            counts: Counts::default(),
            failures: Failures::default(),
            dirs: Vec::new(),
            dir_errors: HashMap::new(),
            link_groups: HashMap::new(),
            told_no_links: false,
            told_xattrs: false,
            line_buf: Vec::new(),
            hex_buf: String::new(),
        })
    }

    /// Walks the source and backs up everything it finds, reporting progress and per-file
    /// problems. Three things overlap: the walk (its own thread, which also makes each
    /// folder in the snapshot as it finds it), the per-file syscalls (hardlinking
    /// unchanged files, reading and hashing the others, on `WORKERS` threads, up to
    /// `LOOKAHEAD` entries ahead), and this thread, which records everything in walk order.
    pub fn walk(&mut self, opts: &ScanOptions, progress: &dyn Report) -> Result<()> {
        let source = Arc::clone(&self.inp.source);
        let work_dir = self.inp.paths.work_dir.clone();
        let (algo, workers) = (self.inp.config.hash, self.inp.config.worker_count());
        std::thread::scope(|scope| {
            let (tx, rx) = sync_channel::<Vec<Walked>>(WALK_AHEAD / WALK_BATCH);
            scope.spawn(move || walk_in_batches(&source, &work_dir, opts, tx));
            // Loaded while the walk has started on the other core.
            let catalog = self.inp.catalog_path;
            let (prev, resume) = (self.inp.prev.as_ref(), &self.inp.resume);
            let mut bases = Bases::start(scope, catalog, &self.reads, prev, resume)?;
            let new = NewCopies {
                claim: claims::claims(self.inp.catalog_path, self.writer.committed()),
            };
            let mut reader = Reader::start(scope, algo, workers, Some(new));
            let mut queue: VecDeque<(Entry, Option<Basis>, Option<FirstStep>)> = VecDeque::new();
            let mut found_queue: VecDeque<Walked> = VecDeque::new();
            let mut walking = true;
            let mut stopping = false;
            loop {
                if !stopping && crate::signals::stopped() {
                    // Ctrl-C or SIGTERM: nothing new is started; the files in hand are
                    // finished and recorded (#28), and the run ends, never complete.
                    stopping = true;
                    walking = false;
                    reader.stop();
                }
                while walking && queue.len() < LOOKAHEAD {
                    if found_queue.is_empty() {
                        let batch = if queue.is_empty() {
                            rx.recv().ok()
                        } else {
                            match rx.try_recv() {
                                Ok(b) => Some(b),
                                Err(TryRecvError::Empty) => break,
                                Err(TryRecvError::Disconnected) => None,
                            }
                        };
                        found_queue.extend(batch.into_iter().flatten());
                    }
                    match found_queue.pop_front() {
                        Some((Found::Entry(mut e), made)) => {
                            if let Some(set) = &e.xattr_set {
                                e.meta.xattrs = self.writer.xattr_set_id(&self.reads, set)?;
                            }
                            let p = match e.kind {
                                Kind::File => bases.of(&e)?,
                                _ => None,
                            };
                            if e.xattrs_unread {
                                self.settle_attrs(&mut e, p.as_ref())?;
                            }
                            let step = self.schedule(&e, p.as_ref(), made, &mut reader)?;
                            if e.xattrs != Xattrs::None {
                                self.not_kept(&e, progress);
                            }
                            match e.kind {
                                Kind::File => progress.grow(e.meta.size),
                                _ => progress.grow_other(),
                            }
                            queue.push_back((e, p, step));
                        }
                        Some((other, _)) => self.note(other, progress),
                        None => {
                            walking = false;
                            reader.close();
                        }
                    }
                }
                match queue.pop_front() {
                    Some((entry, p, step)) if stopping => {
                        let worked =
                            matches!(step, Some(FirstStep::Read | FirstStep::LinkPrevious));
                        if !worked {
                            continue;
                        }
                        if !reader.has_next() {
                            return Ok(());
                        }
                        self.process(&entry, p.as_ref(), step, &mut reader, progress)?
                    }
                    Some((entry, p, step)) => {
                        self.process(&entry, p.as_ref(), step, &mut reader, progress)?
                    }
                    None if walking => continue,
                    None => return Ok(()),
                }
            }
        })
    }

    fn action(&mut self, level: LogLevel, what: &str, rel: &Path) {
        self.log.action(level, what, rel);
    }

    /// The file an interrupted run of this source left at `rel` (newest run first), for a
    /// file that is read: linked instead of a new copy when its bytes are the content
    /// read, which covers files the run finished but never got into the catalog.
    /// A temp name there may be a half-written file: never looked at, even when a
    /// source file has such a name.
    fn leftover_of(&self, rel: &Path) -> Option<Leftover> {
        if rel.file_name().is_some_and(store::is_temp_name) {
            return None;
        }
        self.inp.resume.iter().find_map(|run| {
            let path = run.dir.join(rel);
            let file = path.symlink_metadata().is_ok_and(|m| m.is_file());
            file.then_some(Leftover { path })
        })
    }

    fn dst(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str() == "." {
            self.inp.paths.work_dir.clone()
        } else {
            self.inp.paths.work_dir.join(rel)
        }
    }

    /// Gives every folder its mode, owner and mtime (deepest first), closes the catalog
    /// batch and the manifest. The snapshot is still under its in-progress name.
    pub fn finish(mut self, progress: &dyn Report) -> Result<(Counts, Log, Failures)> {
        for (dir, meta, set) in std::mem::take(&mut self.dirs).iter().rev() {
            if let Err(e) = store::finish_dir(dir, meta, set.as_deref()) {
                self.fail(dir, &format!("cannot set folder metadata: {e}"), progress);
            }
        }
        self.writer.close_unseen(self.inp.snapshot.id)?;
        self.writer.finish()?;
        // What reading unverified copies showed: good ones serve from now on, damaged
        // ones never again (the writer is done, so nothing waits for its transaction).
        for (copy_id, verdict) in std::mem::take(&mut self.linker.verdicts) {
            crate::catalog::damage::record_verdict(&self.reads, copy_id, verdict)?;
        }
        self.manifest
            .into_inner()
            .map_err(|e| e.into_error())
            .map(drop)
            .with_context(|| {
                format!(
                    "{}: cannot write manifest",
                    self.inp.paths.work_manifest.display()
                )
            })?;
        Ok((self.counts, self.log, self.failures))
    }
}
