//! Owns the calls on an open file that std does not offer: reserving its blocks
//! (`fallocate`), waiting for an exclusive `flock` on it, naming an unnamed file
//! (`linkat` of an `O_TMPFILE`) and cloning another file's extents into it (`FICLONE`).

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

/// Takes an exclusive `flock` on `file` if nobody holds one; false when somebody does.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(false),
            _ => Err(e),
        };
    }
    Ok(true)
}

/// Takes an exclusive `flock` on `file`, waiting for it; closing the file drops it.
pub fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the unnamed file `file` (opened with `O_TMPFILE`) the name `dst`: `linkat` of
/// its `/proc/self/fd` entry, following that magic link. Fails with EEXIST when `dst`
/// exists (a link never replaces a name).
pub fn link_unnamed(file: &File, dst: &std::ffi::CStr) -> io::Result<()> {
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .expect("no NUL in a number");
    // SAFETY: C strings that outlive the call; AT_FDCWD for both sides.
    let rc = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `FICLONE` (`_IOW(0x94, 9, int)`): share all of another file's extents.
const FICLONE: libc::c_ulong = 0x4004_9409;

/// Makes `dst` (open for writing, empty) share all of `src`'s extents (`FICLONE`): a
/// copy-on-write clone on btrfs, XFS with reflink and bcachefs. Fails with EOPNOTSUPP,
/// EINVAL or EXDEV where the filesystem cannot clone these two files.
pub fn clone_from(dst: &File, src: &File) -> io::Result<()> {
    // SAFETY: ioctl FICLONE takes the source descriptor as its argument by value; both
    // descriptors are open files we own for the duration of the call.
    if unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
