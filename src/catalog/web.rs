//! Typed, paged read-only questions of the web UI (`phlb serve`) and `phlb status`:
//! runs of a name a page at a time, one folder's children, one entry, the bytes only
//! one snapshot holds. None loads a whole snapshot.

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::snapshots::{row as run_row, Status, COLUMNS as RUN_COLUMNS};
use super::{Db, SnapshotRow};

pub use super::web_find::{find_page, Match};

/// Every snapshot name, sorted.
pub fn names(db: &Db) -> Result<Vec<String>> {
    let mut stmt = db
        .conn()
        .prepare("SELECT DISTINCT name FROM snapshot_runs ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Runs of `name`, newest first, `limit` of them from `offset`.
pub fn runs(db: &Db, name: &str, offset: i64, limit: i64) -> Result<Vec<SnapshotRow>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE name = ?1
         ORDER BY sequence DESC, instant_ns DESC, id DESC LIMIT ?2 OFFSET ?3"
    );
    let mut stmt = db.conn().prepare_cached(&sql)?;
    let rows = stmt.query_map(params![name, limit, offset], run_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many runs `name` has.
pub fn run_count(db: &Db, name: &str) -> Result<i64> {
    Ok(db.conn().query_row(
        "SELECT count(*) FROM snapshot_runs WHERE name = ?1",
        [name],
        |r| r.get(0),
    )?)
}

/// The newest run of `name` (any status), and its newest complete one that `present`
/// accepts (its folder is on disk).
pub fn newest(
    db: &Db,
    name: &str,
    present: &dyn Fn(&SnapshotRow) -> bool,
) -> Result<(Option<SnapshotRow>, Option<SnapshotRow>)> {
    let conn = db.conn();
    let last = conn
        .query_row(
            &format!(
                "SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE name = ?1
                 ORDER BY sequence DESC, instant_ns DESC, id DESC LIMIT 1"
            ),
            [name],
            run_row,
        )
        .optional()?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE name = ?1 AND status = ?2
         ORDER BY sequence DESC, instant_ns DESC, id DESC"
    ))?;
    let mut complete = None;
    for run in stmt.query_map(params![name, Status::Complete.as_str()], run_row)? {
        let run = run?;
        if present(&run) {
            complete = Some(run);
            break;
        }
    }
    Ok((last, complete))
}

/// Chart points of `name`, oldest first: each complete run (its timestamp, bytes, new
/// bytes), at most `limit` (the newest ones).
pub fn chart_points(db: &Db, name: &str, limit: i64) -> Result<Vec<SnapshotRow>> {
    let mut stmt = db.conn().prepare_cached(&format!(
        "SELECT {RUN_COLUMNS} FROM (
             SELECT * FROM snapshot_runs
             WHERE name = ?1 AND status = 'complete'
             ORDER BY sequence DESC, instant_ns DESC, id DESC LIMIT ?2)
         ORDER BY sequence, instant_ns, id"
    ))?;
    let rows = stmt.query_map(params![name, limit], run_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The run with this id.
pub fn snapshot(db: &Db, id: i64) -> Result<Option<SnapshotRow>> {
    Ok(db
        .conn()
        .query_row(
            &format!("SELECT {RUN_COLUMNS} FROM snapshot_runs WHERE id = ?1"),
            [id],
            run_row,
        )
        .optional()?)
}

/// Bytes of the stored copies that only snapshot `id` links (what deleting it frees);
/// one snapshot's share of what `list` computes for all. Only a version no other
/// snapshot holds can make a copy only this one's (`versions::copies_alone_in`: what
/// changed into it and out after it, a range of an index); each such copy is then
/// checked against every other snapshot through the copies index.
pub fn only_here(db: &Db, id: i64) -> Result<i64> {
    let conn = db.conn();
    let mut size = conn.prepare_cached(
        "SELECT c.size FROM copies k JOIN contents c ON c.id = k.content_id
         WHERE k.id = ?1 AND NOT EXISTS
             (SELECT 1 FROM entries o WHERE o.copy_id = ?1 AND o.snapshot_id != ?2)",
    )?;
    let mut total = 0i64;
    for copy in super::versions::copies_alone_in(db, id)? {
        if let Some(n) = size
            .query_row(params![copy, id], |r| r.get::<_, i64>(0))
            .optional()?
        {
            total += n;
        }
    }
    Ok(total)
}

/// One entry of a snapshot as the web UI shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub path_id: i64,
    /// Its path in the snapshot, raw bytes.
    #[serde(skip)]
    pub path: Vec<u8>,
    pub kind: String,
    pub size: i64,
    pub mtime: String,
    pub mode: u32,
    /// A symlink's target, raw bytes.
    #[serde(skip)]
    pub target: Option<Vec<u8>>,
    pub copy_id: Option<i64>,
    pub hash: Option<String>,
    /// True when `verify` recorded its stored copy as damaged.
    pub damaged: bool,
    /// Its extended attributes (names and values), when it had any.
    #[serde(skip)]
    pub xattrs: Option<crate::xattr_set::XattrSet>,
}

fn entry_columns() -> String {
    format!(
        "e.path_id, p.path, e.kind, e.size, {}, e.mode, e.target, e.copy_id,
         lower(hex(c.hash)), coalesce(k.state = 'damaged', 0),
         (SELECT body FROM xattr_sets WHERE id = e.xattr_set_id)",
        super::queries::mtime_text()
    )
}

