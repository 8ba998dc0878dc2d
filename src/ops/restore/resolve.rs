//! Owns finding the restore target the way the kernel will: the path is walked one name
//! at a time from an open folder (`/` or the current one), `..` taken from the folder
//! actually reached (never by cutting the text), a symlink the user named followed as
//! the kernel follows it, and each missing folder made with `mkdirat` in the open folder
//! above it and entered with `O_NOFOLLOW`. Every folder something would be made in, and
//! the target itself, is judged by the path the kernel gives its open descriptor and by
//! the mount table before anything is written there: a restore never writes inside the
//! backup root, whatever `..`, symlink or bind mount leads there.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::sys::{at, mounts};
use crate::units::one_line;

/// Where the target stands.
pub enum Walked {
    /// The target folder, open (it was there, or was made).
    Open(OwnedFd),
    /// Not there (a dry run makes nothing).
    Missing,
}

fn openat(dir: Option<BorrowedFd>, name: &[u8], flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    at::open_at(dir, &c, flags | libc::O_CLOEXEC, 0)
}

/// The path the kernel gives open folder `fd` (as `/proc/self/fd` shows it).
fn path_of(fd: BorrowedFd) -> io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Refuses folder `fd` when it lies in the canonical `root`, by its path or through any
/// mount that shows a folder of the root elsewhere.
fn outside(fd: BorrowedFd, root: &Path, to: &Path) -> Result<()> {
    let at = path_of(fd).with_context(|| format!("{}: cannot tell where it is", one_line(to)))?;
    if at.starts_with(root) || mounts::within(&at, root) {
        bail!(
            "{}: inside the backup root {}; restore to a folder outside it",
            one_line(to),
            one_line(root)
        );
    }
    Ok(())
}

/// Walks to target `to` (made when `create` and missing), refusing it (or any folder a
/// part of it would be made in) inside the canonical backup root `root`.
pub fn walk(to: &Path, create: bool, root: &Path) -> Result<Walked> {
    let step = libc::O_PATH | libc::O_DIRECTORY;
    let cannot = |e: io::Error| {
        anyhow::Error::new(e).context(format!("{}: cannot open the restore target", one_line(to)))
    };
    let mut at = openat(None, if to.is_absolute() { b"/" } else { b"." }, step).map_err(cannot)?;
    // Names below the last existing folder that a dry run would make.
    let mut missing: Vec<&OsStr> = Vec::new();
    for part in to.components() {
        match part {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir if !missing.is_empty() => {
                missing.pop();
            }
            Component::ParentDir => at = openat(Some(at.as_fd()), b"..", step).map_err(cannot)?,
            Component::Normal(name) if !missing.is_empty() => missing.push(name),
            Component::Normal(name) => {
                // Followed as the kernel follows it: the user chose this path.
                match openat(Some(at.as_fd()), name.as_bytes(), step) {
                    Ok(fd) => at = fd,
                    Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                        outside(at.as_fd(), root, to)?;
                        make_dir(at.as_fd(), name.as_bytes()).map_err(cannot)?;
                        // Ours: entered only as the folder just made, never a symlink.
                        at = openat(Some(at.as_fd()), name.as_bytes(), step | libc::O_NOFOLLOW)
                            .map_err(cannot)?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(name),
                    Err(e) => return Err(cannot(e)),
                }
            }
        }
    }
    // The target, or the folder the first missing part would be made in.
    outside(at.as_fd(), root, to)?;
    if !missing.is_empty() {
        return Ok(Walked::Missing);
    }
    let fd = openat(Some(at.as_fd()), b".", libc::O_RDONLY | libc::O_DIRECTORY).map_err(cannot)?;
    Ok(Walked::Open(fd))
}

/// Makes folder `name` in `dir` as `mkdir` would (0777 less the umask); one made
/// meanwhile by someone else is fine.
fn make_dir(dir: BorrowedFd, name: &[u8]) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    match at::mkdir_at(dir, &c, 0o777) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotdot_after_a_missing_folder_is_taken_from_the_folder_reached() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("root");
        std::fs::create_dir_all(root.join("snap")).unwrap();
        let to = base.join("missing/../root/snap");
        let err = walk(&to, true, &root).err().expect("refused");
        assert!(err.to_string().contains("inside the backup root"), "{err}");
        assert!(base.join("missing").is_dir(), "made as mkdir -p would");
        let dry = base.join("nope/../root/snap/new");
        assert!(walk(&dry, false, &root).is_err());
        let fine = base.join("nope/../out/x");
        assert!(matches!(
            walk(&fine, false, &root).unwrap(),
            Walked::Missing
        ));
        assert!(!base.join("out").exists());
        match walk(&fine, true, &root).unwrap() {
            Walked::Open(fd) => assert_eq!(path_of(fd.as_fd()).unwrap(), base.join("out/x")),
            Walked::Missing => panic!("made"),
        }
    }
}
