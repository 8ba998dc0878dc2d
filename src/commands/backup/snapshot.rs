//! Owns one snapshot run: turns a scanned source into a snapshot folder, its manifest and
//! its catalog rows, deciding per file whether to link or to store a new copy.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, TryRecvError};

use anyhow::{Context, Result};

use super::links::{Linked, Linker};
use super::report::{Counts, Log};
use crate::catalog::{Conn, SnapshotRow, Writer};
use crate::config::{Config, LogLevel};
use crate::hash::hex;
use crate::layout::SnapshotPaths;
use crate::manifest;
use crate::plan::{first_step, CopyMeta, FirstStep, PrevMap};
use crate::prefetch::{read_and_hash, Done, Job, Linked as LinkDone, ReadFile, Reader};
use crate::progress::Progress;
use crate::scan::{self, Entry, Found, Kind, Meta, ScanOptions};
use crate::store;
use crate::units::one_line;

/// Everything one snapshot run needs, handed in by the command.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub root: &'a Path,
    pub source: &'a Path,
    pub snapshot: &'a SnapshotRow,
    pub paths: &'a SnapshotPaths,
    pub prev_dir: Option<PathBuf>,
    pub prev: PrevMap,
    pub as_root: bool,
    pub verbose: bool,
}

/// How many walked entries may wait ahead of the one being recorded.
const LOOKAHEAD: usize = 4096;

/// A file that could not be backed up (the run goes on).
struct Failure(String);

/// How one regular file was stored.
enum Stored {
    Linked {
        copy_id: i64,
        hash: Vec<u8>,
        meta: Meta,
    },
    Copied {
        copy_id: i64,
        hash: Vec<u8>,
        meta: Meta,
    },
}

/// The state of a run in progress.
pub struct Run<'a> {
    inp: Inputs<'a>,
    writer: Writer,
    /// A second connection for lookups; it sees what earlier runs committed.
    reads: Conn,
    linker: Linker,
    manifest: BufWriter<File>,
    pub log: Log,
    pub counts: Counts,
    dirs: Vec<(PathBuf, Meta)>,
    /// Folders that could not be made, reported when their entry comes up.
    dir_errors: HashMap<PathBuf, String>,
    told_no_links: bool,
}

