//! Owns which worker may write a new stored copy itself: content no earlier run stored
//! and no other file of this run has shown.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::catalog;
use crate::catalog::copies::content_known;
use crate::catalog::writer::Committed;
use crate::workers::Claim;

/// The contents this run's files have shown, as 8-byte digest prefixes (a clash only
/// sends a file to the main thread), kept until the catalog has them: a prefix is dropped
/// at the second commit of the writer after it was noted. By then the copy a worker
/// made of it is normally committed, and the catalog check stops a second claim. (If the
/// main thread lags by more than a commit interval, a second copy may be written; the
/// main thread then replaces it by a link to the first, which it remembers or finds in
/// the catalog: `Linker::relink_copy`.) So memory stays flat on a huge first backup.
#[derive(Default)]
struct Seen {
    now: HashSet<u64>,
    older: HashSet<u64>,
    /// The committed row count at the last rotation.
    at: u64,
}

impl Seen {
    /// Notes `hash`; true when no file of this run has shown it (as far as kept).
    fn first(&mut self, hash: &[u8], committed: u64) -> bool {
        // Forward only: another worker may pass a count it read a moment earlier.
        if committed > self.at {
            self.older = std::mem::take(&mut self.now);
            self.at = committed;
        }
        let mut prefix = [0u8; 8];
        let n = hash.len().min(8);
        prefix[..n].copy_from_slice(&hash[..n]);
        let prefix = u64::from_le_bytes(prefix);
        !self.older.contains(&prefix) && self.now.insert(prefix)
    }
}

/// The workers' claim checks: a worker writes a new stored copy itself when its content
/// is in no earlier run (the catalog says) and no other file of this run has shown it
/// (`Seen`). Content that fails either test goes to the main thread, which links what it
/// can; a catalog that cannot be opened here only means the main thread does every copy.
pub(super) fn claims(
    catalog_path: &Path,
    committed: Committed,
) -> Arc<dyn Fn() -> Claim + Send + Sync> {
    let path = catalog_path.to_path_buf();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    Arc::new(move || {
        let seen = Arc::clone(&seen);
        let committed = committed.clone();
        let db = catalog::open_reader(&path).ok();
        Box::new(move |hash: &[u8]| {
            // The count is read before the catalog is asked: the answer then includes
            // every row counted.
            let rows = committed.rows();
            let first = seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first(hash, rows);
            let claimed = first
                && db
                    .as_ref()
                    .is_some_and(|c| matches!(content_known(c, hash), Ok(false)));
            claimed.then_some(rows)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn seen_keeps_a_content_for_one_to_two_commits() {
        let mut seen = Seen::default();
        assert!(seen.first(b"a-content", 0));
        assert!(
            !seen.first(b"a-content", 0),
            "shown twice before any commit"
        );
        assert!(!seen.first(b"a-content", 7), "still kept after one commit");
        assert!(seen.first(b"b-content", 7));
        assert!(seen.first(b"a-content", 9), "dropped at the second commit");
        assert!(!seen.first(b"b-content", 9), "noted after the first, kept");
        assert!(seen.first(b"b-content", 11));
        assert!(
            !seen.first(b"b-content", 9),
            "an older count does not rotate"
        );
    }
}
