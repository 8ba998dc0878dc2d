//! Owns the check of each recorded entry on disk (kind, target, size, mtime, mode,
//! owner, extended attributes) and where a full verify sends each file to be read.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{attrs, content, show, streamed, Report};
use crate::catalog::entries::Recorded;
use crate::catalog::SnapshotRow;
use crate::hash::HashAlgo;
use crate::layout::SnapshotPaths;
use crate::scan::Kind;

/// The snapshot whose entries are being checked.
pub(super) struct Checking<'a> {
    pub(super) snap: &'a SnapshotRow,
    /// Its place among the snapshots being verified.
    pub(super) index: u32,
    pub(super) paths: &'a SnapshotPaths,
    pub(super) algo: HashAlgo,
    pub(super) sets: &'a attrs::Sets,
    /// The root's files are clones of their stored copies (`LINK = reflink`).
    pub(super) cloned: bool,
}

/// Where a full verify sends each file to be read: to the reads beside the pass when it
/// is its stored copy's inode (and the root has no clones), else to the inodes read
/// after it.
pub(super) struct Hashing<'h, 'scope, 'env> {
    pub(super) streamed: Option<&'h mut streamed::Streamed<'scope, 'env>>,
    pub(super) inodes: &'h mut content::Inodes,
}

/// Checks each recorded entry on disk (kind, target, size, mtime, mode, extended
/// attributes) and sends the files to be read (`hashing`, for a full verify).
pub(super) fn check_entries(
    checking: &Checking,
    recorded: &[Recorded],
    mut hashing: Option<Hashing>,
    report: &mut Report,
) {
    let (snap, paths, algo) = (checking.snap, checking.paths, checking.algo);
    for rec in recorded {
        let rel = Path::new(OsStr::from_bytes(&rec.path));
        let path = if rel == Path::new(".") {
            paths.dir.clone()
        } else {
            paths.dir.join(rel)
        };
        let what = show(snap, &rec.path);
        let md = match path.symlink_metadata() {
            Ok(md) => md,
            Err(_) => {
                report.problem(&what, "missing");
                continue;
            }
        };
        let on_disk = if md.is_dir() {
            Kind::Dir
        } else if md.file_type().is_symlink() {
            Kind::Symlink
        } else {
            Kind::File
        };
        if on_disk != rec.kind {
            let why = format!(
                "is a {}, the catalog says {}",
                on_disk.as_str(),
                rec.kind.as_str()
            );
            report.problem(&what, &why);
            continue;
        }
        // A file's attributes live on its stored copy; a folder or symlink has its own,
        // and so has a clone of a stored copy (`LINK = reflink`: another inode).
        let set = match (&rec.kind, &rec.copy) {
            (Kind::File, Some(copy)) if md.ino() == copy.ino => copy.meta.xattrs,
            _ => rec.meta.xattrs,
        };
        if let Some(why) = checking.sets.differs(&path, set) {
            report.problem(&what, &why);
        }
        match rec.kind {
            Kind::Symlink => {
                let target = std::fs::read_link(&path).unwrap_or_default();
                if Some(target.as_os_str().as_bytes()) != rec.target.as_deref() {
                    report.problem(&what, "symlink target differs from the catalog");
                }
            }
            Kind::Dir => {}
            Kind::File => {
                let Some(copy) = &rec.copy else {
                    report.problem(&what, "file without a stored copy in the catalog");
                    continue;
                };
                if md.len() != rec.meta.size {
                    report.damaged.insert(copy.id);
                    let why = format!(
                        "size {} bytes, the catalog says {}",
                        md.len(),
                        rec.meta.size
                    );
                    report.problem(&what, &why);
                    continue;
                }
                let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
                // The stored copy's metadata; a path of its own inode (a clone) carries
                // the path's own.
                let own: crate::decide::CopyMeta = rec.meta.into();
                let given: &[crate::decide::CopyMeta] = if md.ino() == copy.ino {
                    std::slice::from_ref(&copy.meta)
                } else {
                    &[own, copy.meta]
                };
                if !given.iter().any(|m| m.mtime_ns == mtime) {
                    report.problem(&what, "mtime changed since the backup");
                }
                if !given.iter().any(|m| md.mode() & 0o7777 == m.mode) {
                    report.problem(&what, "mode changed since the backup");
                } else if !given
                    .iter()
                    .any(|m| crate::store::as_given(md.mode(), md.uid(), md.gid(), m))
                {
                    report.problem(&what, "owner changed since the backup");
                }
                if md.ino() != copy.ino {
                    report.unlinked += 1;
                }
                let Some(hashing) = hashing.as_mut() else {
                    continue;
                };
                if let (Some(streamed), true) =
                    (hashing.streamed.as_deref_mut(), md.ino() == copy.ino)
                {
                    streamed.add(
                        copy,
                        md.len(),
                        algo,
                        path,
                        checking.index,
                        &rec.path,
                        report,
                    );
                } else {
                    hashing
                        .inodes
                        .add(checking.index, &rec.path, &md, || content::Inode {
                            copy_id: copy.id,
                            size: md.len(),
                            algo,
                            expected: copy.hash.clone(),
                            users: Vec::new(),
                            own: checking.cloned || md.ino() == copy.ino,
                        });
                }
            }
        }
    }
}
