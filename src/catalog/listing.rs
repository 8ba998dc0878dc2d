//! Owns `phlb ls`'s question: the entries of one snapshot below one folder.

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::Db;
use crate::scan::Kind;

/// One entry of a snapshot as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsEntry {
    /// Path inside the snapshot, as stored (bytes).
    pub path: Vec<u8>,
    /// File, folder or symlink (`file`, `dir`, `symlink` in the catalog).
    pub kind: Kind,
    pub size: i64,
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    /// Nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

const COLUMNS: &str = "p.path, e.kind, e.size, e.mode, e.mtime_ns, e.mtime_exact, e.target";

fn entry(r: &rusqlite::Row) -> rusqlite::Result<LsEntry> {
    Ok(LsEntry {
        path: r.get(0)?,
        kind: r.get(1)?,
        size: r.get(2)?,
        mode: r.get(3)?,
        mtime_ns: super::mtime::read(r, 4)?,
        target: r.get(6)?,
    })
}

/// The entry at `path` in snapshot `snapshot_id`, if it holds one.
pub fn entry_at(db: &Db, snapshot_id: i64, path: &[u8]) -> Result<Option<LsEntry>> {
    let conn = db.conn();
    let sql = format!(
        "SELECT {COLUMNS} FROM paths p JOIN entries e ON e.path_id = p.id
         WHERE p.path = ?2 AND e.snapshot_id = ?1"
    );
    Ok(conn
        .query_row(&sql, params![snapshot_id, path], entry)
        .optional()?)
}

/// The entries of snapshot `snapshot_id` inside folder `dir` (empty: the snapshot's top),
/// sorted by path: only its direct entries, or with `recursive` everything below it.
pub fn below(db: &Db, snapshot_id: i64, dir: &[u8], recursive: bool) -> Result<Vec<LsEntry>> {
    let conn = db.conn();
    // Paths below `dir/` sort between `dir/` and `dir0` ('0' follows '/'), as blobs.
    let (lo, hi) = if dir.is_empty() {
        (Vec::new(), vec![0xff; 1])
    } else {
        ([dir, b"/"].concat(), [dir, b"0"].concat())
    };
    if !recursive {
        return direct(db, snapshot_id, &lo, &hi, dir.is_empty());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM paths p JOIN entries e ON e.path_id = p.id AND e.snapshot_id = ?1
         WHERE p.path >= ?2 AND (p.path < ?3 OR ?4)
         ORDER BY p.path"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![snapshot_id, lo, hi, dir.is_empty()], entry)?;
    let mut out = Vec::new();
    for row in rows {
        let e = row?;
        let rest = &e.path[lo.len()..];
        // `.` is the snapshot's top folder itself, not an entry in it.
        if rest.is_empty() || rest == b"." {
            continue;
        }
        out.push(e);
    }
    Ok(out)
}

/// The direct entries of a folder: one seek per entry, stepping over each subfolder's
/// tree (every path below `x/` sorts before `x0`, since `0` follows `/`), so the top of
/// a million-file snapshot costs its few thousand entries, not a million lookups.
fn direct(db: &Db, snapshot_id: i64, lo: &[u8], hi: &[u8], top: bool) -> Result<Vec<LsEntry>> {
    let conn = db.conn();
    let mut next = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM paths p CROSS JOIN entries e ON e.path_id = p.id AND e.snapshot_id = ?1
         WHERE p.path >= ?2 AND (p.path < ?3 OR ?4)
         ORDER BY p.path LIMIT 1"
    ))?;
    let mut out = Vec::new();
    let mut from = lo.to_vec();
    while let Some(e) = next
        .query_row(params![snapshot_id, from, hi, top], entry)
        .optional()?
    {
        let rest = &e.path[lo.len()..];
        match rest.iter().position(|&b| b == b'/') {
            // A path deeper down: its folder's tree is stepped over.
            Some(i) => from = [lo, &rest[..i], b"0"].concat(),
            None => {
                from = [e.path.as_slice(), b"\0"].concat();
                // `.` is the snapshot's top folder itself, not an entry in it.
                if !rest.is_empty() && rest != b"." {
                    out.push(e);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Access, Catalog};

    #[test]
    fn lists_direct_entries_or_all_below() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path(), Access::Write).unwrap();
        let db = catalog.db().unwrap();
        let conn = db.conn();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, source, hash_algo, started_at, status)
               VALUES (1, 'docs', '2026-01-01-000000', x'', 'sha256', '2026-01-01T00:00:00Z', 'complete');
             INSERT INTO paths (id, path) VALUES (6, x'2e'), (1, x'61'), (2, x'612f62'), (3, x'612f622f63'),
                                        (4, x'6130'), (5, x'612e747874');
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid)
               VALUES (1, 1, 'dir', 0, 0, 493, 0, 0), (1, 2, 'dir', 0, 0, 493, 0, 0),
                      (1, 3, 'file', 3, 0, 420, 0, 0), (1, 4, 'file', 1, 0, 420, 0, 0),
                      (1, 5, 'file', 1, 0, 420, 0, 0), (1, 6, 'dir', 0, 0, 493, 0, 0);",
        )
        .unwrap();
        let names = |v: Vec<LsEntry>| -> Vec<String> {
            v.into_iter()
                .map(|e| String::from_utf8(e.path).unwrap())
                .collect()
        };
        assert_eq!(
            names(below(&db, 1, b"", false).unwrap()),
            ["a", "a.txt", "a0"]
        );
        assert_eq!(names(below(&db, 1, b"a", false).unwrap()), ["a/b"]);
        assert_eq!(names(below(&db, 1, b"a", true).unwrap()), ["a/b", "a/b/c"]);
        assert_eq!(entry_at(&db, 1, b"a/b/c").unwrap().unwrap().size, 3);
        assert!(entry_at(&db, 1, b"zz").unwrap().is_none());
    }
}
