//! Owns why one file could not be read: a typed value, so a caller can tell a file that
//! is gone from one that changed or could not be opened, and a phrase for the user.

use std::fmt;
use std::io;

/// Why one file could not be read or copied (the run goes on).
#[derive(Debug)]
pub enum FileError {
    /// It was deleted after the walk found it.
    Gone,
    /// A symlink was swapped in for it, or for a folder on its path.
    Swapped,
    /// It is no longer a regular file.
    NotAFile,
    /// Another file than the one the walk found now has its name.
    Replaced,
    /// Its size or mtime changed while it was read or copied.
    Changing,
    /// Opening, stat'ing or reading it failed.
    Io { doing: &'static str, err: io::Error },
    /// The reader threads stopped before this file's turn (or another internal slip).
    Internal(&'static str),
}

impl FileError {
    /// The error of an open: gone, a symlink on the way, or another failure.
    pub fn opening(err: io::Error) -> FileError {
        match err.raw_os_error() {
            Some(libc::ENOENT) => FileError::Gone,
            Some(libc::ELOOP) => FileError::Swapped,
            _ => FileError::Io { doing: "open", err },
        }
    }
}

impl FileError {
    /// True when reading the bytes failed with EIO (a checksum or a block that fails).
    pub fn is_io_error(&self) -> bool {
        matches!(self, FileError::Io { err, .. } if err.raw_os_error() == Some(libc::EIO))
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Gone => write!(f, "deleted while phlb ran"),
            FileError::Swapped => write!(
                f,
                "replaced by a symlink during the backup (the file or a folder on its path)"
            ),
            FileError::NotAFile => write!(f, "no longer a regular file"),
            FileError::Replaced => write!(f, "replaced by another file while phlb ran"),
            FileError::Changing => write!(f, "changed while being read; try again"),
            FileError::Io { doing, err } => write!(f, "cannot {doing}: {err}"),
            FileError::Internal(what) => write!(f, "internal: {what}"),
        }
    }
}
