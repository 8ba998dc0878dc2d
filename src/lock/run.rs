//! Owns the per-run liveness lock: a backup run holds `<root>/.phlb/runs/<key>` locked
//! (`flock`, exclusive) from before its catalog row exists until after it is complete,
//! and removes the file at the end. Whether an incomplete run is still running is asked
//! of that lock: the kernel drops it when the process dies, so a killed run reads as
//! dead whatever process later gets its pid, and whatever other run holds the root.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The folder of the run locks, in the meta folder.
const RUNS: &str = "runs";

/// A held run lock; the file is removed when dropped.
pub struct RunLock {
    _file: File,
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file of run `name/timestamp` (a digest: names may hold any byte).
fn path(meta_dir: &Path, name: &str, timestamp: &str) -> PathBuf {
    let mut h = crate::hash::HashAlgo::Sha256.hasher();
    h.update(name.as_bytes());
    h.update(b"/");
    h.update(timestamp.as_bytes());
    meta_dir
        .join(RUNS)
        .join(&crate::hash::hex(&h.finish())[..32])
}

/// Takes the lock of run `name/timestamp` for the life of the returned guard. Called
/// under the root's writer lock; lock files of dead runs found there are removed first.
pub fn hold(meta_dir: &Path, name: &str, timestamp: &str) -> Result<RunLock> {
    let dir = meta_dir.join(RUNS);
    crate::store::make_private_dir(&dir)?;
    sweep(&dir);
    let path = path(meta_dir, name, timestamp);
    let file = super::open_lock_file(&path)
        .with_context(|| format!("{}: cannot create the run lock", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("{}: cannot lock the run", path.display()));
    }
    Ok(RunLock { _file: file, path })
}

/// True when run `name/timestamp` is alive: its lock file is locked. Takes the lock
/// shared for an instant when it is free, which keeps no run from starting (a run locks
/// only its own new file).
pub fn alive(meta_dir: &Path, name: &str, timestamp: &str) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path(meta_dir, name, timestamp))
    else {
        return false;
    };
    // SAFETY: flock on a file descriptor we own; closing it drops the lock.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

/// Removes the lock files in `dir` whose run is dead (their lock is free).
fn sweep(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(f) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(e.path())
        else {
            continue;
        };
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
