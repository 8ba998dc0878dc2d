//! `phlb add`: records snapshot folders found on disk in the catalog (a full rebuild, or
//! what is missing), hashes each inode once, and hardlinks identical content.

mod folders;
mod import;
mod relink;
mod temp_files;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::catalog::snapshots::Status;
use crate::catalog::{Access, Catalog, Db, Origin, SnapshotRow};
use crate::cli::AddArgs;
use crate::ops::select::existing_root;
use crate::config::Config;
use crate::layout::SnapshotPaths;
use crate::progress::{Style, Ui};
use crate::root::{BackupRoot, Filesystem};
use crate::stamp::{Stamp, TimeSource};
use crate::store;
use crate::units::{human_bytes, one_line};
use crate::Outcome;

/// A snapshot folder to record.
#[derive(Debug, Clone)]
struct Folder {
    name: String,
    timestamp: String,
    dir: PathBuf,
}

/// What an add run did, over all snapshots.
#[derive(Debug, Default)]
struct Tally {
    added: u64,
    files: u64,
    hashed_bytes: u64,
    relinked: u64,
    freed: u64,
    problems: u64,
    manifests_written: u64,
}

/// Records `folders` that the catalog does not have as complete snapshots, oldest first.
#[allow(clippy::too_many_arguments)]
fn record(
    config: &Config,
    args: &AddArgs,
    root: &Path,
    db: &Db,
    mut folders: Vec<Folder>,
    style: Style,
    tally: &mut Tally,
    say: &dyn Fn(String),
) -> Result<()> {
    // Snapshots whose side file gives their time and order first, in that order; then
    // trees copied in by hand, oldest first by the time in the name (`-10` after `-9`
    // within one second), each taking its place by its instant among those recorded.
    let format = &config.sub_dir_formatter;
    let mut planned: Vec<(Folder, Option<Stamp>)> = Vec::new();
    for f in folders.drain(..) {
        let at = SnapshotPaths::new(root, &f.name, &f.timestamp, "").stamp;
        let side = Stamp::read(&at).unwrap_or_else(|e| {
            say(format!(
                "phlb: warning: {e:#}; timing {}/{} by its name",
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
        args,
        root,
        style,
        live: HashMap::new(),
        tmp_dir: store::fresh_temp_dir(&root.join(crate::root::META_DIR))?,
        proven: Default::default(),
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
        say(format!("phlb: {label}: recorded"));
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
    say: &dyn Fn(String),
) -> Result<u64> {
    if catalog.origin == Origin::Existing {
        return Ok(0);
    }
    let found = folders::discover(root, config)?;
    for s in &found.skipped {
        say(format!(
            "phlb: warning: {}: {}",
            one_line(&s.path),
            s.reason
        ));
    }
    let folders = found.folders;
    if folders.is_empty() {
        return Ok(0);
    }
    say(format!(
        "phlb: note: {}: the catalog is new, but the backup root holds {} snapshot folder(s); recording them first, as `phlb add --no-link` does",
        catalog.path().display(),
        folders.len()
    ));
    let args = AddArgs {
        paths: Vec::new(),
        trust_manifests: false,
        no_link: true,
        dry_run: false,
        json: false,
        wait: Default::default(),
    };
    let db = catalog.db()?;
    let mut tally = Tally::default();
    record(config, &args, root, &db, folders, style, &mut tally, say)?;
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
fn look_for(root: &Path, config: &Config, args: &AddArgs) -> Result<folders::Found> {
    if args.paths.is_empty() {
        return folders::discover(root, config);
    }
    let mut found = folders::Found::default();
    for p in &args.paths {
        found.extend(folders::classify(root, config, p)?);
    }
    Ok(found)
}

/// `phlb add --dry-run`: says which folders would be recorded and which snapshots
/// marked missing, reading the catalog without a lock and writing nothing at all.
fn dry_run(config: &Config, ui: &Ui, args: &AddArgs) -> Result<Outcome> {
    let root = existing_root(config)?;
    let found = look_for(&root, config, args)?;
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
    if args.json {
        let skipped = skipped_json(&found.skipped);
        let doc = serde_json::json!({
            "dry_run": true,
            "would_record": record,
            "would_mark_missing": missing,
            "skipped": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for s in &found.skipped {
            eprintln!("phlb: error: {}: {}", one_line(&s.path), s.reason);
        }
        if !ui.quiet() {
            for label in &record {
                println!("would record {label} (hash its files, link identical content)");
            }
            for label in &missing {
                println!("would mark {label} missing (its folder is gone)");
            }
            println!(
                "dry run, nothing written: would record {} snapshot(s), mark {} missing, skip {} folder(s)",
                record.len(),
                missing.len(),
                found.skipped.len()
            );
        }
    }
    Ok(if found.skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// Runs `phlb add`.
pub fn run(config: &Config, ui: &Ui, args: &AddArgs) -> Result<Outcome> {
    if args.dry_run {
        return dry_run(config, ui, args);
    }
    let say = |line: String| ui.say(line);
    existing_root(config)?;
    let opened = BackupRoot::open_writer(
        &config.backup_path,
        Filesystem::MustMatch,
        args.wait.into(),
        &say,
    )?;
    let (root, catalog) = (opened.path.clone(), &opened.catalog);
    settle_times(catalog, config)?;
    let db = catalog.db()?;
    let style = ui.style;
    let found = look_for(&root, config, args)?;
    // Named even with --quiet: each one is a snapshot that may be missing from the catalog.
    for s in &found.skipped {
        eprintln!("phlb: error: {}: {}", one_line(&s.path), s.reason);
    }
    let folders = found.folders;
    let mut tally = Tally::default();
    let mut missing = 0u64;
    for snap in SnapshotRow::all(&db)? {
        if snap.status == Status::Complete && !root.join(&snap.name).join(&snap.timestamp).is_dir()
        {
            crate::root::still_a_root(&root)?;
            snap.mark_missing(&db)?;
            say(format!(
                "phlb: {}: folder is gone; marked missing",
                snap.label()
            ));
            missing += 1;
        }
    }
    record(config, args, &root, &db, folders, style, &mut tally, &say)?;
    if args.json {
        let skipped = skipped_json(&found.skipped);
        let doc = serde_json::json!({
            "added": tally.added,
            "files": tally.files,
            "hashed_bytes": tally.hashed_bytes,
            "marked_missing": missing,
            "relinked": tally.relinked,
            "freed_bytes": tally.freed,
            "manifests_written": tally.manifests_written,
            "problems": tally.problems,
            "skipped": skipped,
        });
        let doc = crate::root::with_where(doc, &root, config.file.as_deref());
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if !ui.quiet() {
        if tally.added == 0 && missing == 0 && found.skipped.is_empty() {
            println!("nothing to do: every snapshot folder is in the catalog");
        } else if tally.added == 0 && missing == 0 {
            println!(
                "added nothing; skipped {} folder(s) named above",
                found.skipped.len()
            );
        } else {
            println!(
                "added {} snapshot(s) with {} files ({} hashed); marked {missing} missing\nlinked {} files to identical stored copies, freeing {}; wrote {} manifest(s); {} problem(s); skipped {} folder(s)",
                tally.added,
                tally.files,
                human_bytes(tally.hashed_bytes),
                tally.relinked,
                human_bytes(tally.freed),
                tally.manifests_written,
                tally.problems,
                found.skipped.len()
            );
        }
    }
    // The root's hash is the one its snapshots were made with (set now for a rebuilt
    // catalog); a config that says otherwise is told so, as backup would.
    catalog.check_hash(config.hash)?;
    Ok(if tally.problems == 0 && found.skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// The folders `add` skipped, as JSON objects (path, reason).
fn skipped_json(skipped: &[folders::Skipped]) -> Vec<serde_json::Value> {
    skipped
        .iter()
        .map(|s| serde_json::json!({ "path": one_line(&s.path), "reason": s.reason }))
        .collect()
}
