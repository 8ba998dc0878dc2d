//! Owns the calls relative to an open folder descriptor, which keep phlb inside a folder
//! it has opened: listing a folder from its descriptor, `fstatat`, `readlinkat`, opening
//! a path beneath a folder with no symlink anywhere on the way (`openat2`), and the
//! plain `openat`, `mkdirat`, `unlinkat`, `renameat2`, `symlinkat` and `linkat`.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a path given to `open_no_symlinks` may lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only beneath the folder it is resolved in (a relative path).
    Beneath,
    /// Anywhere (an absolute, canonical path), still with no symlink on the way.
    Anywhere,
}

fn nul() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "name holds a NUL byte")
}

/// Runs `f` with `bytes` as a C string, built on the stack when short, so the hot paths
/// do not allocate.
pub fn with_cstr<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> io::Result<T>) -> io::Result<T> {
    let mut buf = [0u8; 512];
    if bytes.len() < buf.len() {
        buf[..bytes.len()].copy_from_slice(bytes);
        f(CStr::from_bytes_with_nul(&buf[..=bytes.len()]).map_err(|_| nul())?)
    } else {
        f(&CString::new(bytes).map_err(|_| nul())?)
    }
}

fn fd_or_error(rc: libc::c_long) -> io::Result<OwnedFd> {
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as RawFd) })
}

/// The stat of `name` in folder `dir`, not following a symlink.
pub fn stat_at(dir: BorrowedFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten by fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out pointer.
    let rc = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// The stat of an open descriptor.
pub fn stat_fd(fd: BorrowedFd) -> io::Result<libc::stat> {
    // SAFETY: an all-zero stat is a valid value to be overwritten by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// The target of symlink `name` in folder `dir`.
pub fn read_link_at(dir: BorrowedFd, name: &CStr) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: valid descriptor and C string; the buffer holds `buf.len()` bytes.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(PathBuf::from(std::ffi::OsString::from_vec(buf)));
        }
        let grown = buf.len() * 4;
        buf.resize(grown, 0);
    }
}

/// Opens folder `name` of folder `dir`, refusing a symlink or anything but a folder
/// (ENOTDIR).
pub fn open_dir_at(dir: BorrowedFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: valid descriptor and C string.
    fd_or_error(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) }.into())
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens `name` in folder `dir` (the current folder when `None`) with exactly `flags`
/// (nothing is added), made with `mode` when `flags` create it.
pub fn open_at(
    dir: Option<BorrowedFd>,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: valid descriptor (or AT_FDCWD) and C string; `mode` is a plain value.
    fd_or_error(unsafe { libc::openat(at, name.as_ptr(), flags, mode) }.into())
}

/// Makes folder `name` in `dir` with `mode` (less the umask).
pub fn mkdir_at(dir: BorrowedFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) })
}

/// Removes name `name` of `dir` (a folder with `AT_REMOVEDIR` in `flags`).
pub fn unlink_at(dir: BorrowedFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: valid descriptor and C string.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })
}

/// Renames `from` to `to`, both in folder `dir` (`renameat2` with `flags`).
pub fn rename_at(dir: BorrowedFd, from: &CStr, to: &CStr, flags: libc::c_uint) -> io::Result<()> {
    let fd = dir.as_raw_fd();
    // SAFETY: valid descriptors and C strings.
    check(unsafe { libc::renameat2(fd, from.as_ptr(), fd, to.as_ptr(), flags) })
}

/// Makes `name` in `dir` a symlink to `target`.
pub fn symlink_at(target: &CStr, dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    // SAFETY: valid descriptor and C strings.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })
}

/// Makes `to` in folder `to_dir` a hardlink of `from` in folder `from_dir` (`flags` 0
/// does not follow a symlink `from`).
pub fn link_at(
    from_dir: BorrowedFd,
    from: &CStr,
    to_dir: BorrowedFd,
    to: &CStr,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: valid descriptors and C strings.
    check(unsafe {
        libc::linkat(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            flags,
        )
    })
}

