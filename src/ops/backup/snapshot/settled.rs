//! Owns the attributes of files whose inode is older than the previous run
//! (`Entry::xattrs_unread`): the walk did not read them, so the run takes the set that
//! run recorded when it links the previous copy, and reads them itself otherwise.

use anyhow::Result;

use super::bases::Basis;
use super::Run;
use crate::decide::{first_step, FirstStep, Sharing};
use crate::scan::Entry;

impl Run<'_> {
    /// Gives `e` (attributes unread) its attribute set id: the previous snapshot's, when
    /// the run links that snapshot's copy (the file's inode has not changed since that
    /// run read its attributes, and the copy carries them); else the set read now from
    /// the source (a path that is new to the previous snapshot, after a folder rename,
    /// say). A file that cannot be looked at now is left without a set: reading its
    /// content fails the same way, and that failure is the one told.
    pub(super) fn settle_attrs(&mut self, e: &mut Entry, prev: Option<Basis>) -> Result<()> {
        if let (Some(b), Sharing::Links(_)) = (prev.filter(|b| !b.resumed), self.inp.sharing) {
            let mut meta = e.meta;
            meta.xattrs = b.set_id;
            if first_step(self.inp.sharing, meta, Some(&*b)) == FirstStep::LinkPrevious {
                e.meta.xattrs = b.set_id;
                return Ok(());
            }
        }
        let as_root = crate::sys::users::effective_uid() == 0;
        let set = self.inp.source.attrs_of(&e.rel, as_root).unwrap_or(None);
        e.xattr_set = set.map(std::sync::Arc::new);
        if let Some(set) = &e.xattr_set {
            e.meta.xattrs = self.writer.xattr_set_id(&self.reads, set)?;
        }
        Ok(())
    }
}
