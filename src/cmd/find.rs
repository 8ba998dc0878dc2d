//! `phlb find`: every snapshot and path matching a glob, from the catalog alone.

use anyhow::{bail, Result};

use crate::catalog::{queries, SnapshotRow};
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
    let mut found = Vec::new();
    for (glob, names) in &targets {
        if names.is_empty() {
            found.extend(queries::find(&db, glob, None)?);
        }
        for n in names {
            found.extend(queries::find(&db, glob, Some(n))?);
        }
    }
    // Each path once per snapshot (by its id: names that are not UTF-8 may read the
    // same as text), then newest snapshot first across every name and path asked for.
    found.sort_by(|a, b| {
        b.order
            .cmp(&a.order)
            .then_with(|| a.path_id.cmp(&b.path_id))
    });
    found.dedup_by(|a, b| a.snapshot_id == b.snapshot_id && a.path_id == b.path_id);
    found.sort_by(|a, b| b.order.cmp(&a.order).then_with(|| a.path.cmp(&b.path)));
    let mtime = if args.out.json {
        "mtime"
    } else {
        "mtime (local)"
    };
    let mut t = Table::new(&["snapshot", "path", "kind", "size", mtime, "hash"]);
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
    Ok(Outcome::Clean)
}
