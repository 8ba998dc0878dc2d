//! Owns what a worker does with one job: read and hash a file (`read`), write a new
//! stored copy of content it may claim (`write`), or hardlink or clone an unchanged
//! file from its stored copy (`link`).

use std::path::PathBuf;
use std::sync::Arc;

use crate::hash::HashAlgo;
use crate::progress::Share;
use crate::scan::Meta;
use crate::store;
use crate::workers::FileError;
use crate::xattr_set::XattrSet;

mod link;
mod read;
mod write;

pub use link::Linked;
pub use read::{read_and_hash, ReadFile, SourceFile, SMALL_FILE};
pub use write::{write_new_copy, Claim, CopyError, NewCopies, Wrote};

use link::linked;
use read::read_and_hash_counted;
use write::work_read;

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
        leftover: Option<crate::workers::Leftover>,
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

    pub(super) fn claims(&mut self, hash: &[u8]) -> Option<u64> {
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

#[cfg(test)]
mod tests;
