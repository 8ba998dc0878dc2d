//! What `verify` compares a snapshot's listing with: the files on disk and the manifest
//! beside it, each against the catalog's entries.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{show, Report};
use crate::catalog::entries::Recorded;
use crate::catalog::SnapshotRow;
use crate::hash::hex;
use crate::manifest;
use crate::scan::Kind;
use crate::units::one_line;

/// Reports files on disk that the catalog does not know.
pub(super) fn check_unknown(
    snap: &SnapshotRow,
    dir: &Path,
    recorded: &[Recorded],
    report: &mut Report,
) {
    let known: HashSet<&[u8]> = recorded.iter().map(|r| r.path.as_slice()).collect();
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        let Ok(entry) = entry else {
            continue;
        };
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        if !known.contains(rel.as_os_str().as_bytes()) {
            report.problem(
                &show(snap, rel.as_os_str().as_bytes()),
                "on disk but not in the catalog",
            );
        }
    }
}

/// Checks that the manifest lists exactly the catalog's files with the catalog's hashes
/// (a snapshot without regular files has none, which counts as empty).
/// The manifest is read line by line against the catalog's files, each ticked off when
/// its line comes, so its lines are never all in memory.
pub(super) fn check_manifest(
    snap: &SnapshotRow,
    manifest: &Path,
    recorded: &[Recorded],
    report: &mut Report,
) {
    let mut files: HashMap<&[u8], (&[u8], bool)> = recorded
        .iter()
        .filter(|r| r.kind == Kind::File)
        .filter_map(|r| Some((r.path.as_slice(), (r.copy.as_ref()?.hash.as_slice(), false))))
        .collect();
    let mut extra = Vec::new();
    let read = manifest::for_each(manifest, |listed_hex, rel| {
        match files.get_mut(rel.as_os_str().as_bytes()) {
            Some((_, true)) | None => extra.push(rel),
            Some((hash, seen)) => {
                *seen = true;
                if listed_hex != hex(hash) {
                    report.problem(
                        &show(snap, rel.as_os_str().as_bytes()),
                        "manifest hash differs from the catalog",
                    );
                }
            }
        }
    });
    let files_recorded = recorded.iter().filter(|r| r.kind == Kind::File).count();
    match read {
        // No manifest is an empty one: right for a snapshot without regular files.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && files_recorded == 0 => return,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.problem(
                &one_line(manifest),
                &format!("missing; the catalog has {files_recorded} file(s) for it"),
            );
            return;
        }
        Err(e) => {
            report.problem(&one_line(manifest), &format!("cannot read manifest: {e}"));
            return;
        }
        Ok(bad) if bad > 0 => {
            report.problem(&one_line(manifest), &format!("{bad} unreadable line(s)"));
        }
        Ok(_) => {}
    }
    for rec in recorded.iter().filter(|r| r.kind == Kind::File) {
        if files
            .get(rec.path.as_slice())
            .is_some_and(|(_, seen)| !seen)
        {
            report.problem(&show(snap, &rec.path), "not in the manifest");
        }
    }
    for rel in extra {
        report.problem(
            &show(snap, rel.as_os_str().as_bytes()),
            "in the manifest but not in the catalog",
        );
    }
}
