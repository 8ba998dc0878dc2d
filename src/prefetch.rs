//! Owns the per-file work that can run ahead of the main thread on worker threads: reading
//! and hashing files, and hardlinking unchanged files to their stored copy. Every core is
//! used while the main thread keeps walk order; results come back in job order.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::Seek;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::Scope;

use crate::hash::{hash_reader, HashAlgo};
use crate::scan::Meta;
use crate::store;

/// Files up to this size are read into memory once; larger ones are hashed in chunks.
pub const SMALL_FILE: u64 = 1 << 20;

/// A file that was opened (without following symlinks), read and hashed.
#[derive(Debug)]
pub struct ReadFile {
    /// The open file, for copying a large file without opening it again.
    pub file: File,
    /// Metadata of the open file, unchanged from before to after the read.
    pub meta: Meta,
    pub hash: Vec<u8>,
    /// The whole content, when the file is small.
    pub buffer: Option<Vec<u8>>,
}

/// Opens, reads and hashes one file; errors are one phrase for the user.
pub fn read_and_hash(path: &std::path::Path, algo: HashAlgo) -> Result<ReadFile, String> {
    let mut file = match store::open_source(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("replaced by a symlink during the backup".into())
        }
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let meta = match file.metadata() {
        Ok(md) if md.is_file() => Meta::of(&md),
        Ok(_) => return Err("no longer a regular file".into()),
        Err(e) => return Err(format!("cannot stat: {e}")),
    };
    let (hash, buffer) = if meta.size <= SMALL_FILE {
        let buf = store::read_all(&mut file, meta.size).map_err(|e| format!("cannot read: {e}"))?;
        (algo.digest(&buf), Some(buf))
    } else {
        let (h, _) = hash_reader(algo, &mut file).map_err(|e| format!("cannot read: {e}"))?;
        (h, None)
    };
    let read = buffer.as_ref().map(|b| b.len() as u64);
    if !store::unchanged_since(&file, &meta, read) {
        return Err("changed while being read; try again".into());
    }
    Ok(ReadFile {
        file,
        meta,
        hash,
        buffer,
    })
}

/// Says whether a worker may write content it just hashed as a new stored copy: true
/// only when no stored copy of it can exist yet, so all other content is left to the
/// main thread to link. One per worker, made on the worker when it first needs one.
pub type Claim = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// What lets workers write new stored copies themselves.
#[derive(Clone)]
pub struct NewCopies {
    /// Makes a worker's claim check.
    pub claim: Arc<dyn Fn() -> Claim + Send + Sync>,
    /// Give copies their recorded owner.
    pub as_root: bool,
}

/// One piece of work for a worker.
#[derive(Debug)]
pub enum Job {
    /// Open, read and hash the file `src`; with `dst`, write it there as a new stored copy
    /// when its content is claimed (see `Claim`).
    Read { src: PathBuf, dst: Option<PathBuf> },
    /// Hardlink `dst` to the stored copy at `src` if it is still inode `ino` of `size`
    /// bytes with room for another link.
    Link {
        src: PathBuf,
        dst: PathBuf,
        ino: u64,
        size: u64,
        max_links: u64,
    },
}

/// What a worker made of a job.
#[derive(Debug)]
pub enum Done {
    Read(Result<ReadFile, String>),
    /// Read, hashed and written as a new stored copy.
    Wrote(Result<Wrote, CopyError>),
    Link(Linked),
}

/// A new stored copy a worker wrote.
#[derive(Debug)]
pub struct Wrote {
    pub meta: Meta,
    pub hash: Vec<u8>,
    pub ino: u64,
}

/// Why a new stored copy could not be written (nothing is left at its place).
#[derive(Debug)]
pub enum CopyError {
    /// The source changed or could not be read while being copied: try again.
    Source(String),
    /// Writing the copy failed.
    Write(std::io::Error),
}

/// Writes a file that was read and hashed as a new stored copy at `dst`: small files
/// from the buffer, large ones streamed again and hashed once more, so the copy is
/// exactly the content hashed. Returns the copy's inode number.
pub fn write_new_copy(
    read: ReadFile,
    dst: &std::path::Path,
    algo: HashAlgo,
    as_root: bool,
) -> Result<u64, CopyError> {
    let ReadFile {
        mut file,
        meta,
        hash,
        buffer,
    } = read;
    let copy = match buffer {
        Some(buf) => store::NewCopy::write(dst, &buf).map(|c| (c, hash.clone())),
        None => file
            .rewind()
            .and_then(|_| store::NewCopy::stream(&mut file, dst, algo))
            .map(|(c, h, n)| (c, if n == meta.size { h } else { Vec::new() })),
    };
    let (copy, copied_hash) = copy.map_err(CopyError::Write)?;
    if copied_hash != hash || !store::unchanged_since(&file, &meta, None) {
        // Dropping the unfinished copy removes it.
        return Err(CopyError::Source(
            "changed while being copied; try again".into(),
        ));
    }
    copy.commit(&meta, as_root).map_err(CopyError::Write)
}

