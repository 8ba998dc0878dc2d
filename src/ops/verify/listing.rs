//! What `verify` compares a snapshot's listing with: the files on disk and the manifest
//! beside it, each against the catalog's entries.

use std::hash::{BuildHasher, RandomState};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{show, Report};
use crate::catalog::entries::Recorded;
use crate::catalog::SnapshotRow;
use crate::hash::hex;
use crate::manifest;
use crate::scan::Kind;
use crate::units::one_line;

/// What the checks of a snapshot's listing need of its entries, kept while the entries
/// stream past: a 64-bit digest of each path and, for a file, of its content hash in
/// hex, keyed at random per run (a name cannot be made to collide on purpose), sorted by
/// path digest once all are in: 24 bytes per entry, where the entries took about 300.
pub(super) struct Known {
    key: RandomState,
    /// (path digest, content hash digest, is a file with a stored copy).
    entries: Vec<(u64, u64, bool)>,
    /// Per entry: its manifest line came.
    seen: Vec<bool>,
}

impl Known {
    pub(super) fn new() -> Known {
        Known {
            key: RandomState::new(),
            entries: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn digest(&self, bytes: &[u8]) -> u64 {
        self.key.hash_one(bytes)
    }

    /// Notes a run of the snapshot's entries.
    pub(super) fn add(&mut self, run: &[Recorded]) {
        for r in run {
            let path = self.digest(&r.path);
            match (r.kind, &r.copy) {
                (Kind::File, Some(copy)) => {
                    let hash = self.digest(hex(&copy.hash).as_bytes());
                    self.entries.push((path, hash, true));
                }
                _ => self.entries.push((path, 0, false)),
            }
        }
    }

    /// Ready for lookups: every entry is in.
    pub(super) fn sorted(mut self) -> Known {
        self.entries.sort_unstable();
        self.seen = vec![false; self.entries.len()];
        self
    }

    /// The index of the entry (a file when `file`) whose path has digest `path`.
    fn find(&self, path: u64, file: bool) -> Option<usize> {
        let from = self.entries.partition_point(|e| e.0 < path);
        (from..self.entries.len())
            .take_while(|&i| self.entries[i].0 == path)
            .find(|&i| !file || self.entries[i].2)
    }

    fn files(&self) -> usize {
        self.entries.iter().filter(|e| e.2).count()
    }
}

/// Reports files on disk that the catalog does not know.
pub(super) fn check_unknown(snap: &SnapshotRow, dir: &Path, known: &Known, report: &mut Report) {
    for entry in walkdir::WalkDir::new(dir).follow_links(false).min_depth(1) {
        let Ok(entry) = entry else {
            continue;
        };
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        if known
            .find(known.digest(rel.as_os_str().as_bytes()), false)
            .is_none()
        {
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
/// its line comes, so its lines are never all in memory; the files it lacks are named
/// from a second pass over the catalog's (`files`).
pub(super) fn check_manifest(
    snap: &SnapshotRow,
    manifest: &Path,
    known: &mut Known,
    files: impl Iterator<Item = anyhow::Result<Vec<Recorded>>>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    let read = manifest::for_each(manifest, |listed_hex, rel| {
        let path = known.digest(rel.as_os_str().as_bytes());
        match known.find(path, true) {
            Some(i) if known.seen[i] => report.problem(
                &show(snap, rel.as_os_str().as_bytes()),
                "listed more than once in the manifest",
            ),
            Some(i) => {
                known.seen[i] = true;
                if known.digest(listed_hex.as_bytes()) != known.entries[i].1 {
                    report.problem(
                        &show(snap, rel.as_os_str().as_bytes()),
                        "manifest hash differs from the catalog",
                    );
                }
            }
            _ => extra.push(rel),
        }
    });
    let files_recorded = known.files();
    match read {
        // No manifest is an empty one: right for a snapshot without regular files.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && files_recorded == 0 => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.problem(
                &one_line(manifest),
                &format!("missing; the catalog has {files_recorded} file(s) for it"),
            );
            return Ok(());
        }
        Err(e) => {
            report.problem(&one_line(manifest), &format!("cannot read manifest: {e}"));
            return Ok(());
        }
        Ok(bad) if bad > 0 => {
            report.problem(&one_line(manifest), &format!("{bad} unreadable line(s)"));
        }
        Ok(_) => {}
    }
    let unseen = |i: &usize| known.entries[*i].2 && !known.seen[*i];
    if (0..known.entries.len()).any(|i| unseen(&i)) {
        for run in files {
            for rec in run? {
                if known
                    .find(known.digest(&rec.path), true)
                    .is_some_and(|i| unseen(&i))
                {
                    report.problem(&show(snap, &rec.path), "not in the manifest");
                }
            }
        }
    }
    for rel in extra {
        report.problem(
            &show(snap, rel.as_os_str().as_bytes()),
            "in the manifest but not in the catalog",
        );
    }
    Ok(())
}
