//! Owns how commands find things: the existing backup root, and snapshots named on the
//! command line as `NAME/TIMESTAMP`, `NAME` or `NAME/latest` (its newest) or a folder path.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::catalog::{Access, Catalog, Db, SnapshotRow};
use crate::cli::OutputArgs;
use crate::config::Config;
use crate::output::{Format, Table};

/// The backup root of an existing backup, canonical; an error when it does not exist.
pub fn existing_root(config: &Config) -> Result<PathBuf> {
    let root = &config.backup_path;
    if !root.is_dir() {
        bail!("{}: backup root does not exist", root.display());
    }
    root.canonicalize()
        .with_context(|| format!("{}: cannot open backup root", root.display()))
}

/// Opens the catalog of an existing backup root for reading (no lock: a backup may be
/// writing at the same time; queries see what it has committed).
pub fn open_read(config: &Config) -> Result<(PathBuf, Catalog)> {
    let root = existing_root(config)?;
    let catalog = Catalog::open(&root.join(crate::root::META_DIR), Access::ReadOnly)?;
    for note in &catalog.notes {
        eprintln!("{note}");
    }
    Ok((root, catalog))
}

/// Prints a query result table as the output options ask.
pub fn print(table: &Table, out: &OutputArgs) {
    let format = if out.json {
        Format::Json
    } else {
        Format::Table
    };
    print!("{}", table.render(format, out.bytes));
}

/// Finds the snapshot a user named (`NAME` and `NAME/latest`: its newest complete one
/// on disk).
pub fn resolve(db: &Db, root: &Path, spec: &str) -> Result<SnapshotRow> {
    let (name, ts) = split_spec(root, spec);
    let found = match ts.as_deref() {
        // The newest whose folder is on disk (the newest may have been deleted by hand).
        Some("latest") | None => SnapshotRow::newest_complete(db, &name, &|r| {
            crate::root::latest::on_disk(root, &r.name, &r.timestamp)
        })?
        .map(Ok)
        .or_else(|| SnapshotRow::previous_complete(db, &name).transpose())
        .transpose()?,
        Some(ts) => SnapshotRow::find(db, &name, ts)?,
    };
    found.with_context(|| format!("{spec}: no such snapshot in the catalog"))
}

/// Splits `NAME/TIMESTAMP`, `NAME` or a folder path (absolute, or relative to the current
/// folder when it exists) into name and optional timestamp.
fn split_spec(root: &Path, spec: &str) -> (String, Option<String>) {
    let as_path = Path::new(spec);
    let rel = as_path
        .canonicalize()
        .ok()
        .filter(|_| as_path.is_absolute() || as_path.exists())
        .and_then(|p| p.strip_prefix(root).ok().map(Path::to_path_buf));
    let text = match &rel {
        Some(r) => r.to_string_lossy().into_owned(),
        None => spec.trim_end_matches('/').to_string(),
    };
    match text.split_once('/') {
        Some((name, ts)) => (name.to_string(), Some(ts.trim_end_matches('/').to_string())),
        None => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let root = Path::new("/nonexistent-root");
        let cases = [
            ("docs", ("docs", None)),
            (
                "docs/2026-01-01-000000",
                ("docs", Some("2026-01-01-000000")),
            ),
            (
                "docs/2026-01-01-000000/",
                ("docs", Some("2026-01-01-000000")),
            ),
        ];
        for (spec, (name, ts)) in cases {
            let got = split_spec(root, spec);
            assert_eq!((got.0.as_str(), got.1.as_deref()), (name, ts), "{spec}");
        }
    }
}
