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
///
/// Read from the versions of the name's line, each once with the snapshots that hold it
/// (their newest by a range-maximum table over the places), not from every snapshot's
/// rows: a thousand snapshots of a million files are two million versions, not a
/// billion rows.
pub fn older_versions(db: &Db, name: &str, keep: u32, skip: &[i64]) -> Result<Vec<Old>> {
    let conn = db.conn();
    // The complete snapshots that count, by place, with their rank in time order.
    let mut runs: Vec<(i64, i64, i64)> = Vec::new(); // (place, id, rank)
    let mut line: Option<i64> = None;
    {
        let mut stmt = conn.prepare(&format!(
            "SELECT pos, id, line FROM snapshot_runs WHERE name = ?1 AND status = 'complete'
             ORDER BY {}",
            super::snapshots::OLDEST_FIRST
        ))?;
        let mut rows = stmt.query([name])?;
        let mut rank = 0i64;
        while let Some(r) = rows.next()? {
            let (pos, id, l): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if skip.contains(&id) {
                continue;
            }
            rank += 1;
            runs.push((pos, id, rank));
            line = Some(l);
        }
    }
    let Some(line) = line else {
        return Ok(Vec::new());
    };
    runs.sort_unstable();
    let newest = RangeMax::new(runs.iter().map(|r| r.2).collect());
    let held = |lo: i64, hi: i64| {
        let from = runs.partition_point(|r| r.0 < lo);
        let to = runs.partition_point(|r| r.0 <= hi).max(from);
        (from, to)
    };
    let mut out = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT v.path_id, v.lo, v.hi, v.copy_id, k.content_id, c.size
         FROM versions v JOIN copies k ON k.id = v.copy_id JOIN contents c ON c.id = k.content_id
         WHERE v.line = ?1 AND v.kind = 'file' ORDER BY v.path_id, v.lo",
    )?;
    let mut path_of = conn.prepare_cached("SELECT path FROM paths WHERE id = ?1")?;
    let mut rows = stmt.query([line])?;
    // One path's versions at a time: (range of runs, copy, content, size).
    let mut current: Option<i64> = None;
    let mut group: Vec<((usize, usize), i64, i64, i64)> = Vec::new();
    let mut settle =
        |path_id: i64, group: &mut Vec<((usize, usize), i64, i64, i64)>| -> Result<()> {
            // Each content's newest holder; the `keep` newest contents stay.
            let mut contents: HashMap<i64, i64> = HashMap::new();
            for ((from, to), _, content, _) in group.iter() {
                if let Some(rank) = newest.max(*from, *to) {
                    let e = contents.entry(*content).or_insert(rank);
                    *e = (*e).max(rank);
                }
            }
            let mut order: Vec<(i64, i64)> = contents.iter().map(|(c, r)| (*r, *c)).collect();
            order.sort_unstable_by(|a, b| b.cmp(a));
            let old: HashSet<i64> = order.iter().skip(keep as usize).map(|(_, c)| *c).collect();
            if !old.is_empty() {
                let path: Vec<u8> = path_of.query_row([path_id], |r| r.get(0))?;
                for ((from, to), copy, content, size) in group.iter() {
                    if old.contains(content) {
                        for run in &runs[*from..*to] {
                            out.push(Old {
                                snapshot_id: run.1,
                                path_id,
                                path: path.clone(),
                                copy_id: *copy,
                                content_id: *content,
                                size: (*size).max(0) as u64,
                            });
                        }
                    }
                }
            }
            group.clear();
            Ok(())
        };
    while let Some(r) = rows.next()? {
        let path_id: i64 = r.get(0)?;
        if current.is_some_and(|c| c != path_id) {
            settle(current.unwrap_or_default(), &mut group)?;
        }
        current = Some(path_id);
        group.push((held(r.get(1)?, r.get(2)?), r.get(3)?, r.get(4)?, r.get(5)?));
    }
    if let Some(c) = current {
        settle(c, &mut group)?;
    }
    out.sort_by(|a, b| {
        a.snapshot_id
            .cmp(&b.snapshot_id)
            .then_with(|| a.path.cmp(&b.path))
    });
    Ok(out)
}

/// The largest of `v[from..to]` in constant time (a sparse table: the maximum of each
/// run of 2^k values).
struct RangeMax(Vec<Vec<i64>>);

impl RangeMax {
    fn new(v: Vec<i64>) -> RangeMax {
        let mut levels = vec![v];
        let mut width = 1;
        while width * 2 <= levels[0].len() {
            let prev = &levels[levels.len() - 1];
            let next: Vec<i64> = (0..prev.len() - width)
                .map(|i| prev[i].max(prev[i + width]))
                .collect();
            levels.push(next);
            width *= 2;
        }
        RangeMax(levels)
    }

    fn max(&self, from: usize, to: usize) -> Option<i64> {
        if to <= from {
            return None;
        }
        let k = (usize::BITS - 1 - (to - from).leading_zeros()) as usize;
        let level = &self.0[k];
        Some(level[from].max(level[to - (1 << k)]))
    }
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

#[cfg(test)]
mod tests {
    use super::RangeMax;

    #[test]
    fn the_range_maximum_is_the_largest_of_every_range() {
        for n in [0usize, 1, 2, 3, 7, 8, 9, 33] {
            let v: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % 31 - 15).collect();
            let t = RangeMax::new(v.clone());
            for from in 0..=n {
                for to in 0..=n {
                    let want = v.get(from..to).and_then(|s| s.iter().max().copied());
                    assert_eq!(t.max(from, to), want, "n {n} [{from}, {to})");
                }
            }
        }
    }
}
