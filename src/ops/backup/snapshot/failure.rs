//! Owns why one entry could not be backed up, and which destination errors end the run
//! instead (a full, read-only or failing backup disk).

use std::path::Path;

use anyhow::Result;

use crate::store;
use crate::workers::FileError;

/// A file that could not be backed up (the run goes on).
pub(super) enum Failure {
    /// Reading the source failed (gone, swapped, changing, unreadable).
    Source(FileError),
    /// Making it in the snapshot failed.
    Dest(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Source(e) => write!(f, "{e}"),
            Failure::Dest(why) => f.write_str(why),
        }
    }
}

/// How backing up one entry went: the outer error stops the whole run (the backup disk
/// or the catalog failed: nothing after it can succeed), the inner `Failure` is this
/// entry's own (it is counted and named, and the run goes on).
pub(super) type EntryResult<T> = Result<Result<T, Failure>>;

/// Turns a destination error into a per-file failure, or a fatal error when the backup
/// disk itself is the problem.
pub(super) fn fatal_or<T>(e: std::io::Error, path: &Path, what: &str) -> EntryResult<T> {
    if store::is_fatal(&e) {
        Err(anyhow::Error::new(e).context(format!("{}: {what}", path.display())))
    } else {
        Ok(Err(Failure::Dest(format!("{what}: {e}"))))
    }
}
