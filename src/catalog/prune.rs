//! Typed queries for removing snapshots (prune, forget): the members of a name with their
//! times, what removing a set of snapshots frees, and deleting their rows.
//!
//! "Freed" is exact from the catalog: a stored copy is freed when every entry that links
//! it is in a removed snapshot. The check scans the copies once and, per copy, looks at
//! its newest entry first through the `entries_by_copy` index, so the usual copy (still
//! in the newest, kept snapshot) costs one index probe.

use super::db::Db;
use anyhow::Result;

use super::snapshots::SnapshotRow;

/// A snapshot run with the time it was taken (`started_at`, RFC 3339 UTC) and its counts.
#[derive(Debug, Clone)]
pub struct Member {
    pub row: SnapshotRow,
    pub started_at: String,
    pub files: u64,
}

/// Every run of `name` (all names when None), oldest first by id.
pub fn members(db: &Db, name: Option<&str>) -> Result<Vec<Member>> {
    let mut stmt = db.conn().prepare(
        "SELECT id, name, timestamp, status, hash_algo, started_at, files FROM snapshot_runs
         WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([name], |r| {
            Ok(Member {
                row: SnapshotRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    timestamp: r.get(2)?,
                    status: r.get(3)?,
                    hash_algo: r.get(4)?,
                },
                started_at: r.get(5)?,
                files: r.get::<_, i64>(6)?.max(0) as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// A stored copy whose every link is in a removed snapshot.
#[derive(Debug, Clone)]
pub struct FreedCopy {
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

/// What removing the snapshots `ids` would free.
pub fn freed(db: &Db, ids: &[i64]) -> Result<Freed> {
    let tx = db.conn().unchecked_transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed_runs (id INTEGER PRIMARY KEY);
         DELETE FROM doomed_runs;",
    )?;
    {
        let mut put = tx.prepare("INSERT OR IGNORE INTO doomed_runs (id) VALUES (?1)")?;
        for id in ids {
            put.execute([id])?;
        }
    }
    let copies: Vec<FreedCopy> = {
        let mut stmt = tx.prepare(
            "WITH newest AS (
                 SELECT k.id, k.content_id,
                        (SELECT e.snapshot_id FROM entries e WHERE e.copy_id = k.id
                         ORDER BY e.snapshot_id DESC LIMIT 1) AS sid
                 FROM copies k)
             SELECT n.content_id, c.size, n.sid,
                    (SELECT p.path FROM entries e JOIN paths p ON p.id = e.path_id
                     WHERE e.copy_id = n.id AND e.snapshot_id = n.sid LIMIT 1)
             FROM newest n JOIN contents c ON c.id = n.content_id
             WHERE n.sid IN (SELECT id FROM temp.doomed_runs)
               AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.copy_id = n.id
                               AND e.snapshot_id NOT IN (SELECT id FROM temp.doomed_runs))",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(FreedCopy {
                    content_id: r.get(0)?,
                    size: r.get::<_, i64>(1)?.max(0) as u64,
                    snapshot_id: r.get(2)?,
                    path: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    let others = {
        let mut stmt = tx.prepare(
            "SELECT e.snapshot_id, p.path FROM temp.doomed_runs d
             JOIN entries e ON e.snapshot_id = d.id JOIN paths p ON p.id = e.path_id
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
    tx.execute("DELETE FROM doomed_runs", [])?;
    tx.commit()?;
    Ok(Freed { copies, others })
}

/// Deletes the run `id`, its entries, and the stored copies and contents only it used,
/// in one transaction.
pub fn delete_run(db: &Db, id: i64) -> Result<()> {
    let tx = db.conn().unchecked_transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS doomed_copies (id INTEGER PRIMARY KEY, content_id INTEGER);
         DELETE FROM doomed_copies;",
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO doomed_copies (id) SELECT copy_id FROM entries
         WHERE snapshot_id = ?1 AND copy_id IS NOT NULL",
        [id],
    )?;
    tx.execute("DELETE FROM entries WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM trimmed_entries WHERE snapshot_id = ?1", [id])?;
    tx.execute("DELETE FROM snapshot_runs WHERE id = ?1", [id])?;
    // One pass over the other snapshots' copy index spares the copies still linked.
    tx.execute(
        "DELETE FROM doomed_copies WHERE id IN
         (SELECT e.copy_id FROM entries e JOIN doomed_copies d ON d.id = e.copy_id)",
        [],
    )?;
    tx.execute(
        "UPDATE doomed_copies SET content_id = (SELECT content_id FROM copies k WHERE k.id = doomed_copies.id)",
        [],
    )?;
    tx.execute(
        "DELETE FROM copies WHERE id IN (SELECT id FROM doomed_copies)",
        [],
    )?;
    // Only the contents of the copies just deleted can have lost their last copy.
    tx.execute(
        "DELETE FROM contents WHERE id IN (SELECT content_id FROM doomed_copies)
         AND NOT EXISTS (SELECT 1 FROM copies k WHERE k.content_id = contents.id)",
        [],
    )?;
    tx.execute("DELETE FROM doomed_copies", [])?;
    tx.commit()?;
    Ok(())
}

/// How many stored copies content `content_id` has.
pub fn copy_count(db: &Db, content_id: i64) -> Result<u64> {
    let n: i64 = db
        .conn()
        .prepare_cached("SELECT count(*) FROM copies WHERE content_id = ?1")?
        .query_row([content_id], |r| r.get(0))?;
    Ok(n as u64)
}
