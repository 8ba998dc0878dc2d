//! Typed queries on snapshot entries: the previous snapshot's files for a run, and every
//! entry of a snapshot for verify.

use std::collections::HashMap;

use anyhow::Result;

use super::Db;

use super::copies::copy_meta;
use crate::decide::{CopyMeta, PrevEntry, PrevMap};
use crate::scan::{Kind, Meta, Seen};

/// What the run compares a previous file with (`prev_row`), from rows `e`, `p`, `k`, `c`.
const PREVIOUS_COLUMNS: &str = "p.path, e.size, e.mtime_ns, e.mtime_exact, c.hash, k.id, k.ino,
        k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact, p.id, coalesce(k.xattr_set_id, 0),
        coalesce(e.xattr_set_id, 0), e.src_ino, e.src_ctime_ns";

/// The regular files of snapshot ?1 whose stored copy is in order (`PREVIOUS_COLUMNS`).
fn previous_sql() -> String {
    format!(
        "SELECT {PREVIOUS_COLUMNS}
         FROM entries e
         JOIN paths p ON p.id = e.path_id
         JOIN copies k ON k.id = e.copy_id
         JOIN contents c ON c.id = k.content_id
         WHERE e.snapshot_id = ?1 AND e.kind = 'file' AND k.state = 'ok'"
    )
}

/// The regular files run ?1 recorded itself, new or changed since the run before (the
/// versions that start at its place): what an interrupted run finished in its folder.
fn own_sql() -> String {
    format!(
        "SELECT {PREVIOUS_COLUMNS}
         FROM snapshot_runs s
         JOIN versions e ON e.line = s.line AND e.lo = s.pos
         JOIN paths p ON p.id = e.path_id
         JOIN copies k ON k.id = e.copy_id
         JOIN contents c ON c.id = k.content_id
         WHERE s.id = ?1 AND e.kind = 'file' AND k.state = 'ok'"
    )
}

/// `PREVIOUS` in the byte order of the paths: CROSS JOIN fixes SQLite's join order so it
/// walks the paths index in order and looks each path up in the snapshot, never sorting
/// (left to itself it scans the copies and sorts every row in a temp B-tree).
fn previous_in_order_sql() -> String {
    format!(
        "SELECT {PREVIOUS_COLUMNS}
         FROM snapshot_runs s
         CROSS JOIN paths p
         CROSS JOIN versions e ON e.line = s.line AND e.path_id = p.id AND e.lo <= s.pos
                                  AND e.hi >= s.pos
         CROSS JOIN copies k ON k.id = e.copy_id
         CROSS JOIN contents c ON c.id = k.content_id
         WHERE s.id = ?1 AND e.kind = 'file' AND k.state = 'ok'
         ORDER BY p.path"
    )
}

fn prev_row(r: &rusqlite::Row) -> Result<(Vec<u8>, PrevEntry)> {
    let prev = PrevEntry {
        size: r.get::<_, i64>(1)? as u64,
        mtime_ns: super::mtime::read(r, 2)?,
        hash: r.get(4)?,
        copy_id: r.get(5)?,
        copy_ino: r.get::<_, i64>(6)? as u64,
        copy: copy_meta(r, 7, 13)?,
        path_id: r.get(12)?,
        set_id: r.get(14)?,
        seen: r.get::<_, Option<i64>>(15)?.map(|ino| Seen {
            ino: ino as u64,
            ctime_ns: r.get(16).ok().flatten(),
            ctime_trusted: false,
        }),
    };
    Ok((r.get(0)?, prev))
}

/// Loads the regular files of a snapshot as path bytes -> what was recorded, in one query.
pub fn previous_entries(db: &Db, snapshot_id: i64) -> Result<PrevMap> {
    load(db, snapshot_id, &previous_sql())
}

/// Loads the regular files an interrupted run recorded itself (`own_sql`): an unchanged
/// file it met is the previous snapshot's, and its copy is linked from there.
pub fn own_entries(db: &Db, snapshot_id: i64) -> Result<PrevMap> {
    load(db, snapshot_id, &own_sql())
}

fn load(db: &Db, snapshot_id: i64, sql: &str) -> Result<PrevMap> {
    let conn = db.conn();
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([snapshot_id])?;
    let mut map = HashMap::new();
    while let Some(r) = rows.next()? {
        let (path, prev) = prev_row(r)?;
        map.insert(path, prev);
    }
    Ok(map)
}

/// Streams the regular files of a snapshot in the byte order of their paths, which is
/// the order a walk hands files on (`scan`: a folder's entries sorted with a `/` after
/// each folder's name), to `take` until it returns false. Memory stays flat: SQLite walks
/// the paths index and looks each path up in the snapshot.
pub fn previous_in_path_order(
    db: &Db,
    snapshot_id: i64,
    mut take: impl FnMut(Vec<u8>, PrevEntry) -> bool,
) -> Result<()> {
    let conn = db.conn();
    let mut stmt = conn.prepare(&previous_in_order_sql())?;
    let mut rows = stmt.query([snapshot_id])?;
    while let Some(r) = rows.next()? {
        let (path, prev) = prev_row(r)?;
        if !take(path, prev) {
            break;
        }
    }
    Ok(())
}

/// The stored copy behind a recorded file.
#[derive(Debug, Clone)]
pub struct CopyInfo {
    pub id: i64,
    pub ino: u64,
    pub meta: CopyMeta,
    pub hash: Vec<u8>,
}

/// One entry of a snapshot as the catalog recorded it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: Vec<u8>,
    pub kind: Kind,
    /// The path's own metadata.
    pub meta: Meta,
    pub target: Option<Vec<u8>>,
    pub copy: Option<CopyInfo>,
}

