//! Owns cloning stored content (`LINK = reflink`): a new inode for one snapshot path
//! that shares a stored copy's extents (`FICLONE`) and carries the path's own metadata,
//! written under a temp name and renamed into place like a new copy; and the probe of
//! whether a filesystem can clone at all.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::{LinkOutcome, NewCopy};
use crate::decide::CopyMeta;
use crate::scan::Meta;
use crate::xattr_set::XattrSet;

/// What a place must show on disk before it serves as a clone source, checked on the
/// open file (as a link source is checked before it is linked).
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The content's size.
    pub size: u64,
    /// The mtime the catalog records for this place (a clone carries its path's own).
    pub mtime_ns: i128,
    /// The stored copy's inode and the metadata it was given: a place that is that
    /// inode (a hardlink root's copy, or the first copy of a reflink root) may carry
    /// the copy's mtime instead of its path's.
    pub copy: Option<(u64, CopyMeta)>,
}

impl Expect {
    /// True when a file with metadata `md` still is what the catalog says of the place.
    fn holds(&self, md: &fs::Metadata) -> bool {
        let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        let own = mtime == self.mtime_ns;
        let the_copy = self.copy.is_some_and(|(ino, meta)| {
            md.ino() == ino
                && mtime == meta.mtime_ns
                && super::as_given(md.mode(), md.uid(), md.gid(), &meta)
        });
        md.is_file() && md.len() == self.size && (own || the_copy)
    }
}

/// Clones the stored content at `src` to `dst` with metadata `meta` and attributes
/// `set`, when `src` still is what `expect` says (else `None`: not a usable source).
/// An existing file at `dst` is replaced in one step (rename).
pub fn clone_stored(
    src: &Path,
    expect: &Expect,
    dst: &Path,
    meta: &Meta,
    set: Option<&XattrSet>,
) -> Option<LinkOutcome> {
    let from = super::open_source(src).ok()?;
    if !expect.holds(&from.metadata().ok()?) {
        return None;
    }
    Some(clone_open(&from, dst, meta, set))
}

fn clone_open(from: &File, dst: &Path, meta: &Meta, set: Option<&XattrSet>) -> LinkOutcome {
    let copy = match NewCopy::create(dst, meta.mode) {
        Ok(c) => c,
        Err(e) => return LinkOutcome::Failed(e),
    };
    if let Err(e) = crate::sys::file::clone_from(&copy.file, from) {
        return classify(e);
    }
    match copy.commit(meta, set) {
        Ok(_) => LinkOutcome::Linked,
        Err(e) => LinkOutcome::Failed(e),
    }
}

/// True for the errors of a filesystem (or a pair of files) that cannot clone.
fn cannot_clone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EINVAL | libc::EXDEV | libc::ENOTTY | libc::ENOSYS)
    )
}

fn classify(e: io::Error) -> LinkOutcome {
    if cannot_clone(&e) {
        LinkOutcome::Unsupported(e)
    } else {
        LinkOutcome::Failed(e)
    }
}

/// Says whether the filesystem holding folder `dir` (phlb's own temp folder) can clone
/// files: clones a one-byte temp file there once and removes both files.
pub fn can_clone(dir: &Path) -> io::Result<bool> {
    let make = || -> io::Result<(File, std::path::PathBuf)> {
        loop {
            let path = dir.join(super::temp_name());
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(f) => return Ok((f, path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    };
    let (mut a, a_path) = make()?;
    let b = make();
    let result = a.write_all(b"x").and_then(|_| {
        let (b, _) = b
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
        match crate::sys::file::clone_from(b, &a) {
            Ok(()) => Ok(true),
            Err(e) if cannot_clone(&e) => Ok(false),
            Err(e) => Err(e),
        }
    });
    let _ = fs::remove_file(&a_path);
    if let Ok((_, b_path)) = &b {
        let _ = fs::remove_file(b_path);
    }
    result
}
