//! Typed queries that find and re-record the inode numbers of stored copies, for a
//! backup root copied to another folder of its filesystem (`cp -a` gives every file a
//! new inode, so the numbers the catalog holds no longer name the stored copies).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use rusqlite::params;

use super::Db;

/// A stored copy as the catalog records it, with the path of one of its entries.
#[derive(Debug, Clone)]
pub struct CopyAt {
    pub copy_id: i64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    /// The entry's path inside its snapshot folder.
    pub rel: PathBuf,
}

fn copy_at(r: &rusqlite::Row) -> rusqlite::Result<CopyAt> {
    Ok(CopyAt {
        copy_id: r.get(0)?,
        ino: r.get::<_, i64>(1)? as u64,
        size: r.get::<_, i64>(2)? as u64,
        mtime_ns: super::mtime::read(r, 3)?,
        rel: PathBuf::from(OsStr::from_bytes(&r.get::<_, Vec<u8>>(5)?)),
    })
}

const SELECT: &str = "SELECT k.id, k.ino, c.size, k.mtime_ns, k.mtime_exact, p.path
     FROM entries e
     JOIN copies k ON k.id = e.copy_id
     JOIN contents c ON c.id = k.content_id
     JOIN paths p ON p.id = e.path_id
     WHERE e.snapshot_id = ?1 AND e.kind = 'file'";

/// Up to `limit` stored copies that snapshot `snapshot_id` holds, each with its path there.
pub fn sample(db: &Db, snapshot_id: i64, limit: u32) -> Result<Vec<CopyAt>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(&format!("{SELECT} LIMIT ?2"))?;
    let rows = stmt
        .query_map(params![snapshot_id, limit], copy_at)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Calls `each` with every stored copy snapshot `snapshot_id` holds, with its path there.
pub fn each_copy(
    db: &Db,
    snapshot_id: i64,
    mut each: impl FnMut(CopyAt) -> Result<()>,
) -> Result<()> {
    let conn = db.conn();
    let mut stmt = conn.prepare(SELECT)?;
    let mut rows = stmt.query([snapshot_id])?;
    while let Some(r) = rows.next()? {
        each(copy_at(r)?)?;
    }
    Ok(())
}

/// Records new inode numbers for stored copies, as (copy id, inode number), in one
/// transaction.
pub fn set_inos(db: &Db, inos: &[(i64, u64)]) -> Result<()> {
    let conn = db.conn();
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare("UPDATE copies SET ino = ?2 WHERE id = ?1")?;
        for &(id, ino) in inos {
            stmt.execute(params![id, ino as i64])?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn sampled_copies_get_new_inode_numbers() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::catalog::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
                 VALUES (1, 'docs', 't1', 'complete', 'sha256', 'now');
             INSERT INTO contents (id, hash, size) VALUES (1, x'01', 5);
             INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns)
                 VALUES (1, 1, 100, 420, 0, 0, 7);
             INSERT INTO paths (id, path) VALUES (1, CAST('a.txt' AS BLOB));
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id)
                 VALUES (1, 1, 'file', 5, 7, 420, 0, 0, 1);",
        )
        .unwrap();
        let conn = Db::own(conn);
        let got = sample(&conn, 1, 8).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].ino, got[0].size, got[0].mtime_ns), (100, 5, 7));
        assert_eq!(got[0].rel, PathBuf::from("a.txt"));
        set_inos(&conn, &[(1, 200)]).unwrap();
        let mut seen = Vec::new();
        each_copy(&conn, 1, |c| {
            seen.push(c.ino);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![200]);
    }
}
