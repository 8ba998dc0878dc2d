//! Owns the lock on one snapshot folder: readers of a snapshot's files (restore, a web
//! download) hold it shared; removers (prune, forget) hold it exclusive before the folder
//! leaves its place, and wait for the readers, saying so once.
//!
//! The lock is an `flock` on the snapshot folder itself (opened `O_DIRECTORY |
//! O_NOFOLLOW`), so no lock file is left beside it, the kernel drops it when its process
//! dies, and a rename of the folder keeps it.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// How a snapshot is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Reading its files; many at once.
    Shared,
    /// Removing it; alone.
    Exclusive,
}

/// A held lock on one snapshot folder; released when dropped.
pub struct SnapshotLock {
    _dir: File,
}

/// Locks the snapshot folder `dir`. When another run holds it the other way, `waiting`
/// is called once (to tell the user) and the lock is waited for; a SIGINT or SIGTERM
/// while waiting ends the wait with an error.
pub fn lock(dir: &Path, hold: Hold, waiting: &dyn Fn()) -> Result<SnapshotLock> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .with_context(|| format!("{}: cannot open snapshot", dir.display()))?;
    let op = match hold {
        Hold::Shared => libc::LOCK_SH,
        Hold::Exclusive => libc::LOCK_EX,
    };
    let mut said = false;
    loop {
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
            // A remover that held it first has moved the folder away (and emptied it).
            if !still_at(&file, dir) {
                bail!(
                    "{}: the snapshot was removed while waiting for it",
                    dir.display()
                );
            }
            return Ok(SnapshotLock { _dir: file });
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err).with_context(|| format!("{}: cannot lock snapshot", dir.display()));
        }
        if !said {
            waiting();
            said = true;
        }
        if crate::signals::stopped() {
            bail!(
                "{}: stopped while waiting for the snapshot's lock",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when `dir` still names the folder open as `file`.
fn still_at(file: &File, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(dir)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn shared_holders_coexist_and_an_exclusive_one_waits_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = lock(dir.path(), Hold::Shared, &|| panic!("no wait")).unwrap();
        let _b = lock(dir.path(), Hold::Shared, &|| panic!("no wait")).unwrap();
        let path = dir.path().to_path_buf();
        let waited = std::thread::spawn(move || {
            let said = Cell::new(0);
            let _x = lock(&path, Hold::Exclusive, &|| said.set(said.get() + 1)).unwrap();
            said.get()
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(a);
        drop(_b);
        assert_eq!(waited.join().unwrap(), 1);
    }
}
