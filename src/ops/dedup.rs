//! Owns finding a stored copy to link to for a content hash: the copies the catalog has
//! of it that the `DEDUP` policy lets serve a file's metadata (never a damaged one), and,
//! checked on disk, a place of such a copy that still is that copy (inode, size, mtime)
//! with room for more links under `MAX_LINKS`. backup, add, `verify --repair` and dry
//! runs all ask here; under `LINK = reflink` any copy of the content serves, and any
//! recorded place of it that still holds it is a clone source.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::catalog::copies::{copies_for_hash, copy_locations};
use crate::catalog::{CopyRow, Db};
use crate::decide::{has_room, CopyMeta, Dedup, Sharing};
use crate::hash::HashAlgo;
use crate::store;
use crate::workers::{read_and_hash, SourceFile};

/// How many recorded places of one stored copy are tried before giving up on it.
const PLACES_TRIED: usize = 4;

/// The stored copies of content `hash` (of `size` bytes) that may serve a file with
/// metadata `want` under `policy`, verified ones first, newest first; from the catalog
/// alone.
pub fn candidates(
    db: &Db,
    hash: &[u8],
    size: u64,
    want: CopyMeta,
    policy: Dedup,
) -> Result<Vec<CopyRow>> {
    candidates_for(db, hash, size, want, Sharing::Links(policy))
}

/// As `candidates`, for hardlinks (`DEDUP`) or clones (any copy of the content serves).
pub fn candidates_for(
    db: &Db,
    hash: &[u8],
    size: u64,
    want: CopyMeta,
    sharing: Sharing,
) -> Result<Vec<CopyRow>> {
    // Every policy shares a copy only between equal attribute sets; a clone gets its own.
    Ok(copies_for_hash(db, hash, sharing.wanted(want))?
        .into_iter()
        .filter(|c| c.size == size && sharing.serves(want, c.meta))
        .collect())
}

/// The recorded places of stored copy `copy` under `root` a clone may be made from,
/// newest first, each with what it must show on disk (see `store::Expect`): the copy's
/// own inode, or a clone of it with its path's recorded mtime.
pub fn clone_places(db: &Db, root: &Path, copy: &CopyRow) -> Result<Vec<(PathBuf, store::Expect)>> {
    Ok(copy_locations(db, copy.id, PLACES_TRIED, None)?
        .into_iter()
        .map(|loc| {
            let expect = store::Expect {
                size: copy.size,
                mtime_ns: loc.mtime_ns,
                copy: Some((copy.ino, copy.meta)),
            };
            (root.join(&loc.snapshot_dir).join(&loc.rel), expect)
        })
        .collect())
}

/// True when some recorded place of stored copy `copy` (outside snapshot `except`, a run
/// being recorded) still holds it, however many links it has: proof that its inode
/// number is still that copy's.
pub fn still_on_disk(db: &Db, root: &Path, copy: &CopyRow, except: Option<i64>) -> Result<bool> {
    Ok(place_of_except(db, root, copy, 0, u64::MAX, except)?.is_some())
}

/// True when the file at `path` (symlinks not followed) reads to digest `hash` now.
pub fn bytes_have(path: &Path, hash: &[u8]) -> bool {
    let algo = HashAlgo::of_digest(hash);
    read_and_hash(&SourceFile::Path(path.to_path_buf()), algo).is_ok_and(|r| r.hash == hash)
}

/// A place on disk of stored copy `copy` under `root` that still holds it, with its link
/// count, when the inode has room for `need` more links under `max_links`; None when no
/// recorded place holds it any more, or it is full.
pub fn place_of(
    db: &Db,
    root: &Path,
    copy: &CopyRow,
    need: u64,
    max_links: u64,
) -> Result<Option<(PathBuf, u64)>> {
    place_of_except(db, root, copy, need, max_links, None)
}

/// As `place_of`, leaving out the places in snapshot `except` (the run being recorded).
pub fn place_of_except(
    db: &Db,
    root: &Path,
    copy: &CopyRow,
    need: u64,
    max_links: u64,
    except: Option<i64>,
) -> Result<Option<(PathBuf, u64)>> {
    for loc in copy_locations(db, copy.id, PLACES_TRIED, except)? {
        let at = root.join(&loc.snapshot_dir).join(&loc.rel);
        if let Some(nlink) = store::check_stored_copy(&at, copy.ino, copy.size, &copy.meta) {
            // Every place of a copy is the same inode: one that holds it says it all.
            return Ok(has_room(nlink + need.saturating_sub(1), max_links).then_some((at, nlink)));
        }
    }
    Ok(None)
}
