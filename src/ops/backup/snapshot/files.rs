//! How one regular file gets into the snapshot: the link-or-copy decision, the new
//! stored copy, the catalog row and manifest line, and the second chance after a failure.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::{fatal_or, Basis, EntryResult, Failure, How, Run, Stored};
use crate::config::LogLevel;
use crate::decide::{CopyMeta, FirstStep};
use crate::hash::hex_into;
use crate::manifest;
use crate::ops::backup::links::{Linked, Want};
use crate::progress::Report;
use crate::scan::{Entry, Kind, Meta};
use crate::store;
use crate::units::one_line;
use crate::workers::{
    link_leftover, read_and_hash, write_new_copy, CopyError, Done, FileError, Leftover,
    Linked as LinkDone, ReadFile, Reader, SourceFile, Wrote,
};

impl Run<'_> {
    /// Second chance for a file whose first attempt failed, decided by what is there now:
    /// gone (deleted during the run: a warning, not a failure), a symlink (swapped in:
    /// stored as a symlink, never read through), or a file (read once more, with fresh
    /// metadata, which settles files that were being written).
    pub(super) fn file_again(
        &mut self,
        entry: &Entry,
        prev: Option<&Basis>,
        first: Failure,
        progress: &dyn Report,
    ) -> EntryResult<()> {
        let src = self.inp.source.path.join(&entry.rel);
        let first_why = first.to_string();
        // Looked up and read beneath the open source folder: nothing swapped in for a
        // folder on the way is followed.
        let looked = match first {
            // The open said so already: no need to look again.
            Failure::Source(FileError::Gone) => Err(std::io::ErrorKind::NotFound.into()),
            _ => self.inp.source.look(&entry.rel),
        };
        let (st, target) = match looked {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.counts.vanished += 1;
                let line = format!(
                    "{}: deleted during the backup; not in this snapshot",
                    one_line(&src)
                );
                self.log.line(LogLevel::Warning, &line);
                progress.warning(&line.to_string());
                return Ok(Ok(()));
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
                let then = "a folder on its path was replaced during the backup";
                return Ok(Err(Failure::Dest(format!("{first_why}; then: {then}"))));
            }
            Err(e) => return Ok(Err(Failure::Dest(format!("{first_why}; then: {e}")))),
            Ok(found) => found,
        };
        if let Some(target) = target {
            let swapped = Entry {
                kind: Kind::Symlink,
                meta: Meta::from_stat(&st),
                target: Some(target),
                ..entry.clone()
            };
            return self.symlink(&swapped);
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(Err(Failure::Dest(first_why)));
        }
        let again = SourceFile::Beneath {
            root: Arc::clone(&self.inp.source),
            rel: entry.rel.clone(),
            dev: st.st_dev,
            ino: st.st_ino,
            xattrs: entry.xattrs,
            xattr_id: entry.meta.xattrs,
            xattr_set: entry.kept_xattrs().cloned(),
        };
        let read = read_and_hash(&again, self.inp.config.hash);
        let dst = self.dst(&entry.rel);
        let leftover = self.leftover_of(&entry.rel);
        let stored = match self.store_read(read, &dst, leftover)? {
            Ok(stored) => stored,
            Err(failed) => return Ok(Err(failed)),
        };
        self.record_file(entry, prev, stored, progress)?;
        Ok(Ok(()))
    }

    pub(super) fn file(
        &mut self,
        entry: &Entry,
        prev: Option<&Basis>,
        step: FirstStep,
        reader: &mut Reader,
        progress: &dyn Report,
    ) -> EntryResult<()> {
        let stored = match self.store_file(entry, prev, step, reader)? {
            Ok(s) => s,
            Err(f) => return Ok(Err(f)),
        };
        self.record_file(entry, prev, stored, progress)?;
        Ok(Ok(()))
    }

    /// Counts, records and logs a regular file once it is in the snapshot.
    fn record_file(
        &mut self,
        entry: &Entry,
        prev: Option<&Basis>,
        stored: Stored,
        progress: &dyn Report,
    ) -> Result<()> {
        self.say_no_links(progress);
        let Stored {
            how,
            copy_id,
            hash,
            meta,
            stored_mtime,
        } = stored;
        // The log tells an unchanged file (linked without reading) from one whose content
        // was found stored under another path or run.
        let what = match how {
            How::Unchanged => "same",
            How::Resumed => "resumed",
            How::Linked => "linked",
            How::Copied => "copied",
        };
        if how == How::Copied {
            self.counts.copied += 1;
            self.counts.new_bytes += meta.size;
            // Same content as the path's stored copy, other attributes (a changed
            // attribute, or a copy made before attributes were kept).
            self.counts.attrs_anew +=
                u64::from(prev.as_ref().is_some_and(|p| {
                    Some(&p.hash) == hash.as_ref() && p.copy.xattrs != meta.xattrs
                }));
        } else {
            self.counts.linked += 1;
            self.counts.unchanged += u64::from(how == How::Unchanged);
            if how == How::Resumed {
                self.counts.resumed += 1;
                self.counts.resumed_bytes += meta.size;
            }
        }
        self.counts.files += 1;
        self.counts.bytes += meta.size;
        let path_id = prev.map(|p| p.path_id);
        let ticket = self.writer.insert_entry(
            self.inp.snapshot.id,
            path_id,
            &entry.rel,
            Kind::File,
            &meta,
            Some(copy_id),
            None,
            Some(entry.seen()),
        )?;
        if entry.nlink > 1 {
            // Only files that share their inode in the source pay for this.
            let next = self.link_groups.len() as i64 + 1;
            let group = *self
                .link_groups
                .entry((entry.dev, entry.ino))
                .or_insert(next);
            let snapshot_id = self.inp.snapshot.id;
            self.writer
                .insert_source_link(snapshot_id, path_id, &entry.rel, group)?;
        }
        if let (Some(h), Some(stored_mtime)) = (&hash, stored_mtime) {
            // A new copy row (written, or an interrupted run's file taken over): a later
            // file of this run with this content links to it, from memory until its
            // rows are committed, from the catalog after.
            let dst = self.dst(&entry.rel);
            let on_disk = CopyMeta {
                mtime_ns: stored_mtime,
                ..meta.into()
            };
            let nlink = if how == How::Copied { 1 } else { 2 };
            self.linker
                .remember(h, meta.size, on_disk, copy_id, &dst, nlink, ticket.0);
        }
        if crate::signals::stopped() {
            // Stopping: what is finished in the grace period must be in the catalog.
            self.writer.commit_now()?;
        } else if how == How::Copied {
            self.writer.stored(meta.size)?;
        }
        let hash = match (&hash, prev) {
            (Some(h), _) => &h[..],
            (None, Some(p)) => &p.entry.hash[..],
            (None, None) => &[][..],
        };
        self.hex_buf.clear();
        hex_into(&mut self.hex_buf, hash);
        self.line_buf.clear();
        manifest::line_into(&mut self.line_buf, &self.hex_buf, &entry.rel);
        let manifest = &self.inp.paths.work_manifest;
        self.manifest
            .write_all(&self.line_buf)
            .with_context(|| format!("{}: cannot write manifest", manifest.display()))?;
        // An unchanged file is a debug line: a run in which nothing changed keeps a log
        // of a few lines, not one per file.
        let level = if how == How::Unchanged {
            LogLevel::Debug
        } else {
            LogLevel::Info
        };
        self.action(level, what, &entry.rel);
        if self.inp.verbose {
            progress.info(&format!("{what:<7} {}", one_line(&entry.rel)));
        }
        Ok(())
    }

    /// Decides and carries out how one regular file is stored.
    /// `step` is what `schedule` handed the workers for this file: their result for it
    /// is the next one the reader gives.
    fn store_file(
        &mut self,
        entry: &Entry,
        prev: Option<&Basis>,
        step: FirstStep,
        reader: &mut Reader,
    ) -> EntryResult<Stored> {
        let known = match (step, prev) {
            (FirstStep::LinkPrevious, Some(p)) => {
                match reader.next_done() {
                    Done::Link(LinkDone::Yes) => {
                        return Ok(Ok(Stored {
                            how: if p.resumed {
                                How::Resumed
                            } else {
                                How::Unchanged
                            },
                            copy_id: p.copy_id,
                            hash: None,
                            meta: entry.meta,
                            stored_mtime: None,
                        }))
                    }
                    Done::Link(LinkDone::Unsupported(e)) => self.linker.unsupported = Some(e),
                    Done::Link(LinkDone::Failed(e)) if store::is_fatal(&e) => {
                        let dst = self.dst(&entry.rel);
                        return Err(anyhow::Error::new(e)
                            .context(format!("{}: cannot create link", dst.display())));
                    }
                    _ => {}
                }
                Some(p.hash.clone())
            }
            (FirstStep::KnownContent, Some(p)) => Some(p.hash.clone()),
            // Nothing was scheduled and nothing is known: read it here, below.
            (FirstStep::KnownContent | FirstStep::LinkPrevious, None) => None,
            (FirstStep::Read, _) => {
                let dst = self.dst(&entry.rel);
                return match reader.next_done() {
                    Done::Read(read) => {
                        let leftover = self.leftover_of(&entry.rel);
                        self.store_read(read, &dst, leftover)
                    }
                    Done::Wrote(Ok(wrote)) => self.adopt(wrote, &dst),
                    Done::Wrote(Err(CopyError::Source(why))) => Ok(Err(Failure::Source(why))),
                    Done::Wrote(Err(CopyError::Write(e))) => fatal_or(e, &dst, "cannot write copy"),
                    Done::Link(_) => Ok(Err(Failure::Source(FileError::Internal(
                        "job order mismatch",
                    )))),
                };
            }
        };
        let dst = self.dst(&entry.rel);
        if let Some(hash) = known {
            let db = &self.reads;
            let want = Want {
                meta: entry.meta,
                set: entry.kept_xattrs().map(|s| &**s),
            };
            if let Linked::Yes(copy_id) = self.linker.link_content(db, &hash, want, &dst)? {
                return Ok(Ok(Stored {
                    how: How::Linked,
                    copy_id,
                    hash: Some(hash),
                    meta: entry.meta,
                    stored_mtime: None,
                }));
            }
        }
        let src = SourceFile::walked(&self.inp.source, entry);
        let read = read_and_hash(&src, self.inp.config.hash);
        let leftover = self.leftover_of(&entry.rel);
        self.store_read(read, &dst, leftover)
    }

    /// Links a file that was read and hashed to a stored copy, else to the `leftover` an
    /// interrupted run left at its path when that has its bytes, else writes a new copy.
    fn store_read(
        &mut self,
        read: Result<ReadFile, FileError>,
        dst: &Path,
        leftover: Option<Leftover>,
    ) -> EntryResult<Stored> {
        let read = match read {
            Ok(r) => r,
            Err(why) => return Ok(Err(Failure::Source(why))),
        };
        let (meta, hash) = (read.meta, read.hash.clone());
        let db = &self.reads;
        let want = Want {
            meta,
            set: read.xattr_set.as_deref(),
        };
        if let Linked::Yes(copy_id) = self.linker.link_content(db, &hash, want, dst)? {
            return Ok(Ok(Stored {
                how: How::Linked,
                copy_id,
                hash: Some(hash),
                meta,
                stored_mtime: None,
            }));
        }
        let algo = self.inp.config.hash;
        let resumed = leftover.and_then(|l| link_leftover(&l, &read, dst, algo));
        if let Some((ino, stored_mtime)) = resumed {
            return self.stored_new(How::Resumed, meta, hash, ino, stored_mtime);
        }
        let (ino, stored_mtime) = match write_new_copy(read, dst, algo) {
            Ok(written) => written,
            Err(CopyError::Source(why)) => return Ok(Err(Failure::Source(why))),
            Err(CopyError::Write(e)) => return fatal_or(e, dst, "cannot write copy"),
        };
        self.stored_new(How::Copied, meta, hash, ino, stored_mtime)
    }

    /// Takes on a new stored copy a worker wrote. Another file of this run may have
    /// stored the same content meanwhile (the worker could not know): then the copy is
    /// replaced by a link to that one, so each content is stored once.
    fn adopt(&mut self, wrote: Wrote, dst: &Path) -> EntryResult<Stored> {
        let db = &self.reads;
        let want = Want {
            meta: wrote.meta,
            set: wrote.xattr_set.as_deref(),
        };
        if let Linked::Yes(copy_id) =
            self.linker
                .relink_copy(db, &wrote.hash, want, dst, wrote.claimed_at)?
        {
            return Ok(Ok(Stored {
                how: How::Linked,
                copy_id,
                hash: Some(wrote.hash),
                meta: wrote.meta,
                stored_mtime: None,
            }));
        }
        let how = if wrote.resumed {
            How::Resumed
        } else {
            How::Copied
        };
        self.stored_new(how, wrote.meta, wrote.hash, wrote.ino, wrote.stored_mtime)
    }

    /// Records a new stored copy in the catalog (`record_file` remembers it for later
    /// duplicates once its entry row has a ticket): one written (`Copied`), or a file an
    /// interrupted run left (`Resumed`).
    fn stored_new(
        &mut self,
        how: How,
        meta: Meta,
        hash: Vec<u8>,
        ino: u64,
        stored_mtime: i128,
    ) -> EntryResult<Stored> {
        let on_disk = CopyMeta {
            mtime_ns: stored_mtime,
            ..meta.into()
        };
        let copy_id = self.writer.insert_copy(&hash, meta.size, ino, on_disk)?;
        Ok(Ok(Stored {
            how,
            copy_id,
            hash: Some(hash),
            meta,
            stored_mtime: Some(stored_mtime),
        }))
    }
}