/// Moves the listing position of open folder `dir` back to its start (`lseek`).
pub fn rewind(dir: BorrowedFd) -> io::Result<()> {
    // SAFETY: lseek on a valid descriptor.
    if unsafe { libc::lseek(dir.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A name found in a folder and the type `getdents` gave it (`DT_UNKNOWN` when the
/// filesystem does not say).
pub struct Name {
    /// The entry's name in its folder.
    pub name: CString,
    /// One of the `DT_*` constants.
    pub d_type: u8,
}

/// The names in open folder `dir` (without `.` and `..`), in the order the filesystem
/// gives them. `buf` is scratch space reused across folders.
pub fn list(dir: BorrowedFd, buf: &mut Vec<u8>) -> io::Result<Vec<Name>> {
    buf.resize(64 * 1024, 0);
    let mut out = Vec::new();
    loop {
        // SAFETY: valid descriptor; the buffer holds `buf.len()` writable bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(out);
        }
        // Each record: d_ino u64, d_off i64, d_reclen u16, d_type u8, then the name
        // ending in a NUL byte, padded to 8 bytes.
        let (mut at, n) = (0, n as usize);
        while at + 19 < n {
            let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen <= 19 || at + reclen > n {
                return Err(io::Error::other("malformed folder listing"));
            }
            let d_type = buf[at + 18];
            let rec = &buf[at + 19..at + reclen];
            let len = rec.iter().position(|&b| b == 0).unwrap_or(rec.len());
            let name = &rec[..len];
            if name != b"." && name != b".." {
                if let Ok(name) = CString::new(name) {
                    out.push(Name { name, d_type });
                }
            }
            at += reclen;
        }
    }
}

/// True once `openat2` turned out to be missing (kernels before 5.6, some sandboxes).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `path` with `flags` (`O_NOFOLLOW` and `O_CLOEXEC` are added), resolved in `dir`
/// (or the current folder), refusing a symlink in any component (ELOOP). With
/// `Scope::Beneath` the path cannot leave `dir` either.
pub fn open_no_symlinks(
    dir: Option<BorrowedFd>,
    path: &Path,
    flags: libc::c_int,
    scope: Scope,
) -> io::Result<OwnedFd> {
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let opened = with_cstr(path.as_os_str().as_bytes(), |c| {
            // SAFETY: an all-zero open_how is valid (no flags, no mode, no resolve flags).
            let mut how: libc::open_how = unsafe { std::mem::zeroed() };
            how.flags = flags as u64;
            how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
            if scope == Scope::Beneath {
                how.resolve |= libc::RESOLVE_BENEATH;
            }
            // SAFETY: valid descriptor, C string, and open_how of the size passed.
            fd_or_error(unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    dirfd,
                    c.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            })
        });
        match opened {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed)
            }
            other => return other,
        }
    }
    open_by_components(dirfd, path, flags, scope)
}

/// `open_no_symlinks` without `openat2`: one `openat` with `O_NOFOLLOW` per component.
fn open_by_components(
    dirfd: RawFd,
    path: &Path,
    flags: libc::c_int,
    scope: Scope,
) -> io::Result<OwnedFd> {
    let escape = || io::Error::from_raw_os_error(libc::EXDEV);
    let mut names = Vec::new();
    let mut from_root = false;
    for c in path.components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            Component::RootDir if scope == Scope::Anywhere => from_root = true,
            _ => return Err(escape()),
        }
    }
    let Some((last, folders)) = names.split_last() else {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    };
    let mut held: Option<OwnedFd> = None;
    if from_root {
        let root = with_cstr(b"/", |c| {
            // SAFETY: valid C string.
            fd_or_error(unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) }.into())
        })?;
        held = Some(root);
    }
    for name in folders {
        let at = held.as_ref().map_or(dirfd, |f| f.as_raw_fd());
        let step = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let next = with_cstr(name.as_bytes(), |c| {
            // SAFETY: valid descriptor and C string.
            let opened = fd_or_error(unsafe { libc::openat(at, c.as_ptr(), step) }.into());
            match opened {
                // A symlink met with O_DIRECTORY says ENOTDIR; say ELOOP as openat2 does.
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    // SAFETY: `at` is a valid descriptor for the duration of the call.
                    let at = unsafe { BorrowedFd::borrow_raw(at) };
                    match stat_at(at, c) {
                        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                            Err(io::Error::from_raw_os_error(libc::ELOOP))
                        }
                        _ => Err(e),
                    }
                }
                other => other,
            }
        })?;
        held = Some(next);
    }
    let at = held.as_ref().map_or(dirfd, |f| f.as_raw_fd());
    with_cstr(last.as_bytes(), |c| {
        // SAFETY: valid descriptor and C string.
        fd_or_error(unsafe { libc::openat(at, c.as_ptr(), flags) }.into())
    })
}

#[cfg(test)]
mod tests;
