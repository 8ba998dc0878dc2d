//! Owns what `add` does with the temp files a killed phlb run left in a snapshot.

use std::fs;
use std::path::Path;

use crate::scan::{Entry, Kind};
use crate::store;
use crate::tell::Tell;
use crate::units::one_line;

/// Leaves out the temp files an older phlb's killed run left in a snapshot
/// (`.phlb-tmp-…` that the snapshot's manifest does not list: each entry comes with its
/// manifest digest, for a snapshot with a manifest) and removes them. Without
/// a manifest nothing tells such a file from a user's file of that name, so it is
/// recorded as part of the snapshot like any other. (phlb now makes its temp links in
/// `.phlb/tmp`, never inside a finished snapshot.)
pub(super) fn drop_temp_files(
    dir: &Path,
    entries: &mut Vec<(Entry, Option<String>)>,
    tell: &dyn Tell,
) {
    entries.retain(|(e, listed)| {
        let is_temp = e.kind == Kind::File
            && e.rel.file_name().is_some_and(store::is_temp_name)
            && listed.is_none();
        if !is_temp {
            return true;
        }
        let path = dir.join(&e.rel);
        match fs::remove_file(&path) {
            Ok(()) => tell.note(&format!(
                "{}: removed the temp file of an interrupted run",
                one_line(&path)
            )),
            Err(e) => tell.warning(&format!(
                "{}: temp file of an interrupted run, not recorded; cannot remove it: {e}",
                one_line(&path)
            )),
        }
        false
    });
}
