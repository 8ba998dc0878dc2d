//! Owns the attributes of files the walk left unread (`Entry::xattrs_unread`): a file
//! whose source inode is the one the previous run saw, with the same change time, has
//! the attributes that run recorded (every change of an attribute moves the ctime), so
//! the run takes that set when it links the previous copy, and reads them otherwise.

use anyhow::Result;

use super::bases::Basis;
use super::Run;
use crate::decide::{first_step, FirstStep};
use crate::scan::Entry;

impl Run<'_> {
    /// Gives `e` (attributes unread) its attribute set id: the previous snapshot's, when
    /// that run saw the same inode with the same settled ctime and this run links its
    /// copy (which carries that set); else the set read now from the source (a new or
    /// changed inode, a path new to the previous snapshot, a copy that does not fit). A
    /// file that cannot be looked at now is left without a set: reading its content fails
    /// the same way, and that failure is the one told.
    pub(super) fn settle_attrs(&mut self, e: &mut Entry, prev: Option<&Basis>) -> Result<()> {
        let seen = e.seen();
        let same = |b: &&Basis| b.seen.is_some_and(|then| seen.unchanged_since(&then));
        if let Some(b) = prev.filter(|b| !b.resumed).filter(same) {
            let mut meta = e.meta;
            meta.xattrs = b.set_id;
            if first_step(self.inp.sharing, meta, seen, Some(&*b.entry)) == FirstStep::LinkPrevious
            {
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
