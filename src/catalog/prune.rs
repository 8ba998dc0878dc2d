//! Typed queries for removing snapshots (prune, forget): the members of a name with their
//! times, what removing a set of snapshots frees, and deleting their rows.
//!
//! "Freed" is exact from the catalog: a stored copy is freed when every version that
//! uses it is held only by removed snapshots (`versions`).

use super::db::Db;
use super::snapshots::SnapshotRow;
use super::versions;
use anyhow::Result;
use rusqlite::params;

/// Every run of `name` (all names when None), oldest first in the creation order.
pub fn members(db: &Db, name: Option<&str>) -> Result<Vec<SnapshotRow>> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {} FROM snapshot_runs
         WHERE ?1 IS NULL OR name = ?1 ORDER BY {}",
        super::snapshots::COLUMNS,
        super::snapshots::OLDEST_FIRST
    ))?;
    let rows = stmt
        .query_map([name], super::snapshots::row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// How many entries (files, folders, symlinks) the catalog records in snapshot `id`.
pub fn entry_count(db: &Db, id: i64) -> Result<u64> {
    let n: i64 = db.conn().query_row(
        "SELECT count(*) FROM entries WHERE snapshot_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

/// A stored copy whose every link is in a removed snapshot.
#[derive(Debug, Clone)]
pub struct FreedCopy {
    pub copy_id: i64,
    pub content_id: i64,
    pub size: u64,
    /// Where one link of it is: snapshot id and path inside that snapshot.
    pub snapshot_id: i64,
    pub path: Vec<u8>,
}

/// A path of a removed snapshot that is not a regular file (folder or symlink), whose
/// own disk blocks go with the snapshot.
#[derive(Debug, Clone)]
pub struct OtherEntry {
    pub snapshot_id: i64,
    pub path: Vec<u8>,
}

/// What removing a set of snapshots frees, from the catalog.
#[derive(Debug, Clone, Default)]
pub struct Freed {
    pub copies: Vec<FreedCopy>,
    pub others: Vec<OtherEntry>,
}

/// What removing the snapshots `ids` would free, the snapshots `hollow` holding nothing
/// (their folder gone from disk, or `missing`: their entries keep no copy).
///
/// A stored copy is freed when every version that uses it is held only by removed or
/// hollow snapshots: one pass over the copies index with the snapshots' places in memory
/// (`versions::orphans`), so removing 1 or 500 snapshots costs about the same.
pub fn freed(db: &Db, ids: &[i64], hollow: &[i64]) -> Result<Freed> {
    let tx = db.conn().unchecked_transaction()?;
    let going: std::collections::HashSet<i64> = ids.iter().chain(hollow).copied().collect();
    let lines = versions::Lines::load(db, &going)?;
    let doomed: std::collections::HashSet<i64> = ids.iter().copied().collect();
    let mut copies = Vec::new();
    {
        let mut info = tx.prepare_cached(
            "SELECT k.content_id, c.size FROM copies k JOIN contents c ON c.id = k.content_id
             WHERE k.id = ?1",
        )?;
        let mut path = tx.prepare_cached(
            "SELECT p.path FROM entries e JOIN paths p ON p.id = e.path_id
             WHERE e.snapshot_id = ?1 AND e.copy_id = ?2 LIMIT 1",
        )?;
        for o in versions::orphans(db, &lines)? {
            // A copy only hollow snapshots hold goes with the catalog rows, not with the
            // removal of a folder: it is reported only with a removed snapshot.
            if !doomed.contains(&o.snapshot_id) && !linked_by_doomed(&tx, o.copy_id, &doomed)? {
                continue;
            }
            let (content_id, size): (i64, i64) =
                info.query_row([o.copy_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let snapshot_id = if doomed.contains(&o.snapshot_id) {
                o.snapshot_id
            } else {
                first_doomed_linking(&tx, o.copy_id, &doomed)?.unwrap_or(o.snapshot_id)
            };
            copies.push(FreedCopy {
                copy_id: o.copy_id,
                content_id,
                size: size.max(0) as u64,
                snapshot_id,
                path: path
                    .query_row(params![snapshot_id, o.copy_id], |r| r.get(0))
                    .unwrap_or_default(),
            });
        }
    }
    let mut others = Vec::new();
    versions::going_non_files(db, &lines, &doomed, |snapshot_id, path| {
        others.push(OtherEntry {
            snapshot_id,
            path: path.to_vec(),
        })
    })?;
    tx.commit()?;
    Ok(Freed { copies, others })
}

/// The removed snapshots that link stored copy `copy_id`, lowest id first.
fn first_doomed_linking(
    tx: &rusqlite::Transaction,
    copy_id: i64,
    doomed: &std::collections::HashSet<i64>,
) -> Result<Option<i64>> {
    let mut stmt = tx.prepare_cached("SELECT snapshot_id FROM entries WHERE copy_id = ?1")?;
    let ids = stmt.query_map([copy_id], |r| r.get::<_, i64>(0))?;
    let mut best: Option<i64> = None;
    for id in ids {
        let id = id?;
        if doomed.contains(&id) {
            best = Some(best.map_or(id, |b| b.min(id)));
        }
    }
    Ok(best)
}

fn linked_by_doomed(
    tx: &rusqlite::Transaction,
    copy_id: i64,
    doomed: &std::collections::HashSet<i64>,
) -> Result<bool> {
    Ok(first_doomed_linking(tx, copy_id, doomed)?.is_some())
}

/// Deletes the run `id`, the versions only it held, and the stored copies and contents
/// only those used, in one transaction.
pub fn delete_run(db: &Db, id: i64) -> Result<()> {
    let tx = db.conn().unchecked_transaction()?;
    let place = versions::place_of(db, id)?;
    tx.execute("DELETE FROM trimmed_entries WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM source_links WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM snapshot_runs WHERE id = ?1", [id])?;
    if let Some(place) = place {
        let used = versions::drop_unheld(db, place.line, place.pos)?;
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS going (id INTEGER PRIMARY KEY);
             CREATE TEMP TABLE IF NOT EXISTS orphans (id INTEGER PRIMARY KEY);
             DELETE FROM going; DELETE FROM orphans;",
        )?;
        {
            let mut put = tx.prepare_cached(
                "INSERT OR IGNORE INTO temp.going (id) SELECT ?1
                 WHERE NOT EXISTS (SELECT 1 FROM versions WHERE copy_id = ?1)",
            )?;
            for copy in used {
                put.execute([copy])?;
            }
        }
        tx.execute_batch(
            "INSERT OR IGNORE INTO orphans SELECT k.content_id FROM temp.going g JOIN copies k ON k.id = g.id;
             DELETE FROM copies WHERE id IN (SELECT id FROM temp.going);
             -- Only the contents of the copies just deleted can have lost their last copy.
             DELETE FROM contents WHERE id IN (SELECT id FROM temp.orphans)
                 AND NOT EXISTS (SELECT 1 FROM copies k WHERE k.content_id = contents.id);
             DELETE FROM orphans; DELETE FROM going;",
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// True when content `content_id` keeps a stored copy outside `going` that a snapshot
/// outside `dead` (removed or hollow) links. The usual content has one copy, found
/// going with one index probe; each other copy is looked for snapshot by snapshot.
pub fn keeps_a_copy(
    db: &Db,
    content_id: i64,
    going: &std::collections::HashSet<i64>,
    dead: &[i64],
) -> Result<bool> {
    let copies: Vec<i64> = db
        .conn()
        .prepare_cached("SELECT id FROM copies WHERE content_id = ?1")?
        .query_map([content_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let others: Vec<i64> = copies.into_iter().filter(|c| !going.contains(c)).collect();
    if others.is_empty() {
        return Ok(false);
    }
    let dead = serde_json::to_string(dead)?;
    let mut linked = db.conn().prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM snapshot_runs s WHERE s.id NOT IN
             (SELECT value FROM json_each(?2))
         AND EXISTS (SELECT 1 FROM entries e WHERE e.snapshot_id = s.id AND e.copy_id = ?1))",
    )?;
    for copy in others {
        if linked.query_row(rusqlite::params![copy, dead], |r| r.get::<_, bool>(0))? {
            return Ok(true);
        }
    }
    Ok(false)
}
