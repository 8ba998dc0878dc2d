//! Owns the read job: open a file (inside the root, or beneath a source folder without
//! following symlinks), read and hash it, and prove it unchanged while it was read.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::hash::{hash_reader, HashAlgo};
use crate::progress::{Counted, Share};
use crate::scan::{Entry, Meta, SourceDir};
use crate::store;
use crate::sys::at::{self, Scope};
use crate::sys::xattr::Xattrs;
use crate::workers::FileError;
use crate::xattr_set::XattrSet;

/// Files up to this size are read into memory once; larger ones are hashed in chunks.
pub const SMALL_FILE: u64 = 1 << 20;

/// A file that was opened (without following symlinks), read and hashed.
#[derive(Debug)]
pub struct ReadFile {
    /// The open file, for copying a large file without opening it again.
    pub file: File,
    /// Metadata of the open file, unchanged from before to after the read.
    pub meta: Meta,
    pub hash: Vec<u8>,
    /// The whole content, when the file is small.
    pub buffer: Option<Vec<u8>>,
    /// The attribute set a new stored copy of it gets.
    pub xattr_set: Option<Arc<XattrSet>>,
}

/// Where a file to read is, and how it may be opened.
#[derive(Debug)]
pub enum SourceFile {
    /// A file inside the backup root (verify, add), opened with `O_NOFOLLOW`, which
    /// guards only its last component: the folders above it are made by phlb and only
    /// root can enter them (`.phlb` and the name folders are 0700).
    Path(PathBuf),
    /// A stored copy inside the backup root (verify), opened as `Path` is, and read only
    /// if it is still inode `ino`: a path swapped since it was listed is not the copy.
    Copy { path: PathBuf, ino: u64 },
    /// A file a source walk found: opened beneath the source folder with no symlink in
    /// any component (`openat2`), and read only if it is still inode `ino` of device
    /// `dev`, the file the walk saw; its mode is narrowed to what the ACL the walk
    /// found in `xattrs` grants.
    Beneath {
        root: Arc<SourceDir>,
        rel: PathBuf,
        dev: u64,
        ino: u64,
        xattrs: Xattrs,
        /// The catalog's id of its attribute set (`Meta::xattrs`; 0: none).
        xattr_id: i64,
        /// The set a new stored copy gets (None where the backup filesystem cannot
        /// hold attributes: then only the catalog records them).
        xattr_set: Option<Arc<XattrSet>>,
    },
}

impl SourceFile {
    /// The file the walk found as `entry` in the open source folder `root`.
    pub fn walked(root: &Arc<SourceDir>, entry: &Entry) -> SourceFile {
        SourceFile::Beneath {
            root: Arc::clone(root),
            rel: entry.rel.clone(),
            dev: entry.dev,
            ino: entry.ino,
            xattrs: entry.xattrs,
            xattr_id: entry.meta.xattrs,
            xattr_set: entry.kept_xattrs().cloned(),
        }
    }

    /// Opens the file for reading.
    fn open(&self) -> Result<File, FileError> {
        let opened = match self {
            SourceFile::Path(path) | SourceFile::Copy { path, .. } => store::open_source(path),
            SourceFile::Beneath { root, rel, .. } => {
                // O_NONBLOCK: a FIFO swapped in does not hang the open (regular files
                // ignore it).
                let flags = libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK;
                at::open_no_symlinks(Some(root.fd.as_fd()), rel, flags, Scope::Beneath)
                    .map(File::from)
            }
        };
        opened.map_err(FileError::opening)
    }

    /// The recorded metadata of the open file: with an ACL, only the permissions it
    /// grants (`st_mode`'s group bits are its mask).
    fn meta(&self, md: &std::fs::Metadata) -> Meta {
        let mut meta = Meta::of(md);
        if let SourceFile::Beneath {
            xattrs, xattr_id, ..
        } = self
        {
            meta.mode = xattrs.narrow(meta.mode);
            meta.xattrs = *xattr_id;
        }
        meta
    }

    /// Checks the open file is the one the walk saw, when that is known.
    fn is_expected(&self, md: &std::fs::Metadata) -> bool {
        match self {
            SourceFile::Path(_) => true,
            SourceFile::Copy { ino, .. } => md.ino() == *ino,
            SourceFile::Beneath { dev, ino, .. } => md.dev() == *dev && md.ino() == *ino,
        }
    }
}

/// Opens, reads and hashes one file.
pub fn read_and_hash(src: &SourceFile, algo: HashAlgo) -> Result<ReadFile, FileError> {
    read_and_hash_counted(src, algo, Share::Whole)
}

/// Opens, reads and hashes one file, counting `share` of a large file's bytes as moved
/// while it is read (see `progress::Counted`).
pub(super) fn read_and_hash_counted(
    src: &SourceFile,
    algo: HashAlgo,
    share: Share,
) -> Result<ReadFile, FileError> {
    let mut file = src.open()?;
    let meta = match file.metadata() {
        Ok(md) if !md.is_file() => return Err(FileError::NotAFile),
        Ok(md) if !src.is_expected(&md) => return Err(FileError::Replaced),
        Ok(md) => src.meta(&md),
        Err(err) => return Err(FileError::Io { doing: "stat", err }),
    };
    let reading = |err| FileError::Io { doing: "read", err };
    let (hash, buffer) = if meta.size <= SMALL_FILE {
        let buf = store::read_all(&mut file, meta.size).map_err(reading)?;
        (algo.digest(&buf), Some(buf))
    } else {
        // Counted as it is read: a bar moves while a large file is hashed.
        let (h, _) = hash_reader(algo, &mut Counted::new(&mut file, share)).map_err(reading)?;
        (h, None)
    };
    let read = buffer.as_ref().map(|b| b.len() as u64);
    if !store::unchanged_since(&file, &meta, read) {
        return Err(FileError::Changing);
    }
    let xattr_set = match src {
        SourceFile::Beneath { xattr_set, .. } => xattr_set.clone(),
        SourceFile::Path(_) | SourceFile::Copy { .. } => None,
    };
    Ok(ReadFile {
        file,
        meta,
        hash,
        buffer,
        xattr_set,
    })
}
