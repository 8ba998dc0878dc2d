//! Owns the filesystem side of a snapshot: folders, symlinks, hardlinks, clones and new
//! stored copies (`new_copy`), with their metadata.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::decide::CopyMeta;
use crate::scan::Meta;
use crate::xattr_set::XattrSet;

mod clone;
mod dir_fds;
mod new_copy;
mod remove_tree;
mod safe;
mod temp_names;
pub mod xattrs;

pub use clone::{can_clone, clone_stored, Expect};
pub use dir_fds::{link_stored_copy, DirFds};
pub use new_copy::NewCopy;
pub use remove_tree::remove_tree;
pub use safe::{
    check_own_dir, check_root_safe, create_fresh, fill, folder_id, make_private_dir, running_uid,
    same_bytes, write_file,
};
use temp_names::temp_beside;
pub use temp_names::{is_temp_name, temp_name};

/// What happened when phlb tried to hardlink a stored copy.
#[derive(Debug)]
pub enum LinkOutcome {
    /// The link was made.
    Linked,
    /// The inode has as many links as the filesystem allows (EMLINK).
    Full,
    /// The filesystem cannot link here (EXDEV, EPERM, ENOTSUP): copy instead.
    Unsupported(io::Error),
    /// The source vanished or another error occurred.
    Failed(io::Error),
}

/// Hardlinks `src` to `dst`, classifying the errors that call for a fallback.
pub fn hard_link(src: &Path, dst: &Path) -> LinkOutcome {
    match fs::hard_link(src, dst) {
        Ok(()) => LinkOutcome::Linked,
        Err(e) => classify_link_error(e),
    }
}

/// Checks that `path` is still the stored copy the catalog describes — inode, size, and
/// the mtime, mode and (as root, who set it) owner it was given: a copy changed in place
/// since is never linked to; returns its current link count.
pub fn check_stored_copy(path: &Path, ino: u64, size: u64, meta: &CopyMeta) -> Option<u64> {
    let md = fs::symlink_metadata(path).ok()?;
    let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
    let same = md.is_file()
        && md.ino() == ino
        && md.len() == size
        && mtime == meta.mtime_ns
        && as_given(md.mode(), md.uid(), md.gid(), meta);
    same.then_some(md.nlink())
}

/// True when a stored copy's mode (and, as root, owner) are still what it was given.
/// Without root, phlb cannot give a copy its source's owner, so it does not judge it.
pub fn as_given(mode: u32, uid: u32, gid: u32, meta: &CopyMeta) -> bool {
    mode & 0o7777 == meta.mode && (!running_as_root() || (uid, gid) == (meta.uid, meta.gid))
}

/// True when phlb runs as root, and so gives copies their owners (asked once: the hot
/// link path checks it per file).
pub fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| running_uid() == 0)
}

/// Opens a source file for reading without following a symlink swapped in for it.
pub fn open_source(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
}

/// Reads a whole (small) open file of about `size_hint` bytes into memory. Room for one
/// byte more lets the read that ends the file see whether it grew; reading through
/// `take` skips the size lookup `File::read_to_end` makes (a stat and a seek per file).
pub fn read_all(file: &mut File, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size_hint as usize + 1);
    file.take(u64::MAX).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Creates a snapshot folder (private while the run fills it; `finish_dir` sets its mode).
pub fn make_dir(path: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Gives a finished folder its recorded mode, owner (as root) and mtime.
pub fn finish_dir(path: &Path, meta: &Meta, set: Option<&XattrSet>) -> io::Result<()> {
    if running_as_root() {
        std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
    }
    if let Some(set) = set {
        use std::os::fd::AsFd;
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)?;
        let (before, after) = set.in_restore_order();
        xattrs::put(dir.as_fd(), &before)?;
        dir.set_permissions(fs::Permissions::from_mode(meta.mode))?;
        xattrs::put(dir.as_fd(), &after)?;
    } else {
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))?;
    }
    set_times_nofollow(path, meta.mtime_ns)
}

/// Recreates a symlink with the same target, owner (as root) and mtime.
pub fn make_symlink(
    path: &Path,
    target: &Path,
    meta: &Meta,
    set: Option<&XattrSet>,
) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)?;
    if running_as_root() {
        std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
    }
    if let Some(set) = set {
        let (before, after) = set.in_restore_order();
        xattrs::put_nofollow(path, &[before, after].concat())?;
    }
    set_times_nofollow(path, meta.mtime_ns)
}

