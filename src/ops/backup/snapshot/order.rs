//! Owns the order of a snapshot's work: which files the workers read, hash, write or
//! link ahead of the main thread (`schedule`), and the main thread taking each entry's
//! result in walk order (`process`).

use super::*;

impl Run<'_> {
    /// Starts what can start as soon as the walk finds an entry: a folder that could not
    /// be made is noted (or ends the run), a file's link or read is handed to the workers.
    /// For a file it returns what was scheduled, which travels with the entry to
    /// `process`, so the result taken from the workers is always the one asked for.
    pub(super) fn schedule(
        &mut self,
        e: &Entry,
        prev: Option<&Basis>,
        made: Option<std::io::Error>,
        reader: &mut Reader,
    ) -> Result<Option<FirstStep>> {
        match e.kind {
            Kind::Dir => {
                if let Some(err) = made {
                    let dst = self.dst(&e.rel);
                    if let Err(failed) = fatal_or::<()>(err, &dst, "cannot create folder")? {
                        self.dir_errors.insert(e.rel.clone(), failed.to_string());
                    }
                }
            }
            Kind::File => {
                let step = match (
                    first_step(self.inp.sharing, e.meta, e.seen(), prev.map(|b| &*b.entry)),
                    prev,
                ) {
                    (FirstStep::Read, _) => {
                        reader.push(Job::Read {
                            src: SourceFile::walked(&self.inp.source, e),
                            dst: Some(self.dst(&e.rel)),
                            size: Some(e.meta.size),
                            leftover: self.leftover_of(&e.rel),
                        });
                        FirstStep::Read
                    }
                    (FirstStep::LinkPrevious, Some(p))
                        if self.inp.sharing == crate::decide::Sharing::Clones =>
                    {
                        // The earlier run's file at the same path: the stored copy's
                        // inode, or a clone of it with the path's own recorded mtime.
                        reader.push(Job::Clone {
                            src: p.dir.join(&e.rel),
                            dst: self.dst(&e.rel),
                            expect: store::Expect {
                                size: p.size,
                                mtime_ns: p.mtime_ns,
                                copy: Some((p.copy_ino, p.copy)),
                            },
                            meta: e.meta,
                            set: e.kept_xattrs().cloned(),
                        });
                        FirstStep::LinkPrevious
                    }
                    (FirstStep::LinkPrevious, Some(p)) => {
                        reader.push(Job::Link {
                            src: p.dir.join(&e.rel),
                            dst: self.dst(&e.rel),
                            ino: p.copy_ino,
                            size: p.size,
                            copy: p.copy,
                            max_links: self.inp.config.max_links,
                        });
                        FirstStep::LinkPrevious
                    }
                    // Nothing for the workers: the content is known, found on this thread.
                    _ => FirstStep::KnownContent,
                };
                return Ok(Some(step));
            }
            _ => {}
        }
        Ok(None)
    }

    /// Backs up one entry whose work was scheduled; a failed file gets a second chance.
    /// `prev` is what an earlier run recorded for a file's path (see `Bases::of`).
    pub(super) fn process(
        &mut self,
        entry: &Entry,
        prev: Option<&Basis>,
        step: Option<FirstStep>,
        reader: &mut Reader,
        progress: &dyn Report,
    ) -> Result<()> {
        let result = match (entry.kind, step) {
            (Kind::Dir, _) => self.dir(entry),
            (Kind::Symlink, _) => self.symlink(entry),
            (Kind::File, step) => {
                let step = step.unwrap_or(FirstStep::KnownContent);
                self.file(entry, prev, step, reader, progress)
            }
        }?;
        if let Err(failed) = result {
            let result = match entry.kind {
                Kind::File => self.file_again(entry, prev, failed, progress)?,
                _ => Err(failed),
            };
            if let Err(failed) = result {
                let why = failed.to_string();
                self.fail(&self.inp.source.path.join(&entry.rel), &why, progress);
            }
        }
        match entry.kind {
            Kind::File => progress.advance(entry.meta.size),
            _ => progress.advance_other(),
        }
        Ok(())
    }
}
