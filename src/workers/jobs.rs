//! Owns what a worker does with one job: read and hash a file, write a new stored copy
//! of content it may claim, or hardlink an unchanged file to its stored copy.

use std::fs::File;
use std::io::Seek;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::file_error::FileError;
use crate::hash::{hash_reader, HashAlgo};
use crate::progress::{Counted, Share};
use crate::scan::{Entry, Meta, SourceDir};
use crate::store;
use crate::sys::at::{self, Scope};
use crate::sys::xattr::Xattrs;
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
            SourceFile::Path(path) => store::open_source(path),
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
fn read_and_hash_counted(
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
        SourceFile::Path(_) => None,
    };
    Ok(ReadFile {
        file,
        meta,
        hash,
        buffer,
        xattr_set,
    })
}

/// Says whether a worker may write content it just hashed as a new stored copy: yes only
/// when no stored copy of it can exist yet, so all other content is left to the main
/// thread to link. A yes carries how many catalog rows of the run were committed when
/// it was checked (see `Wrote::claimed_at`). One per worker, made on the worker when it
/// first needs one.
pub type Claim = Box<dyn FnMut(&[u8]) -> Option<u64> + Send>;

/// What lets workers write new stored copies themselves.
#[derive(Clone)]
pub struct NewCopies {
    /// Makes a worker's claim check.
    pub claim: Arc<dyn Fn() -> Claim + Send + Sync>,
}

/// One piece of work for a worker.
#[derive(Debug)]
pub enum Job {
    /// Open, read and hash the file at `src`; with `dst`, write it there as a new stored copy
    /// when its content is claimed (see `Claim`), else hand back its content with the
    /// hash; without `dst` only the hash is wanted (verify, add), so the content is not
    /// kept. `size` is what the walk saw, if known.
    Read {
        src: SourceFile,
        dst: Option<PathBuf>,
        size: Option<u64>,
        /// With `dst`: a file an interrupted run left at the same path, linked instead of
        /// writing a new copy when its bytes have the content read (`link_leftover`).
        leftover: Option<super::Leftover>,
    },
    /// Hardlink `dst` to the stored copy at `src` if it is still inode `ino` of `size`
    /// bytes with the mtime, mode and owner `copy` it was stored with, and room for
    /// another link.
    Link {
        src: PathBuf,
        dst: PathBuf,
        ino: u64,
        size: u64,
        copy: crate::decide::CopyMeta,
        max_links: u64,
    },
    /// Clone `dst` from the stored content at `src` (`LINK = reflink`) if `src` still
    /// shows `expect`, giving the clone `meta` and the attribute set `set`.
    Clone {
        src: PathBuf,
        dst: PathBuf,
        expect: store::Expect,
        meta: Meta,
        set: Option<Arc<XattrSet>>,
    },
}

/// What a worker made of a job.
#[derive(Debug)]
pub enum Done {
    Read(Result<ReadFile, FileError>),
    /// Read, hashed and written as a new stored copy.
    Wrote(Result<Wrote, CopyError>),
    Link(Linked),
}

/// A new stored copy a worker wrote.
#[derive(Debug)]
pub struct Wrote {
    pub meta: Meta,
    pub hash: Vec<u8>,
    pub ino: u64,
    /// The mtime the copy's filesystem stored (see `NewCopy::commit`).
    pub stored_mtime: i128,
    /// The run's committed catalog rows when the content was claimed: a copy of it the
    /// catalog got later may have been made by another file of the run meanwhile.
    pub claimed_at: u64,
    /// The copy is a file an interrupted run left, linked, not written (#28).
    pub resumed: bool,
    /// The attribute set the copy got (a clone replacing it gets it too).
    pub xattr_set: Option<Arc<XattrSet>>,
}

/// Why a new stored copy could not be written (nothing is left at its place).
#[derive(Debug)]
pub enum CopyError {
    /// The source changed or could not be read while being copied: try again.
    Source(FileError),
    /// Writing the copy failed.
    Write(std::io::Error),
}

/// Writes a file that was read and hashed as a new stored copy at `dst`: small files
/// from the buffer, large ones streamed again and hashed once more, so the copy is
/// exactly the content hashed. Returns the copy's inode number and stored mtime.
pub fn write_new_copy(
    read: ReadFile,
    dst: &std::path::Path,
    algo: HashAlgo,
) -> Result<(u64, i128), CopyError> {
    let ReadFile {
        mut file,
        meta,
        hash,
        buffer,
        xattr_set,
    } = read;
    // A small file is written from the buffer that was hashed and checked unchanged
    // after reading; a large one is read again, so it is checked once more.
    let copy = match buffer {
        Some(buf) => store::NewCopy::write(dst, &buf, meta.mode).map(|c| (c, true)),
        None => file
            .rewind()
            .and_then(|_| {
                let mut counted = Counted::new(&mut file, Share::SecondHalf);
                store::NewCopy::stream(&mut counted, dst, algo, meta.mode)
            })
            .map(|(c, h, n)| {
                let same =
                    n == meta.size && h == hash && store::unchanged_since(&file, &meta, None);
                (c, same)
            }),
    };
    let (copy, same) = copy.map_err(CopyError::Write)?;
    if !same {
        // Dropping the unfinished copy removes it.
        return Err(CopyError::Source(FileError::Changing));
    }
    copy.commit(&meta, xattr_set.as_deref())
        .map_err(CopyError::Write)
}

