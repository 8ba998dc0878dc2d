//! Typed queries on `source_links`: which files of a snapshot shared one inode in the
//! source (recorded by backup, read by restore to link them again).

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::params;

use super::db::Db;

/// Records that file `path` (or the path with id `path_id`, when known) of snapshot
/// `snapshot_id` belongs to hardlink group `group` of that snapshot. The entry of the
/// path must be recorded first (the path row exists then).
pub fn record_source_link(
    db: &Db,
    snapshot_id: i64,
    path_id: Option<i64>,
    path: &[u8],
    group: i64,
) -> Result<()> {
    let conn = db.conn();
    let path_id: i64 = match path_id {
        Some(id) => id,
        None => conn
            .prepare_cached("SELECT id FROM paths WHERE path = ?1")?
            .query_row([path], |r| r.get(0))?,
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO source_links (snapshot_id, path_id, link_group) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![snapshot_id, path_id, group])?;
    Ok(())
}

/// The hardlink group of every file of snapshot `snapshot_id` that has one, by path.
/// Groups with a single member in the snapshot are left out (their other links were
/// outside the source).
pub fn source_link_groups(db: &Db, snapshot_id: i64) -> Result<HashMap<Vec<u8>, i64>> {
    let mut stmt = db.conn().prepare(
        "SELECT p.path, l.link_group FROM source_links l
         JOIN paths p ON p.id = l.path_id
         WHERE l.snapshot_id = ?1 AND l.link_group IN
             (SELECT link_group FROM source_links WHERE snapshot_id = ?1
              GROUP BY link_group HAVING count(*) > 1)",
    )?;
    let rows = stmt
        .query_map([snapshot_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::writer::record_entry;
    use crate::scan::{Kind, Meta};

    #[test]
    fn groups_of_one_are_left_out_and_snapshots_kept_apart() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::catalog::create::migrate(&mut conn).unwrap();
        let db = Db::own(conn);
        for id in [1, 2] {
            db.conn()
                .execute(
                    "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
                 VALUES (?1, 'n', ?1, 'complete', 'sha256', 'x')",
                    [id],
                )
                .unwrap();
        }
        let meta = Meta {
            size: 0,
            mtime_ns: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            xattrs: 0,
        };
        for (snap, path, group) in [(1, "a", 1), (1, "b", 1), (1, "c", 2), (2, "a", 1)] {
            record_entry(
                &db,
                snap,
                None,
                path.as_bytes(),
                Kind::File,
                &meta,
                None,
                None,
                None,
            )
            .unwrap();
            record_source_link(&db, snap, None, path.as_bytes(), group).unwrap();
        }
        let one = source_link_groups(&db, 1).unwrap();
        let mut got: Vec<_> = one.into_iter().collect();
        got.sort();
        assert_eq!(got, [(b"a".to_vec(), 1), (b"b".to_vec(), 1)]);
        assert!(source_link_groups(&db, 2).unwrap().is_empty());
    }
}
