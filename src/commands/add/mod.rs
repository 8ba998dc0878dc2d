//! `phlb add`: records snapshot folders found on disk in the catalog (a full rebuild, or
//! what is missing), hashes each inode once, and hardlinks identical content.

mod folders;
mod import;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;

use crate::catalog::{Access, Catalog, SnapshotRow};
use crate::cli::{AddArgs, Global};
use crate::commands::select::existing_root;
use crate::config::Config;
use crate::progress::Style;
use crate::store;
use crate::units::{human_bytes, one_line};
use crate::{lock, Outcome};

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

/// Runs `phlb add`.
pub fn run(config: &Config, global: &Global, args: &AddArgs) -> Result<Outcome> {
    let root = existing_root(config)?;
    let meta_dir = root.join(".phlb");
    store::make_private_dir(&meta_dir)?;
    let _lock = lock::acquire(&meta_dir)?;
    let catalog = Catalog::open(&meta_dir, Access::Write)?;
    catalog.check_filesystem(&root)?;
    let conn = catalog.conn()?;
    let style = Style::detect(global.quiet);
    let say = |line: String| {
        if !global.quiet {
            eprintln!("{line}");
        }
    };
    let found = if args.paths.is_empty() {
        folders::discover(&root, config)?
    } else {
        let mut found = folders::Found::default();
        for p in &args.paths {
            found.extend(folders::classify(&root, config, p)?);
        }
        found
    };
    // Named even with --quiet: each one is a snapshot that may be missing from the catalog.
    for s in &found.skipped {
        eprintln!("phlb: error: {}: {}", one_line(&s.path), s.reason);
    }
    let folders = found.folders;
    let mut tally = Tally::default();
    let mut missing = 0u64;
    for snap in SnapshotRow::all(&conn)? {
        if snap.status == "complete" && !root.join(&snap.name).join(&snap.timestamp).is_dir() {
            snap.mark_missing(&conn)?;
            say(format!(
                "phlb: {}: folder is gone; marked missing",
                snap.label()
            ));
            missing += 1;
        }
    }
    let mut ordered = folders;
    ordered.sort_by(|a, b| (&a.timestamp, &a.name).cmp(&(&b.timestamp, &b.name)));
    let mut importer = import::Importer {
        config,
        args,
        root: &root,
        style,
        live: HashMap::new(),
    };
    for folder in &ordered {
        let label = format!("{}/{}", folder.name, folder.timestamp);
        if let Some(row) = SnapshotRow::find(&conn, &folder.name, &folder.timestamp)? {
            if row.status == "complete" {
                continue;
            }
            row.delete(&conn)?;
        }
        crate::signals::doing(format!(
            "add stopped while recording {label}; what it recorded before stays, run it again for the rest"
        ));
        importer.import(&conn, folder, &mut tally)?;
        say(format!("phlb: {label}: recorded"));
    }
    if !global.quiet {
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
    Ok(if tally.problems == 0 && found.skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