/// The outcome of a link job.
#[derive(Debug)]
pub enum Linked {
    Yes,
    /// The stored copy is gone, changed, or full: find or make another.
    Unusable,
    /// The filesystem cannot link here.
    Unsupported(std::io::Error),
    /// Linking failed for another reason.
    Failed(std::io::Error),
}

/// What a link or clone came to (`None`: the source cannot serve).
fn linked(outcome: Option<store::LinkOutcome>) -> Linked {
    match outcome {
        Some(store::LinkOutcome::Linked) => Linked::Yes,
        Some(store::LinkOutcome::Full) | None => Linked::Unusable,
        Some(store::LinkOutcome::Unsupported(e)) => Linked::Unsupported(e),
        Some(store::LinkOutcome::Failed(e)) => Linked::Failed(e),
    }
}

/// A worker's tools: folder descriptors for linking and, when workers may write new
/// copies, the claim check (made on first use).
pub(super) struct Tools {
    fds: store::DirFds,
    new: Option<NewCopies>,
    claim: Option<Claim>,
}

impl Tools {
    /// A worker's tools, with the claim check to be made on first use.
    pub(super) fn new(new: Option<NewCopies>) -> Tools {
        Tools {
            fds: store::DirFds::default(),
            new,
            claim: None,
        }
    }

    fn claims(&mut self, hash: &[u8]) -> Option<u64> {
        let new = self.new.as_ref()?;
        let claim = self.claim.get_or_insert_with(|| (new.claim)());
        claim(hash)
    }
}

pub(super) fn work(job: &Job, algo: HashAlgo, tools: &mut Tools) -> Done {
    match job {
        Job::Read {
            src, dst, leftover, ..
        } => {
            // With a place to copy to, a large file may be read twice (hashed, then
            // copied): each pass moves the bar by half; a file not copied gets the
            // rest when it is done.
            let share = if dst.is_some() {
                Share::FirstHalf
            } else {
                Share::Whole
            };
            let read = read_and_hash_counted(src, algo, share);
            work_read(read, dst, leftover.as_ref(), algo, tools)
        }
        Job::Link {
            src,
            dst,
            ino,
            size,
            copy,
            max_links,
        } => Done::Link(linked(store::link_stored_copy(
            &mut tools.fds,
            src,
            dst,
            (*ino, *size, copy),
            *max_links,
        ))),
        Job::Clone {
            src,
            dst,
            expect,
            meta,
            set,
        } => Done::Link(linked(store::clone_stored(
            src,
            expect,
            dst,
            meta,
            set.as_deref(),
        ))),
    }
}

/// What a read job made of the file it read: written as a new stored copy when its
/// content is claimed, else handed back.
fn work_read(
    read: Result<ReadFile, FileError>,
    dst: &Option<PathBuf>,
    leftover: Option<&super::Leftover>,
    algo: HashAlgo,
    tools: &mut Tools,
) -> Done {
    match (read, dst) {
        (Ok(read), Some(dst)) => match tools.claims(&read.hash) {
            Some(claimed_at) => {
                let (meta, hash) = (read.meta, read.hash.clone());
                let xattr_set = read.xattr_set.clone();
                // A file a killed run finished, whose bytes are the content just read:
                // linked, not written again (#28).
                let resumed = leftover.and_then(|l| super::link_leftover(l, &read, dst, algo));
                if let Some((ino, stored_mtime)) = resumed {
                    return Done::Wrote(Ok(Wrote {
                        meta,
                        hash,
                        ino,
                        stored_mtime,
                        claimed_at,
                        resumed: true,
                        xattr_set,
                    }));
                }
                Done::Wrote(
                    write_new_copy(read, dst, algo).map(|(ino, stored_mtime)| Wrote {
                        meta,
                        hash,
                        ino,
                        stored_mtime,
                        claimed_at,
                        resumed: false,
                        xattr_set,
                    }),
                )
            }
            None => Done::Read(Ok(read)),
        },
        (Ok(mut read), None) => {
            read.buffer = None;
            Done::Read(Ok(read))
        }
        (read, _) => Done::Read(read),
    }
}

#[cfg(test)]
mod tests;
