//! Owns the rows a diff compares: the entries each of two snapshots holds and the other
//! does not (in one line, the versions between their places: `rows_apart`), in path-id
//! order, and then the contents and paths of those. A diff of two adjacent snapshots
//! reads what changed between them, not two whole listings.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::OptionalExtension;

use super::Db;
use crate::scan::Kind;

/// One entry of a snapshot as a diff compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub path_id: i64,
    pub kind: Kind,
    pub size: i64,
    pub mtime_ns: i64,
    /// `st_mode` as recorded.
    pub mode: u32,
    /// Its stored copy (files); equal copies mean equal content.
    pub copy_id: Option<i64>,
    /// A symlink's target, raw bytes.
    pub target: Option<Vec<u8>>,
    /// Its extended attribute set (0: none).
    pub xattrs: i64,
}

const ROW_COLUMNS: &str = "path_id, kind, size, mtime_ns, mode, copy_id, CAST(target AS BLOB),
        coalesce(xattr_set_id, 0)";

/// Every entry of a snapshot (the root `.` left out), in path-id order.
pub fn rows(db: &Db, snapshot_id: i64) -> Result<Vec<Row>> {
    read_rows(
        db,
        &format!(
            "SELECT {ROW_COLUMNS} FROM entries WHERE snapshot_id = ?1
               AND path_id IS NOT (SELECT id FROM paths WHERE path = CAST('.' AS BLOB))
             ORDER BY path_id"
        ),
        [snapshot_id, 0, 0],
    )
}

/// The entries of snapshot `snapshot_id` that snapshot `other` does not hold as they
/// are (the root `.` left out), in path-id order. In one line these are the versions
/// that hold one place and not the other: a range of the index of where versions start
/// or end, so two adjacent snapshots cost what changed between them, not two listings.
pub fn rows_apart(db: &Db, snapshot_id: i64, other: i64) -> Result<Vec<Row>> {
    use super::versions::place_of;
    let (Some(a), Some(b)) = (place_of(db, snapshot_id)?, place_of(db, other)?) else {
        return rows(db, snapshot_id);
    };
    if a.line != b.line {
        return rows(db, snapshot_id);
    }
    // Holding place a and not b: ends before b when a is earlier, starts after b when
    // a is later.
    // (The indexes are partial: each query says the term that lets it use its index;
    // `lo > b` with b a place, at least 1, implies `lo > 1`.)
    let (index, range) = if a.pos <= b.pos {
        (
            "versions_by_end",
            "hi >= ?2 AND hi < ?3 AND lo <= ?2 AND hi < 9223372036854775807",
        )
    } else {
        (
            "versions_by_start",
            "lo > ?3 AND lo <= ?2 AND hi >= ?2 AND lo > 1",
        )
    };
    let mut got = read_rows(
        db,
        &format!(
            "SELECT {ROW_COLUMNS} FROM versions INDEXED BY {index} WHERE line = ?1 AND {range}
               AND path_id IS NOT (SELECT id FROM paths WHERE path = CAST('.' AS BLOB))"
        ),
        [a.line, a.pos, b.pos],
    )?;
    got.sort_by_key(|r| r.path_id);
    Ok(got)
}

fn read_rows(db: &Db, sql: &str, args: [i64; 3]) -> Result<Vec<Row>> {
    let mut stmt = db.conn().prepare_cached(sql)?;
    let used = stmt.parameter_count();
    let rows = stmt.query_map(rusqlite::params_from_iter(&args[..used]), |r| {
        Ok(Row {
            path_id: r.get(0)?,
            kind: r.get(1)?,
            size: r.get(2)?,
            mtime_ns: r.get(3)?,
            mode: r.get(4)?,
            copy_id: r.get(5)?,
            target: r.get(6)?,
            xattrs: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The content of each stored copy asked for (by copy id), one seek each.
pub fn contents(db: &Db, copy_ids: impl IntoIterator<Item = i64>) -> Result<HashMap<i64, i64>> {
    let mut stmt = db
        .conn()
        .prepare_cached("SELECT content_id FROM copies WHERE id = ?1")?;
    let mut out = HashMap::new();
    for id in copy_ids {
        if out.contains_key(&id) {
            continue;
        }
        if let Some(c) = stmt.query_row([id], |r| r.get(0)).optional()? {
            out.insert(id, c);
        }
    }
    Ok(out)
}

/// The path of each path id asked for, raw bytes, one seek each.
pub fn paths(db: &Db, ids: impl IntoIterator<Item = i64>) -> Result<HashMap<i64, Vec<u8>>> {
    let mut stmt = db
        .conn()
        .prepare_cached("SELECT path FROM paths WHERE id = ?1")?;
    let mut out = HashMap::new();
    for id in ids {
        if out.contains_key(&id) {
            continue;
        }
        if let Some(p) = stmt.query_row([id], |r| r.get(0)).optional()? {
            out.insert(id, p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_leave_out_the_root_and_come_in_path_id_order() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
               VALUES (1, 'd', '2026-01-01-000000', 'complete', 'sha256', '2026-01-01T00:00:00Z');
             INSERT INTO paths (id, path) VALUES (3, CAST('.' AS BLOB)), (1, CAST('b' AS BLOB)),
               (2, CAST('a' AS BLOB)), (4, CAST('l' AS BLOB));
             INSERT INTO contents (id, hash, size) VALUES (7, x'07', 5);
             INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns)
               VALUES (9, 7, 1, 420, 0, 0, 0);
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid,
                                  copy_id, target)
               VALUES (1, 3, 'dir', 0, 0, 493, 0, 0, NULL, NULL),
                      (1, 2, 'file', 5, 11, 420, 0, 0, 9, NULL),
                      (1, 1, 'dir', 0, 12, 493, 0, 0, NULL, NULL),
                      (1, 4, 'symlink', 1, 13, 511, 0, 0, NULL, x'ff');",
        )
        .unwrap();
        let db = Db::own(conn);
        let got = rows(&db, 1).unwrap();
        let ids: Vec<(i64, Kind)> = got.iter().map(|r| (r.path_id, r.kind)).collect();
        assert_eq!(
            ids,
            vec![(1, Kind::Dir), (2, Kind::File), (4, Kind::Symlink)]
        );
        assert_eq!(got[1].copy_id, Some(9));
        assert_eq!(got[2].target.as_deref(), Some(&b"\xff"[..]));
        assert_eq!(contents(&db, [9, 9, 10]).unwrap(), HashMap::from([(9, 7)]));
        assert_eq!(
            paths(&db, [2, 5]).unwrap(),
            HashMap::from([(2, b"a".to_vec())])
        );
    }
}
