//! Owns what `add` does with the temp files a killed phlb run left in a snapshot.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::scan::{Entry, Kind};
use crate::store;
use crate::units::one_line;

/// Leaves out the temp files a killed phlb run left in a snapshot (`.phlb-tmp-…`, never
/// a name a snapshot's manifest lists) and removes them; without a manifest to tell, such
/// a file is left on disk untouched and unrecorded, with a warning.
pub(super) fn drop_temp_files(
    dir: &Path,
    entries: &mut Vec<Entry>,
    listed: Option<&HashMap<PathBuf, String>>,
) {
    entries.retain(|e| {
        let is_temp = e.kind == Kind::File
            && e.rel.file_name().is_some_and(store::is_temp_name)
            && listed.is_none_or(|m| !m.contains_key(&e.rel));
        if !is_temp {
            return true;
        }
        let path = dir.join(&e.rel);
        match listed {
            Some(_) => match fs::remove_file(&path) {
                Ok(()) => eprintln!(
                    "phlb: note: {}: removed the temp file of an interrupted run",
                    one_line(&path)
                ),
                Err(e) => eprintln!(
                    "phlb: warning: {}: temp file of an interrupted run, not recorded; cannot remove it: {e}",
                    one_line(&path)
                ),
            },
            None => eprintln!(
                "phlb: warning: {}: looks like the temp file of an interrupted run; not recorded (remove it if it is one)",
                one_line(&path)
            ),
        }
        false
    });
}
