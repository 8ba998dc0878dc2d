//! The target side of a restore: everything below the target folder is reached from its
//! open descriptor with no symlink allowed on the way (`openat2`, else `O_NOFOLLOW` per
//! component), created under temp names and renamed into place, so nothing is ever
//! written through a symlink found there and no half-written file gets a real name.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::sys::at::{self, Scope};

/// The open target folder.
pub struct Target {
    root: OwnedFd,
}

/// What stands at a name in the target.
pub enum Found {
    Nothing,
    /// Something with this `stat`.
    Some(libc::stat),
}

impl Target {
    /// The target folder opened as `resolve::walk` found it.
    pub fn new(root: OwnedFd) -> Target {
        Target { root }
    }

    /// Opens folder `rel` (relative to the target; empty or `.` for the target itself)
    /// with no symlink on the way: ELOOP (or ENOTDIR for the last name) when one is there.
    pub fn dir(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        if rel.is_empty() || rel == b"." {
            return self.root.try_clone();
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let path = Path::new(std::ffi::OsStr::from_bytes(rel));
        at::open_no_symlinks(Some(self.root.as_fd()), path, flags, Scope::Beneath)
    }
}

/// Removes the temp files a killed phlb left in folder `dir` (`.phlb-tmp-<pid>-<n>` of
/// a process that no longer runs); returns how many.
pub fn remove_leftovers(dir: BorrowedFd) -> io::Result<u64> {
    let mut removed = 0;
    for entry in at::list(dir, &mut Vec::new())? {
        let name = std::ffi::OsStr::from_bytes(entry.name.as_bytes());
        if !crate::store::is_temp_name(name) {
            continue;
        }
        let pid = name.as_bytes()[b".phlb-tmp-".len()..]
            .split(|&b| b == b'-')
            .next()
            .and_then(|p| std::str::from_utf8(p).ok()?.parse::<libc::pid_t>().ok());
        let alive = pid.is_some_and(|p| match crate::sys::process::signal_zero(p) {
            Ok(()) => true,
            Err(e) => e.raw_os_error() == Some(libc::EPERM),
        });
        if !alive && remove(dir, &entry.name).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Splits a snapshot path into its folder (empty for the top level) and its name.
pub fn split(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&[], rel),
    }
}

/// True when `rel` or a folder above it is in `set`.
pub fn in_or_below(set: &std::collections::HashSet<&[u8]>, rel: &[u8]) -> bool {
    let mut at = rel;
    loop {
        if set.contains(at) {
            return true;
        }
        match split(at) {
            (b"", _) => return false,
            (dir, _) => at = dir,
        }
    }
}

/// The name as a C string.
pub fn cname(name: &[u8]) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// What is at `name` in folder `dir` (a symlink not followed).
pub fn look(dir: BorrowedFd, name: &CStr) -> io::Result<Found> {
    match at::stat_at(dir, name) {
        Ok(st) => Ok(Found::Some(st)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Nothing),
        Err(e) => Err(e),
    }
}

/// Makes folder `name` in `dir`, private (0700) until its metadata is set at the end.
pub fn make_dir(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    at::mkdir_at(dir, name, 0o700)
}

/// Removes the file or symlink `name` in `dir` (never a folder).
pub fn remove(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    at::unlink_at(dir, name, 0)
}

/// How a finished temp file takes its real name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Never over something that is there (`RENAME_NOREPLACE`): EEXIST instead.
    Never,
    /// Over a file or symlink that is there (the symlink itself, never followed).
    Allowed,
}

/// Renames `from` to `to`, both in folder `dir`.
pub fn rename(dir: BorrowedFd, from: &CStr, to: &CStr, replace: Replace) -> io::Result<()> {
    let flags = match replace {
        Replace::Never => libc::RENAME_NOREPLACE,
        Replace::Allowed => 0,
    };
    at::rename_at(dir, from, to, flags)
}

/// A new temp name in a target folder, removed when dropped unless it was renamed.
pub struct Temp<'a> {
    pub dir: BorrowedFd<'a>,
    pub name: CString,
    kept: bool,
}

impl<'a> Temp<'a> {
    /// A fresh temp name in `dir` (nothing is created yet).
    pub fn new(dir: BorrowedFd<'a>) -> Temp<'a> {
        let name = CString::new(crate::store::temp_name()).expect("no NUL in a temp name");
        Temp {
            dir,
            name,
            kept: false,
        }
    }

    /// Creates the temp file (0600, `O_EXCL | O_NOFOLLOW`) for writing.
    pub fn create_file(&self) -> io::Result<std::fs::File> {
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        Ok(at::open_at(Some(self.dir), &self.name, flags, 0o600)?.into())
    }

    /// Creates the temp name as a symlink to `target`.
    pub fn create_symlink(&self, target: &[u8]) -> io::Result<()> {
        let target = cname(target)?;
        at::symlink_at(&target, self.dir, &self.name)
    }

    /// Creates the temp name as a hardlink of `name` in folder `from` (not followed).
    pub fn create_link(&self, from: BorrowedFd, name: &CStr) -> io::Result<()> {
        at::link_at(from, name, self.dir, &self.name, 0)
    }

    /// Gives the temp its real name `to`.
    pub fn rename_to(mut self, to: &CStr, replace: Replace) -> io::Result<()> {
        rename(self.dir, &self.name, to, replace)?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if !self.kept {
            let _ = remove(self.dir, &self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(dir: &Path) -> Target {
        Target::new(std::fs::File::open(dir).unwrap().into())
    }

    #[test]
    fn a_symlink_on_the_way_is_never_entered() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("docs")).unwrap();
        let t = opened(dir.path());
        assert!(t.dir(b"real").is_ok());
        let err = t.dir(b"docs").unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
    }

    #[test]
    fn a_temp_never_replaces_without_leave_and_is_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"old").unwrap();
        let t = opened(dir.path());
        let fd = t.dir(b"").unwrap();
        let temp = Temp::new(fd.as_fd());
        std::io::Write::write_all(&mut temp.create_file().unwrap(), b"new").unwrap();
        let x = cname(b"x").unwrap();
        let err = temp.rename_to(&x, Replace::Never).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "the temp was removed");
        assert_eq!(std::fs::read(dir.path().join("x")).unwrap(), b"old");
    }
}
