//! Owns what a worker does with one job: read and hash a file, write a new stored copy
//! of content it may claim, or hardlink an unchanged file to its stored copy.

use std::fs::File;
use std::io::Seek;
use std::path::PathBuf;
use std::sync::Arc;

use crate::hash::{hash_reader, HashAlgo};
use crate::scan::Meta;
use crate::store;

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
}

/// Opens, reads and hashes one file; errors are one phrase for the user.
pub fn read_and_hash(path: &std::path::Path, algo: HashAlgo) -> Result<ReadFile, String> {
    let mut file = match store::open_source(path) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("replaced by a symlink during the backup".into())
        }
        Err(e) => return Err(format!("cannot open: {e}")),
    };
    let meta = match file.metadata() {
        Ok(md) if md.is_file() => Meta::of(&md),
        Ok(_) => return Err("no longer a regular file".into()),
        Err(e) => return Err(format!("cannot stat: {e}")),
    };
    let (hash, buffer) = if meta.size <= SMALL_FILE {
        let buf = store::read_all(&mut file, meta.size).map_err(|e| format!("cannot read: {e}"))?;
        (algo.digest(&buf), Some(buf))
    } else {
        let (h, _) = hash_reader(algo, &mut file).map_err(|e| format!("cannot read: {e}"))?;
        (h, None)
    };
    let read = buffer.as_ref().map(|b| b.len() as u64);
    if !store::unchanged_since(&file, &meta, read) {
        return Err("changed while being read; try again".into());
    }
    Ok(ReadFile {
        file,
        meta,
        hash,
        buffer,
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
    /// Give copies their recorded owner.
    pub as_root: bool,
}

/// One piece of work for a worker.
#[derive(Debug)]
pub enum Job {
    /// Open, read and hash the file `src`; with `dst`, write it there as a new stored copy
    /// when its content is claimed (see `Claim`), else hand back its content with the
    /// hash; without `dst` only the hash is wanted (verify, add), so the content is not
    /// kept. `size` is what the walk saw, if known.
    Read {
        src: PathBuf,
        dst: Option<PathBuf>,
        size: Option<u64>,
    },
    /// Hardlink `dst` to the stored copy at `src` if it is still inode `ino` of `size`
    /// bytes with the mtime `mtime_ns` it was stored with, and room for another link.
    Link {
        src: PathBuf,
        dst: PathBuf,
        ino: u64,
        size: u64,
        mtime_ns: i128,
        max_links: u64,
    },
}

/// What a worker made of a job.
#[derive(Debug)]
pub enum Done {
    Read(Result<ReadFile, String>),
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
    /// The run's committed catalog rows when the content was claimed: a copy of it the
    /// catalog got later may have been made by another file of the run meanwhile.
    pub claimed_at: u64,
}

/// Why a new stored copy could not be written (nothing is left at its place).
#[derive(Debug)]
pub enum CopyError {
    /// The source changed or could not be read while being copied: try again.
    Source(String),
    /// Writing the copy failed.
    Write(std::io::Error),
}

/// Writes a file that was read and hashed as a new stored copy at `dst`: small files
/// from the buffer, large ones streamed again and hashed once more, so the copy is
/// exactly the content hashed. Returns the copy's inode number.
pub fn write_new_copy(
    read: ReadFile,
    dst: &std::path::Path,
    algo: HashAlgo,
    as_root: bool,
) -> Result<u64, CopyError> {
    let ReadFile {
        mut file,
        meta,
        hash,
        buffer,
    } = read;
    // A small file is written from the buffer that was hashed and checked unchanged
    // after reading; a large one is read again, so it is checked once more.
    let copy = match buffer {
        Some(buf) => store::NewCopy::write(dst, &buf, meta.mode).map(|c| (c, true)),
        None => file
            .rewind()
            .and_then(|_| store::NewCopy::stream(&mut file, dst, algo, meta.mode))
            .map(|(c, h, n)| {
                let same =
                    n == meta.size && h == hash && store::unchanged_since(&file, &meta, None);
                (c, same)
            }),
    };
    let (copy, same) = copy.map_err(CopyError::Write)?;
    if !same {
        // Dropping the unfinished copy removes it.
        return Err(CopyError::Source(
            "changed while being copied; try again".into(),
        ));
    }
    copy.commit(&meta, as_root).map_err(CopyError::Write)
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

fn link(
    fds: &mut store::DirFds,
    src: &std::path::Path,
    dst: &std::path::Path,
    expect: (u64, u64, i128),
    max_links: u64,
) -> Linked {
    match store::link_stored_copy(fds, src, dst, expect, max_links) {
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
        Job::Read { src, dst, .. } => match (read_and_hash(src, algo), dst) {
            (Ok(read), Some(dst)) => match tools.claims(&read.hash) {
                Some(claimed_at) => {
                    let (meta, hash) = (read.meta, read.hash.clone());
                    let as_root = tools.new.as_ref().is_some_and(|n| n.as_root);
                    Done::Wrote(write_new_copy(read, dst, algo, as_root).map(|ino| Wrote {
                        meta,
                        hash,
                        ino,
                        claimed_at,
                    }))
                }
                None => Done::Read(Ok(read)),
            },
            (Ok(mut read), None) => {
                read.buffer = None;
                Done::Read(Ok(read))
            }
            (read, _) => Done::Read(read),
        },
        Job::Link {
            src,
            dst,
            ino,
            size,
            mtime_ns,
            max_links,
        } => Done::Link(link(
            &mut tools.fds,
            src,
            dst,
            (*ino, *size, *mtime_ns),
            *max_links,
        )),
    }
}
