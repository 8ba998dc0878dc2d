//! `phlb history`: each distinct version of one path across snapshots.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::catalog::queries::{self, Sighting};
use crate::catalog::{Db, SnapshotRow};
use crate::cli::HistoryArgs;
use crate::commands::select::{open_read, print};
use crate::config::Config;
use crate::output::{Cell, Table};
use crate::Outcome;

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
/// content, kind or mtime changes, or where prune trimmed it.
pub fn versions(sightings: Vec<Sighting>) -> Vec<Version> {
    let mut versions: Vec<Version> = Vec::new();
    for s in sightings {
        match versions.last_mut() {
            Some(v)
                if v.seen.hash == s.hash
                    && v.seen.kind == s.kind
                    && v.seen.mtime == s.mtime
                    && v.seen.trimmed_at.is_some() == s.trimmed_at.is_some() =>
            {
                v.last = s.snapshot.clone();
                v.count += 1;
            }
            _ => versions.push(Version {
                first: s.snapshot.clone(),
                last: s.snapshot.clone(),
                count: 1,
                seen: s,
            }),
        }
    }
    versions
}

/// Runs `phlb history`.
pub fn run(config: &Config, args: &HistoryArgs) -> Result<Outcome> {
    let (_, catalog) = open_read(config)?;
    let db = catalog.db()?;
    let (rel, name) = in_snapshot(&db, &args.path, args.name.as_deref())?;
    let Some(sightings) = queries::sightings(&db, rel.as_os_str().as_bytes(), name.as_deref())?
    else {
        bail!(
            "{}: no snapshot in the catalog holds this path",
            args.path.display()
        );
    };
    if sightings.is_empty() {
        bail!(
            "{}: no snapshot of that name holds this path",
            args.path.display()
        );
    }
    let versions = versions(sightings);
    let mut t = Table::new(&[
        "first",
        "last",
        "snapshots",
        "kind",
        "size",
        "mtime",
        "hash",
        "trimmed",
    ]);
    for v in versions {
        t.push(vec![
            v.first.into(),
            v.last.into(),
            Cell::Int(v.count),
            v.seen.kind.into(),
            Cell::Bytes(v.seen.size),
            v.seen.mtime.into(),
            v.seen.hash.into(),
            v.seen.trimmed_at.into(),
        ]);
    }
    print(&t, &args.out);
    Ok(Outcome::Clean)
}

/// Turns PATH into a path inside snapshots: an absolute path under a recorded source is
/// made relative to it (and limited to that source's name).
fn in_snapshot(db: &Db, path: &Path, name: Option<&str>) -> Result<(PathBuf, Option<String>)> {
    if path.is_relative() {
        let rel: PathBuf = path.components().collect();
        return Ok((rel, name.map(String::from)));
    }
    let abs = canonical_as_far_as_it_exists(path);
    for (source, snap_name) in SnapshotRow::sources(db)? {
        if let Ok(rel) = abs.strip_prefix(&source) {
            return Ok((
                rel.to_path_buf(),
                Some(name.map(String::from).unwrap_or(snap_name)),
            ));
        }
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
