//! `phlb diff`: added, removed, modified and renamed/moved paths between two snapshots,
//! renames found by content hash.

use std::collections::HashMap;

use anyhow::{bail, Result};

use crate::catalog::snapshots::Status;
use crate::catalog::{Db, SnapshotRow};
use crate::cli::DiffArgs;
use crate::config::Config;
use crate::ops::open::{open_read, resolve};
use crate::ops::query::diff;
use crate::output::{Cell, Format, Table};
use crate::progress::Ui;
use crate::units::human_bytes;
use crate::Outcome;

/// Runs `phlb diff`.
pub fn run(config: &Config, ui: &Ui, args: &DiffArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let (a, b) = match &args.b {
        Some(b) => (resolve(&db, &root, &args.a)?, resolve(&db, &root, b)?),
        None => two_newest(&db, &args.a)?,
    };
    let changes = diff::between(&db, a.id, b.id)?.changes;
    let mut t = Table::new(&["change", "path", "from", "kind", "size", "detail"]);
    let mut counts: HashMap<&str, i64> = HashMap::new();
    let (mut plus, mut minus) = (0i64, 0i64);
    for c in &changes {
        *counts.entry(c.what).or_default() += 1;
        match c.what {
            "added" | "modified" => plus += c.size,
            "removed" => minus += c.size,
            _ => {}
        }
        t.push(vec![
            c.what.into(),
            c.path.clone().into(),
            c.from.clone().into(),
            c.kind.clone().into(),
            Cell::Bytes(c.size),
            c.detail.clone().into(),
        ]);
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    if args.out.json {
        let rows: serde_json::Value = serde_json::from_str(&t.render(Format::Json, true))?;
        let doc = serde_json::json!({
            "from": a.label(),
            "to": b.label(),
            "changes": rows,
            "totals": {
                "added": count("added"), "removed": count("removed"),
                "modified": count("modified"), "renamed": count("renamed"), "moved": count("moved"),
                "bytes_added": plus, "bytes_removed": minus,
            }
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{} -> {}", a.label(), b.label());
        print!("{}", t.render(Format::Table, args.out.bytes));
        let size = |n: i64| {
            if args.out.bytes {
                n.to_string()
            } else {
                human_bytes(n as u64)
            }
        };
        println!(
            "{} added, {} removed, {} modified, {} renamed, {} moved; {} new or changed, {} removed",
            count("added"),
            count("removed"),
            count("modified"),
            count("renamed"),
            count("moved"),
            size(plus),
            size(minus)
        );
    }
    Ok(Outcome::Clean)
}

/// The two newest complete snapshots of `name`, older first.
fn two_newest(db: &Db, name: &str) -> Result<(SnapshotRow, SnapshotRow)> {
    let mut runs: Vec<SnapshotRow> = SnapshotRow::all(db)?
        .into_iter()
        .filter(|s| s.name == name && s.status == Status::Complete)
        .collect();
    if runs.len() < 2 {
        bail!(
            "{name}: needs two complete snapshots of this name to compare, has {}",
            runs.len()
        );
    }
    let b = runs.pop().expect("two runs");
    let a = runs.pop().expect("two runs");
    Ok((a, b))
}
