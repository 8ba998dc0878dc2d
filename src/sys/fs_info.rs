//! Owns asking the filesystem about a path: `statvfs` (size, free space, id), `statfs`
//! (its type) and `faccessat` (whether this process may write it).

use std::ffi::CStr;
use std::io;

/// The `statvfs` of the filesystem holding `path`.
pub fn statvfs(path: &CStr) -> io::Result<libc::statvfs> {
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// The bytes an unprivileged writer may still use on the filesystem of open `fd`.
pub fn free_bytes_fd(fd: std::os::fd::BorrowedFd) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and out pointer.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The `statfs` of the filesystem holding `path`.
pub fn statfs(path: &CStr) -> io::Result<libc::statfs> {
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and out pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Whether this process may write `path`, by its effective ids and capabilities
/// (`faccessat` with `W_OK` and `AT_EACCESS`).
pub fn may_write(path: &CStr) -> io::Result<()> {
    // SAFETY: a valid C string; faccessat only reads it.
    let rc =
        unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
