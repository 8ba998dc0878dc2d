//! Owns setting metadata through descriptors: owner, mode and times of an open file or
//! folder, or of a name in an open folder (a restore giving things their recorded
//! metadata, a removal making a folder writable, a trim keeping a folder's times).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Gives the open file or folder `fd` owner `uid` and group `gid` (`fchown`).
pub fn chown_fd(fd: BorrowedFd, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: a valid descriptor and plain values.
    check(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })
}

/// Gives the open file or folder `fd` mode `mode` (`fchmod`).
pub fn chmod_fd(fd: BorrowedFd, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: a valid descriptor and a plain value.
    check(unsafe { libc::fchmod(fd.as_raw_fd(), mode) })
}

/// Gives the open file or folder `fd` access and modification times `times`
/// (`futimens`; `UTIME_OMIT` leaves one as it is).
pub fn set_times_fd(fd: BorrowedFd, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: a valid descriptor and a pointer to two timespecs.
    check(unsafe { libc::futimens(fd.as_raw_fd(), times.as_ptr()) })
}

/// Gives `name` in folder `dir` owner `uid` and group `gid` (`fchownat` with `flags`).
pub fn chown_at(
    dir: BorrowedFd,
    name: &CStr,
    uid: libc::uid_t,
    gid: libc::gid_t,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid descriptor and C string, plain values.
    check(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, flags) })
}

/// Gives `name` in folder `dir` mode `mode` (`fchmodat` with `flags`).
pub fn chmod_at(
    dir: BorrowedFd,
    name: &CStr,
    mode: libc::mode_t,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a valid descriptor and C string, plain values.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, flags) })
}

/// Gives `name` in folder `dir` (the current folder when `None`) access and
/// modification times `times` (`utimensat` with `flags`).
pub fn set_times_at(
    dir: Option<BorrowedFd>,
    name: &CStr,
    times: &[libc::timespec; 2],
    flags: libc::c_int,
) -> io::Result<()> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a valid descriptor (or AT_FDCWD) and C string, a pointer to two timespecs.
    check(unsafe { libc::utimensat(at, name.as_ptr(), times.as_ptr(), flags) })
}
