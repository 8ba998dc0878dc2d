//! Typed queries for resuming an interrupted backup: the runs of a name that died part-way
//! and whose stored copies the next run of that name may link instead of copying (#28).

use anyhow::Result;
use rusqlite::params;

use super::snapshots::{row, COLUMNS};
use super::{Db, SnapshotRow};
use crate::hash::HashAlgo;

/// The runs of `name` from source folder `source` that never finished, with hashes of
/// `algo`, newest first. Rows such a run committed before it died describe files it
/// finished under their final names in its in-progress folder.
pub fn dead_runs_of_source(
    db: &Db,
    name: &str,
    source: &[u8],
    algo: HashAlgo,
) -> Result<Vec<SnapshotRow>> {
    let conn = db.conn();
    let sql = format!(
        "SELECT {COLUMNS} FROM snapshot_runs WHERE name = ?1 AND status = 'incomplete'
         AND source = ?2 AND hash_algo = ?3 ORDER BY id DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params![name, source, algo], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