/// What a restore reads of an entry (`recorded`), from `entries e`, `paths p`, `copies k`
/// and `contents c`.
const RECORDED: &str =
    "SELECT p.path, e.kind, e.size, e.mtime_ns, e.mtime_exact, e.mode, e.uid, e.gid,
        e.target, k.id, k.ino, k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact, c.hash,
        coalesce(k.xattr_set_id, 0), coalesce(e.xattr_set_id, 0), e.path_id
     FROM entries e
     JOIN paths p ON p.id = e.path_id
     LEFT JOIN copies k ON k.id = e.copy_id
     LEFT JOIN contents c ON c.id = k.content_id";

fn recorded(r: &rusqlite::Row) -> rusqlite::Result<Recorded> {
    let copy_id: Option<i64> = r.get(9)?;
    let copy = match copy_id {
        Some(id) => Some(CopyInfo {
            id,
            ino: r.get::<_, i64>(10)? as u64,
            meta: copy_meta(r, 11, 17)?,
            hash: r.get(16)?,
        }),
        None => None,
    };
    Ok(Recorded {
        path: r.get(0)?,
        kind: r.get(1)?,
        meta: Meta {
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: super::mtime::read(r, 3)?,
            mode: r.get(5)?,
            uid: r.get(6)?,
            gid: r.get(7)?,
            xattrs: r.get(18)?,
        },
        target: r.get(8)?,
        copy,
    })
}

/// Every entry of a snapshot, in path order.
pub fn snapshot_entries(db: &Db, snapshot_id: i64) -> Result<Vec<Recorded>> {
    in_path_order(db, snapshot_id, "")
}

/// The folders and symlinks of a snapshot, in path order (a folder before what it holds).
pub fn snapshot_non_files(db: &Db, snapshot_id: i64) -> Result<Vec<Recorded>> {
    in_path_order(db, snapshot_id, "AND e.kind != 'file'")
}

/// The entries of a snapshot that pass `and` (SQL after the snapshot's condition), in
/// path order.
fn in_path_order(db: &Db, snapshot_id: i64, and: &str) -> Result<Vec<Recorded>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(&format!(
        "{RECORDED} WHERE e.snapshot_id = ?1 {and} ORDER BY p.path"
    ))?;
    let rows = stmt
        .query_map([snapshot_id], recorded)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Entries a restore or verify reads from the catalog at a time (~300 bytes each while
/// held).
const RUN_SIZE: usize = 20_000;

/// `RUN_SIZE`, or `PHLB_DEBUG_ENTRY_RUN` when set: a test knob (as the writer's
/// `PHLB_DEBUG_BATCH_ROWS`) so a small tree is read in many runs; it changes only how
/// many entries are held at a time, never what is restored or verified.
pub fn run_size() -> usize {
    std::env::var("PHLB_DEBUG_ENTRY_RUN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUN_SIZE)
}

/// The entries of a snapshot (all, or its files) in runs of at most `limit`, in the
/// order of their path ids (each run a query of its own that starts after the last one:
/// a restore or verify of a million files holds one run at a time, and no read stays
/// open between runs).
pub struct SnapshotRuns<'a> {
    db: &'a Db,
    snapshot_id: i64,
    files_only: bool,
    after: i64,
    limit: usize,
    done: bool,
}

impl<'a> SnapshotRuns<'a> {
    /// The regular files of snapshot `snapshot_id`.
    pub fn files(db: &'a Db, snapshot_id: i64, limit: usize) -> SnapshotRuns<'a> {
        SnapshotRuns::new(db, snapshot_id, true, limit)
    }

    /// Every entry of snapshot `snapshot_id`.
    pub fn all(db: &'a Db, snapshot_id: i64, limit: usize) -> SnapshotRuns<'a> {
        SnapshotRuns::new(db, snapshot_id, false, limit)
    }

    fn new(db: &'a Db, snapshot_id: i64, files_only: bool, limit: usize) -> SnapshotRuns<'a> {
        SnapshotRuns {
            db,
            snapshot_id,
            files_only,
            after: i64::MIN,
            limit: limit.max(1),
            done: false,
        }
    }

    fn run(&mut self) -> Result<Vec<Recorded>> {
        let conn = self.db.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{RECORDED} WHERE e.snapshot_id = ?1 AND e.path_id > ?2
                 AND (?4 = 0 OR e.kind = 'file')
             ORDER BY e.path_id LIMIT ?3"
        ))?;
        let mut out = Vec::new();
        let mut rows = stmt.query(rusqlite::params![
            self.snapshot_id,
            self.after,
            self.limit as i64,
            self.files_only
        ])?;
        while let Some(r) = rows.next()? {
            self.after = r.get(19)?;
            out.push(recorded(r)?);
        }
        self.done = out.len() < self.limit;
        Ok(out)
    }
}

impl Iterator for SnapshotRuns<'_> {
    type Item = Result<Vec<Recorded>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.run() {
            Ok(run) if run.is_empty() => None,
            Ok(run) => Some(Ok(run)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// How many entries a snapshot holds and the sum of their sizes.
pub fn snapshot_totals(db: &Db, snapshot_id: i64) -> Result<(u64, u64)> {
    Ok(db.conn().query_row(
        "SELECT count(*), coalesce(sum(size), 0)
         FROM entries WHERE snapshot_id = ?1",
        [snapshot_id],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )?)
}

/// The distinct extended attribute sets (non-zero ids) the entries of a snapshot carry.
pub fn snapshot_xattr_sets(db: &Db, snapshot_id: i64) -> Result<Vec<i64>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(
        "SELECT DISTINCT xattr_set_id FROM entries
         WHERE snapshot_id = ?1 AND xattr_set_id IS NOT NULL AND xattr_set_id > 0",
    )?;
    let ids = stmt
        .query_map([snapshot_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}
