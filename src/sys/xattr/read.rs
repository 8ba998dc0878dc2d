//! Reading an entry's attributes: every one whose name a run wants, and, from the same
//! listing, what the probe would say (whether it has any, the bits its access ACL
//! grants), so a walk asks the kernel once per attribute and once for the list.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;

use super::{acl_bits, get_at, list_at, via, Via, Xattrs, ACL_ACCESS, NO_XATTRAT, UNREADABLE_ACL};

/// One extended attribute: its full name (`user.x`, `system.posix_acl_access`) and value.
pub type Attr = (Vec<u8>, Vec<u8>);

/// Calls `f` with a buffer grown until the answer fits (`f` returns a size or -1 like
/// the syscalls, and ERANGE when the buffer is too small).
fn sized(mut f: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    loop {
        let n = f(&mut buf);
        if n >= 0 {
            buf.truncate(n as usize);
            return Ok(buf);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) || buf.len() > 1 << 26 {
            return Err(err);
        }
        let want = f(&mut []);
        let grown = (buf.len() * 2).max(want.max(0) as usize + 64);
        buf.resize(grown, 0);
    }
}

/// Reads an entry's attributes through `list` (the names, like `listxattr`) and `get`
/// (one value, like `getxattr`): those `wanted` accepts, and what the probe says of all
/// of them. An attribute removed between the list and the read is left out.
fn read_with(
    mut list: impl FnMut(&mut [u8]) -> isize,
    mut get: impl FnMut(&CStr, &mut [u8]) -> isize,
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<(Vec<Attr>, Xattrs)> {
    let names = sized(&mut list)?;
    if names.is_empty() {
        return Ok((Vec::new(), Xattrs::None));
    }
    let mut out = Vec::new();
    let mut probed = Xattrs::Some;
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let is_acl = name == ACL_ACCESS.to_bytes();
        if !wanted(name) && !is_acl {
            continue;
        }
        let Ok(cname) = std::ffi::CString::new(name) else {
            continue;
        };
        let value = match sized(|buf| get(&cname, buf)) {
            Ok(v) => v,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(_) if is_acl && !wanted(name) => {
                // Not kept, only probed: an unreadable ACL narrows the mode the most.
                probed = Xattrs::Acl(UNREADABLE_ACL);
                continue;
            }
            Err(e) => return Err(e),
        };
        if is_acl {
            probed = Xattrs::Acl(acl_bits(&value).unwrap_or(UNREADABLE_ACL));
        }
        if wanted(name) {
            out.push((name.to_vec(), value));
        }
    }
    Ok((out, probed))
}

/// Every attribute of the file at `path` (a symlink itself, not followed) whose name
/// `wanted` accepts.
pub fn read_path(path: &CStr, wanted: impl Fn(&[u8]) -> bool) -> io::Result<Vec<Attr>> {
    let list = |buf: &mut [u8]| {
        // SAFETY: valid C string; the buffer holds `buf.len()` writable bytes.
        unsafe { libc::llistxattr(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    };
    let get = |attr: &CStr, buf: &mut [u8]| {
        // SAFETY: valid C strings; the buffer holds `buf.len()` writable bytes.
        unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                attr.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        }
    };
    read_with(list, get, wanted).map(|(attrs, _)| attrs)
}

/// Every attribute of entry `name` of the open folder `dir` (not followed) whose name
/// `wanted` accepts, and what the probe says of all of its attributes; reached with
/// `listxattrat`/`getxattrat`, or through `/proc/self/fd` where those are missing,
/// never through a path that could have changed.
pub fn read_probe_at(
    dir: BorrowedFd,
    name: &CStr,
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<(Vec<Attr>, Xattrs)> {
    let how = via();
    let list = |buf: &mut [u8]| list_at(dir, name, buf, how);
    let get = |attr: &CStr, buf: &mut [u8]| get_at(dir, name, attr, buf, how);
    match read_with(list, get, &wanted) {
        Err(e) if how == Via::At && e.raw_os_error() == Some(libc::ENOSYS) => {
            NO_XATTRAT.store(true, Ordering::Relaxed);
            read_probe_at(dir, name, wanted)
        }
        other => other,
    }
}

/// `read_probe_at` without the probe.
pub fn read_at(
    dir: BorrowedFd,
    name: &CStr,
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<Vec<Attr>> {
    read_probe_at(dir, name, wanted).map(|(attrs, _)| attrs)
}

/// Every attribute of the open file or folder `fd` whose name `wanted` accepts, and what
/// the probe says of all of them.
pub fn read_probe_fd(
    fd: BorrowedFd,
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<(Vec<Attr>, Xattrs)> {
    let fd = fd.as_raw_fd();
    let list = |buf: &mut [u8]| {
        // SAFETY: valid descriptor; the buffer holds `buf.len()` writable bytes.
        unsafe { libc::flistxattr(fd, buf.as_mut_ptr().cast(), buf.len()) }
    };
    let get = |attr: &CStr, buf: &mut [u8]| {
        // SAFETY: valid descriptor and C string; the buffer holds `buf.len()` bytes.
        unsafe { libc::fgetxattr(fd, attr.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    };
    read_with(list, get, wanted)
}

/// `read_probe_fd` without the probe.
pub fn read_fd(fd: BorrowedFd, wanted: impl Fn(&[u8]) -> bool) -> io::Result<Vec<Attr>> {
    read_probe_fd(fd, wanted).map(|(attrs, _)| attrs)
}
