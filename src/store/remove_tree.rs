//! Owns removing a folder tree fast and safely (prune, forget): through open folder
//! descriptors (`unlinkat`, never a path that a symlink could redirect), with the
//! folders below the top shared among worker threads, and read-only folders (a snapshot
//! keeps its source's modes) made writable just before their names are removed.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::sys::{at, meta};

/// Removes the folder `path` and everything in it with `workers` threads; `removed` is
/// counted up by one for each name removed (for a progress bar). A symlink at `path` is
/// removed itself, never followed.
pub fn remove_tree(path: &Path, workers: usize, removed: &AtomicU64) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("no folder name to remove"))?;
    let parent_fd = at::open_no_symlinks(
        None,
        parent,
        libc::O_RDONLY | libc::O_DIRECTORY,
        at::Scope::Anywhere,
    )?;
    at::with_cstr(name.as_encoded_bytes(), |c| {
        let dir = match at::open_dir_at(parent_fd.as_fd(), c) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR) | Some(libc::ELOOP)) => {
                return unlink(parent_fd.as_fd(), c, 0, removed);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // The folders one and two levels down are shared among the workers; the rest
        // of the tree is removed by whoever took its top.
        let mut buf = Vec::new();
        let mut tops = Vec::new();
        for first in subfolders(dir.as_fd(), &mut buf)? {
            let fd = at::open_dir_at(dir.as_fd(), &first)?;
            for second in subfolders(fd.as_fd(), &mut buf)? {
                tops.push((at::open_dir_at(fd.as_fd(), &second)?, second, first.clone()));
            }
        }
        let next = AtomicUsize::new(0);
        let failure: Mutex<Option<io::Error>> = Mutex::new(None);
        let tops_ref = &tops;
        std::thread::scope(|s| {
            for _ in 0..workers.clamp(1, 16) {
                s.spawn(|| {
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((fd, _, _)) = tops_ref.get(i) else {
                            break;
                        };
                        if let Err(e) = empty(fd.as_fd(), &mut buf, removed) {
                            failure
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            break;
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        drop(tops);
        empty(dir.as_fd(), &mut buf, removed)?;
        drop(dir);
        unlink(parent_fd.as_fd(), c, libc::AT_REMOVEDIR, removed)
    })
}

/// The names of the folders in `dir`.
fn subfolders(dir: BorrowedFd, buf: &mut Vec<u8>) -> io::Result<Vec<std::ffi::CString>> {
    let mut out = Vec::new();
    for n in at::list(dir, buf)? {
        if is_folder(dir, &n) {
            out.push(n.name);
        }
    }
    Ok(out)
}

/// True when name `n` of `dir` is a folder (asking the filesystem when `getdents` did
/// not say).
fn is_folder(dir: BorrowedFd, n: &at::Name) -> bool {
    match n.d_type {
        libc::DT_DIR => true,
        libc::DT_UNKNOWN => {
            at::stat_at(dir, &n.name).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        }
        _ => false,
    }
}

/// Removes everything inside the open folder `dir` (depth first), leaving it empty.
fn empty(dir: BorrowedFd, buf: &mut Vec<u8>, removed: &AtomicU64) -> io::Result<()> {
    // From the start: the folder may have been listed through this descriptor before.
    at::rewind(dir)?;
    let names = at::list(dir, buf)?;
    let mut made_writable = false;
    for n in names {
        let folder = is_folder(dir, &n);
        if folder {
            match at::open_dir_at(dir, &n.name) {
                Ok(sub) => empty(sub.as_fd(), buf, removed)?,
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                    allow_writes(dir, Some(&n.name))?;
                    let sub = at::open_dir_at(dir, &n.name)?;
                    empty(sub.as_fd(), buf, removed)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        let flags = if folder { libc::AT_REMOVEDIR } else { 0 };
        match unlink(dir, &n.name, flags, removed) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) && !made_writable => {
                allow_writes(dir, None)?;
                made_writable = true;
                unlink(dir, &n.name, flags, removed)?;
            }
            other => other?,
        }
    }
    Ok(())
}

/// Makes folder `name` of `dir` (or `dir` itself) readable, writable and searchable by
/// its owner, so its names can be listed and removed (only a run that is not root
/// meets such a folder; the tree sits in phlb's private folder by then).
fn allow_writes(dir: BorrowedFd, name: Option<&CStr>) -> io::Result<()> {
    match name {
        Some(n) => {
            let mode = (at::stat_at(dir, n)?.st_mode & 0o7777) | 0o700;
            meta::chmod_at(dir, n, mode, 0)
        }
        None => {
            let mode = (at::stat_fd(dir)?.st_mode & 0o7777) | 0o700;
            meta::chmod_fd(dir, mode)
        }
    }
}

/// Removes one name of `dir` (a folder with `AT_REMOVEDIR`); a name already gone counts
/// as removed.
fn unlink(dir: BorrowedFd, name: &CStr, flags: libc::c_int, removed: &AtomicU64) -> io::Result<()> {
    if let Err(e) = at::unlink_at(dir, name, flags) {
        if e.kind() != io::ErrorKind::NotFound {
            return Err(e);
        }
    }
    removed.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn removes_deep_read_only_trees_and_leaves_symlink_targets_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), b"keep").unwrap();
        let top = tmp.path().join("snap");
        let deep = top.join("a/b/c/d");
        std::fs::create_dir_all(&deep).unwrap();
        for i in 0..20 {
            std::fs::write(deep.join(format!("f{i}")), b"x").unwrap();
            std::fs::write(top.join(format!("a/g{i}")), b"x").unwrap();
        }
        std::os::unix::fs::symlink(&outside, top.join("a/b/link")).unwrap();
        for d in ["a/b/c/d", "a/b/c", "a/b", "a"] {
            std::fs::set_permissions(top.join(d), std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        let removed = AtomicU64::new(0);
        remove_tree(&top, 2, &removed).unwrap();
        assert!(!top.exists());
        assert_eq!(removed.load(Ordering::Relaxed), 20 + 20 + 1 + 5);
        assert_eq!(std::fs::read(outside.join("keep.txt")).unwrap(), b"keep");
    }
}
