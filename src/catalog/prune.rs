//! Typed queries for removing snapshots (prune, forget): the members of a name with their
//! times, what removing a set of snapshots frees, and deleting their rows.
//!
//! "Freed" is exact from the catalog: a stored copy is freed when every entry that links
//! it is in a removed snapshot. The check scans the copies once and, per copy, looks at
//! its newest entry first through the `entries_by_copy` index, so the usual copy (still
//! in the newest, kept snapshot) costs one index probe.

use super::db::Db;
use super::snapshots::SnapshotRow;
use anyhow::Result;

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

/// Fills `temp.going` with the stored copies no snapshot outside `temp.doomed_runs`
/// and `hollow` links, each with one removed snapshot that links it. A hollow snapshot
/// (its folder gone from disk, or `missing`) holds nothing: its entries keep no copy.
///
/// Every secondary index of `entries` leads with the snapshot (V5), so "which snapshots
/// link this copy" is asked snapshot by snapshot: start from the copies of the removed
/// snapshots, then drop those each other snapshot links, nearest snapshots first. The
/// set shrinks fast (a copy usually lives in neighbouring snapshots), so a run over
/// 100 snapshots costs about the removed entries plus a few probes per changed file.
fn fill_going(tx: &rusqlite::Transaction, hollow: &[i64]) -> Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS going (id INTEGER PRIMARY KEY, snapshot_id INTEGER);
         DELETE FROM going;
         INSERT INTO going (id, snapshot_id)
             SELECT e.copy_id, max(e.snapshot_id) FROM temp.doomed_runs d
             CROSS JOIN entries e ON e.snapshot_id = d.id
             WHERE e.copy_id IS NOT NULL GROUP BY e.copy_id;",
    )?;
    let removed: Vec<i64> = tx
        .prepare("SELECT id FROM temp.doomed_runs ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut others: Vec<i64> = tx
        .prepare("SELECT id FROM snapshot_runs WHERE id NOT IN (SELECT id FROM temp.doomed_runs)")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    others.retain(|id| !hollow.contains(id));
    let distance = |id: i64| removed.iter().map(|r| (r - id).abs()).min().unwrap_or(0);
    others.sort_by_key(|&id| (distance(id), std::cmp::Reverse(id)));
    let mut spare = tx.prepare(
        "DELETE FROM going WHERE EXISTS
         (SELECT 1 FROM entries e WHERE e.snapshot_id = ?1 AND e.copy_id = going.id)",
    )?;
    let mut left = tx.prepare("SELECT EXISTS (SELECT 1 FROM going)")?;
    for id in others {
        if !left.query_row([], |r| r.get::<_, bool>(0))? {
            break;
        }
        spare.execute([id])?;
    }
    Ok(())
}

/// Puts `ids` into `temp.doomed_runs`.
fn doom(tx: &rusqlite::Transaction, ids: &[i64]) -> Result<()> {
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed_runs (id INTEGER PRIMARY KEY);
         DELETE FROM doomed_runs;",
    )?;
    let mut put = tx.prepare("INSERT OR IGNORE INTO doomed_runs (id) VALUES (?1)")?;
    for id in ids {
        put.execute([id])?;
    }
    Ok(())
}

/// What removing the snapshots `ids` would free, the snapshots `hollow` holding nothing.
pub fn freed(db: &Db, ids: &[i64], hollow: &[i64]) -> Result<Freed> {
    let tx = db.conn().unchecked_transaction()?;
    doom(&tx, ids)?;
    fill_going(&tx, hollow)?;
    let copies: Vec<FreedCopy> = {
        let mut stmt = tx.prepare(
            "SELECT g.id, k.content_id, c.size, g.snapshot_id,
                    (SELECT p.path FROM entries e JOIN paths p ON p.id = e.path_id
                     WHERE e.snapshot_id = g.snapshot_id AND e.copy_id = g.id LIMIT 1)
             FROM temp.going g JOIN copies k ON k.id = g.id JOIN contents c ON c.id = k.content_id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(FreedCopy {
                    copy_id: r.get(0)?,
                    content_id: r.get(1)?,
                    size: r.get::<_, i64>(2)?.max(0) as u64,
                    snapshot_id: r.get(3)?,
                    path: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    let others = {
        let mut stmt = tx.prepare(
            // CROSS JOIN keeps this order: each removed run's entries by primary key,
            // never a scan of every entry probing the (unanalysed) temp table.
            "SELECT e.snapshot_id, p.path FROM temp.doomed_runs d
             CROSS JOIN entries e ON e.snapshot_id = d.id JOIN paths p ON p.id = e.path_id
             WHERE e.kind != 'file'",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OtherEntry {
                    snapshot_id: r.get(0)?,
                    path: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    tx.execute_batch("DELETE FROM doomed_runs; DELETE FROM going;")?;
    tx.commit()?;
    Ok(Freed { copies, others })
}

/// Deletes the run `id`, its entries, and the stored copies and contents only it used,
/// in one transaction.
pub fn delete_run(db: &Db, id: i64) -> Result<()> {
    let tx = db.conn().unchecked_transaction()?;
    doom(&tx, &[id])?;
    fill_going(&tx, &[])?;
    tx.execute("DELETE FROM entries WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM trimmed_entries WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM source_links WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM snapshot_runs WHERE id = ?1", [id])?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS orphans (id INTEGER PRIMARY KEY);
         DELETE FROM orphans;
         INSERT OR IGNORE INTO orphans SELECT k.content_id FROM temp.going g JOIN copies k ON k.id = g.id;
         DELETE FROM copies WHERE id IN (SELECT id FROM temp.going);
         -- Only the contents of the copies just deleted can have lost their last copy.
         DELETE FROM contents WHERE id IN (SELECT id FROM temp.orphans)
             AND NOT EXISTS (SELECT 1 FROM copies k WHERE k.content_id = contents.id);
         DELETE FROM orphans; DELETE FROM going; DELETE FROM doomed_runs;",
    )?;
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
