//! Owns a source folder held open for a run, and looking up a path beneath it with no
//! symlink followed on the way.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::sys::at::{self, Scope};

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
        at::with_cstr(name, |name| {
            let st = at::stat_at(dir, name)?;
            let target = match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => Some(at::read_link_at(dir, name)?),
                _ => None,
            };
            Ok((st, target))
        })
    }
}
