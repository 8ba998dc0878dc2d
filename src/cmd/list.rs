//! `phlb list`: snapshots with status, size, and what deleting each would free.

use anyhow::{bail, Result};

use crate::catalog::queries;
use crate::catalog::snapshots::Status;
use crate::cli::ListArgs;
use crate::config::Config;
use crate::ops::open::open_read;
use crate::output::{Cell, Table};
use crate::progress::Ui;
use crate::Outcome;

/// A snapshot's status with what went wrong or was changed: `complete, 2 failed, 1
/// damaged, 3 trimmed`.
fn status_text(status: Status, failed: i64, damaged: i64, trimmed: i64) -> String {
    let mut text = status.to_string();
    if failed > 0 {
        text.push_str(&format!(", {failed} failed"));
    }
    if damaged > 0 {
        text.push_str(&format!(", {damaged} damaged"));
    }
    if trimmed > 0 {
        text.push_str(&format!(", {trimmed} trimmed"));
    }
    text
}

/// Runs `phlb list`.
pub fn run(config: &Config, ui: &Ui, args: &ListArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let rows = queries::list(&db, args.name.as_deref())?;
    if rows.is_empty() {
        if let Some(name) = &args.name {
            bail!("{name}: no snapshots of this name in the catalog");
        }
    }
    let json = args.out.json;
    let mut columns = vec![
        "snapshot",
        "status",
        "files",
        "bytes",
        "new_bytes",
        "only_here",
    ];
    if json {
        columns.extend(["instant", "sequence", "time_source", "source"]);
    } else {
        columns.insert(1, "made (local)");
        columns.push("source");
    }
    let mut t = Table::new(&columns);
    for queries::ListRow {
        run: mut r,
        unique_bytes,
        damaged,
        trimmed,
    } in rows
    {
        // A folder deleted by hand: `missing` (one `lstat` per snapshot).
        r.status = crate::root::latest::shown_status(&root, &r.name, &r.timestamp, r.status);
        let made = Cell::Time(i128::from(r.stamp.instant_ns));
        let mut row = vec![
            r.label().into(),
            status_text(r.status, r.failed, damaged, trimmed).into(),
            Cell::Int(r.files),
            Cell::Bytes(r.bytes),
            Cell::Bytes(r.new_bytes),
            Cell::Bytes(unique_bytes),
        ];
        if json {
            // The instant in the offset recorded when it was made.
            row.extend([
                Cell::Text(r.stamp.rfc3339()),
                Cell::Int(r.stamp.sequence),
                r.stamp.time_source.as_str().into(),
                r.stamp.source.as_ref().map(|s| s.show()).into(),
            ]);
        } else {
            row.insert(1, made);
            row.push(r.stamp.source.as_ref().map(|s| s.show()).into());
        }
        t.push(row);
    }
    crate::output::print_table(&t, args.out.json, args.out.bytes);
    // Backups that failed before a snapshot started leave no row: told on stderr.
    for (name, a) in crate::root::attempts::last_per_name(&config.meta_dir())? {
        if a.failed() && args.name.as_ref().is_none_or(|n| *n == name) {
            eprintln!(
                "phlb: note: the last backup attempt of {name} failed: {}",
                crate::render::status::attempt_text(Some(&a))
            );
        }
    }
    Ok(Outcome::Clean)
}
