//! Typed queries for `prune --keep-versions`: which paths hold versions older than the N
//! newest distinct contents of that path, moving them to `trimmed_entries`, and the
//! trims still to be finished on disk.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use rusqlite::params;

use super::db::Db;
use super::SnapshotRow;

/// One path of one snapshot whose version is to go.
#[derive(Debug, Clone)]
pub struct Old {
    pub snapshot_id: i64,
    pub path_id: i64,
    pub path: Vec<u8>,
    pub copy_id: i64,
    pub content_id: i64,
    pub size: u64,
}

/// The file entries of the complete snapshots of `name` whose content is not among the
/// `keep` newest distinct contents of their path (newest: by the newest snapshot holding
/// it, snapshots ordered by their time), leaving out the snapshots `skip` (about to be
/// removed). The newest snapshot's entries never are.
pub fn older_versions(db: &Db, name: &str, keep: u32, skip: &[i64]) -> Result<Vec<Old>> {
    let skip = serde_json::to_string(skip)?;
    let mut stmt = db.conn().prepare(
        "WITH runs AS (
             SELECT id, row_number() OVER (ORDER BY sequence, instant_ns, id) AS rank
             FROM snapshot_runs WHERE name = ?1 AND status = 'complete'
             AND id NOT IN (SELECT value FROM json_each(?3))),
         seen AS (
             SELECT e.snapshot_id, e.path_id, e.copy_id, k.content_id, r.rank
             FROM runs r CROSS JOIN entries e ON e.snapshot_id = r.id
             JOIN copies k ON k.id = e.copy_id
             WHERE e.kind = 'file'),
         versions AS (
             SELECT path_id, content_id,
                    row_number() OVER (PARTITION BY path_id ORDER BY max(rank) DESC) AS age
             FROM seen GROUP BY path_id, content_id)
         SELECT s.snapshot_id, s.path_id, p.path, s.copy_id, s.content_id, c.size
         FROM seen s
         JOIN versions v ON v.path_id = s.path_id AND v.content_id = s.content_id
         JOIN paths p ON p.id = s.path_id
         JOIN contents c ON c.id = s.content_id
         WHERE v.age > ?2
         ORDER BY s.snapshot_id, p.path",
    )?;
    let rows = stmt
        .query_map(params![name, keep, skip], |r| {
            Ok(Old {
                snapshot_id: r.get(0)?,
                path_id: r.get(1)?,
                path: r.get(2)?,
                copy_id: r.get(3)?,
                content_id: r.get(4)?,
                size: r.get::<_, i64>(5)?.max(0) as u64,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Of the stored copies `olds` link, those whose every entry is among `olds` or in the
/// snapshots `removed` (they go with the trim): one `Old` per such copy.
pub fn freed_by(db: &Db, olds: &[Old], removed: &[i64]) -> Result<Vec<Old>> {
    let removed = serde_json::to_string(removed)?;
    let mut per_copy: HashMap<i64, (u64, &Old)> = HashMap::new();
    for o in olds {
        per_copy.entry(o.copy_id).or_insert((0, o)).0 += 1;
    }
    let mut count = db.conn().prepare_cached(
        "SELECT count(*), count(*) FILTER (WHERE snapshot_id IN (SELECT value FROM json_each(?2)))
         FROM entries WHERE copy_id = ?1",
    )?;
    let mut out = Vec::new();
    for (copy_id, (n, old)) in per_copy {
        let (all, in_removed): (i64, i64) =
            count.query_row(params![copy_id, removed], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if all as u64 == n + in_removed as u64 {
            out.push(old.clone());
        }
    }
    Ok(out)
}

/// Moves the entries `olds` of snapshot `snapshot_id` to `trimmed_entries` (not yet
/// done on disk), marks the snapshot trimmed, and drops the copies and contents nothing
/// links any more; one transaction.
pub fn record(db: &Db, snapshot_id: i64, olds: &[Old], now: &str) -> Result<()> {
    let tx = db.conn().unchecked_transaction()?;
    let mut copies = HashSet::new();
    {
        let mut keep = tx.prepare_cached(
            "INSERT OR REPLACE INTO trimmed_entries
                 (snapshot_id, path_id, size, mtime_ns, mode, hash, trimmed_at, done)
             SELECT e.snapshot_id, e.path_id, e.size, e.mtime_ns, e.mode, c.hash, ?3, 0
             FROM entries e JOIN copies k ON k.id = e.copy_id JOIN contents c ON c.id = k.content_id
             WHERE e.snapshot_id = ?1 AND e.path_id = ?2",
        )?;
        let mut drop =
            tx.prepare_cached("DELETE FROM entries WHERE snapshot_id = ?1 AND path_id = ?2")?;
        for o in olds.iter().filter(|o| o.snapshot_id == snapshot_id) {
            keep.execute(params![snapshot_id, o.path_id, now])?;
            drop.execute(params![snapshot_id, o.path_id])?;
            copies.insert(o.copy_id);
        }
    }
    let (files, bytes) = olds
        .iter()
        .filter(|o| o.snapshot_id == snapshot_id)
        .fold((0i64, 0i64), |(n, b), o| (n + 1, b + o.size as i64));
    tx.execute(
        "UPDATE snapshot_runs SET trimmed = 1, files = max(files - ?2, 0), bytes = max(bytes - ?3, 0)
         WHERE id = ?1",
        params![snapshot_id, files, bytes],
    )?;
    {
        let mut unused = tx.prepare_cached(
            "DELETE FROM copies WHERE id = ?1 AND NOT EXISTS
             (SELECT 1 FROM versions WHERE copy_id = ?1) RETURNING content_id",
        )?;
        let mut orphan = tx.prepare_cached(
            "DELETE FROM contents WHERE id = ?1 AND NOT EXISTS
             (SELECT 1 FROM copies WHERE content_id = ?1)",
        )?;
        for copy in copies {
            let gone: Option<i64> =
                unused
                    .query_row([copy], |r| r.get(0))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
            if let Some(content) = gone {
                orphan.execute([content])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// A snapshot with trims not yet finished on disk.
#[derive(Debug, Clone)]
pub struct Pending {
    pub run: SnapshotRow,
    /// The paths to remove from its folder and manifest.
    pub paths: Vec<Vec<u8>>,
}

/// Every snapshot with trims not yet finished on disk.
pub fn pending(db: &Db) -> Result<Vec<Pending>> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {}, p.path
         FROM trimmed_entries t JOIN snapshot_runs s ON s.id = t.snapshot_id
         JOIN paths p ON p.id = t.path_id
         WHERE t.done = 0 ORDER BY s.id",
        super::snapshots::columns_of("s")
    ))?;
    let mut out: Vec<Pending> = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let path: Vec<u8> = r.get(super::snapshots::COLUMN_COUNT)?;
        match out.last_mut() {
            Some(last) if last.run.id == id => last.paths.push(path),
            _ => out.push(Pending {
                run: super::snapshots::row(r)?,
                paths: vec![path],
            }),
        }
    }
    Ok(out)
}

/// Marks the trims of snapshot `snapshot_id` done on disk.
pub fn mark_done(db: &Db, snapshot_id: i64) -> Result<()> {
    db.conn().execute(
        "UPDATE trimmed_entries SET done = 1 WHERE snapshot_id = ?1 AND done = 0",
        [snapshot_id],
    )?;
    Ok(())
}

/// The paths `prune --keep-versions` removed from snapshot `snapshot_id`, with when.
pub fn trimmed_paths(db: &Db, snapshot_id: i64) -> Result<HashMap<Vec<u8>, String>> {
    let mut stmt = db.conn().prepare(
        "SELECT p.path, t.trimmed_at FROM trimmed_entries t JOIN paths p ON p.id = t.path_id
         WHERE t.snapshot_id = ?1",
    )?;
    let rows = stmt
        .query_map([snapshot_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
