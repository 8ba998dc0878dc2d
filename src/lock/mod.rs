//! Owns the writer lock in `<root>/.phlb/lock`: one writing phlb run per backup root.
//! Also owns the per-snapshot lock (`snapshot`) that readers and removers of a snapshot take,
//! and the per-run liveness lock (`run`) a backup holds for its life.
//!
//! The lock is an `flock` on the lock file, so the kernel drops it when its process dies;
//! the pid written inside only serves messages. A lock file whose flock is free is stale
//! and simply taken over.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub mod run;
pub mod snapshot;

/// The descriptor of the lock file while this process holds the writer lock (-1 when
/// it does not), so a Ctrl-C or SIGTERM exit can clear the pid (`clear_for_exit`).
static HELD_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Clears the pid in the lock file of a writer lock this process holds, as `Drop` does:
/// called by the signal thread just before the process ends on SIGINT/SIGTERM, so an
/// interrupted run is not mistaken by the next one for a crash ("taking over the stale
/// lock"). The kernel releases the flock itself when the process ends.
pub fn clear_for_exit() {
    let fd = HELD_FD.load(std::sync::atomic::Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: ftruncate on a descriptor this process holds open until it ends (the
        // lock's `Drop` resets HELD_FD before closing it); no memory is involved.
        unsafe { libc::ftruncate(fd, 0) };
    }
}

/// A held writer lock; released when dropped.
pub struct Lock {
    file: File,
    /// The pid of a dead run whose lock file was taken over, if any.
    pub stale_pid: Option<String>,
}

/// The writer lock is held by another run (or by readers that keep writers out): the
/// message says who. A caller that can wait (a watch loop) finds it with `downcast_ref`.
#[derive(Debug)]
pub struct Held(pub String);

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Held {}

/// Whether a writer waits for a lock another run holds (`--wait[=DURATION]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wait {
    /// Fail at once, naming the holder.
    #[default]
    No,
    /// Wait until the lock is free.
    Forever,
    /// Wait at most this long, then fail.
    AtMost(Duration),
}

/// How often a waiting writer tries the lock again.
const RETRY: Duration = Duration::from_millis(200);

/// Takes the writer lock; while another run holds it and `wait` allows, waits, telling
/// `say` once who holds it. An interrupt (SIGINT/SIGTERM) ends the wait.
pub fn acquire_waiting(meta_dir: &Path, wait: Wait, say: &dyn crate::tell::Tell) -> Result<Lock> {
    let started = Instant::now();
    let mut told = false;
    loop {
        let err = match acquire(meta_dir) {
            Err(e) if e.downcast_ref::<Held>().is_some() => e,
            other => return other,
        };
        let waited = started.elapsed();
        let more = match wait {
            Wait::No => false,
            Wait::Forever => true,
            Wait::AtMost(limit) => waited < limit,
        };
        if !more || crate::signals::stopped() {
            if wait == Wait::No {
                return Err(err);
            }
            return Err(err.context(format!(
                "gave up waiting for the lock after {}",
                crate::units::human_duration(waited)
            )));
        }
        if !told {
            let held = err
                .downcast_ref::<Held>()
                .map(|h| h.0.clone())
                .unwrap_or_default();
            let who = held.split("; try again").next().unwrap_or(&held);
            say.step(&format!("waiting: {who}"));
            told = true;
        }
        std::thread::sleep(RETRY);
    }
}

/// Opens (or makes, 0600) the lock file at `path` for reading and writing, never through
/// a symlink: the writer lock's, a run's (`run`) and a remote source's mirror's.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Takes the writer lock or explains who holds it (a `Held` error when another run has it).
pub fn acquire(meta_dir: &Path) -> Result<Lock> {
    let path = meta_dir.join("lock");
    let mut file = open_lock_file(&path)
        .with_context(|| format!("{}: cannot open lock file", path.display()))?;
    let mut previous = String::new();
    let _ = file.read_to_string(&mut previous);
    let holder = previous.split_whitespace().next().unwrap_or("").to_string();
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            if readers_only(&path) {
                return Err(Held(format!(
                    "{}: a phlb query is reading the catalog while nothing may write (the disk \
                     was full or read-only when it started); try again when it is done",
                    path.display()
                ))
                .into());
            }
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            return Err(Held(format!(
                "{}: another phlb run{who} is writing to this backup root; try again when it is done",
                path.display()
            ))
            .into());
        }
        return Err(err).with_context(|| format!("{}: cannot lock", path.display()));
    }
    let me = std::process::id().to_string();
    let stale_pid = (!holder.is_empty() && holder != me).then_some(holder);
    // The pid only serves messages: on a full disk (when prune is most needed) the lock
    // is held without it.
    let written = file
        .set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| writeln!(file, "{me}"));
    match written {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) => {}
        other => {
            other.with_context(|| format!("{}: cannot write the lock file", path.display()))?
        }
    }
    HELD_FD.store(file.as_raw_fd(), std::sync::atomic::Ordering::SeqCst);
    Ok(Lock { file, stale_pid })
}

/// True when the lock on `path` is held only by readers (`hold_shared`), not a writer.
fn readers_only(path: &Path) -> bool {
    let Ok(probe) = File::open(path) else {
        return false;
    };
    // SAFETY: flock on a file descriptor we own; it is released when `probe` closes.
    unsafe { libc::flock(probe.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) == 0 }
}

/// Keeps writers out while a reader reads the catalog as an unchanging file: a shared
/// flock on `<meta_dir>/lock`, taken without waiting; an error naming the holder when a
/// writer runs. `None` when there is no lock file (no writer ever ran here).
pub fn hold_shared(meta_dir: &Path) -> Result<Option<File>> {
    let path = meta_dir.join("lock");
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "{}: cannot check whether a phlb run is writing",
                    path.display()
                )
            })
        }
    };
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            bail!(
                "{}: another phlb run is writing to this backup root, and its catalog can only be \
                 read while nothing writes (the disk is full or read-only); try again when it is done",
                path.display()
            );
        }
        return Err(err).with_context(|| format!("{}: cannot lock", path.display()));
    }
    Ok(Some(file))
}

impl Drop for Lock {
    /// Clears the pid so the next run does not mistake a clean exit for a crash.
    fn drop(&mut self) {
        HELD_FD.store(-1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.file.set_len(0);
    }
}
