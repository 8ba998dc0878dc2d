//! Owns the duplicate groups of `phlb duplicates` and the web UI: content stored under
//! more than one path. The entries are grouped by content as plain numbers; hashes,
//! snapshot labels and path text are read only for the groups that are duplicates
//! (100k entries in one snapshot took 330 ms when every row carried its hash and path).

use std::cmp::Reverse;
use std::collections::HashMap;

use anyhow::Result;
use rusqlite::OptionalExtension;

use super::Db;
use crate::snapshot_id::SnapshotId;

/// One content stored under more than one path in the selected snapshots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DupGroup {
    pub hash: String,
    pub size: i64,
    /// Stored copies (inodes) the content takes: 1 when every path is a hardlink of one.
    pub inodes: i64,
    /// Bytes those copies take on disk (`size * inodes`).
    pub stored_bytes: i64,
    /// Each path (inside its snapshot name) once, shown in the newest selected snapshot
    /// that holds it, as `NAME/TIMESTAMP/path`.
    pub paths: Vec<String>,
}

/// A file entry of a selected snapshot, as numbers.
struct Seen {
    content: i64,
    /// Its snapshot's name, as an index into the names seen.
    name: usize,
    path: i64,
    snapshot: i64,
    copy: i64,
}

/// Content stored under more than one path (a path counted once per snapshot name,
/// however many selected snapshots hold it) in the given snapshots, most stored bytes
/// first (in one read transaction).
pub fn duplicates(db: &Db, snapshot_ids: &[i64]) -> Result<Vec<DupGroup>> {
    db.reading(|db| groups(db, snapshot_ids))
}

fn groups(db: &Db, snapshot_ids: &[i64]) -> Result<Vec<DupGroup>> {
    let conn = db.conn();
    let mut names: Vec<String> = Vec::new();
    let mut labels: HashMap<i64, SnapshotId> = HashMap::new();
    let mut seen: Vec<Seen> = Vec::new();
    let mut run = conn.prepare_cached("SELECT name, timestamp FROM snapshot_runs WHERE id = ?1")?;
    let mut stmt = conn.prepare_cached(
        "SELECT k.content_id, e.copy_id, e.path_id FROM entries e JOIN copies k ON k.id = e.copy_id
         WHERE e.snapshot_id = ?1 AND e.kind = 'file'",
    )?;
    for &id in snapshot_ids {
        let Some((name, timestamp)) = run
            .query_row([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?
        else {
            continue;
        };
        let name_ix = match names.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                names.push(name.clone());
                names.len() - 1
            }
        };
        labels.insert(id, SnapshotId::new(name, timestamp));
        let rows = stmt.query_map([id], |r| {
            Ok(Seen {
                content: r.get(0)?,
                copy: r.get(1)?,
                path: r.get(2)?,
                name: name_ix,
                snapshot: id,
            })
        })?;
        for r in rows {
            seen.push(r?);
        }
    }
    // By content, then each (name, path) with its newest selected snapshot first.
    seen.sort_unstable_by_key(|s| (s.content, s.name, s.path, Reverse(s.snapshot)));
    let mut content =
        conn.prepare_cached("SELECT lower(hex(hash)), size FROM contents WHERE id = ?1")?;
    let mut out = Vec::new();
    for group in seen.chunk_by(|a, b| a.content == b.content) {
        let mut kept: Vec<&Seen> = group.iter().collect();
        kept.dedup_by_key(|s| (s.name, s.path));
        if kept.len() < 2 {
            continue;
        }
        let Some((hash, size)) = content
            .query_row([group[0].content], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
        else {
            continue;
        };
        if size <= 0 {
            continue;
        }
        let mut copies: Vec<i64> = group.iter().map(|s| s.copy).collect();
        copies.sort_unstable();
        copies.dedup();
        let text = super::diff::paths(db, kept.iter().map(|s| s.path))?;
        let mut paths: Vec<String> = kept
            .iter()
            .map(|s| {
                let path = text.get(&s.path).map(Vec::as_slice).unwrap_or_default();
                format!("{}/{}", labels[&s.snapshot], String::from_utf8_lossy(path))
            })
            .collect();
        paths.sort();
        let inodes = copies.len() as i64;
        out.push(DupGroup {
            hash,
            size,
            inodes,
            stored_bytes: size * inodes,
            paths,
        });
    }
    out.sort_by(|a, b| {
        (b.stored_bytes, b.paths.len())
            .cmp(&(a.stored_bytes, a.paths.len()))
            .then(a.hash.cmp(&b.hash))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_counts_once_per_name_shown_in_its_newest_snapshot_empty_files_left_out() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
               VALUES (1, 'a', '2026-01-01-000000', 'complete', 'sha256', 'x'),
                      (2, 'a', '2026-01-02-000000', 'complete', 'sha256', 'x'),
                      (3, 'b', '2026-01-01-000000', 'complete', 'sha256', 'x');
             INSERT INTO paths (id, path) VALUES (1, CAST('x' AS BLOB)), (2, CAST('y' AS BLOB)),
               (3, CAST('e1' AS BLOB)), (4, CAST('e2' AS BLOB)), (5, CAST('solo' AS BLOB));
             INSERT INTO contents (id, hash, size) VALUES (1, x'aa', 10), (2, x'bb', 0), (3, x'cc', 5);
             INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns)
               VALUES (1, 1, 1, 420, 0, 0, 0), (2, 1, 2, 420, 0, 0, 0), (3, 2, 3, 420, 0, 0, 0),
                      (4, 3, 4, 420, 0, 0, 0);
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id)
               VALUES (1, 1, 'file', 10, 0, 420, 0, 0, 1), (2, 1, 'file', 10, 0, 420, 0, 0, 1),
                      (3, 2, 'file', 10, 0, 420, 0, 0, 2),
                      (2, 3, 'file', 0, 0, 420, 0, 0, 3), (2, 4, 'file', 0, 0, 420, 0, 0, 3),
                      (1, 5, 'file', 5, 0, 420, 0, 0, 4), (2, 5, 'file', 5, 0, 420, 0, 0, 4);",
        )
        .unwrap();
        let db = Db::own(conn);
        let groups = duplicates(&db, &[1, 2, 3]).unwrap();
        assert_eq!(groups.len(), 1, "{groups:?}");
        let g = &groups[0];
        assert_eq!(
            (g.hash.as_str(), g.size, g.inodes, g.stored_bytes),
            ("aa", 10, 2, 20)
        );
        assert_eq!(
            g.paths,
            vec!["a/2026-01-02-000000/x", "b/2026-01-01-000000/y"]
        );
        // Within one name, one path in two snapshots is no duplicate.
        assert!(duplicates(&db, &[1, 2]).unwrap().is_empty());
    }
}
