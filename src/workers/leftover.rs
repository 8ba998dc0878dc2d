//! Owns taking over a file an interrupted run finished under its final name but did not
//! get into the catalog (killed before its rows were committed): when its bytes have the
//! content just read from the source, it is linked in place of a new copy, so those bytes
//! are read once more but never written again (#28).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::jobs::{read_and_hash, ReadFile, SourceFile};
use crate::decide::CopyMeta;
use crate::hash::HashAlgo;
use crate::store::{self, LinkOutcome};

/// A file at the same path in an interrupted run's in-progress folder.
#[derive(Debug, Clone)]
pub struct Leftover {
    pub path: PathBuf,
}

/// Links `dst` to the leftover when it is a regular file with the size, mtime, mode and
/// (as root) owner of the file `read` from the source — all of them, whatever `DEDUP`
/// says, so the catalog records the copy as it is — and bytes whose digest is the one
/// just read; then its inode number and mtime. None otherwise: a half-written or changed
/// leftover is never linked, and the caller writes a new copy.
pub fn link_leftover(
    left: &Leftover,
    read: &ReadFile,
    dst: &Path,
    algo: HashAlgo,
) -> Option<(u64, i128)> {
    let md = fs::symlink_metadata(&left.path).ok()?;
    let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
    if !md.is_file() || md.len() != read.meta.size || mtime != read.meta.mtime_ns {
        return None;
    }
    // A new copy the dead run wrote has one link; more means someone linked it from
    // elsewhere (or put a link to an outside file there): whoever holds that other name
    // could change the snapshot through it.
    if md.nlink() != 1 {
        return None;
    }
    // Without root phlb cannot give a copy its source's owner: the owner is not judged.
    let (uid, gid) = if store::running_as_root() {
        (md.uid(), md.gid())
    } else {
        (read.meta.uid, read.meta.gid)
    };
    let have = CopyMeta {
        mode: md.mode() & 0o7777,
        uid,
        gid,
        mtime_ns: mtime,
        // An interrupted run's file carries no attributes phlb put there.
        xattrs: 0,
    };
    if have != CopyMeta::from(read.meta) {
        return None;
    }
    let again = read_and_hash(&SourceFile::Path(left.path.clone()), algo).ok()?;
    let same_file = again.file.metadata().is_ok_and(|m| m.ino() == md.ino());
    if !same_file || again.hash != read.hash || again.meta.size != read.meta.size {
        return None;
    }
    match store::hard_link(&left.path, dst) {
        LinkOutcome::Linked => {}
        _ => return None,
    }
    // The link is the file that was read, or it is undone.
    let linked = fs::symlink_metadata(dst).is_ok_and(|m| m.ino() == md.ino());
    if !linked {
        let _ = fs::remove_file(dst);
        return None;
    }
    Some((md.ino(), mtime))
}
