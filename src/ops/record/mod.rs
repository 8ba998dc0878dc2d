//! Recording (what `phlb add` runs): records snapshot folders found on disk in the
//! catalog (a full rebuild, or what is missing), hashes each inode once, and hardlinks
//! identical content. `backup` and `init` record the folders a new catalog lacks here too.

mod discover;

pub use discover::Skipped;
mod import;
mod listed;
mod relink;
mod run;
mod temp_files;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::catalog::snapshots::Status;
use crate::catalog::{Access, Catalog, Db, Origin, SnapshotRow};
use crate::config::Config;
use crate::layout::SnapshotPaths;
use crate::lock::Wait;
use crate::ops::open::existing_root;
use crate::progress::Style;
use crate::root::{BackupRoot, Filesystem};
use crate::stamp::{Stamp, TimeSource};
use crate::store;
use crate::tell::Tell;
use crate::units::one_line;

/// Whether identical content is hardlinked to one stored copy while recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    #[default]
    Yes,
    /// Record only; change nothing on disk (`--no-link`).
    No,
}

/// Whether a snapshot's manifest is taken as its hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Manifests {
    /// Hash every file and compare with the manifest.
    #[default]
    Check,
    /// Take the manifest's hashes for files whose size and mtime match it.
    Trust,
}

/// What to record and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Snapshot folders (or name folders) to record; every one under the root when empty.
    pub paths: Vec<PathBuf>,
    pub link: Link,
    pub manifests: Manifests,
    /// How to treat a writer lock another run holds.
    pub wait: Wait,
}

/// What a recording run did.
#[derive(Debug)]
pub struct Recorded {
    /// The backup root, canonical.
    pub root: PathBuf,
    pub tally: Tally,
    /// Complete snapshots whose folder is gone, now marked missing.
    pub marked_missing: u64,
    /// Folders that were not recorded, and why.
    pub skipped: Vec<Skipped>,
}

