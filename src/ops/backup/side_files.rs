//! Owns how a finished run's manifest takes its final name: removed when empty, linked to
//! the previous snapshot's manifest when it says the same, else renamed into place.

use std::io;
use std::path::Path;

/// Puts the manifest written at `work` in place at `last`. An empty one goes (an empty
/// manifest is refused by `sha256sum -c`: "no properly formatted checksum lines"). One
/// byte for byte the same as `prev` (the previous snapshot's, when nothing changed)
/// becomes another link of it, so an unchanged snapshot's manifest costs no new blocks;
/// `--keep-versions` rewrites a manifest under a temp name and renames it over its own
/// link, never in place, so the others keep their lines. Where the link cannot be made
/// (the previous one has as many links as the filesystem allows, say), the manifest
/// stays a file of its own.
pub fn finish_manifest(work: &Path, last: &Path, prev: Option<&Path>) -> io::Result<()> {
    if std::fs::symlink_metadata(work).is_ok_and(|m| m.len() == 0) {
        return std::fs::remove_file(work);
    }
    let same = prev.is_some_and(|p| crate::store::same_bytes(work, p).unwrap_or(false));
    if let (true, Some(prev)) = (same, prev) {
        if std::fs::hard_link(prev, last).is_ok() {
            return std::fs::remove_file(work);
        }
    }
    std::fs::rename(work, last)
}
