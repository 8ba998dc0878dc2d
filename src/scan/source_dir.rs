//! Owns a source folder held open for a run, and looking up a path beneath it with no
//! symlink followed on the way.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::sys::at::{self, Scope};
use crate::sys::xattr;
use crate::xattr_set::XattrSet;

/// A source folder held open: the walk lists it and file reads open paths beneath it,
/// so nothing swapped in for one of its folders during a run is followed.
#[derive(Debug)]
pub struct SourceDir {
    /// The path it was opened at, for messages.
    pub path: PathBuf,
    /// The open folder every path of the source is resolved beneath.
    pub fd: OwnedFd,
}

impl SourceDir {
    /// Opens canonical folder path `path`, refusing a symlink in any of its components.
    pub fn open_canonical(path: &Path) -> io::Result<SourceDir> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let fd = at::open_no_symlinks(None, path, flags, Scope::Anywhere)?;
        Ok(SourceDir {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// Opens folder `path`, refusing a symlink only as its last component (for folders
    /// inside the backup root, which only root can reach).
    pub fn open(path: &Path) -> io::Result<SourceDir> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)?;
        Ok(SourceDir {
            path: path.to_path_buf(),
            fd: file.into(),
        })
    }

    /// What is at `rel` beneath this folder now, not following symlinks anywhere on the
    /// way, and a symlink's target: ELOOP when a folder on the way is now a symlink.
    pub fn look(&self, rel: &Path) -> io::Result<(libc::stat, Option<PathBuf>)> {
        self.in_parent(rel, |dir, name| {
            let st = at::stat_at(dir, name)?;
            let target = match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => Some(at::read_link_at(dir, name)?),
                _ => None,
            };
            Ok((st, target))
        })
    }

    /// The attribute set of the file at `rel` (every namespace as root, `user.*` and
    /// ACLs otherwise), read now; None when it has none, or none this user may read, or
    /// its filesystem keeps none.
    pub fn attrs_of(&self, rel: &Path, as_root: bool) -> io::Result<Option<XattrSet>> {
        let wanted = crate::xattr_set::readable(as_root);
        match self.in_parent(rel, |dir, name| xattr::read_at(dir, name, &wanted)) {
            Ok(attrs) => Ok(XattrSet::new(attrs)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EACCES)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs `f` on the folder holding `rel` (opened beneath this one, no symlink on the
    /// way) and `rel`'s last name.
    fn in_parent<T>(
        &self,
        rel: &Path,
        f: impl FnOnce(std::os::fd::BorrowedFd, &std::ffi::CStr) -> io::Result<T>,
    ) -> io::Result<T> {
        let name = rel.file_name().map_or(&b"."[..], |n| n.as_encoded_bytes());
        let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
        let held;
        let dir = match parent {
            Some(p) => {
                let flags = libc::O_RDONLY | libc::O_DIRECTORY;
                held = at::open_no_symlinks(Some(self.fd.as_fd()), p, flags, Scope::Beneath)?;
                held.as_fd()
            }
            None => self.fd.as_fd(),
        };
        at::with_cstr(name, |name| f(dir, name))
    }
}