/// The outcome of a link job.
#[derive(Debug)]
pub enum Linked {
    Yes,
    /// The stored copy is gone, changed, or full: find or make another.
    Unusable,
    /// The filesystem cannot link here.
    Unsupported(std::io::Error),
    /// Linking failed for another reason.
    Failed(std::io::Error),
}

fn link(
    fds: &mut store::DirFds,
    src: &std::path::Path,
    dst: &std::path::Path,
    ino: u64,
    size: u64,
    max_links: u64,
) -> Linked {
    match store::link_stored_copy(fds, src, dst, ino, size, max_links) {
        Some(store::LinkOutcome::Linked) => Linked::Yes,
        Some(store::LinkOutcome::Full) | None => Linked::Unusable,
        Some(store::LinkOutcome::Unsupported(e)) => Linked::Unsupported(e),
        Some(store::LinkOutcome::Failed(e)) => Linked::Failed(e),
    }
}

/// A worker's tools: folder descriptors for linking and, when workers may write new
/// copies, the claim check (made on first use).
struct Tools {
    fds: store::DirFds,
    new: Option<NewCopies>,
    claim: Option<Claim>,
}

impl Tools {
    fn claims(&mut self, hash: &[u8]) -> bool {
        let Some(new) = &self.new else { return false };
        let claim = self.claim.get_or_insert_with(|| (new.claim)());
        claim(hash)
    }
}

fn work(job: &Job, algo: HashAlgo, tools: &mut Tools) -> Done {
    match job {
        Job::Read { src, dst } => match (read_and_hash(src, algo), dst) {
            (Ok(read), Some(dst)) if tools.claims(&read.hash) => {
                let (meta, hash) = (read.meta, read.hash.clone());
                let as_root = tools.new.as_ref().is_some_and(|n| n.as_root);
                Done::Wrote(write_new_copy(read, dst, algo, as_root).map(|ino| Wrote {
                    meta,
                    hash,
                    ino,
                }))
            }
            (read, _) => Done::Read(read),
        },
        Job::Link {
            src,
            dst,
            ino,
            size,
            max_links,
        } => Done::Link(link(&mut tools.fds, src, dst, *ino, *size, *max_links)),
    }
}

/// Jobs a worker may run ahead of the main thread.
const WINDOW: usize = 4096;
/// Jobs the main thread hands over at once, and link jobs a worker takes at once: the
/// threads meet once per batch instead of once per file.
const HANDOFF: usize = 256;
const TAKE: usize = 64;
/// File bytes that finished reads may hold in memory while they wait for the main thread.
const BUFFERED_MAX: u64 = 32 << 20;

/// Jobs handed in by the main thread and not yet taken by a worker.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<(usize, Job)>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    job_ready: Condvar,
    /// Results the main thread has taken.
    consumed: AtomicUsize,
    /// Bytes held by read results not yet taken.
    buffered: AtomicU64,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    moved_on: Condvar,
    stop: AtomicBool,
}