/// The two `utimensat` times that leave the access time alone and set the mtime to
/// `mtime_ns` (nanoseconds since the epoch).
pub fn mtime_only(mtime_ns: i128) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime_ns.div_euclid(1_000_000_000) as libc::time_t,
            tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
        },
    ]
}

fn set_times_nofollow(path: &Path, mtime_ns: i128) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let times = mtime_only(mtime_ns);
    crate::sys::meta::set_times_at(None, &c, &times, libc::AT_SYMLINK_NOFOLLOW)
}

/// Converts nanoseconds since the epoch to a `SystemTime` (any time a filesystem can
/// hold: seconds in 64 bits).
pub fn system_time(mtime_ns: i128) -> SystemTime {
    let (secs, nanos) = (
        mtime_ns.div_euclid(1_000_000_000),
        mtime_ns.rem_euclid(1_000_000_000) as u32,
    );
    let secs = secs.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let whole = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    whole + Duration::from_nanos(u64::from(nanos))
}

/// True for errors that mean the backup destination itself is unusable (full, read-only,
/// failing): the run must stop instead of going on file by file.
pub fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS | libc::EIO)
    )
}

/// True when the open file still has the size and mtime it had before it was read
/// (and, when known, the number of bytes read matches).
pub fn unchanged_since(file: &File, before: &Meta, read: Option<u64>) -> bool {
    match file.metadata() {
        Ok(md) => {
            let now = Meta::of(&md);
            now.size == before.size
                && now.mtime_ns == before.mtime_ns
                && read.is_none_or(|n| n == before.size)
        }
        Err(_) => false,
    }
}

/// Atomically replaces `path` by a hardlink to `src` (link to a temp name, then rename).
pub fn replace_with_link(src: &Path, path: &Path) -> io::Result<()> {
    replace_through(src, path, path)
}

/// Replaces `path` (in a finished snapshot) by a hardlink to `src` through a temp link
/// made in `tmp_dir` (phlb's own `.phlb/tmp`), so a kill at any moment leaves nothing
/// inside the snapshot; `fresh_temp_dir` empties it for the next writer. A snapshot on
/// another mount than `.phlb` gets EXDEV: never a temp link beside it, the caller keeps
/// the file as it is.
pub fn replace_with_link_via(src: &Path, path: &Path, tmp_dir: &Path) -> io::Result<()> {
    replace_through(src, path, &tmp_dir.join("x"))
}

/// Makes `.phlb/tmp` in `meta_dir` (private) and removes what a killed run left in it;
/// only for a writer holding the lock.
pub fn fresh_temp_dir(meta_dir: &Path) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    let dir = meta_dir.join("tmp");
    make_private_dir(&dir)?;
    for item in fs::read_dir(&dir).with_context(|| format!("{}: cannot list", dir.display()))? {
        let item = item.with_context(|| format!("{}: cannot list", dir.display()))?;
        fs::remove_file(item.path())
            .with_context(|| format!("{}: cannot remove", item.path().display()))?;
    }
    Ok(dir)
}

/// Links `src` to a temp name beside `near`, then renames it over `path`.
fn replace_through(src: &Path, path: &Path, near: &Path) -> io::Result<()> {
    loop {
        let tmp = temp_beside(near);
        match fs::hard_link(src, &tmp) {
            Ok(()) => {
                let renamed = fs::rename(&tmp, path);
                // Renaming onto a name of the same inode does nothing and succeeds
                // (rename(2)): the temp name is still there then, or the rename failed.
                if tmp.symlink_metadata().is_ok() {
                    let _ = fs::remove_file(&tmp);
                }
                return renamed;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sorts a failed link into the outcomes that call for a fallback.
pub fn classify_link_error(e: io::Error) -> LinkOutcome {
    match e.raw_os_error() {
        Some(libc::EMLINK) => LinkOutcome::Full,
        Some(libc::EXDEV | libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS) => {
            LinkOutcome::Unsupported(e)
        }
        _ => LinkOutcome::Failed(e),
    }
}

/// The size in bytes of the filesystem holding `path`.
pub fn filesystem_size(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let st = crate::sys::fs_info::statvfs(&c)?;
    Ok(st.f_blocks.saturating_mul(st.f_frsize))
}

/// The id of the filesystem holding `path` (`statvfs` f_fsid, derived from the
/// filesystem's UUID on ext4 and most others, so it survives remounts and reboots).
pub fn filesystem_id(path: &Path) -> io::Result<String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let st = crate::sys::fs_info::statvfs(&c)?;
    Ok(format!("{:x}", st.f_fsid))
}
