//! Pure decisions of a backup run: which stored copy may serve a file, and what to do with it.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use crate::scan::{Meta, Seen};

/// When identical content may share one stored copy (`DEDUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dedup {
    /// Share when mode and owner match; mtimes may differ.
    Mode,
    /// Share only when mode, owner and mtime match.
    Strict,
    /// Always share identical content.
    Content,
}

impl std::str::FromStr for Dedup {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mode" => Ok(Dedup::Mode),
            "strict" => Ok(Dedup::Strict),
            "content" => Ok(Dedup::Content),
            _ => Err(format!("expected mode, strict or content, found {s:?}")),
        }
    }
}

impl std::fmt::Display for Dedup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dedup::Mode => "mode",
            Dedup::Strict => "strict",
            Dedup::Content => "content",
        })
    }
}

/// How a snapshot path gets content that is already stored (`LINK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// A hardlink to the stored copy: one inode, so one set of metadata (`DEDUP` decides
    /// which paths may share it).
    Hardlink,
    /// A copy-on-write clone of the stored copy (`FICLONE`): its own inode with its own
    /// metadata, sharing the stored copy's extents.
    Reflink,
    /// Reflink where the root's filesystem can clone, else hardlink (probed once per run).
    Auto,
}

impl std::str::FromStr for Link {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "hardlink" => Ok(Link::Hardlink),
            "reflink" => Ok(Link::Reflink),
            "auto" => Ok(Link::Auto),
            _ => Err(format!("expected hardlink, reflink or auto, found {s:?}")),
        }
    }
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Link::Hardlink => "hardlink",
            Link::Reflink => "reflink",
            Link::Auto => "auto",
        })
    }
}

/// Which stored copies may serve a path in a run: with hardlinks the `DEDUP` policy
/// decides (the path takes the copy's inode and metadata); with clones any copy of the
/// content serves (the path gets its own inode with its own metadata and attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Links(Dedup),
    Clones,
}

impl Sharing {
    /// True when a stored copy with metadata `copy` may serve a file with metadata `want`.
    pub fn serves(self, want: CopyMeta, copy: CopyMeta) -> bool {
        match self {
            Sharing::Links(policy) => copy_serves(policy, want, copy),
            Sharing::Clones => true,
        }
    }

    /// The key of content `hash` wanted (or stored) with metadata `m`: equal keys may share.
    pub fn key(self, hash: &[u8], m: CopyMeta) -> LinkKey {
        match self {
            Sharing::Links(policy) => LinkKey::new(policy, hash, m),
            Sharing::Clones => LinkKey {
                hash: hash.to_vec(),
                xattrs: 0,
                owner_mode: None,
                mtime_ns: None,
            },
        }
    }
}

/// What a stored copy must carry to serve a file (`Sharing::wanted`), in the terms the
/// catalog looks copies up by (its index on content, attribute set, mode and owner,
/// mtime): the attribute set (None: any), mode and owner, and mtime, each only when the
/// policy compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wanted {
    pub xattrs: Option<i64>,
    pub owner_mode: Option<(u32, u32, u32)>,
    pub mtime_ns: Option<i128>,
}

impl Sharing {
    /// What a stored copy must carry to serve a file with metadata `want`: the fields of
    /// its `LinkKey` for hardlinks; nothing for clones (each gets its own).
    pub fn wanted(self, want: CopyMeta) -> Wanted {
        match self {
            Sharing::Links(policy) => {
                let key = LinkKey::new(policy, &[], want);
                Wanted {
                    xattrs: Some(key.xattrs),
                    owner_mode: key.owner_mode,
                    mtime_ns: key.mtime_ns,
                }
            }
            Sharing::Clones => Wanted::default(),
        }
    }
}

/// The on-disk metadata of one physical stored copy (an inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i128,
    /// The extended-attribute set the copy carries (`Meta::xattrs`), 0 for none.
    pub xattrs: i64,
}

impl From<Meta> for CopyMeta {
    fn from(m: Meta) -> Self {
        CopyMeta {
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            mtime_ns: m.mtime_ns,
            xattrs: m.xattrs,
        }
    }
}