impl Shared {
    /// The next jobs, waiting for some: up to `TAKE` links, or one read (reads are slow
    /// enough to share out one by one). Empty once the queue is closed and empty.
    fn take_jobs(&self, into: &mut Vec<(usize, Job)>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            while into.len() < TAKE {
                let Some(job) = q.jobs.pop_front() else { break };
                let read = matches!(job.1, Job::Read { .. });
                into.push(job);
                if read {
                    break;
                }
            }
            if !into.is_empty() || q.closed {
                return;
            }
            q = self.job_ready.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Job `i` must wait while it is too far ahead; the job the main thread needs next
    /// never waits, so the workers cannot all be stuck.
    fn must_wait(&self, i: usize) -> bool {
        let consumed = self.consumed.load(Ordering::SeqCst);
        !self.stop.load(Ordering::SeqCst)
            && i > consumed
            && (i >= consumed + WINDOW || self.buffered.load(Ordering::SeqCst) > BUFFERED_MAX)
    }

    fn wait_turn(&self, i: usize) {
        while self.must_wait(i) {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            if self.must_wait(i) {
                let _ = self
                    .moved_on
                    .wait_timeout(guard, std::time::Duration::from_millis(20));
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Hands out read-and-hash results in job order while workers run ahead by a bounded window.
pub struct Reader {
    rx: Receiver<Vec<(usize, Done)>>,
    pending: BTreeMap<usize, Done>,
    next: usize,
    pushed: usize,
    /// Jobs pushed but not yet handed to the workers (they go over in batches).
    held: Vec<(usize, Job)>,
    shared: Arc<Shared>,
}

impl Reader {
    /// Starts `workers` threads in `scope` reading and hashing `paths`.
    pub fn reads<'scope>(
        scope: &'scope Scope<'scope, '_>,
        paths: Vec<PathBuf>,
        algo: HashAlgo,
        workers: usize,
    ) -> Reader {
        let mut reader = Reader::start(scope, algo, workers, None);
        for src in paths {
            reader.push(Job::Read { src, dst: None });
        }
        reader.close();
        reader
    }

    /// Starts `workers` threads in `scope`; hand them work with `push`, then `close`.
    /// With `new`, workers write the new stored copies of read jobs that name a `dst`.
    pub fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        algo: HashAlgo,
        workers: usize,
        new: Option<NewCopies>,
    ) -> Reader {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            job_ready: Condvar::new(),
            consumed: AtomicUsize::new(0),
            buffered: AtomicU64::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            moved_on: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = channel();
        for _ in 0..workers.max(1) {
            let (tx, shared) = (tx.clone(), Arc::clone(&shared));
            let new = new.clone();
            scope.spawn(move || {
                let mut tools = Tools {
                    fds: store::DirFds::default(),
                    new,
                    claim: None,
                };
                let mut jobs = Vec::with_capacity(TAKE);
                let mut results = Vec::with_capacity(TAKE);
                loop {
                    shared.take_jobs(&mut jobs);
                    if jobs.is_empty() {
                        return;
                    }
                    for (i, job) in jobs.drain(..) {
                        if shared.must_wait(i) {
                            // What is done may be what the main thread waits for.
                            if !results.is_empty() && tx.send(std::mem::take(&mut results)).is_err()
                            {
                                return;
                            }
                            shared.wait_turn(i);
                        }
                        if shared.stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let result = work(&job, algo, &mut tools);
                        if let Done::Read(Ok(read)) = &result {
                            let held = read.buffer.as_ref().map_or(0, |b| b.len() as u64);
                            shared.buffered.fetch_add(held, Ordering::SeqCst);
                        }
                        results.push((i, result));
                    }
                    if tx.send(std::mem::take(&mut results)).is_err() {
                        return;
                    }
                }
            });
        }
        Reader {
            rx,
            pending: BTreeMap::new(),
            next: 0,
            pushed: 0,
            held: Vec::with_capacity(HANDOFF),
            shared,
        }
    }

    /// Hands a job to the workers; results come back in the order jobs were pushed.
    pub fn push(&mut self, job: Job) {
        self.held.push((self.pushed, job));
        self.pushed += 1;
        if self.held.len() >= HANDOFF {
            self.flush();
        }
    }

    /// Hands the held jobs to the workers now.
    pub fn flush(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.jobs.extend(self.held.drain(..));
        drop(q);
        self.shared.job_ready.notify_all();
    }

    /// Says no more jobs will come, so idle workers can end.
    pub fn close(&mut self) {
        self.flush();
        self.shared
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.shared.job_ready.notify_all();
    }

    /// The result of the next job, which must be a read.
    pub fn next_read(&mut self) -> Result<ReadFile, String> {
        match self.next_done() {
            Done::Read(r) => r,
            _ => Err("internal: job order mismatch".into()),
        }
    }

    /// The result of the next job in order (blocks until a worker has it).
    pub fn next_done(&mut self) -> Done {
        let want = self.next;
        let result = loop {
            if let Some(r) = self.pending.remove(&want) {
                break r;
            }
            self.flush();
            match self.rx.recv() {
                Ok(done) => self.pending.extend(done),
                Err(_) => break Done::Read(Err("reader threads stopped".into())),
            }
        };
        self.next += 1;
        if let Done::Read(Ok(read)) = &result {
            let held = read.buffer.as_ref().map_or(0, |b| b.len() as u64);
            self.shared.buffered.fetch_sub(held, Ordering::SeqCst);
        }
        self.shared.consumed.store(self.next, Ordering::SeqCst);
        if self.shared.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.shared.lock.lock();
            self.shared.moved_on.notify_all();
        }
        result
    }
}

impl Drop for Reader {
    /// Stops the workers (they finish the file in hand) so the scope can end.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.lock.lock();
            self.shared.moved_on.notify_all();
        }
        let _queue = self.shared.queue.lock();
        self.shared.job_ready.notify_all();
    }
}
