//! `phlb find`: every snapshot and path matching a glob, from the catalog alone.

use anyhow::Result;

use crate::catalog::queries;
use crate::cli::FindArgs;
use crate::commands::select::{open_read, print};
use crate::config::Config;
use crate::output::{Cell, Table};
use crate::Outcome;

/// Runs `phlb find` (no match is an empty result, not an error).
pub fn run(config: &Config, args: &FindArgs) -> Result<Outcome> {
    let (_, catalog) = open_read(config)?;
    let db = catalog.db()?;
    let found = queries::find(&db, &args.glob, args.name.as_deref())?;
    let mut t = Table::new(&["snapshot", "path", "kind", "size", "mtime", "hash"]);
    for f in found {
        t.push(vec![
            f.snapshot.into(),
            f.path.into(),
            f.kind.into(),
            Cell::Bytes(f.size),
            f.mtime.into(),
            f.hash.into(),
        ]);
    }
    print(&t, &args.out);
    Ok(Outcome::Clean)
}
