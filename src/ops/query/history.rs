//! The versions of one path across snapshots, and how a path the user gives maps to
//! paths inside snapshots.

use crate::catalog::queries::Sighting;
use crate::catalog::{Db, SnapshotRow};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A run of consecutive snapshots holding the same version of a path.
pub struct Version {
    /// The first and last snapshot (`NAME/TIMESTAMP`) holding it.
    pub first: String,
    pub last: String,
    /// How many snapshots hold it.
    pub count: i64,
    /// The version as the first of them holds it.
    pub seen: Sighting,
}

/// Groups sightings (oldest first) into versions: a new version starts where the
/// content, kind, mtime, mode, symlink target or extended attributes change, where prune trimmed it, or
/// where the snapshot name changes (nested sources).
pub fn versions(sightings: Vec<Sighting>) -> Vec<Version> {
    let mut versions: Vec<Version> = Vec::new();
    for s in sightings {
        match versions.last_mut() {
            Some(v)
                if v.seen.hash == s.hash
                    && v.seen.snapshot.name == s.snapshot.name
                    && v.seen.kind == s.kind
                    && v.seen.mtime == s.mtime
                    && v.seen.mode == s.mode
                    && v.seen.target == s.target
                    && v.seen.xattr_set == s.xattr_set
                    && v.seen.trimmed_at.is_some() == s.trimmed_at.is_some() =>
            {
                v.last = s.snapshot.to_string();
                v.count += 1;
            }
            _ => versions.push(Version {
                first: s.snapshot.to_string(),
                last: s.snapshot.to_string(),
                count: 1,
                seen: s,
            }),
        }
    }
    versions
}

/// Turns PATH into paths inside snapshots: an absolute path (or one relative to the
/// current folder that lies inside a recorded source, `./x` included) is made relative
/// to every recorded source holding it (nested sources give several), each limited to
/// that source's name; any other relative path is taken as a path inside the snapshots.
pub fn in_snapshot(
    db: &Db,
    path: &Path,
    name: Option<&str>,
) -> Result<Vec<(PathBuf, Option<String>)>> {
    let abs = if path.is_relative() {
        std::env::current_dir().ok().map(|cwd| cwd.join(path))
    } else {
        Some(path.to_path_buf())
    };
    let mut out = Vec::new();
    if let Some(abs) = abs {
        let abs = canonical_as_far_as_it_exists(&abs);
        for (source, snap_name) in SnapshotRow::sources(db)? {
            if name.is_some_and(|n| n != snap_name) {
                continue;
            }
            if let Ok(rel) = abs.strip_prefix(&source) {
                let item = (rel.to_path_buf(), Some(snap_name));
                if !out.contains(&item) {
                    out.push(item);
                }
            }
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    if path.is_relative() {
        let rel: PathBuf = path
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        return Ok(vec![(rel, name.map(String::from))]);
    }
    bail!(
        "{}: not inside any backed-up source; give the path as it is inside the snapshots",
        path.display()
    )
}

/// `path` with its longest existing leading part made canonical (symlinks resolved) and
/// the rest as given: a file deleted since still names the place it had.
fn canonical_as_far_as_it_exists(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut head = path;
    loop {
        if let Ok(canon) = head.canonicalize() {
            return rest.iter().rev().fold(canon, |p, part| p.join(part));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                head = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}