impl<'a> Run<'a> {
    /// Starts a run: opens the manifest and log under their in-progress names.
    pub fn start(inp: Inputs<'a>, writer: Writer, reads: Conn, linker: Linker) -> Result<Run<'a>> {
        let manifest = File::create(&inp.paths.work_manifest).with_context(|| {
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
            dirs: Vec::new(),
            dir_errors: HashMap::new(),
            told_no_links: false,
        })
    }

    /// Walks the source and backs up everything it finds, reporting progress and per-file
    /// problems. Three things overlap: the walk (its own thread), the per-file syscalls
    /// (hardlinking unchanged files, reading and hashing the others, on `WORKERS`
    /// threads, up to `LOOKAHEAD` entries ahead), and this thread, which makes folders as
    /// the walk finds them and records everything in walk order.
    pub fn walk(&mut self, opts: &ScanOptions, progress: &Progress) -> Result<()> {
        let source = self.inp.source.to_path_buf();
        let (algo, workers) = (self.inp.config.hash, self.inp.config.worker_count());
        std::thread::scope(|scope| {
            let (tx, rx) = sync_channel::<Found>(LOOKAHEAD);
            scope.spawn(move || scan::walk(&source, opts, |found| tx.send(found).is_ok()));
            let mut reader = Reader::start(scope, algo, workers);
            let mut queue: VecDeque<Entry> = VecDeque::new();
            let mut walking = true;
            loop {
                while walking && queue.len() < LOOKAHEAD {
                    let found = if queue.is_empty() {
                        rx.recv().ok()
                    } else {
                        match rx.try_recv() {
                            Ok(f) => Some(f),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => None,
                        }
                    };
                    match found {
                        Some(Found::Entry(e)) => {
                            self.schedule(&e, &mut reader)?;
                            progress.grow(if e.kind == Kind::File { e.meta.size } else { 0 });
                            queue.push_back(e);
                        }
                        Some(other) => self.note(other, progress),
                        None => {
                            walking = false;
                            reader.close();
                        }
                    }
                }
                match queue.pop_front() {
                    Some(entry) => self.process(&entry, &mut reader, progress)?,
                    None if walking => continue,
                    None => return Ok(()),
                }
            }
        })
    }

    /// Starts what can start as soon as the walk finds an entry: a folder is made (so
    /// workers can link into it), a file's link or read is handed to the workers.
    fn schedule(&mut self, e: &Entry, reader: &mut Reader) -> Result<()> {
        match e.kind {
            Kind::Dir if e.rel != Path::new(".") => {
                let dst = self.dst(&e.rel);
                if let Err(err) = store::make_dir(&dst) {
                    if let Err(Failure(why)) = fatal_or::<()>(err, &dst, "cannot create folder")? {
                        self.dir_errors.insert(e.rel.clone(), why);
                    }
                }
            }
            Kind::File => {
                let prev = self.inp.prev.get(e.rel.as_os_str().as_bytes());
                match (
                    first_step(self.inp.config.dedup, e.meta, prev),
                    prev,
                    &self.inp.prev_dir,
                ) {
                    (FirstStep::Read, _, _) => reader.push(Job::Read(self.inp.source.join(&e.rel))),
                    (FirstStep::LinkPrevious, Some(p), Some(dir)) => reader.push(Job::Link {
                        src: dir.join(&e.rel),
                        dst: self.dst(&e.rel),
                        ino: p.copy_ino,
                        size: p.size,
                        max_links: self.inp.config.max_links,
                    }),
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts and reports what the walk found besides entries.
    fn note(&mut self, found: Found, progress: &Progress) {
        match found {
            Found::Problem(p) => self.fail(&p.path, &p.message, progress),
            Found::Special(path) => {
                self.counts.special += 1;
                let line = format!(
                    "{}: not a file, folder or symlink; skipped",
                    one_line(&path)
                );
                self.log.line(LogLevel::Warning, &line);
                progress.warn(&format!("phlb: warning: {line}"));
            }
            Found::Excluded(path) => {
                let line = format!(
                    "{}: the backup root is inside the source; skipped",
                    one_line(&path)
                );
                self.log.line(LogLevel::Info, &line);
                progress.warn(&format!("phlb: note: {line}"));
            }
            Found::Skipped => self.counts.skipped += 1,
            Found::Entry(_) => {}
        }
    }

    /// Backs up one entry whose work was scheduled; a failed file gets a second chance.
    fn process(&mut self, entry: &Entry, reader: &mut Reader, progress: &Progress) -> Result<()> {
        let result = match entry.kind {
            Kind::Dir => self.dir(entry),
            Kind::Symlink => self.symlink(entry),
            Kind::File => self.file(entry, reader, progress),
        }?;
        if let Err(Failure(why)) = result {
            let result = match entry.kind {
                Kind::File => self.file_again(entry, &why, progress)?,
                _ => Err(Failure(why)),
            };
            if let Err(Failure(why)) = result {
                self.fail(&self.inp.source.join(&entry.rel), &why, progress);
            }
        }
        progress.advance(if entry.kind == Kind::File {
            entry.meta.size
        } else {
            0
        });
        Ok(())
    }

    /// Second chance for a file whose first attempt failed, decided by what is there now:
    /// gone (deleted during the run: a warning, not a failure), a symlink (swapped in:
    /// stored as a symlink, never read through), or a file (read once more, with fresh
    /// metadata, which settles files that were being written).
    fn file_again(
        &mut self,
        entry: &Entry,
        first_why: &str,
        progress: &Progress,
    ) -> Result<Result<(), Failure>> {
        let src = self.inp.source.join(&entry.rel);
        let md = match src.symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.counts.vanished += 1;
                let line = format!(
                    "{}: deleted during the backup; not in this snapshot",
                    one_line(&src)
                );
                self.log.line(LogLevel::Warning, &line);
                progress.warn(&format!("phlb: warning: {line}"));
                return Ok(Ok(()));
            }
            Err(e) => return Ok(Err(Failure(format!("{first_why}; then: {e}")))),
            Ok(md) => md,
        };
        if md.file_type().is_symlink() {
            let Ok(target) = std::fs::read_link(&src) else {
                return Ok(Err(Failure(first_why.to_string())));
            };
            let swapped = Entry {
                kind: Kind::Symlink,
                meta: Meta::of(&md),
                target: Some(target),
                ..entry.clone()
            };
            return self.symlink(&swapped);
        }
        if !md.is_file() {
            return Ok(Err(Failure(first_why.to_string())));
        }
        let read = read_and_hash(&src, self.inp.config.hash);
        let dst = self.dst(&entry.rel);
        let stored = match self.store_read(read, &dst)? {
            Ok(stored) => stored,
            Err(Failure(why)) => return Ok(Err(Failure(why))),
        };
        self.record_file(entry, stored, progress)?;
        Ok(Ok(()))
    }

    /// Counts and reports one path that could not be backed up.
    pub fn fail(&mut self, path: &Path, why: &str, progress: &Progress) {
        self.counts.failed += 1;
        let line = format!("{}: {why}", one_line(path));
        self.log.line(LogLevel::Error, &format!("failed  {line}"));
        progress.error(&format!("phlb: error: {line}"));
    }

    fn dir(&mut self, entry: &Entry) -> Result<Result<(), Failure>> {
        if let Some(why) = self.dir_errors.remove(&entry.rel) {
            return Ok(Err(Failure(why)));
        }
        let dst = self.dst(&entry.rel);
        self.dirs.push((dst, entry.meta));
        self.counts.dirs += 1;
        self.writer.insert_entry(
            self.inp.snapshot.id,
            None,
            &entry.rel,
            Kind::Dir,
            &entry.meta,
            None,
            None,
        )?;
        Ok(Ok(()))
    }

    fn symlink(&mut self, entry: &Entry) -> Result<Result<(), Failure>> {
        let dst = self.dst(&entry.rel);
        let target = entry.target.as_deref().unwrap_or(Path::new(""));
        if let Err(e) = store::make_symlink(&dst, target, &entry.meta, self.inp.as_root) {
            return fatal_or(e, &dst, "cannot create symlink");
        }
        self.counts.symlinks += 1;
        self.writer.insert_entry(
            self.inp.snapshot.id,
            None,
            &entry.rel,
            Kind::Symlink,
            &entry.meta,
            None,
            Some(target),
        )?;
        self.action(LogLevel::Debug, "symlink", &entry.rel);
        Ok(Ok(()))
    }

    fn file(
        &mut self,
        entry: &Entry,
        reader: &mut Reader,
        progress: &Progress,
    ) -> Result<Result<(), Failure>> {
        let stored = match self.store_file(entry, reader)? {
            Ok(s) => s,
            Err(f) => return Ok(Err(f)),
        };
        self.record_file(entry, stored, progress)?;
        Ok(Ok(()))
    }

    /// Counts, records and logs a regular file once it is in the snapshot.
    fn record_file(&mut self, entry: &Entry, stored: Stored, progress: &Progress) -> Result<()> {
        self.say_no_links(progress);
        let (copy_id, hash, meta, what) = match stored {
            Stored::Linked {
                copy_id,
                hash,
                meta,
            } => {
                self.counts.linked += 1;
                (copy_id, hash, meta, "linked")
            }
            Stored::Copied {
                copy_id,
                hash,
                meta,
            } => {
                self.counts.copied += 1;
                self.counts.new_bytes += meta.size;
                (copy_id, hash, meta, "copied")
            }
        };
        self.counts.files += 1;
        self.counts.bytes += meta.size;
        let path_id = self
            .inp
            .prev
            .get(entry.rel.as_os_str().as_bytes())
            .map(|p| p.path_id);
        self.writer.insert_entry(
            self.inp.snapshot.id,
            path_id,
            &entry.rel,
            Kind::File,
            &meta,
            Some(copy_id),
            None,
        )?;
        self.manifest
            .write_all(&manifest::line(&hex(&hash), &entry.rel))
            .context("cannot write manifest")?;
        self.action(LogLevel::Info, what, &entry.rel);
        if self.inp.verbose {
            progress.warn(&format!("{what:<7} {}", one_line(&entry.rel)));
        }
        Ok(())
    }

    /// Decides and carries out how one regular file is stored.
    fn store_file(
        &mut self,
        entry: &Entry,
        reader: &mut Reader,
    ) -> Result<Result<Stored, Failure>> {
        let dst = self.dst(&entry.rel);
        let prev = self.inp.prev.get(entry.rel.as_os_str().as_bytes());
        let policy = self.inp.config.dedup;
        let known = match (first_step(policy, entry.meta, prev), prev) {
            (FirstStep::LinkPrevious, Some(p)) => {
                match reader.next_done() {
                    Done::Link(LinkDone::Yes) => {
                        return Ok(Ok(Stored::Linked {
                            copy_id: p.copy_id,
                            hash: p.hash.clone(),
                            meta: entry.meta,
                        }))
                    }
                    Done::Link(LinkDone::Unsupported(e)) => self.linker.unsupported = Some(e),
                    Done::Link(LinkDone::Failed(e)) if store::is_fatal(&e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("{}: cannot create link", dst.display())))
                    }
                    _ => {}
                }
                Some(p.hash.clone())
            }
            (FirstStep::KnownContent, Some(p)) => Some(p.hash.clone()),
            _ => {
                let read = reader.next_read();
                return self.store_read(read, &dst);
            }
        };
        if let Some(hash) = known {
            let conn = &*self.reads;
            if let Linked::Yes(copy_id) =
                self.linker
                    .link_content(conn, &hash, entry.meta.size, entry.meta.into(), &dst)?
            {
                return Ok(Ok(Stored::Linked {
                    copy_id,
                    hash,
                    meta: entry.meta,
                }));
            }
        }
        let read = read_and_hash(&self.inp.source.join(&entry.rel), self.inp.config.hash);
        self.store_read(read, &dst)
    }

    /// Links a file that was read and hashed to a stored copy, or writes a new copy.
    fn store_read(
        &mut self,
        read: Result<ReadFile, String>,
        dst: &Path,
    ) -> Result<Result<Stored, Failure>> {
        let ReadFile {
            mut file,
            meta,
            hash,
            buffer,
        } = match read {
            Ok(r) => r,
            Err(why) => return Ok(Err(Failure(why))),
        };
        let algo = self.inp.config.hash;
        let conn = &*self.reads;
        if let Linked::Yes(copy_id) =
            self.linker
                .link_content(conn, &hash, meta.size, meta.into(), dst)?
        {
            return Ok(Ok(Stored::Linked {
                copy_id,
                hash,
                meta,
            }));
        }
        let as_root = self.inp.as_root;
        let written = match buffer {
            Some(buf) => {
                store::write_copy(dst, &buf, &meta, as_root).map(|ino| (hash.clone(), ino))
            }
            None => file
                .rewind()
                .and_then(|_| store::stream_copy(&mut file, dst, &meta, algo, as_root))
                .map(|(h, n, ino)| {
                    let h = if n == meta.size { h } else { Vec::new() };
                    (h, ino)
                }),
        };
        let (copied_hash, ino) = match written {
            Ok(w) => w,
            Err(e) => return fatal_or(e, dst, "cannot write copy"),
        };
        if copied_hash != hash || !store::unchanged_since(&file, &meta, None) {
            let _ = std::fs::remove_file(dst);
            return Ok(Err(Failure("changed while being copied; try again".into())));
        }
        let copy_id = self
            .writer
            .insert_copy(&hash, meta.size, ino, meta.into())?;
        let copy: CopyMeta = meta.into();
        self.linker.remember(&hash, copy, copy_id, dst, 1);
        Ok(Ok(Stored::Copied {
            copy_id,
            hash,
            meta,
        }))
    }

    fn say_no_links(&mut self, progress: &Progress) {
        if self.told_no_links {
            return;
        }
        if let Some(e) = &self.linker.unsupported {
            self.told_no_links = true;
            let line = format!(
                "{}: hardlinks are not possible here ({e}); copying files instead",
                one_line(self.inp.root)
            );
            self.log.line(LogLevel::Warning, &line);
            progress.warn(&format!("phlb: warning: {line}"));
        }
    }

    fn action(&mut self, level: LogLevel, what: &str, rel: &Path) {
        self.log
            .line(level, &format!("{what:<7} {}", one_line(rel)));
    }

    fn dst(&self, rel: &Path) -> PathBuf {
        if rel == Path::new(".") {
            self.inp.paths.work_dir.clone()
        } else {
            self.inp.paths.work_dir.join(rel)
        }
    }

    /// Gives every folder its mode, owner and mtime (deepest first), closes the catalog
    /// batch and the manifest. The snapshot is still under its in-progress name.
    pub fn finish(mut self, progress: &Progress) -> Result<(Counts, Log)> {
        for (dir, meta) in std::mem::take(&mut self.dirs).iter().rev() {
            if let Err(e) = store::finish_dir(dir, meta, self.inp.as_root) {
                self.fail(dir, &format!("cannot set folder metadata: {e}"), progress);
            }
        }
        self.writer.finish()?;
        self.manifest
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .context("cannot write manifest")?;
        Ok((self.counts, self.log))
    }
}

/// Turns a destination error into a per-file failure, or a fatal error when the backup
/// disk itself is the problem.
fn fatal_or<T>(e: std::io::Error, path: &Path, what: &str) -> Result<Result<T, Failure>> {
    if store::is_fatal(&e) {
        Err(anyhow::Error::new(e).context(format!("{}: {what}", path.display())))
    } else {
        Ok(Err(Failure(format!("{what}: {e}"))))
    }
}
