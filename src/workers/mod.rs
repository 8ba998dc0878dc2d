//! Owns the per-file work that can run ahead of the main thread on worker threads
//! (`jobs` says what each job does): reading and hashing files, writing new stored
//! copies, and hardlinking unchanged files to their stored copy. Every core is used while
//! the main thread keeps walk order; results come back in job order.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::Scope;

use crate::hash::HashAlgo;

mod file_error;
mod jobs;
mod leftover;

pub use file_error::FileError;
pub use jobs::{
    read_and_hash, write_new_copy, Claim, CopyError, Done, Job, Linked, NewCopies, ReadFile,
    SourceFile, Wrote, SMALL_FILE,
};
use jobs::{work, Tools};
pub use leftover::{link_leftover, Leftover};

/// Jobs a worker may run ahead of the main thread.
const WINDOW: usize = 4096;
/// Jobs the main thread hands over at once, and jobs a worker takes at once: the threads
/// meet once per batch instead of once per file. A worker's batch holds up to `TAKE`
/// jobs, but reads only up to about `TAKE_BYTES` of file (a read of unknown size counts
/// as that much), so one worker never sits on many large files the others could share.
const HANDOFF: usize = 256;
const TAKE: usize = 64;
/// Links into one folder a worker takes at once: a link takes its folder's lock, so two
/// workers linking into one folder wait for each other; each takes a folder's run of
/// links instead, and they link into different folders side by side.
const TAKE_LINKS: usize = 1024;
const TAKE_BYTES: u64 = 1 << 20;
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
    /// Nothing taken, consumed or held yet, with `queue` to take from.
    fn new(queue: Queue) -> Shared {
        Shared {
            queue: Mutex::new(queue),
            job_ready: Condvar::new(),
            consumed: AtomicUsize::new(0),
            buffered: AtomicU64::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            moved_on: Condvar::new(),
            stop: AtomicBool::new(false),
        }
    }

    /// The next jobs, waiting for some: up to `TAKE`, with reads of up to about
    /// `TAKE_BYTES` in all. Empty once the queue is closed and empty.
    fn take_jobs(&self, into: &mut Vec<(usize, Job)>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            let mut bytes = 0;
            while bytes < TAKE_BYTES {
                let more = match (into.last(), q.jobs.front()) {
                    (_, None) => false,
                    (Some((_, Job::Link { dst: a, .. })), Some((_, Job::Link { dst: b, .. }))) => {
                        into.len() < TAKE_LINKS && (into.len() < TAKE || a.parent() == b.parent())
                    }
                    _ => into.len() < TAKE,
                };
                if !more {
                    break;
                }
                let Some(job) = q.jobs.pop_front() else { break };
                if let Job::Read { size, .. } = &job.1 {
                    bytes += size.unwrap_or(TAKE_BYTES).max(1);
                }
                into.push(job);
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
    /// Starts `workers` threads in `scope` reading and hashing the files at `paths` (inside
    /// the backup root: see `SourceFile::Path`).
    pub fn reads<'scope>(
        scope: &'scope Scope<'scope, '_>,
        paths: Vec<PathBuf>,
        algo: HashAlgo,
        workers: usize,
    ) -> Reader {
        let mut reader = Reader::start(scope, algo, workers, None);
        for src in paths {
            reader.push(Job::Read {
                src: SourceFile::Path(src),
                dst: None,
                size: None,
                leftover: None,
            });
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
        let shared = Arc::new(Shared::new(Queue::default()));
        let (tx, rx) = channel();
        for _ in 0..workers.max(1) {
            let (tx, shared) = (tx.clone(), Arc::clone(&shared));
            let new = new.clone();
            scope.spawn(move || {
                let mut tools = Tools::new(new);
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
                            // What is done is handed in: a stopping run records it.
                            let _ = tx.send(std::mem::take(&mut results));
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
    pub fn next_read(&mut self) -> Result<ReadFile, FileError> {
        match self.next_done() {
            Done::Read(r) => r,
            _ => Err(FileError::Internal("job order mismatch")),
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
                Err(_) => break Done::Read(Err(FileError::Internal("reader threads stopped"))),
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

impl Reader {
    /// True when the result of the next job is there or coming; false once the workers
    /// have stopped (`stop`) without running it.
    pub fn has_next(&mut self) -> bool {
        loop {
            if self.pending.contains_key(&self.next) {
                return true;
            }
            self.flush();
            match self.rx.recv() {
                Ok(done) => self.pending.extend(done),
                Err(_) => return false,
            }
        }
    }

    /// Stops the workers: each finishes the job in hand, hands in what it has done and
    /// takes no other (see `has_next`).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.lock.lock();
            self.shared.moved_on.notify_all();
        }
        let _queue = self.shared.queue.lock();
        self.shared.job_ready.notify_all();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn link(dir: &str, n: usize) -> Job {
        Job::Link {
            src: PathBuf::from(format!("old/{dir}/f{n}")),
            dst: PathBuf::from(format!("new/{dir}/f{n}")),
            ino: 1,
            size: 0,
            copy: crate::decide::CopyMeta {
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime_ns: 0,
                xattrs: 0,
            },
            max_links: 65000,
        }
    }

    fn shared_with(jobs: Vec<Job>) -> Shared {
        Shared::new(Queue {
            jobs: jobs.into_iter().enumerate().collect(),
            closed: true,
        })
    }

    /// How many jobs each take gets, until the queue is empty.
    fn takes(shared: &Shared) -> Vec<usize> {
        let mut sizes = Vec::new();
        loop {
            let mut into = Vec::new();
            shared.take_jobs(&mut into);
            if into.is_empty() {
                return sizes;
            }
            sizes.push(into.len());
        }
    }

    #[test]
    fn a_worker_takes_a_folders_run_of_links_so_two_do_not_link_into_one_folder() {
        // 1500 links into `a`, then 100 into `b` and 10 into `c`: a take goes on while the
        // links stay in its folder (up to TAKE_LINKS), and stops at another folder once
        // it holds TAKE jobs.
        let mut jobs: Vec<Job> = (0..1500).map(|n| link("a", n)).collect();
        jobs.extend((0..100).map(|n| link("b", n)));
        jobs.extend((0..10).map(|n| link("c", n)));
        assert_eq!(
            takes(&shared_with(jobs)),
            vec![TAKE_LINKS, 1500 - TAKE_LINKS, 100, 10]
        );
        // Folders of 10: a take holds several, and one that reaches TAKE inside a folder
        // takes the rest of it.
        let jobs: Vec<Job> = (0..200).map(|n| link(&format!("d{}", n / 10), n)).collect();
        assert_eq!(takes(&shared_with(jobs)), vec![70, 70, 60]);
    }
}
