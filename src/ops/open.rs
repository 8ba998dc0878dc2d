//! Owns how commands find things: the existing backup root, and snapshots named on the
//! command line as `NAME/TIMESTAMP`, `NAME` or `NAME/latest` (its newest) or a folder path.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::catalog::{Access, Catalog, Db, SnapshotRow};
use crate::config::Config;
use crate::snapshot_id::SnapshotSpec;
use crate::tell::Tell;

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
pub fn open_read(config: &Config, tell: &dyn Tell) -> Result<(PathBuf, Catalog)> {
    let root = existing_root(config)?;
    let catalog = Catalog::open(&root.join(crate::root::META_DIR), Access::ReadOnly)?;
    for note in &catalog.notes {
        tell.note(note);
    }
    let db = catalog.db()?;
    warn_clock(&db, tell)?;
    note_mixed(&db, tell)?;
    drop(db);
    Ok((root, catalog))
}

/// Says in one line when names hold the snapshots of more than one source (a root made
/// before a name was bound to one source): the newest snapshot's source owns the name,
/// nothing is deleted, and how to split or rename.
pub fn note_mixed(db: &Db, say: &dyn Tell) -> Result<()> {
    let mixed = SnapshotRow::mixed_names(db)?;
    let Some((name, sources)) = mixed.first() else {
        return Ok(());
    };
    let others: Vec<String> = sources[1..].iter().map(|s| s.show()).collect();
    let more = match mixed.len() {
        1 => String::new(),
        n => format!(" (and {} more name(s) like it)", n - 1),
    };
    say.note(&format!(
        "{name} holds the snapshots of more than one source: {} (its newest) owns \
         the name, {} made the others; nothing is deleted and prune plans each source apart. \
         Back the other up with `--name NEW_NAME`; to split its old snapshots off, move their \
         folders and side files to <root>/NEW_NAME/, then run `phlb add` and \
         `phlb forget --missing`{more}",
        sources[0].show(),
        others.join(", ")
    ));
    Ok(())
}

/// Says in one line on stderr when the clock was wrong for a snapshot (an instant in
/// the future, or runs whose instants go back against the order they were made in; see
/// `stamp::CLOCK_SLACK_SECS`): "newest" is still the one made last.
pub fn warn_clock(db: &Db, tell: &dyn Tell) -> Result<()> {
    let found = clock_problems(db, None)?;
    if let Some(first) = found.first() {
        let more = match found.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        tell.warning(&format!("{first}{more}; {}", first.fix()));
    }
    Ok(())
}

/// The clock anomalies among the snapshots of `name` (all when None), now.
pub fn clock_problems(db: &Db, name: Option<&str>) -> Result<Vec<crate::stamp::Anomaly>> {
    let members = crate::catalog::prune::members(db, name)?;
    let now = crate::clock::now_utc()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX);
    Ok(crate::stamp::clock_anomalies(
        members.iter().map(|m| m.timed()),
        now,
    ))
}

/// Finds the snapshot a user named (`NAME` and `NAME/latest`: its newest complete one
/// on disk).
pub fn resolve(db: &Db, root: &Path, spec: &str) -> Result<SnapshotRow> {
    let found = match SnapshotSpec::parse(root, spec) {
        // The newest whose folder is on disk (the newest may have been deleted by hand).
        SnapshotSpec::Newest(name) => SnapshotRow::newest_complete(db, &name, &|r| {
            crate::root::latest::on_disk(root, &r.name, &r.timestamp)
        })?
        .map(Ok)
        .or_else(|| SnapshotRow::previous_complete(db, &name).transpose())
        .transpose()?,
        SnapshotSpec::Exact(id) => SnapshotRow::find(db, &id.name, &id.timestamp)?,
    };
    found.with_context(|| format!("{spec}: no such snapshot in the catalog"))
}
