//! Owns the calls on an open file that std does not offer: reserving its blocks
//! (`fallocate`) and waiting for an exclusive `flock` on it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Allocates `len` bytes of disk to `file` from its start (`fallocate`, mode 0).
pub fn allocate(file: &File, len: libc::off_t) -> io::Result<()> {
    // SAFETY: fallocate on a descriptor we own; no memory is involved.
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes an exclusive `flock` on `file`, waiting for it; closing the file drops it.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
