//! `phlb find`: every version of each path matching a glob (or, with `--each-snapshot`,
//! every snapshot holding it), from the catalog alone.

use anyhow::{bail, Result};

use crate::catalog::{found, queries, Db, SnapshotRow};
use crate::cli::FindArgs;
use crate::config::Config;
use crate::ops::open::open_read;
use crate::ops::query::history::in_snapshot;
use crate::output::{Cell, Table};
use crate::progress::Ui;
use crate::Outcome;

/// Runs `phlb find` (no match is an empty result, not an error).
pub fn run(config: &Config, ui: &Ui, args: &FindArgs) -> Result<Outcome> {
    let (_, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let known: std::collections::BTreeSet<String> =
        SnapshotRow::all(&db)?.into_iter().map(|s| s.name).collect();
    for n in &args.name {
        if !known.contains(n) {
            bail!("{n}: no snapshot of this name in the catalog");
        }
    }
    // SQLite's GLOB takes any text; an unclosed `[` is a mistake worth saying.
    globset::Glob::new(&args.glob)
        .map_err(|e| anyhow::anyhow!("{}: invalid glob: {}", args.glob, e.kind()))?;
    // An absolute path (or one inside a source, from the current folder) as in history.
    let targets: Vec<(String, Vec<String>)> = if args.glob.starts_with('/') {
        let name = (args.name.len() == 1).then(|| args.name[0].as_str());
        in_snapshot(&db, std::path::Path::new(&args.glob), name)?
            .into_iter()
            .filter(|(_, n)| {
                args.name.is_empty() || n.as_ref().is_some_and(|n| args.name.contains(n))
            })
            .map(|(rel, n)| (rel.to_string_lossy().into_owned(), n.into_iter().collect()))
            .collect()
    } else {
        let mut names = args.name.clone();
        names.sort();
        names.dedup();
        vec![(args.glob.clone(), names)]
    };
    if args.each_snapshot {
        each_snapshot(&db, args, &targets)?;
    } else {
        by_version(&db, args, &targets)?;
    }
    Ok(Outcome::Clean)
}

/// Each version of each path once, newest last snapshot first.
fn by_version(db: &Db, args: &FindArgs, targets: &[(String, Vec<String>)]) -> Result<()> {
    let mut found = gather(targets, |glob, name| found::find_versions(db, glob, name))?;
    // Each version once (by its path id and first snapshot), then newest first.
    found.sort_by(|a, b| {
        (a.path_id, a.first_order, a.last_order).cmp(&(b.path_id, b.first_order, b.last_order))
    });
    found.dedup_by(|a, b| (a.path_id, a.first_order) == (b.path_id, b.first_order));
    found.sort_by(|a, b| {
        b.last_order
            .cmp(&a.last_order)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| b.first_order.cmp(&a.first_order))
    });
    let mut t = Table::new(&[
        "path",
        "first",
        "last",
        "snapshots",
        "kind",
        "size",
        mtime_header(args),
        "hash",
    ]);
    for f in found {
        t.push(vec![
            f.path.into(),
            f.first.to_string().into(),
            f.last.to_string().into(),
            Cell::Int(f.count),
            f.kind.into(),
            Cell::Bytes(f.size),
            Cell::Time(f.mtime_ns),
            f.hash.into(),
        ]);
    }
    crate::output::print_table(&t, args.out.json, args.out.bytes);
    Ok(())
}

/// What `find_one` gives for each glob, under each of its names (any name when none).
fn gather<T>(
    targets: &[(String, Vec<String>)],
    find_one: impl Fn(&str, Option<&str>) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let mut found = Vec::new();
    for (glob, names) in targets {
        if names.is_empty() {
            found.extend(find_one(glob, None)?);
        }
        for n in names {
            found.extend(find_one(glob, Some(n))?);
        }
    }
    Ok(found)
}

fn mtime_header(args: &FindArgs) -> &'static str {
    if args.out.json {
        "mtime"
    } else {
        "mtime (local)"
    }
}

/// `--each-snapshot`: a row per snapshot holding each path, newest snapshot first.
fn each_snapshot(db: &Db, args: &FindArgs, targets: &[(String, Vec<String>)]) -> Result<()> {
    let mut found = gather(targets, |glob, name| queries::find(db, glob, name))?;
    // Each path once per snapshot (by its id: names that are not UTF-8 may read the
    // same as text), then newest snapshot first across every name and path asked for.
    found.sort_by(|a, b| {
        b.order
            .cmp(&a.order)
            .then_with(|| a.path_id.cmp(&b.path_id))
    });
    found.dedup_by(|a, b| a.snapshot_id == b.snapshot_id && a.path_id == b.path_id);
    found.sort_by(|a, b| b.order.cmp(&a.order).then_with(|| a.path.cmp(&b.path)));
    let mut t = Table::new(&[
        "snapshot",
        "path",
        "kind",
        "size",
        mtime_header(args),
        "hash",
    ]);
    for f in found {
        t.push(vec![
            f.snapshot.to_string().into(),
            f.path.into(),
            f.kind.into(),
            Cell::Bytes(f.size),
            Cell::Time(f.mtime_ns),
            f.hash.into(),
        ]);
    }
    crate::output::print_table(&t, args.out.json, args.out.bytes);
    Ok(())
}
