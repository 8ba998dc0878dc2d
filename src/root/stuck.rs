//! Owns removals that cannot finish (a file with the immutable or append-only flag, a
//! read-only mount): they never stop a run. Each writer that meets one says so once,
//! with the path and the fix, and goes on with the rest; `status` lists what is left.

use std::path::{Path, PathBuf};

use super::{META_DIR, TRASH_DIR};
use crate::units::one_line;

/// What could not be deleted.
#[derive(Debug, Clone)]
pub struct Stuck {
    /// The folder in the trash, or the trimmed file in its snapshot.
    pub path: PathBuf,
    pub why: String,
    /// A trimmed old version (`--keep-versions`), not a removed snapshot.
    pub trim: bool,
}

impl Stuck {
    /// The warning a run prints (once per run for each).
    pub fn line(&self) -> String {
        let what = if self.trim {
            "an old version that --keep-versions trimmed"
        } else {
            "what is left of a removed snapshot"
        };
        format!(
            "{}: cannot delete {what} ({}); if a file in it is immutable or \
             append-only (`lsattr -R` shows `i` or `a`), run `chattr -R -ia {}` and the next \
             phlb run deletes it; backups go on meanwhile",
            one_line(&self.path),
            crate::output::without_codes(&self.why),
            quoted(&self.path)
        )
    }
}

/// `path` in single quotes for a shell, on one line.
fn quoted(path: &Path) -> String {
    format!("'{}'", one_line(path).replace('\'', "'\\''"))
}

/// The leftovers of removals in `<root>/.phlb/trash` (intent markers aside): what a
/// writer could not delete, or is deleting now.
pub fn in_trash(root: &Path) -> Vec<PathBuf> {
    let trash = root.join(META_DIR).join(TRASH_DIR);
    let mut out = Vec::new();
    let Ok(bins) = std::fs::read_dir(&trash) else {
        return out;
    };
    for bin in bins.flatten() {
        let Ok(items) = std::fs::read_dir(bin.path()) else {
            continue;
        };
        for item in items.flatten() {
            if !item.file_name().as_encoded_bytes().ends_with(b".removing") {
                out.push(item.path());
            }
        }
    }
    out.sort();
    out
}
