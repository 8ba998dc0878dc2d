//! How a folder and a symlink get into the snapshot: a folder's catalog row (its mode,
//! owner and mtime are set when the run finishes), a symlink recreated with its row.

use std::path::Path;

use super::{fatal_or, EntryResult, Failure, Run};
use crate::config::LogLevel;
use crate::scan::{Entry, Kind};
use crate::store;

impl Run<'_> {
    pub(super) fn dir(&mut self, entry: &Entry) -> EntryResult<()> {
        if let Some(why) = self.dir_errors.remove(&entry.rel) {
            return Ok(Err(Failure::Dest(why)));
        }
        let dst = self.dst(&entry.rel);
        self.dirs
            .push((dst, entry.meta, entry.kept_xattrs().cloned()));
        self.counts.dirs += 1;
        self.writer.insert_entry(
            self.inp.snapshot.id,
            None,
            &entry.rel,
            Kind::Dir,
            &entry.meta,
            None,
            None,
            None,
        )?;
        Ok(Ok(()))
    }

    pub(super) fn symlink(&mut self, entry: &Entry) -> EntryResult<()> {
        let dst = self.dst(&entry.rel);
        let target = entry.target.as_deref().unwrap_or(Path::new(""));
        let set = entry.kept_xattrs().map(|s| &**s);
        if let Err(e) = store::make_symlink(&dst, target, &entry.meta, set) {
            return fatal_or(e, &dst, "cannot create symlink");
        }
        self.counts.symlinks += 1;
        self.writer.insert_entry(
            self.inp.snapshot.id,
            None,
            &entry.rel,
            Kind::Symlink,
            &entry.meta,
            None,
            Some(target),
            None,
        )?;
        self.action(LogLevel::Debug, "symlink", &entry.rel);
        Ok(Ok(()))
    }
}
