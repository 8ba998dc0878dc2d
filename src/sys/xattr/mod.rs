//! Owns the extended-attribute syscalls: the probe (whether an entry has any, and the
//! permission bits its access ACL really grants, so a mode is never wider than what the
//! source allowed where the ACL is not kept), reading every attribute of an entry, and
//! setting them on a stored copy, a folder or a symlink.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

mod read;
pub use read::{read_at, read_fd, read_path, read_probe_at, read_probe_fd, Attr};

/// The extended attributes an entry has, which a snapshot does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Xattrs {
    /// None at all.
    #[default]
    None,
    /// Some, but no access ACL.
    Some,
    /// An access ACL (maybe more): the permission bits it grants, the group's being
    /// the group entry ANDed with the mask.
    Acl(u32),
}

impl Xattrs {
    /// Permission bits `mode` with nothing wider than an access ACL grants. With an ACL,
    /// `st_mode`'s group bits are the mask, which may be wider than the group entry.
    pub fn narrow(self, mode: u32) -> u32 {
        match self {
            Xattrs::Acl(bits) => mode & (0o7000 | bits),
            _ => mode,
        }
    }
}

const ACL_ACCESS: &CStr = c"system.posix_acl_access";

/// The bits an ACL that cannot be read or parsed is taken to grant: nothing to the
/// group, which is never wider than what it really grants.
const UNREADABLE_ACL: u32 = 0o707;

/// The permission bits (0o777) an access ACL in its xattr form grants: a header
/// `u32 version = 2`, then entries of `u16 tag, u16 perm, u32 id`, little-endian.
pub fn acl_bits(value: &[u8]) -> Option<u32> {
    let header = value.get(..4)?;
    if u32::from_le_bytes(header.try_into().ok()?) != 2 || (value.len() - 4) % 8 != 0 {
        return None;
    }
    let (mut user, mut group, mut mask, mut other) = (None, None, None, None);
    for e in value[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u32::from(u16::from_le_bytes([e[2], e[3]]) & 0o7);
        match tag {
            0x01 => user = Some(perm),
            0x04 => group = Some(perm),
            0x10 => mask = Some(perm),
            0x20 => other = Some(perm),
            0x02 | 0x08 => {}
            _ => return None,
        }
    }
    let group = group? & mask.unwrap_or(0o7);
    Some(user? << 6 | group << 3 | other?)
}

/// Says what extended attributes entry `name` of folder `dir` has (a symlink is not
/// followed). One syscall when it has none.
pub fn probe_at(dir: BorrowedFd, name: &CStr) -> Xattrs {
    probe_via(dir, name, via())
}

/// How the xattrs of an entry of an open folder are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// `listxattrat` and `getxattrat` (Linux 6.13).
    At,
    /// `llistxattr` and `lgetxattr` through `/proc/self/fd/<folder>/<name>`.
    Proc,
}

/// True once `listxattrat` turned out to be missing.
static NO_XATTRAT: AtomicBool = AtomicBool::new(false);

/// The way entries of open folders are reached: the `*xattrat` calls until they
/// turned out to be missing.
fn via() -> Via {
    if NO_XATTRAT.load(Ordering::Relaxed) {
        Via::Proc
    } else {
        Via::At
    }
}

fn probe_via(dir: BorrowedFd, name: &CStr, via: Via) -> Xattrs {
    let probed = probe(
        |list| list_at(dir, name, list, via),
        |value| get_at(dir, name, ACL_ACCESS, value, via),
    );
    match probed {
        Err(Missing) => {
            NO_XATTRAT.store(true, Ordering::Relaxed);
            probe_via(dir, name, Via::Proc)
        }
        Ok(x) => x,
    }
}

/// `listxattrat` or `getxattrat` is missing (ENOSYS).
struct Missing;

