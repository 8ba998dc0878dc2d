//! What a restore counts and says: one line per problem as it happens, a verbose line
//! per action, and the summary at the end (plain or JSON).

use std::time::Duration;

use serde_json::json;

use super::copy::Done;
use std::path::Path;

use super::copy::os;
use crate::progress::Progress;
use crate::tell::Tell;
use crate::units::{human_bytes, human_duration};

/// Counts of a restore (or, in a dry run, of what it would do).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub files: u64,
    pub bytes: u64,
    pub folders: u64,
    pub symlinks: u64,
    /// Files restored as hardlinks of another restored file (they shared an inode in
    /// the source).
    pub hardlinks: u64,
    /// Already in the target as recorded: left untouched.
    pub unchanged: u64,
    /// Something else at the name, no `--force`: left untouched.
    pub refused: u64,
    /// Bytes not the recorded ones: left as `<name>.phlb-damaged`.
    pub damaged: u64,
    pub failed: u64,
    /// Files of what was asked that `prune --keep-versions` had removed from the
    /// snapshot (not restored: they are not in it).
    pub trimmed: u64,
    /// Paths some of whose recorded extended attributes the target would not take
    /// (restored otherwise).
    pub attrs_dropped: u64,
}

impl Tally {
    /// True when something was not restored as asked (exit 1).
    pub fn problems(&self) -> bool {
        self.refused + self.damaged + self.failed > 0
    }
}

/// What an entry is, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    File(u64),
    HardLink,
    Folder,
    Symlink,
}

/// Where the counts and lines of a running restore go.
pub struct Ledger<'a> {
    pub progress: &'a Progress,
    /// The target folder as the user named it.
    pub to: &'a Path,
    pub verbose: bool,
    pub tally: Tally,
}

impl Ledger<'_> {
    /// Counts and tells how the entry at `rel` went.
    pub fn done(&mut self, rel: &[u8], what: What, done: Done) {
        let t = &mut self.tally;
        let bytes = match what {
            What::File(n) => n,
            _ => 0,
        };
        let (word, problem) = match done {
            Done::Restored => {
                match what {
                    What::File(n) => {
                        t.files += 1;
                        t.bytes += n;
                    }
                    What::HardLink => t.hardlinks += 1,
                    What::Folder => t.folders += 1,
                    What::Symlink => t.symlinks += 1,
                }
                ("restored", None)
            }
            Done::Unchanged => {
                t.unchanged += 1;
                ("unchanged", None)
            }
            Done::Refused(why) => {
                t.refused += 1;
                ("refused", Some(why))
            }
            Done::Damaged(why) => {
                t.damaged += 1;
                ("damaged", Some(why))
            }
            Done::Failed(why) => {
                t.failed += 1;
                ("failed", Some(why))
            }
        };
        let shown = crate::units::one_line(&self.to.join(os(rel)));
        match problem {
            Some(why) => self.progress.error(&format!("{shown}: {why}")),
            None if self.verbose => self.progress.info(&format!("{word:<9} {shown}")),
            None => {}
        }
        self.progress.advance(bytes);
    }
}

/// The summary: one line for people, or a JSON object.
pub fn summary(
    label: &str,
    to: &str,
    t: &Tally,
    trimmed_at: &[String],
    took: Duration,
    dry_run: bool,
    as_json: bool,
) -> String {
    if as_json {
        let v = json!({
            "snapshot": label,
            "to": to,
            "dry_run": dry_run,
            "files": t.files,
            "bytes": t.bytes,
            "folders": t.folders,
            "symlinks": t.symlinks,
            "hardlinks": t.hardlinks,
            "unchanged": t.unchanged,
            "refused": t.refused,
            "damaged": t.damaged,
            "failed": t.failed,
            "trimmed": {"files": t.trimmed, "at": trimmed_at},
            "attributes_not_restored": t.attrs_dropped,
            "seconds": took.as_secs_f64(),
        });
        return format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    let verb = if dry_run { "would restore" } else { "restored" };
    let mut line = format!(
        "{verb} {label} to {to}: {} files ({}), {} folders, {} symlinks, {} hardlinks in {}; \
         skipped {} unchanged",
        t.files,
        human_bytes(t.bytes),
        t.folders,
        t.symlinks,
        t.hardlinks,
        human_duration(took),
        t.unchanged,
    );
    if t.refused > 0 {
        line.push_str(&format!(
            "; refused {} (exist; --force replaces them)",
            t.refused
        ));
    }
    if t.damaged > 0 {
        line.push_str(&format!(
            "; {} damaged in the backup (left as *.phlb-damaged)",
            t.damaged
        ));
    }
    if t.attrs_dropped > 0 {
        line.push_str(&format!(
            "; extended attributes of {} not put back (the target would not take them)",
            t.attrs_dropped
        ));
    }
    line.push_str(&format!("; failed {}", t.failed));
    if t.trimmed > 0 {
        let when = match trimmed_at {
            [one] => format!("at {one}"),
            [first, .., last] => format!("between {first} and {last}"),
            [] => String::new(),
        };
        line.push_str(&format!(
            "; {} file{} not restored: removed from the snapshot by `prune --keep-versions` {when} \
             (`phlb history PATH` lists the versions kept)",
            t.trimmed,
            if t.trimmed == 1 { "" } else { "s" }
        ));
    }
    line.push('\n');
    line
}
