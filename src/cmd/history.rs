//! `phlb history`: each distinct version of one path across snapshots.

use std::os::unix::ffi::OsStrExt;

use anyhow::{bail, Result};

use crate::catalog::queries::{self};
use crate::cli::HistoryArgs;
use crate::config::Config;
use crate::ops::open::open_read;
use crate::ops::query::history::{in_snapshot, versions};
use crate::output::{Cell, Table};
use crate::progress::Ui;
use crate::Outcome;

/// Runs `phlb history`.
pub fn run(config: &Config, ui: &Ui, args: &HistoryArgs) -> Result<Outcome> {
    let (_, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let mut known = false;
    let mut sightings = Vec::new();
    for (rel, name) in in_snapshot(&db, &args.path, args.name.as_deref())? {
        if let Some(s) = queries::sightings(&db, rel.as_os_str().as_bytes(), name.as_deref())? {
            known = true;
            sightings.extend(s);
        }
    }
    if !known {
        bail!(
            "{}: no snapshot in the catalog holds this path",
            args.path.display()
        );
    }
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
        if args.out.json {
            "mtime"
        } else {
            "mtime (local)"
        },
        "hash",
        "mode",
        "xattrs",
        "target",
        if args.out.json {
            "trimmed"
        } else {
            "trimmed (local)"
        },
    ]);
    for v in versions {
        t.push(vec![
            v.first.into(),
            v.last.into(),
            Cell::Int(v.count),
            v.seen.kind.into(),
            Cell::Bytes(v.seen.size),
            Cell::Time(v.seen.mtime_ns),
            v.seen.hash.into(),
            v.seen.mode.into(),
            v.seen.xattrs.into(),
            v.seen.target.into(),
            v.seen
                .trimmed_at
                .as_deref()
                .map_or(Cell::Null, crate::output::time_cell),
        ]);
    }
    crate::output::print_table(&t, args.out.json, args.out.bytes);
    Ok(Outcome::Clean)
}
