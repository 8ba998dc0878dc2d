//! `phlb list`: snapshots with status, size, and what deleting each would free.

use anyhow::{bail, Result};

use crate::catalog::queries;
use crate::cli::ListArgs;
use crate::commands::select::{open_read, print};
use crate::config::Config;
use crate::output::{Cell, Table};
use crate::Outcome;

/// A snapshot's status with what went wrong or was changed: `complete, 2 failed, 1
/// damaged, 3 trimmed`.
fn status_text(status: &str, failed: i64, damaged: i64, trimmed: i64) -> String {
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
pub fn run(config: &Config, args: &ListArgs) -> Result<Outcome> {
    let (_, catalog) = open_read(config)?;
    let db = catalog.db()?;
    let rows = queries::list(&db, args.name.as_deref())?;
    if rows.is_empty() {
        if let Some(name) = &args.name {
            bail!("{name}: no snapshots of this name in the catalog");
        }
    }
    let mut t = Table::new(&[
        "snapshot",
        "status",
        "files",
        "bytes",
        "new_bytes",
        "only_here",
    ]);
    for r in rows {
        t.push(vec![
            r.snapshot.into(),
            status_text(&r.status, r.failed, r.damaged, r.trimmed).into(),
            Cell::Int(r.files),
            Cell::Bytes(r.bytes),
            Cell::Bytes(r.new_bytes),
            Cell::Bytes(r.unique_bytes),
        ]);
    }
    print(&t, &args.out);
    // Backups that failed before a snapshot started leave no row: told on stderr.
    for (name, a) in crate::root::attempts::last_per_name(&config.meta_dir())? {
        if a.failed() && args.name.as_ref().is_none_or(|n| *n == name) {
            eprintln!(
                "phlb: note: the last backup attempt of {name} failed: {}",
                crate::commands::status::attempt_text(Some(&a))
            );
        }
    }
    Ok(Outcome::Clean)
}