/// What a recording run would do (`--dry-run`): nothing is written.
#[derive(Debug)]
pub struct Planned {
    /// `NAME/TIMESTAMP` of the folders it would record.
    pub would_record: Vec<String>,
    /// `NAME/TIMESTAMP` of the snapshots it would mark missing.
    pub would_mark_missing: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// A snapshot folder to record.
#[derive(Debug, Clone)]
struct Folder {
    name: String,
    timestamp: String,
    dir: PathBuf,
}

/// What a recording run did, over all snapshots.
#[derive(Debug, Default)]
pub struct Tally {
    pub added: u64,
    pub files: u64,
    pub hashed_bytes: u64,
    pub relinked: u64,
    pub freed: u64,
    pub problems: u64,
    pub manifests_written: u64,
}

/// Records `folders` that the catalog does not have as complete snapshots, oldest first.
#[allow(clippy::too_many_arguments)]
fn record_folders(
    config: &Config,
    options: &Options,
    root: &Path,
    db: &Db,
    mut folders: Vec<Folder>,
    style: Style,
    tally: &mut Tally,
    say: &dyn crate::tell::Tell,
) -> Result<()> {
    // Snapshots whose side file gives their time and order first, in that order; then
    // trees copied in by hand, oldest first by the time in the name (`-10` after `-9`
    // within one second), each taking its place by its instant among those recorded.
    let format = &config.sub_dir_formatter;
    let mut planned: Vec<(Folder, Option<Stamp>)> = Vec::new();
    for f in folders.drain(..) {
        let at = SnapshotPaths::new(root, &f.name, &f.timestamp, "").stamp;
        let side = Stamp::read(&at).unwrap_or_else(|e| {
            say.warning(&format!(
                "{e:#}; timing {}/{} by its name",
                f.name, f.timestamp
            ));
            None
        });
        planned.push((f, side));
    }
    planned.sort_by_cached_key(|(f, side)| {
        (
            side.is_none(),
            side.as_ref().map(|s| (s.sequence, s.instant_ns)),
            crate::layout::timestamp_order(&f.timestamp, format),
            f.name.clone(),
        )
    });
    let mut importer = import::Importer {
        config,
        options,
        root,
        style,
        tell: say,
        sharing: crate::root::linking::sharing_of(config, db)?,
        tmp_dir: store::fresh_temp_dir(&root.join(crate::root::META_DIR))?,
        proven: crate::catalog::versions::IdSet::default(),
    };
    for (folder, side) in &planned {
        let label =
            crate::snapshot_id::SnapshotId::new(&folder.name, &folder.timestamp).to_string();
        if let Some(row) = SnapshotRow::find(db, &folder.name, &folder.timestamp)? {
            if row.status == Status::Complete {
                continue;
            }
            row.delete(db)?;
        }
        // add writes the manifest beside the snapshot: only into a folder that is ours.
        store::make_private_dir(&root.join(&folder.name))?;
        crate::signals::doing(format!(
            "add stopped while recording {label}; what it recorded before stays, run it again for the rest"
        ));
        importer.import(db, folder, side.as_ref(), tally)?;
        say.step(&format!("{label}: recorded"));
    }
    Ok(())
}

/// Records the snapshot folders on disk that a new catalog does not know yet, without
/// changing anything on disk (as `phlb add --no-link`); what `backup` does first when it
/// finds its catalog new or remade in a root that already holds snapshots. Returns how
/// many snapshots it recorded.
pub fn record_on_disk(
    config: &Config,
    root: &Path,
    catalog: &Catalog,
    style: Style,
    say: &dyn crate::tell::Tell,
) -> Result<u64> {
    if catalog.origin == Origin::Existing {
        return Ok(0);
    }
    let found = discover::discover(root, config)?;
    for s in &found.skipped {
        say.warning(&format!("{}: {}", one_line(&s.path), s.reason));
    }
    let folders = found.folders;
    if folders.is_empty() {
        return Ok(0);
    }
    say.note(&format!("{}: the catalog is new, but the backup root holds {} snapshot folder(s); recording them first, as `phlb add --no-link` does",
        catalog.path().display(),
        folders.len()
    ));
    let options = Options {
        link: Link::No,
        ..Options::default()
    };
    let db = catalog.db()?;
    let mut tally = Tally::default();
    record_folders(config, &options, root, &db, folders, style, &mut tally, say)?;
    if tally.problems > 0 {
        bail!(
            "{}: {} problem(s) while recording the snapshots on disk; run `phlb add` to see them",
            root.display(),
            tally.problems
        );
    }
    Ok(tally.added)
}

/// The stamp of a tree copied in by hand: the time its name says (with the offset the
/// name carries, else in the time zone in effect; `time_source = name`), no source, and
/// its place in the creation order by that instant (see `SnapshotRow::sequence_at`).
fn stamp_from_name(db: &Db, folder: &Folder, format: &str) -> Result<Stamp> {
    let taken = crate::stamp::from_name(&folder.timestamp, format)
        .unwrap_or_else(|| crate::clock::now_utc().fixed_offset());
    let instant_ns = taken.timestamp_nanos_opt().unwrap_or(0);
    Ok(Stamp {
        instant_ns,
        offset_secs: taken.offset().local_minus_utc(),
        sequence: SnapshotRow::sequence_at(db, instant_ns)?,
        time_source: TimeSource::Name,
        source: None,
        source_moved: false,
    })
}

/// Settles the time and order of what an older phlb recorded, on the first writing
/// command: snapshots its `add` recorded with the time of the import get the time in
/// their folder name (and `time_source = name`); runs it made get this host as their
/// source's host; and every complete snapshot on disk without a side file gets one, from
/// the catalog (instant from `started_at`, sequence from the order of the runs, offset of
/// the time zone in effect: migration V12). Readers and dry runs write nothing.
pub fn settle_times(catalog: &Catalog, config: &Config) -> Result<()> {
    let db = catalog.db()?;
    for row in SnapshotRow::added_with_import_time(&db)? {
        let folder = Folder {
            name: row.name.clone(),
            timestamp: row.timestamp.clone(),
            dir: PathBuf::new(),
        };
        let stamp = stamp_from_name(&db, &folder, &config.sub_dir_formatter)?;
        row.set_stamp(&db, &stamp)?;
    }
    SnapshotRow::adopt_host(&db, &crate::stamp::hostname())?;
    let root = &config.backup_path;
    for row in SnapshotRow::complete_with_stamps(&db)? {
        let paths = SnapshotPaths::new(root, &row.name, &row.timestamp, "");
        let on_disk = paths.dir.symlink_metadata().is_ok_and(|m| m.is_dir());
        if on_disk && paths.stamp.symlink_metadata().is_err() {
            row.stamp.write(&paths.stamp)?;
        }
    }
    Ok(())
}

/// The folders `add` would look at: every snapshot folder under `root`, or the PATHs.
fn look_for(root: &Path, config: &Config, options: &Options) -> Result<discover::Found> {
    if options.paths.is_empty() {
        return discover::discover(root, config);
    }
    let mut found = discover::Found::default();
    for p in &options.paths {
        found.extend(discover::classify(root, config, p)?);
    }
    Ok(found)
}

/// What `record` would do (`--dry-run`): which folders it would record and which
/// snapshots mark missing, reading the catalog without a lock and writing nothing at all.
pub fn plan(config: &Config, options: &Options) -> Result<Planned> {
    let root = existing_root(config)?;
    let found = look_for(&root, config, options)?;
    let meta_dir = root.join(crate::root::META_DIR);
    let catalog = if meta_dir.join(crate::catalog::FILE_NAME).exists() {
        match Catalog::open(&meta_dir, Access::Peek) {
            Ok(c) => Some(c),
            // add makes a half-made catalog anew: as if there were none.
            Err(e) if e.downcast_ref::<crate::catalog::HalfMade>().is_some() => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    let db = catalog.as_ref().map(|c| c.db()).transpose()?;
    let mut record = Vec::new();
    for f in &found.folders {
        let known = match &db {
            Some(db) => SnapshotRow::find(db, &f.name, &f.timestamp)?
                .is_some_and(|row| row.status == Status::Complete),
            None => false,
        };
        if !known {
            record.push(crate::snapshot_id::SnapshotId::new(&f.name, &f.timestamp).to_string());
        }
    }
    let mut missing = Vec::new();
    if let Some(db) = &db {
        for snap in SnapshotRow::all(db)? {
            let gone = !root.join(&snap.name).join(&snap.timestamp).is_dir();
            if snap.status == Status::Complete && gone {
                missing.push(snap.label());
            }
        }
    }
    Ok(Planned {
        would_record: record,
        would_mark_missing: missing,
        skipped: found.skipped,
    })
}

/// Records the snapshot folders on disk the catalog lacks (all of `options.paths`, or
/// every one under the root), marks the snapshots whose folder is gone missing, and links
/// identical content unless `Link::No`. Folders it skips are said as errors at once, also
/// with `-q`: each is a snapshot that may be missing from the catalog.
pub fn record(
    config: &Config,
    options: &Options,
    style: Style,
    say: &dyn Tell,
) -> Result<Recorded> {
    existing_root(config)?;
    let opened = BackupRoot::open_writer(
        &config.backup_path,
        Filesystem::MustMatch,
        options.wait,
        say,
    )?;
    let (root, catalog) = (opened.path.clone(), &opened.catalog);
    settle_times(catalog, config)?;
    let db = catalog.db()?;
    let found = look_for(&root, config, options)?;
    // Named even with --quiet: each one is a snapshot that may be missing from the catalog.
    for s in &found.skipped {
        say.error(&format!("{}: {}", one_line(&s.path), s.reason));
    }
    let folders = found.folders;
    let dirs: Vec<std::path::PathBuf> = folders.iter().map(|f| f.dir.clone()).collect();
    crate::root::linking::record_found_clones(&db, config, &dirs)?;
    let config = &crate::root::linking::settled(config, &db, !folders.is_empty(), say)?;
    let mut tally = Tally::default();
    let mut missing = 0u64;
    for snap in SnapshotRow::all(&db)? {
        if snap.status == Status::Complete && !root.join(&snap.name).join(&snap.timestamp).is_dir()
        {
            crate::root::still_a_root(&root)?;
            snap.mark_missing(&db)?;
            say.step(&format!("{}: folder is gone; marked missing", snap.label()));
            missing += 1;
        }
    }
    record_folders(config, options, &root, &db, folders, style, &mut tally, say)?;
    // The root's hash is the one its snapshots were made with (set now for a rebuilt
    // catalog); a config that says otherwise is told so, as backup would.
    catalog.check_hash(config.hash)?;
    Ok(Recorded {
        root,
        tally,
        marked_missing: missing,
        skipped: found.skipped,
    })
}
