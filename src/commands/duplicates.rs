//! `phlb duplicates`: groups of paths with identical content, biggest waste first.

use anyhow::Result;

use crate::catalog::snapshots::Status;
use crate::catalog::{queries, SnapshotRow};
use crate::cli::DuplicatesArgs;
use crate::commands::select::{open_read, print, resolve};
use crate::config::Config;
use crate::output::{Cell, Table};
use crate::Outcome;

/// Runs `phlb duplicates`.
pub fn run(config: &Config, args: &DuplicatesArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config)?;
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
    let mut t = Table::new(&["wasted", "size", "copies", "hash", "paths"]);
    for g in groups {
        t.push(vec![
            Cell::Bytes(g.wasted),
            Cell::Bytes(g.size),
            Cell::Int(g.count),
            g.hash.into(),
            g.paths.join(", ").into(),
        ]);
    }
    print(&t, &args.out);
    Ok(Outcome::Clean)
}