/// Says what extended attributes the open file or folder `fd` has.
pub fn probe_fd(fd: BorrowedFd) -> Xattrs {
    let fd = fd.as_raw_fd();
    let probed = probe(
        // SAFETY: valid descriptor; the buffer holds `list.len()` writable bytes.
        |list| unsafe { libc::flistxattr(fd, list.as_mut_ptr().cast(), list.len()) },
        // SAFETY: valid descriptor and C string; the buffer holds `value.len()` bytes.
        |value| unsafe {
            libc::fgetxattr(
                fd,
                ACL_ACCESS.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        },
    );
    probed.unwrap_or(Xattrs::None)
}

/// The probe, given a `listxattr` and a `getxattr` of the ACL (each returning a size
/// or -1, like the syscalls). `Missing` when they say ENOSYS.
fn probe(
    mut list: impl FnMut(&mut [u8]) -> isize,
    mut get: impl FnMut(&mut [u8]) -> isize,
) -> Result<Xattrs, Missing> {
    let errno = || std::io::Error::last_os_error().raw_os_error();
    let size = list(&mut []);
    if size < 0 && errno() == Some(libc::ENOSYS) {
        return Err(Missing);
    }
    if size <= 0 {
        // None, or no xattr support here: nothing to keep either way.
        return Ok(Xattrs::None);
    }
    let mut names = vec![0u8; size as usize + 64];
    let n = list(&mut names);
    if n < 0 {
        // Grown meanwhile or unreadable: assume the worst for the mode.
        return Ok(Xattrs::Acl(UNREADABLE_ACL));
    }
    let has_acl = names[..n as usize]
        .split(|&b| b == 0)
        .any(|x| x == ACL_ACCESS.to_bytes());
    if !has_acl {
        return Ok(Xattrs::Some);
    }
    // A few base entries plus named ones; a larger ACL is asked for its size first.
    let mut value = vec![0u8; 256];
    let mut n = get(&mut value);
    if n < 0 && errno() == Some(libc::ERANGE) {
        let size = get(&mut []);
        value.resize(size.max(0) as usize, 0);
        n = get(&mut value);
    }
    let bits = (n >= 0).then(|| acl_bits(&value[..n as usize])).flatten();
    Ok(Xattrs::Acl(bits.unwrap_or(UNREADABLE_ACL)))
}

/// The numbers of `listxattrat` and `getxattrat` (the same on every architecture but
/// alpha; the libc crate does not have them yet).
const SYS_LISTXATTRAT: libc::c_long = 465;
const SYS_GETXATTRAT: libc::c_long = 464;

/// `struct xattr_args` of `getxattrat`.
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

fn list_at(dir: BorrowedFd, name: &CStr, list: &mut [u8], via: Via) -> isize {
    if via == Via::Proc {
        return with_proc_path(dir, name, |p| {
            // SAFETY: valid C string; the buffer holds `list.len()` writable bytes.
            unsafe { libc::llistxattr(p.as_ptr(), list.as_mut_ptr().cast(), list.len()) }
        });
    }
    // SAFETY: valid descriptor and C string; the buffer holds `list.len()` bytes.
    let n = unsafe {
        libc::syscall(
            SYS_LISTXATTRAT,
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            list.as_mut_ptr(),
            list.len(),
        )
    };
    n as isize
}

fn get_at(dir: BorrowedFd, name: &CStr, attr: &CStr, value: &mut [u8], via: Via) -> isize {
    if via == Via::Proc {
        return with_proc_path(dir, name, |p| {
            // SAFETY: valid C strings; the buffer holds `value.len()` writable bytes.
            unsafe {
                libc::lgetxattr(
                    p.as_ptr(),
                    attr.as_ptr(),
                    value.as_mut_ptr().cast(),
                    value.len(),
                )
            }
        });
    }
    let mut args = XattrArgs {
        value: value.as_mut_ptr() as u64,
        size: value.len() as u32,
        flags: 0,
    };
    // SAFETY: valid descriptor and C strings; `args` points to `value`, which holds
    // `args.size` writable bytes, and is passed with its size.
    let n = unsafe {
        libc::syscall(
            SYS_GETXATTRAT,
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            attr.as_ptr(),
            &mut args as *mut XattrArgs,
            std::mem::size_of::<XattrArgs>(),
        )
    };
    n as isize
}

/// Runs `f` with `/proc/self/fd/<dir>/<name>`, which reaches the entry through the open
/// folder, not through any path that could have changed.
fn with_proc_path(dir: BorrowedFd, name: &CStr, f: impl FnOnce(&CStr) -> isize) -> isize {
    let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    path.extend_from_slice(name.to_bytes());
    crate::sys::at::with_cstr(&path, |p| Ok(f(p))).unwrap_or(-1)
}

/// Sets attribute `name` to `value` on the open file or folder `fd`.
pub fn set_fd(fd: BorrowedFd, name: &[u8], value: &[u8]) -> io::Result<()> {
    let cname = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: valid descriptor and C string; `value` holds `value.len()` bytes.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    done(rc as isize)
}

/// Sets attribute `name` to `value` on entry `entry` of the open folder `dir`, which may
/// be a symlink (set on the link itself), reached through `/proc/self/fd`.
pub fn set_at(dir: BorrowedFd, entry: &CStr, name: &[u8], value: &[u8]) -> io::Result<()> {
    let cname = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
    done(with_proc_path(dir, entry, |p| {
        // SAFETY: valid C strings; `value` holds `value.len()` bytes.
        let rc = unsafe {
            libc::lsetxattr(
                p.as_ptr(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        rc as isize
    }))
}

/// A syscall's return code as a result (errno on -1).
fn done(rc: isize) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether the filesystem of `path` holds `user.*` attributes, asked without writing
/// anything: reading one that is not there says "no data" where the namespace is
/// supported and "not supported" where it is not.
pub fn holds_user_attrs(path: &CStr) -> bool {
    let mut buf = [0u8; 1];
    // SAFETY: valid C strings; the buffer holds one writable byte.
    let rc = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"user.phlb-probe".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    rc >= 0
        || !matches!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOTSUP)
        )
}

/// True for the errors that mean a filesystem (or this process) cannot hold an
/// attribute at all, as opposed to a failing disk.
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENOTSUP | libc::EPERM | libc::EACCES | libc::EINVAL | libc::E2BIG | libc::ERANGE
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for &(tag, perm) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            // A named user or group entry (0x02, 0x08) needs a real id; the others none.
            let id = if tag == 0x02 || tag == 0x08 {
                0
            } else {
                u32::MAX
            };
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    #[test]
    fn acl_group_is_the_group_entry_within_the_mask() {
        let cases = [
            // user::rw- group::r-- mask::rw- other::r--: the group gets r--, not rw-.
            (
                acl(&[(0x01, 6), (0x04, 4), (0x10, 6), (0x20, 4)]),
                Some(0o644),
            ),
            // A named user and a narrow mask: group rwx within mask r-x.
            (
                acl(&[(0x01, 7), (0x02, 7), (0x04, 7), (0x10, 5), (0x20, 0)]),
                Some(0o750),
            ),
            // No mask (a minimal ACL): the group entry as it is.
            (acl(&[(0x01, 6), (0x04, 2), (0x20, 0)]), Some(0o620)),
            (acl(&[(0x01, 6), (0x04, 4)]), None),
            (acl(&[(0x01, 6), (0x40, 4), (0x04, 4), (0x20, 4)]), None),
            (vec![1, 0, 0, 0], None),
            (vec![2, 0, 0], None),
        ];
        for (value, want) in cases {
            assert_eq!(acl_bits(&value), want, "{value:?}");
        }
        assert_eq!(Xattrs::Acl(0o644).narrow(0o4664), 0o4644);
        assert_eq!(Xattrs::Some.narrow(0o664), 0o664);
    }

    #[test]
    fn probe_finds_acls_and_xattrs_both_ways() {
        use std::os::fd::AsFd;
        let dir = tempfile::tempdir().unwrap();
        for name in ["plain", "tagged", "acl"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let set = |name: &str, attr: &CStr, value: &[u8]| {
            let path = std::ffi::CString::new(format!("{}/{name}", dir.path().display())).unwrap();
            // SAFETY: valid C strings and a buffer of `value.len()` bytes.
            unsafe {
                libc::setxattr(
                    path.as_ptr(),
                    attr.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            }
        };
        let acl = acl(&[(0x01, 6), (0x02, 7), (0x04, 4), (0x10, 6), (0x20, 4)]);
        if set("tagged", c"user.x", b"y") != 0 || set("acl", ACL_ACCESS, &acl) != 0 {
            panic!(
                "no xattr or ACL support in {}: this test needs a filesystem with both",
                dir.path().display()
            );
        }
        let fd: std::os::fd::OwnedFd = std::fs::File::open(dir.path()).unwrap().into();
        let cases = [
            (c"plain", Xattrs::None),
            (c"tagged", Xattrs::Some),
            (c"acl", Xattrs::Acl(0o644)),
        ];
        for (name, want) in cases {
            for via in [Via::At, Via::Proc] {
                assert_eq!(probe_via(fd.as_fd(), name, via), want, "{name:?} {via:?}");
            }
            // Reading the wanted ones probes all of them from the same listing.
            let (user, probed) =
                read_probe_at(fd.as_fd(), name, |n| n.starts_with(b"user.")).unwrap();
            assert_eq!(probed, want, "{name:?} read");
            assert_eq!(user.len(), usize::from(name == c"tagged"), "{name:?}");
        }
    }
}
