//! Giving restored things their recorded metadata: owner (as root), extended attributes,
//! mode with setuid/setgid/sticky, and mtime to the nanosecond; and telling a file in the
//! target that already has it (left as it is).

use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;

use super::attrs;
use crate::scan::Meta;
use crate::store::mtime_only;
use crate::sys::{meta as sys_meta, users};
use crate::xattr_set::XattrSet;

/// Gives the open file or folder `fd`, now owned by `owner`, its recorded owner (as
/// root), attributes `set`, mode and mtime. The owner goes first: changing it clears
/// setuid, setgid and capabilities. Most attributes go before the mode (which may take
/// away the write permission `user.*` needs), ACLs after it (so they decide the
/// permission bits, mask included, also where the recorded mode was narrowed for a
/// backup disk without ACLs), capabilities last. Returns why some attribute
/// was not put back, when one was not (the target cannot hold it).
pub fn set_fd(
    fd: BorrowedFd,
    meta: &Meta,
    as_root: bool,
    owner: (u32, u32),
    set: Option<&XattrSet>,
) -> io::Result<Option<String>> {
    if as_root && (meta.uid, meta.gid) != owner {
        sys_meta::chown_fd(fd, meta.uid, meta.gid)?;
    }
    let (before, after) = set.map(XattrSet::in_restore_order).unwrap_or_default();
    let skipped = attrs::put_fd(fd, &before)?;
    sys_meta::chmod_fd(fd, meta.mode as libc::mode_t)?;
    let skipped = attrs::put_fd(fd, &after)?.or(skipped);
    let t = mtime_only(meta.mtime_ns);
    sys_meta::set_times_fd(fd, &t)?;
    Ok(skipped)
}

/// The user and group new files get (asked once).
pub fn own_ids() -> (u32, u32) {
    static IDS: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *IDS.get_or_init(|| (users::effective_uid(), users::effective_gid()))
}

/// Gives symlink `name` in folder `dir` its recorded owner (as root), attributes and
/// mtime (a symlink has no mode of its own on Linux).
pub fn set_symlink(
    dir: BorrowedFd,
    name: &CStr,
    meta: &Meta,
    as_root: bool,
    set: Option<&XattrSet>,
) -> io::Result<Option<String>> {
    let flags = libc::AT_SYMLINK_NOFOLLOW;
    if as_root {
        sys_meta::chown_at(dir, name, meta.uid, meta.gid, flags)?;
    }
    let (before, after) = set.map(XattrSet::in_restore_order).unwrap_or_default();
    let skipped = attrs::put_at(dir, name, &[before, after].concat())?;
    let t = mtime_only(meta.mtime_ns);
    sys_meta::set_times_at(Some(dir), name, &t, flags)?;
    Ok(skipped)
}

/// True when a file in the target with `st` already is the recorded one as far as size,
/// mtime, mode and (as root) owner tell: it is left untouched.
pub fn unchanged(st: &libc::stat, meta: &Meta, as_root: bool) -> bool {
    let now = Meta::from_stat(st);
    st.st_mode & libc::S_IFMT == libc::S_IFREG
        && now.size == meta.size
        && now.mtime_ns == meta.mtime_ns
        && now.mode == meta.mode
        && (!as_root || (now.uid, now.gid) == (meta.uid, meta.gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn setuid_and_nanoseconds_survive_and_make_a_file_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let meta = Meta {
            size: 3,
            mtime_ns: 1_600_000_000_123_456_789,
            mode: 0o4750,
            uid: 0,
            gid: 0,
            xattrs: 0,
        };
        let f = std::fs::File::open(&p).unwrap();
        set_fd(f.as_fd(), &meta, false, own_ids(), None).unwrap();
        let st = crate::sys::at::stat_fd(f.as_fd()).unwrap();
        assert!(unchanged(&st, &meta, false));
        let other = Meta {
            mode: 0o750,
            ..meta
        };
        assert!(!unchanged(&st, &other, false));
    }
}
