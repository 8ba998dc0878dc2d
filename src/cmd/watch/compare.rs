//! Owns the cheap comparison of a source with its newest snapshot: the backup's fast
//! path (names, kinds, sizes, mtimes, modes and owners; no file is read), used at start
//! and when polling, so a watch makes a snapshot only when a backup would record
//! something new.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::catalog::entries::{snapshot_entries, Recorded};
use crate::catalog::Db;
use crate::config::Config;
use crate::decide::looks_unchanged;
use crate::ops::backup::{fast_path_base, scan_options, Base, Source};
use crate::scan::{self, Entry, Found, Kind, SourceDir};

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The source looks as its newest snapshot recorded it.
    Same,
    /// It differs; the first difference found, for `--verbose`.
    Differs(String),
}

/// Compares `source` with the snapshot its next backup would take unchanged files from.
/// Paths that cannot be read, and what the skip rules leave out, are no difference (a
/// backup would not record them either).
pub fn compare(db: &Db, root: &Path, config: &Config, source: &Source) -> Result<Verdict> {
    let row = match fast_path_base(db, root, source, config.hash)? {
        Base::Usable(row) => row,
        Base::Gone(row) => {
            return Ok(Verdict::Differs(format!(
                "its newest snapshot {} is gone from disk",
                row.label()
            )))
        }
        Base::None => {
            return Ok(Verdict::Differs(
                "no snapshot of this source to compare with".to_string(),
            ))
        }
    };
    let mut recorded: HashMap<Vec<u8>, Recorded> = snapshot_entries(db, row.id)?
        .into_iter()
        .map(|r| (r.path.clone(), r))
        .collect();
    let dir = SourceDir::open_canonical(&source.path)
        .with_context(|| format!("{}: cannot watch", source.path.display()))?;
    let mut verdict = Verdict::Same;
    scan::walk(&dir, &scan_options(config, root)?, |found| {
        let Found::Entry(e) = found else {
            return true;
        };
        let key = e.rel.as_os_str().as_bytes();
        let why = match recorded.remove(key) {
            None => Some("is new"),
            Some(r) => difference(&e, &r),
        };
        match why {
            Some(why) => {
                verdict = Verdict::Differs(format!("{} {why}", e.rel.display()));
                false
            }
            None => true,
        }
    });
    if verdict == Verdict::Same {
        if let Some(gone) = recorded.keys().next() {
            let gone = Path::new(std::ffi::OsStr::from_bytes(gone)).display();
            verdict = Verdict::Differs(format!("{gone} is gone"));
        }
    }
    Ok(verdict)
}

/// How one entry of the source differs from what the snapshot recorded for its path, if
/// it does. A folder's mtime alone is no difference: it moves whenever a name in it is
/// made or removed, also by skipped files, and the names themselves are compared.
fn difference(e: &Entry, r: &Recorded) -> Option<&'static str> {
    if e.kind != r.kind {
        return Some("changed its kind");
    }
    let (m, rm) = (e.meta, r.meta);
    if (m.mode, m.uid, m.gid) != (rm.mode, rm.uid, rm.gid) {
        return Some("changed its mode or owner");
    }
    match e.kind {
        Kind::File if !looks_unchanged(m, rm.size, rm.mtime_ns) => Some("changed"),
        Kind::Symlink
            if e.target.as_ref().map(|t| t.as_os_str().as_bytes()) != r.target.as_deref() =>
        {
            Some("points elsewhere")
        }
        _ => None,
    }
}
