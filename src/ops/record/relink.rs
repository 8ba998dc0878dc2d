//! How `add` turns identical content in different inodes into hardlinks: a stored copy
//! the `DEDUP` policy and `MAX_LINKS` allow, and the very same bytes (compared, never
//! taken from a hash) before an inode is replaced.

use anyhow::{Context, Result};

use super::import::{Importer, LinkTarget, Recording, Relinked};
use super::run::Inode;
use super::Tally;
use crate::catalog::Db;
use crate::decide::{has_room, Sharing};
use crate::ops::dedup;
use crate::scan::Entry;
use crate::store;
use crate::units::one_line;

impl Importer<'_> {
    /// Replaces every path of `inode` by a hardlink to a stored copy with the same content
    /// that the policy allows; returns that copy's id, or None to keep the inode as a copy.
    pub(super) fn relink(
        &mut self,
        db: &Db,
        rec: &mut Recording,
        entries: &[Entry],
        inode: &Inode,
        hash: &[u8],
        tally: &mut Tally,
    ) -> Result<Option<i64>> {
        if self.options.link == super::Link::No || inode.suspect {
            return Ok(None);
        }
        let need = inode.entries.len() as u64;
        let max = self.config.max_links;
        let key = self.sharing.key(hash, inode.meta);
        // The paths of one inode move together: those of an earlier run went to a target
        // that had room for all of them, and the rest follow them there.
        if let Some(earlier) = rec.relinked.get(&inode.ino) {
            let target = earlier.target.clone();
            return self.link_paths(rec, entries, inode, hash, target, tally);
        }
        // Room for every link the inode has, not only this run's paths: more of them may
        // come in later runs (a link count above that is links outside the snapshot).
        let all = inode.nlink.max(need);
        if self.sharing == Sharing::Clones {
            // A clone keeps its own inode and metadata: the path is recorded with a
            // stored copy of its content, nothing on disk changes.
            let known = rec.live.get(&key).map(|t| t.copy_id);
            let found = dedup::candidates_for(db, hash, inode.size, inode.meta, self.sharing)?;
            return Ok(known.or(found.first().map(|c| c.id)));
        }
        let mut target = rec
            .live
            .get(&key)
            .cloned()
            .filter(|t| has_room(t.nlink + all - 1, max));
        if target.is_none() {
            for copy in dedup::candidates_for(db, hash, inode.size, inode.meta, self.sharing)? {
                let place =
                    match dedup::place_of_except(db, self.root, &copy, all, max, Some(rec.row_id))?
                    {
                        Some(found) => Some(found),
                        None => place_in_this_snapshot(db, rec, &copy, all, max)?,
                    };
                if let Some((path, nlink)) = place {
                    target = Some(LinkTarget {
                        copy_id: copy.id,
                        path,
                        nlink,
                    });
                    break;
                }
            }
        }
        let Some(target) = target else {
            return Ok(None);
        };
        // A hash may come from a manifest (or a copy may have rotted since it was
        // hashed): an inode is only ever replaced by a link to the very same bytes.
        let here = rec.folder.dir.join(&entries[inode.entries[0]].rel);
        match store::same_bytes(&target.path, &here) {
            Ok(true) => {}
            Ok(false) => {
                tally.problems += 1;
                self.tell.error(&format!(
                    "{}: content differs from {} although the hashes say equal; recorded as found, not linked (run `phlb verify`)",
                    one_line(&here),
                    one_line(&target.path)
                ));
                return Ok(None);
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "{}: cannot compare with {}",
                        here.display(),
                        target.path.display()
                    )
                })
            }
        }
        self.link_paths(rec, entries, inode, hash, target, tally)
    }

    /// Replaces this run's paths of `inode` by hardlinks to `target` (the same bytes);
    /// remembers the target while more of the inode's links are left.
    fn link_paths(
        &mut self,
        rec: &mut Recording,
        entries: &[Entry],
        inode: &Inode,
        hash: &[u8],
        mut target: LinkTarget,
        tally: &mut Tally,
    ) -> Result<Option<i64>> {
        let need = inode.entries.len() as u64;
        for &i in &inode.entries {
            let path = rec.folder.dir.join(&entries[i].rel);
            match store::replace_with_link_via(&target.path, &path, &self.tmp_dir) {
                Ok(()) => target.nlink += 1,
                // Another mount than the link source's: keep the file as its own copy.
                Err(e) if e.raw_os_error() == Some(libc::EXDEV) => return Ok(None),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("{}: cannot replace with a hardlink", path.display())
                    })
                }
            }
        }
        tally.relinked += need;
        // The inode's bytes are freed with its last link; its other paths in this
        // snapshot may come in later runs, still holding it.
        let links = match rec.relinked.remove(&inode.ino) {
            Some(r) => r.links_left,
            None => inode.nlink,
        };
        match links.saturating_sub(need) {
            0 => tally.freed += inode.size,
            links_left => {
                rec.relinked.insert(
                    inode.ino,
                    Relinked {
                        hash: hash.to_vec(),
                        links_left,
                        target: target.clone(),
                    },
                );
            }
        }
        rec.live
            .insert(self.sharing.key(hash, inode.meta), target.clone());
        Ok(Some(target.copy_id))
    }
}

/// Where the snapshot being recorded holds stored copy `copy` (a copy it recorded in an
/// earlier run), with the inode's link count, when it has room for `need` more links.
fn place_in_this_snapshot(
    db: &Db,
    rec: &Recording,
    copy: &crate::catalog::copies::CopyRow,
    need: u64,
    max: u64,
) -> Result<Option<(std::path::PathBuf, u64)>> {
    let Some(rel) = crate::catalog::copies::copy_path_in(db, rec.row_id, copy.id)? else {
        return Ok(None);
    };
    let at = rec.folder.dir.join(rel);
    Ok(
        store::check_stored_copy(&at, copy.ino, copy.size, &copy.meta)
            .filter(|&nlink| has_room(nlink + need - 1, max))
            .map(|nlink| (at, nlink)),
    )
}
