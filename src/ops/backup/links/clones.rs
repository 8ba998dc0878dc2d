//! Owns the `LINK = reflink` side of the linker: a path gets its own inode cloned from a
//! stored copy of its content (any copy serves: the clone gets the path's own metadata
//! and attributes), from this run's copies first, then from the catalog's places, each
//! checked on the open file before it is cloned.

use std::path::Path;

use anyhow::Result;

use super::{Linked, Linker, Want};
use crate::catalog::Db;
use crate::decide::CopyMeta;
use crate::ops::dedup;
use crate::store::{self, Expect, LinkOutcome};

impl Linker {
    /// Clones `dst` from a copy of content `hash` this run remembers, else (with
    /// `catalog`) from a place of a copy the catalog lists.
    pub(super) fn clone_to(
        &mut self,
        db: Option<&Db>,
        hash: &[u8],
        want: Want,
        dst: &Path,
        catalog: bool,
    ) -> Result<Linked> {
        let copy_meta: CopyMeta = want.meta.into();
        let key = self.sharing.key(hash, copy_meta);
        if let Some(live) = self.live.get(&key).cloned() {
            if self.clone_one(&live.path, &live.expect, dst, want)? {
                return Ok(Linked::Yes(live.copy_id));
            }
            if self.unsupported.is_some() {
                return Ok(Linked::No);
            }
            // Not usable any more: the catalog's places are tried next.
            self.live.remove(&key);
        }
        let Some(db) = db.filter(|_| catalog) else {
            return Ok(Linked::No);
        };
        let size = want.meta.size;
        for copy in dedup::candidates_for(db, hash, size, copy_meta, self.sharing)? {
            for (src, expect) in dedup::clone_places(db, &self.root, &copy)? {
                if !copy.verified && !self.proves(&src, copy.id, hash) {
                    break;
                }
                if self.clone_one(&src, &expect, dst, want)? {
                    self.remember_at(hash, copy.meta, copy.id, &src, expect, 1, 0);
                    return Ok(Linked::Yes(copy.id));
                }
                if self.unsupported.is_some() {
                    return Ok(Linked::No);
                }
            }
        }
        Ok(Linked::No)
    }

    /// Clones `src` to `dst` when `src` still shows `expect`; false when it cannot serve
    /// (changed, gone, or clones unsupported, which is remembered).
    fn clone_one(&mut self, src: &Path, expect: &Expect, dst: &Path, want: Want) -> Result<bool> {
        if self.run == crate::ops::Run::DryRun {
            return Ok(true);
        }
        match store::clone_stored(src, expect, dst, &want.meta, want.set) {
            None => Ok(false),
            Some(LinkOutcome::Linked) => Ok(true),
            Some(LinkOutcome::Unsupported(e)) => {
                self.unsupported = Some(e);
                Ok(false)
            }
            Some(LinkOutcome::Failed(e)) if store::is_fatal(&e) => {
                Err(anyhow::Error::new(e).context(format!("{}: cannot clone", dst.display())))
            }
            Some(LinkOutcome::Full | LinkOutcome::Failed(_)) => Ok(false),
        }
    }
}
