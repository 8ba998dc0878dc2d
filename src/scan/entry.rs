//! Owns what a walk finds: an entry's kind, its metadata and the entry itself.

use crate::sys::xattr::Xattrs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// What kind of thing an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

impl Kind {
    /// The name used in the catalog and its views.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
        }
    }

    /// Parses the catalog name back.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "file" => Some(Kind::File),
            "dir" => Some(Kind::Dir),
            "symlink" => Some(Kind::Symlink),
            _ => None,
        }
    }
}

/// The metadata phlb records and restores for every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    /// Nanoseconds since the epoch (128 bits: times past 2262 are kept exactly).
    pub mtime_ns: i128,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The catalog's id of the entry's extended-attribute set (`xattr_sets`), 0 for
    /// none (or not looked up: a walk reads the set, a backup run gives it its id).
    pub xattrs: i64,
}

impl Meta {
    /// Reads the recorded fields off `std` metadata.
    pub fn of(md: &std::fs::Metadata) -> Meta {
        Meta {
            size: if md.is_file() { md.len() } else { 0 },
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            xattrs: 0,
        }
    }

    /// Reads the recorded fields off a `stat` the walk made.
    pub fn from_stat(st: &libc::stat) -> Meta {
        let is_file = st.st_mode & libc::S_IFMT == libc::S_IFREG;
        Meta {
            size: if is_file { st.st_size as u64 } else { 0 },
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            xattrs: 0,
        }
    }
}

impl Seen {
    /// This (what the walk sees now) is the inode `then` recorded, with the same settled
    /// ctime: nothing about the inode changed since (content, mode, owner, attributes,
    /// links all move the ctime).
    pub fn unchanged_since(&self, then: &Seen) -> bool {
        self.ino == then.ino && self.ctime_ns.is_some() && self.ctime_ns == then.ctime_ns
    }
}

impl Entry {
    /// What this run saw of the file's inode (`Seen`).
    pub fn seen(&self) -> Seen {
        Seen {
            ino: self.ino,
            ctime_ns: self.seen_ctime,
            ctime_trusted: self.ctime_trusted,
        }
    }

    /// The attribute set the snapshot's inode gets: the entry's set where attributes are
    /// kept (nothing is left unkept), None otherwise.
    pub fn kept_xattrs(&self) -> Option<&std::sync::Arc<crate::xattr_set::XattrSet>> {
        self.xattr_set
            .as_ref()
            .filter(|_| self.xattrs == Xattrs::None)
    }
}

/// One thing found in a source tree.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the source root; the root itself is `.`.
    pub rel: PathBuf,
    pub kind: Kind,
    pub meta: Meta,
    /// The link target, for symlinks.
    pub target: Option<PathBuf>,
    /// Inode number, telling hardlinked files apart.
    pub ino: u64,
    /// Device number: with `ino`, what a file read later must still be.
    pub dev: u64,
    /// Link count (`st_nlink`): above 1, other paths may share this file's inode.
    pub nlink: u64,
    /// The extended attributes the snapshot's inode does not keep (`XATTRS = false`, or a
    /// backup filesystem without them); `meta.mode` holds only the permissions an access
    /// ACL among them grants. `Xattrs::None` when everything is kept.
    pub xattrs: Xattrs,
    /// The entry's attribute set, when the walk reads them (`XattrScan`).
    pub xattr_set: Option<std::sync::Arc<crate::xattr_set::XattrSet>>,
    /// A regular file's change time (ns since the epoch), when it was over a second
    /// older than the clock read before its folder was listed: any later change of the
    /// inode (content, mode, owner, attributes, links) gives it another ctime, even from
    /// the kernel's coarse clock. None for a recent change (or another kind).
    pub seen_ctime: Option<i64>,
    /// The filesystem of the file's folder stamps times from this kernel's clock, so its
    /// ctime could be judged (`seen_ctime` is None only for a recent change).
    pub ctime_trusted: bool,
    /// A regular file whose attributes the walk did not read (`ScanOptions::defer_attrs`):
    /// the run takes the set the previous run recorded when it saw the same inode with
    /// the same ctime, and reads them itself otherwise.
    pub xattrs_unread: bool,
}

/// What a run saw of a regular file's source inode, recorded with its entry (V15) so
/// the next run can tell the inode has not changed since.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub ino: u64,
    /// `Entry::seen_ctime`.
    pub ctime_ns: Option<i64>,
    /// The walk could judge the ctime (the file's filesystem takes its times from this
    /// kernel's clock: `Entry::ctime_trusted`); false for what the catalog recorded.
    pub ctime_trusted: bool,
}
