//! `phlb duplicates`: content stored under more than one path in the selected
//! snapshots, with how many stored copies (inodes) it really takes.

use anyhow::Result;

use crate::catalog::snapshots::Status;
use crate::catalog::{queries, SnapshotRow};
use crate::cli::DuplicatesArgs;
use crate::config::Config;
use crate::ops::open::{open_read, resolve};
use crate::output::{Cell, Table};
use crate::progress::Ui;
use crate::Outcome;

/// Runs `phlb duplicates`.
pub fn run(config: &Config, ui: &Ui, args: &DuplicatesArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let ids: Vec<i64> = match &args.snapshot {
        Some(spec) => vec![resolve(&db, &root, spec)?.id],
        None => {
            let mut newest = std::collections::BTreeMap::new();
            for s in SnapshotRow::all(&db)?
                .into_iter()
                .filter(|s| s.status == Status::Complete)
            {
                newest.insert(s.name.clone(), s.id);
            }
            newest.into_values().collect()
        }
    };
    let groups = queries::duplicates(&db, &ids)?;
    if args.out.json {
        println!("{}", serde_json::to_string_pretty(&groups)?);
        return Ok(Outcome::Clean);
    }
    let mut t = Table::new(&["size", "paths", "inodes", "stored", "hash", "where"]);
    for g in groups {
        t.push(vec![
            Cell::Bytes(g.size),
            Cell::Int(g.paths.len() as i64),
            Cell::Int(g.inodes),
            Cell::Bytes(g.stored_bytes),
            g.hash.into(),
            g.paths.join(", ").into(),
        ]);
    }
    crate::output::print_table(&t, args.out.json, args.out.bytes);
    Ok(Outcome::Clean)
}
