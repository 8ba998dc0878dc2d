//! Owns what a new snapshot starts from: the backup root opened for writing, the base
//! snapshot whose unchanged files the fast path links, a timestamp no other run of the
//! name used, and the walk's rules that keep a run out of its own root.

use super::Source;
use crate::catalog::{Db, SnapshotRow};
use crate::config::Config;
use crate::layout::SnapshotPaths;
use crate::lock::Wait;
use crate::progress::Ui;
use crate::root::{BackupRoot, Filesystem};
use crate::scan::{ScanOptions, Selection};
use crate::store;
use anyhow::Result;
use std::path::Path;
use std::sync::Arc;

/// Opens the backup root `root` (from `prepare_root`) for a backup: takes the writer
/// lock, records snapshot folders a new catalog does not know yet, checks `HASH`, and
/// resolves how the run links (`LINK`).
pub(crate) fn open_for_backup(
    config: &Config,
    root: &Path,
    ui: &Ui,
    wait: Wait,
) -> Result<BackupRoot> {
    let say: &dyn crate::tell::Tell = ui;
    let mut opened = BackupRoot::open_writer(root, Filesystem::MustMatch, wait, &say)?;
    crate::ops::record::record_on_disk(config, opened.path(), &opened.catalog, ui.style, &say)?;
    opened.catalog.check_hash(config.hash)?;
    crate::ops::record::settle_times(&opened.catalog, config)?;
    let db = opened.catalog.db()?;
    opened.linking = Some(crate::root::linking::resolve(
        config,
        opened.path(),
        &db,
        &say,
    )?);
    Ok(opened)
}

/// The newest complete snapshot of `name` whose folder still exists; runs whose folder is
/// gone are marked `missing` on the way.
/// The fast path trusts "same path, size and mtime" only against a snapshot this source
/// itself gave: a snapshot copied in by hand (or recorded by a catalog rebuild) may hold
/// other bytes under the same path, size and mtime, so after one the first run reads
/// every file (and still links by content).
pub(super) fn previous(
    db: &Db,
    root: &Path,
    source: &Source,
    algo: crate::hash::HashAlgo,
) -> Result<Option<super::snapshot::Previous>> {
    loop {
        match fast_path_base(db, root, source, algo)? {
            Base::Usable(row) => {
                return Ok(Some(super::snapshot::Previous {
                    dir: root.join(&source.name).join(&row.timestamp),
                    run_id: row.id,
                }))
            }
            Base::Gone(row) => {
                crate::root::still_a_root(root)?;
                row.mark_missing(db)?
            }
            Base::None => return Ok(None),
        }
    }
}

/// The snapshot a backup of `source` would take unchanged files from, as the catalog
/// has it now.
pub(crate) enum Base {
    /// The newest complete snapshot this source gave, on disk, in this run's `HASH`.
    Usable(SnapshotRow),
    /// That snapshot's folder is gone (a backup marks it `missing` and looks again).
    Gone(SnapshotRow),
    /// None: the next backup reads every file.
    None,
}

/// Finds the fast path's base for `source` (see `Base`); changes nothing.
pub(crate) fn fast_path_base(
    db: &Db,
    root: &Path,
    source: &Source,
    algo: crate::hash::HashAlgo,
) -> Result<Base> {
    let from = source.id().path;
    let Some(row) = SnapshotRow::previous_of_source(db, &source.name, &from)? else {
        return Ok(Base::None);
    };
    if !root.join(&source.name).join(&row.timestamp).is_dir() {
        return Ok(Base::Gone(row));
    }
    // Hashes of another algorithm cannot go into this run's manifest: after a change of
    // HASH the first run reads every file again.
    if row.hash_algo != algo {
        return Ok(Base::None);
    }
    Ok(Base::Usable(row))
}

/// Whether the walk may leave the attributes of settled files unread
/// (`ScanOptions::defer_attrs`): only when the previous run `prev` read the same
/// attributes and kept them on its inodes (its `xattrs_read`), so the set it recorded for
/// an inode is the one a linked copy carries, and this run links rather than clones.
/// Each file is still compared with what that run saw of it (inode and ctime).
pub(super) fn defer_attrs(
    db: &Db,
    prev: Option<i64>,
    scan: crate::scan::XattrScan,
    sharing: crate::decide::Sharing,
) -> Result<bool> {
    let (Some(prev), Some(label), crate::decide::Sharing::Links(_)) = (prev, scan.label(), sharing)
    else {
        return Ok(false);
    };
    Ok(SnapshotRow::xattrs_read(db, prev)?.as_deref() == Some(label))
}

/// Picks a timestamp for a new snapshot made at `now` that no other run of `name` has
/// used.
pub(super) fn pick_timestamp(
    db: &Db,
    root: &Path,
    config: &Config,
    name: &str,
    now: chrono::DateTime<chrono::Local>,
) -> Result<(String, SnapshotPaths)> {
    let base = now.format(&config.sub_dir_formatter).to_string();
    let sums = config.hash.manifest_suffix();
    let mut ts = base.clone();
    // A removal left unfinished (an immutable file) keeps its snapshot's name in the
    // trash: a new snapshot never takes it (the repeated hour when summer time ends
    // gives the same folder name again), so finishing that removal can never touch it.
    let trash = root
        .join(crate::root::META_DIR)
        .join(crate::root::TRASH_DIR)
        .join(name);
    let in_trash = |ts: &str| {
        std::fs::read_dir(&trash).is_ok_and(|it| {
            it.flatten().any(|e| {
                let leaf = e.file_name();
                let leaf = leaf.to_string_lossy();
                leaf == ts
                    || leaf
                        .strip_prefix(ts)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
    };
    for n in 1.. {
        let paths = SnapshotPaths::new(root, name, &ts, sums);
        if !paths.taken() && !SnapshotRow::exists(db, name, &ts)? && !in_trash(&ts) {
            return Ok((ts, paths));
        }
        ts = format!("{base}-{n}");
    }
    unreachable!("an unbounded range always yields")
}

/// The walk's rules for a run into `root`: the backup root, its `.phlb` and every folder
/// in it (the `<name>` folders that hold the snapshots, this run's included) are left
/// out by device and inode, so no way to reach them from a source (a bind mount of the
/// same filesystem included) leads the run into its own snapshots.
pub(crate) fn scan_options(config: &Config, root: &Path) -> Result<ScanOptions> {
    let inside = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    let exclude = [root.to_path_buf()]
        .into_iter()
        .chain(inside)
        .filter_map(|p| store::folder_id(&p))
        .collect();
    Ok(ScanOptions {
        select: Arc::new(Selection::compile(&config.select_spec())?),
        one_file_system: config.one_file_system,
        exclude,
        xattrs: crate::scan::XattrScan::for_root(config.xattrs, root),
        defer_attrs: false,
    })
}
