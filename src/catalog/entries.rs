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

/// Every entry of a snapshot, in path order.
pub fn snapshot_entries(db: &Db, snapshot_id: i64) -> Result<Vec<Recorded>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(
        "SELECT p.path, e.kind, e.size, e.mtime_ns, e.mtime_exact, e.mode, e.uid, e.gid,
                e.target, k.id, k.ino, k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact, c.hash,
                coalesce(k.xattr_set_id, 0), coalesce(e.xattr_set_id, 0)
         FROM entries e
         JOIN paths p ON p.id = e.path_id
         LEFT JOIN copies k ON k.id = e.copy_id
         LEFT JOIN contents c ON c.id = k.content_id
         WHERE e.snapshot_id = ?1 ORDER BY p.path",
    )?;
    let rows = stmt
        .query_map([snapshot_id], |r| {
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
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