/// Identifies which stored copies can serve a file under a policy: equal keys may share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkKey {
    hash: Vec<u8>,
    /// Under every policy: the attributes live on the inode, so sharing a copy would
    /// give one path another's.
    xattrs: i64,
    owner_mode: Option<(u32, u32, u32)>,
    mtime_ns: Option<i128>,
}

impl LinkKey {
    /// The key of content `hash` wanted (or stored) with metadata `m`.
    pub fn new(policy: Dedup, hash: &[u8], m: CopyMeta) -> LinkKey {
        let owner_mode = (policy != Dedup::Content).then_some((m.mode, m.uid, m.gid));
        let mtime_ns = (policy == Dedup::Strict).then_some(m.mtime_ns);
        LinkKey {
            hash: hash.to_vec(),
            xattrs: m.xattrs,
            owner_mode,
            mtime_ns,
        }
    }
}

/// True when a stored copy with metadata `copy` may serve a file with metadata `want`.
pub fn copy_serves(policy: Dedup, want: CopyMeta, copy: CopyMeta) -> bool {
    LinkKey::new(policy, &[], want) == LinkKey::new(policy, &[], copy)
}

/// What the previous complete snapshot recorded for the same path.
#[derive(Debug, Clone)]
pub struct PrevEntry {
    pub size: u64,
    pub mtime_ns: i128,
    pub hash: Vec<u8>,
    pub copy_id: i64,
    pub copy_ino: u64,
    pub copy: CopyMeta,
    /// The catalog's id of the path, so an unchanged path needs no lookup.
    pub path_id: i64,
    /// The attribute set the entry recorded (0: none).
    pub set_id: i64,
    /// What that run saw of the source inode (None: not recorded).
    pub seen: Option<crate::scan::Seen>,
}

/// The previous snapshot's regular files, keyed by relative path bytes.
pub type PrevMap = std::collections::HashMap<Vec<u8>, PrevEntry>;

/// The first step for a regular file, decided before any byte is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstStep {
    /// Same path, size and mtime, and the previous copy fits: link it without reading.
    LinkPrevious,
    /// Same path, size and mtime but the previous copy does not fit (mode or owner changed):
    /// the content hash is known, find or make a copy that fits.
    KnownContent,
    /// New or changed: read and hash the file.
    Read,
}

/// The fast path's test: a file with the size and mtime recorded for its path is taken
/// to hold the recorded content, without reading it (`backup` links it, `watch` sees no
/// change).
pub fn looks_unchanged(meta: Meta, size: u64, mtime_ns: i128) -> bool {
    meta.size == size && meta.mtime_ns == mtime_ns
}

impl PrevEntry {
    /// The fast path's test for a file with metadata `meta` whose inode the walk saw as
    /// `now`: the recorded size and mtime and, when the previous run recorded what it saw
    /// of the inode (V15), the same inode number (two folders swapped, a file replaced by
    /// one of the same size with its mtime kept: read, as restic does) and, where ctimes
    /// can be judged, the same settled ctime. Any change of the inode moves its ctime (a
    /// rewrite in place with the mtime put back, a change in the same second as the run
    /// on a filesystem with 1-second times); a ctime that was too recent to record is
    /// read again. Rows from before V15 (or from `add`) are judged by size and mtime.
    pub fn looks_unchanged(&self, meta: Meta, now: Seen) -> bool {
        looks_unchanged(meta, self.size, self.mtime_ns)
            && self.seen.is_none_or(|then| {
                then.ino == now.ino && (!now.ctime_trusted || now.unchanged_since(&then))
            })
    }
}

/// Decides the first step for a file (metadata `meta`, its inode as the walk saw it
/// `now`) given the previous snapshot's entry for its path.
pub fn first_step(sharing: Sharing, meta: Meta, now: Seen, prev: Option<&PrevEntry>) -> FirstStep {
    match prev {
        Some(p) if p.looks_unchanged(meta, now) => {
            if sharing.serves(meta.into(), p.copy) {
                FirstStep::LinkPrevious
            } else {
                FirstStep::KnownContent
            }
        }
        _ => FirstStep::Read,
    }
}

