//! Owns finding a stored copy to hardlink: this run's own copies first, then the catalog.
//! Every link source is checked on disk (inode, size, link count) before it is used.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::catalog::entries::{copies_for_hash, copy_locations};
use crate::plan::{copy_serves, has_room, CopyMeta, Dedup, LinkKey};
use crate::store::{self, LinkOutcome};

/// How many places of one stored copy are tried before giving up on it.
const LOCATIONS_TRIED: usize = 4;

/// A stored copy known to be usable, with the path to link from.
#[derive(Debug, Clone)]
struct Live {
    copy_id: i64,
    path: PathBuf,
    nlink: u64,
}

/// What a link attempt came to.
#[derive(Debug)]
pub enum Linked {
    /// Linked to the stored copy with this id.
    Yes(i64),
    /// No usable stored copy: a new one must be written.
    No,
}

/// Finds and links stored copies, remembering the ones this run used or made.
pub struct Linker {
    root: PathBuf,
    policy: Dedup,
    max_links: u64,
    live: HashMap<LinkKey, Live>,
    /// Set once hardlinks fail with EXDEV/EPERM/ENOTSUP; from then on everything is copied.
    pub unsupported: Option<io::Error>,
}

impl Linker {
    /// A linker for the backup root `root`.
    pub fn new(root: &Path, policy: Dedup, max_links: u64) -> Linker {
        Linker {
            root: root.to_path_buf(),
            policy,
            max_links,
            live: HashMap::new(),
            unsupported: None,
        }
    }

    /// Remembers a stored copy this run made or linked, so later duplicates link to it.
    pub fn remember(&mut self, hash: &[u8], copy: CopyMeta, copy_id: i64, path: &Path, nlink: u64) {
        self.live.insert(
            LinkKey::new(self.policy, hash, copy),
            Live {
                copy_id,
                path: path.to_path_buf(),
                nlink,
            },
        );
    }

    fn link(&mut self, src: &Path, dst: &Path) -> Result<bool> {
        match store::hard_link(src, dst) {
            LinkOutcome::Linked => Ok(true),
            LinkOutcome::Full => Ok(false),
            LinkOutcome::Unsupported(e) => {
                self.unsupported = Some(e);
                Ok(false)
            }
            LinkOutcome::Failed(e) if crate::store::is_fatal(&e) => {
                Err(anyhow::Error::new(e).context(format!("{}: cannot create link", dst.display())))
            }
            LinkOutcome::Failed(_) => Ok(false),
        }
    }

    /// Replaces the new copy at `dst` by a link to a copy of the same content this run
    /// already stored or linked, when there is one that may serve `want`; returns its id.
    pub fn relink_to_live(
        &mut self,
        hash: &[u8],
        want: CopyMeta,
        dst: &Path,
    ) -> Result<Option<i64>> {
        if self.unsupported.is_some() {
            return Ok(None);
        }
        let key = LinkKey::new(self.policy, hash, want);
        let Some(live) = self.live.get_mut(&key) else {
            return Ok(None);
        };
        if !has_room(live.nlink, self.max_links) {
            return Ok(None);
        }
        match store::replace_with_link(&live.path, dst) {
            Ok(()) => {
                live.nlink += 1;
                Ok(Some(live.copy_id))
            }
            Err(e) if store::is_fatal(&e) => {
                Err(anyhow::Error::new(e).context(format!("{}: cannot create link", dst.display())))
            }
            Err(_) => Ok(None),
        }
    }

    /// Links `dst` to any stored copy of content `hash` that may serve metadata `want`.
    pub fn link_content(
        &mut self,
        conn: &rusqlite::Connection,
        hash: &[u8],
        size: u64,
        want: CopyMeta,
        dst: &Path,
    ) -> Result<Linked> {
        if self.unsupported.is_some() {
            return Ok(Linked::No);
        }
        let key = LinkKey::new(self.policy, hash, want);
        if let Some(live) = self.live.get(&key).cloned() {
            if has_room(live.nlink, self.max_links) {
                if self.link(&live.path, dst)? {
                    if let Some(l) = self.live.get_mut(&key) {
                        l.nlink += 1;
                    }
                    return Ok(Linked::Yes(live.copy_id));
                }
                if let Some(l) = self.live.get_mut(&key) {
                    l.nlink = self.max_links;
                }
            }
        }
        for copy in copies_for_hash(conn, hash)? {
            if copy.size != size || !copy_serves(self.policy, want, copy.meta) {
                continue;
            }
            if self.live.get(&key).is_some_and(|l| l.copy_id == copy.id) {
                continue;
            }
            for loc in copy_locations(conn, copy.id, LOCATIONS_TRIED)? {
                let src = self.root.join(&loc.snapshot_dir).join(&loc.rel);
                let Some(nlink) = store::check_stored_copy(&src, copy.ino, copy.size) else {
                    continue;
                };
                if !has_room(nlink, self.max_links) {
                    break;
                }
                if self.link(&src, dst)? {
                    self.remember(hash, copy.meta, copy.id, &src, nlink + 1);
                    return Ok(Linked::Yes(copy.id));
                }
                if self.unsupported.is_some() {
                    return Ok(Linked::No);
                }
            }
        }
        Ok(Linked::No)
    }
}
