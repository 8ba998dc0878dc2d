//! What a run says about what it leaves out or cannot do: problems, special files, the
//! backup root inside a source, skipped entries, extended attributes and ACLs that are
//! not kept, and hardlinks that are impossible.

use std::path::Path;

use super::Run;
use crate::config::LogLevel;
use crate::progress::Report;
use crate::scan::{Entry, Found};
use crate::units::one_line;

impl Run<'_> {
    /// Counts and reports what the walk found besides entries.
    pub(super) fn note(&mut self, found: Found, progress: &dyn Report) {
        match found {
            Found::Problem(p) => self.fail(&p.path, &p.message, progress),
            Found::Special(path) => {
                self.counts.special += 1;
                let line = format!(
                    "{}: not a file, folder or symlink; skipped",
                    one_line(&path)
                );
                self.log.line(LogLevel::Warning, &line);
                progress.warning(&line.to_string());
            }
            Found::Excluded(path) => {
                let line = format!(
                    "{}: the backup root is inside the source; skipped",
                    one_line(&path)
                );
                self.log.line(LogLevel::Info, &line);
                progress.note(&line.to_string());
            }
            Found::Skipped(skip) => {
                self.counts.skipped += 1;
                let line = format!("{} ({})", one_line(&skip.rel), skip.rule);
                self.log.line(LogLevel::Debug, &format!("skipped {line}"));
                if self.inp.verbose {
                    progress.info(&format!("skip    {line}"));
                }
            }
            Found::Entry(_) => {}
        }
    }

    /// Counts and reports one path deleted from the source while the run read it (for a
    /// remote source: while rsync sent it).
    pub fn vanished(&mut self, path: &Path, progress: &dyn Report) {
        self.counts.vanished += 1;
        let line = format!(
            "{}: deleted during the backup; not in this snapshot",
            one_line(path)
        );
        self.log.line(LogLevel::Warning, &line);
        progress.warning(&line.to_string());
    }

    /// Counts and reports one path that could not be backed up.
    pub fn fail(&mut self, path: &Path, why: &str, progress: &dyn Report) {
        self.counts.failed += 1;
        let (path, why) = (
            one_line(path).to_string(),
            crate::output::without_codes(why),
        );
        let line = format!("{path}: {why}");
        self.failures.push(path, why);
        self.log.line(LogLevel::Error, &format!("failed  {line}"));
        progress.error(&line.to_string());
    }

    /// Counts an entry whose extended attributes or ACLs the snapshot does not keep; the
    /// first one of a run is said on stderr and in the log, each one in the log.
    pub(super) fn not_kept(&mut self, entry: &Entry, progress: &dyn Report) {
        self.counts.not_kept += 1;
        if !self.told_xattrs {
            self.told_xattrs = true;
            let line = if entry.xattr_set.is_some() {
                format!(
                    "{}: the backup filesystem cannot hold ACLs or extended attributes: the catalog records them and `phlb restore` puts them back (this and the other such entries are counted in the summary); modes in the snapshot keep only what an ACL grants",
                    one_line(self.inp.root)
                )
            } else {
                format!(
                    "{}: ACLs and extended attributes are not kept (XATTRS = false; this and the other such entries are counted in the summary); modes keep only what an ACL grants",
                    one_line(&self.inp.source.path.join(&entry.rel))
                )
            };
            self.log.line(LogLevel::Warning, &line);
            progress.warning(&line.to_string());
        }
        self.action(LogLevel::Debug, "no-xattr", &entry.rel);
    }

    pub(super) fn say_no_links(&mut self, progress: &dyn Report) {
        if self.told_no_links {
            return;
        }
        if let Some(e) = &self.linker.unsupported {
            self.told_no_links = true;
            let what = match self.inp.sharing {
                crate::decide::Sharing::Clones => "reflinks",
                crate::decide::Sharing::Links(_) => "hardlinks",
            };
            let line = format!(
                "{}: {what} are not possible here ({e}); copying files instead",
                one_line(self.inp.root)
            );
            self.log.line(LogLevel::Warning, &line);
            progress.warning(&line.to_string());
        }
    }
}