fn entry_row(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    Ok(Entry {
        path_id: r.get(0)?,
        path: r.get(1)?,
        kind: r.get(2)?,
        size: r.get(3)?,
        mtime: r.get(4)?,
        mode: r.get(5)?,
        target: r.get(6)?,
        copy_id: r.get(7)?,
        hash: r.get(8)?,
        damaged: r.get(9)?,
        xattrs: r
            .get::<_, Option<Vec<u8>>>(10)?
            .and_then(|b| crate::xattr_set::XattrSet::decode(&b).ok()),
    })
}

/// The entry of snapshot `snapshot_id` at path id `path_id`.
pub fn entry(db: &Db, snapshot_id: i64, path_id: i64) -> Result<Option<Entry>> {
    let sql = format!(
        "SELECT {} FROM entries e JOIN paths p ON p.id = e.path_id
         LEFT JOIN copies k ON k.id = e.copy_id LEFT JOIN contents c ON c.id = k.content_id
         WHERE e.snapshot_id = ?1 AND e.path_id = ?2",
        entry_columns()
    );
    Ok(db
        .conn()
        .query_row(&sql, params![snapshot_id, path_id], entry_row)
        .optional()?)
}

/// The id of a path the catalog has seen.
pub fn path_id(db: &Db, path: &[u8]) -> Result<Option<i64>> {
    Ok(db
        .conn()
        .query_row("SELECT id FROM paths WHERE path = ?1", [path], |r| r.get(0))
        .optional()?)
}

/// The path with this id.
pub fn path_of(db: &Db, id: i64) -> Result<Option<Vec<u8>>> {
    Ok(db
        .conn()
        .query_row("SELECT path FROM paths WHERE id = ?1", [id], |r| r.get(0))
        .optional()?)
}

/// The entries directly inside folder `dir` (`.` for the snapshot's top) of a snapshot,
/// folders first then by name, `limit` from `offset`, and how many there are.
pub fn children(
    db: &Db,
    snapshot_id: i64,
    dir: &[u8],
    offset: i64,
    limit: i64,
) -> Result<(Vec<Entry>, i64)> {
    // Paths below `dir` form one range of the paths index: prefix `dir/` up to `dir0`
    // ('0' follows '/'); the top folder's children are every path without a '/' (no
    // upper bound: a name may start with any byte, 0xff included).
    let (lo, hi, skip) = if dir == b"." {
        (Vec::new(), None, 0_i64)
    } else {
        let mut lo = dir.to_vec();
        lo.push(b'/');
        let mut hi = dir.to_vec();
        hi.push(b'0');
        let skip = lo.len() as i64;
        (lo, Some(hi), skip)
    };
    let filter = "p.path >= ?2 AND (?3 IS NULL OR p.path < ?3) AND p.path != CAST('.' AS BLOB)
         AND instr(substr(p.path, ?4 + 1), CAST('/' AS BLOB)) = 0";
    let total: i64 = db.conn().query_row(
        &format!(
            "SELECT count(*) FROM paths p CROSS JOIN entries e
             ON e.snapshot_id = ?1 AND e.path_id = p.id WHERE {filter}"
        ),
        params![snapshot_id, lo, hi, skip],
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT {} FROM paths p CROSS JOIN entries e ON e.snapshot_id = ?1 AND e.path_id = p.id
         LEFT JOIN copies k ON k.id = e.copy_id LEFT JOIN contents c ON c.id = k.content_id
         WHERE {filter} ORDER BY e.kind != 'dir', p.path LIMIT ?5 OFFSET ?6",
        entry_columns()
    );
    let mut stmt = db.conn().prepare_cached(&sql)?;
    let rows = stmt.query_map(params![snapshot_id, lo, hi, skip, limit, offset], entry_row)?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_one_level_and_paged() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
               VALUES (1, 'd', '2026-01-01-000000', 'complete', 'sha256', '2026-01-01T00:00:00Z');
             INSERT INTO paths (id, path) VALUES (1, CAST('.' AS BLOB)), (2, CAST('a' AS BLOB)),
               (3, CAST('a/b' AS BLOB)), (4, CAST('a/b/c' AS BLOB)), (5, CAST('z' AS BLOB)),
               (6, CAST('a/x' AS BLOB)), (7, CAST('a.txt' AS BLOB)),
               -- a name starting with byte 0xff (found missing from the top folder)
               (8, x'ff2e79');
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid)
               VALUES (1, 1, 'dir', 0, 0, 493, 0, 0), (1, 2, 'dir', 0, 0, 493, 0, 0),
                      (1, 3, 'dir', 0, 0, 493, 0, 0), (1, 4, 'file', 1, 0, 420, 0, 0),
                      (1, 5, 'file', 1, 0, 420, 0, 0), (1, 6, 'file', 1, 0, 420, 0, 0),
                      (1, 7, 'file', 1, 0, 420, 0, 0), (1, 8, 'file', 1, 0, 420, 0, 0);",
        )
        .unwrap();
        let db = Db::own(conn);
        let names = |dir: &[u8], off, lim| {
            let (rows, total) = children(&db, 1, dir, off, lim).unwrap();
            let got: Vec<String> = rows
                .into_iter()
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .collect();
            (got, total)
        };
        assert_eq!(
            names(b".", 0, 10),
            (
                vec!["a".into(), "a.txt".into(), "z".into(), "\u{fffd}.y".into()],
                4
            )
        );
        assert_eq!(names(b"a", 0, 10), (vec!["a/b".into(), "a/x".into()], 2));
        assert_eq!(names(b"a", 1, 1), (vec!["a/x".into()], 2));
        assert_eq!(names(b"a/b", 0, 10), (vec!["a/b/c".into()], 1));
    }
}