/// True when one more link may be put on an inode that has `nlink` links.
pub fn has_room(nlink: u64, max_links: u64) -> bool {
    nlink < max_links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(mode: u32, mtime_ns: i128) -> Meta {
        Meta {
            size: 5,
            mtime_ns,
            mode,
            uid: 1,
            gid: 1,
            xattrs: 0,
        }
    }

    #[test]
    fn policies() {
        let base = meta(0o644, 100);
        let cases = [
            (Dedup::Mode, meta(0o644, 200), true),
            (Dedup::Mode, meta(0o600, 100), false),
            (Dedup::Strict, meta(0o644, 200), false),
            (Dedup::Strict, meta(0o644, 100), true),
            (Dedup::Content, meta(0o600, 300), true),
            (Dedup::Content, Meta { xattrs: 7, ..base }, false),
            (Dedup::Mode, Meta { xattrs: 7, ..base }, false),
        ];
        for (policy, other, want) in cases {
            assert_eq!(
                copy_serves(policy, base.into(), other.into()),
                want,
                "{policy} {other:?}"
            );
        }
    }

    #[test]
    fn first_steps() {
        let prev = PrevEntry {
            size: 5,
            mtime_ns: 100,
            hash: vec![1],
            copy_id: 1,
            copy_ino: 9,
            copy: meta(0o644, 100).into(),
            path_id: 1,
            set_id: 0,
            seen: None,
        };
        let at = |ino| Seen {
            ino,
            ctime_ns: None,
            ctime_trusted: false,
        };
        let cases = [
            (Dedup::Mode, meta(0o644, 100), FirstStep::LinkPrevious),
            (Dedup::Mode, meta(0o600, 100), FirstStep::KnownContent),
            (Dedup::Content, meta(0o600, 100), FirstStep::LinkPrevious),
            (Dedup::Mode, meta(0o644, 101), FirstStep::Read),
        ];
        for (policy, m, want) in cases {
            assert_eq!(
                first_step(Sharing::Links(policy), m, at(3), Some(&prev)),
                want
            );
        }
        // A clone gets its own metadata: any unchanged file is cloned without reading.
        let own = Meta {
            xattrs: 7,
            ..meta(0o600, 100)
        };
        assert_eq!(
            first_step(Sharing::Clones, own, at(3), Some(&prev)),
            FirstStep::LinkPrevious
        );
        assert_eq!(
            first_step(Sharing::Clones, meta(0o644, 101), at(3), Some(&prev)),
            FirstStep::Read
        );
        assert_eq!(
            first_step(Sharing::Links(Dedup::Mode), meta(0o644, 100), at(3), None),
            FirstStep::Read
        );
        // Recorded at inode 3 with settled ctime 50: the same path at another inode, or
        // with another ctime, or a recent one, is read where ctimes can be judged.
        let recorded = |ctime_ns| PrevEntry {
            seen: Some(Seen {
                ino: 3,
                ctime_ns,
                ctime_trusted: false,
            }),
            ..prev.clone()
        };
        let step = |then: &PrevEntry, ino, ctime_ns, ctime_trusted| {
            let now = Seen {
                ino,
                ctime_ns,
                ctime_trusted,
            };
            first_step(
                Sharing::Links(Dedup::Mode),
                meta(0o644, 100),
                now,
                Some(then),
            )
        };
        let settled = recorded(Some(50));
        assert_eq!(step(&settled, 3, Some(50), true), FirstStep::LinkPrevious);
        assert_eq!(step(&settled, 4, Some(50), true), FirstStep::Read);
        assert_eq!(step(&settled, 3, Some(51), true), FirstStep::Read);
        assert_eq!(step(&settled, 3, None, true), FirstStep::Read);
        // A ctime too recent to record last time: read again.
        let recent = recorded(None);
        assert_eq!(step(&recent, 3, Some(50), true), FirstStep::Read);
        assert_eq!(step(&recent, 3, None, true), FirstStep::Read);
        // Where ctimes cannot be judged (a network filesystem): the inode alone.
        assert_eq!(step(&recent, 3, None, false), FirstStep::LinkPrevious);
        assert_eq!(step(&settled, 4, None, false), FirstStep::Read);
    }
}
