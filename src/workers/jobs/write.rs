//! Owns the write job: a file just read and hashed becomes a new stored copy when its
//! content is claimed (no copy of it can exist yet), written from the buffer or streamed
//! again, or a leftover an interrupted run finished is taken over instead.

use std::io::Seek;
use std::path::PathBuf;
use std::sync::Arc;

use super::read::ReadFile;
use super::{Done, Tools};
use crate::hash::HashAlgo;
use crate::progress::{Counted, Share};
use crate::scan::Meta;
use crate::store;
use crate::workers::FileError;
use crate::xattr_set::XattrSet;

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

/// What a read job made of the file it read: written as a new stored copy when its
/// content is claimed, else handed back.
pub(super) fn work_read(
    read: Result<ReadFile, FileError>,
    dst: &Option<PathBuf>,
    leftover: Option<&crate::workers::Leftover>,
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
                let resumed =
                    leftover.and_then(|l| crate::workers::link_leftover(l, &read, dst, algo));
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
