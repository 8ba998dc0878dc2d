//! Typed queries on stored copies: finding the copies of a content, where a copy is
//! linked, and the copies behind an inode.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use rusqlite::params;

use super::Db;

use crate::decide::CopyMeta;

/// One physical stored copy of some content.
#[derive(Debug, Clone, Copy)]
pub struct CopyRow {
    pub id: i64,
    pub ino: u64,
    pub size: u64,
    pub meta: CopyMeta,
    /// Its hash was read from its bytes; false for a hash taken from a manifest, which
    /// must be checked against the bytes before the copy serves other content.
    pub verified: bool,
}

/// Where a stored copy can be found: a snapshot folder (relative to the root) and a path in it.
#[derive(Debug, Clone)]
pub struct Location {
    pub snapshot_dir: PathBuf,
    pub rel: PathBuf,
    /// The mtime recorded for this path (what a clone of the copy carries there).
    pub mtime_ns: i128,
}

/// Reads a copy's mode, uid, gid and mtime (`mtime_ns`, `mtime_exact`) from five
/// columns starting at `first`.
pub(super) fn copy_meta(
    r: &rusqlite::Row,
    first: usize,
    xattrs: usize,
) -> rusqlite::Result<CopyMeta> {
    Ok(CopyMeta {
        mode: r.get(first)?,
        uid: r.get(first + 1)?,
        gid: r.get(first + 2)?,
        mtime_ns: super::mtime::read(r, first + 3)?,
        xattrs: r.get(xattrs)?,
    })
}

/// The stored copies of the content with digest `hash` that carry attribute set
/// `xattrs` (0: none; `None`: any, for clones, which get their own) and are not known
/// damaged, good ones and newest first: only these could serve a path with that set (a
/// content stored under many sets, such as a per-file tag on many equal files, gives
/// just the few that could).
pub fn copies_for_hash(db: &Db, hash: &[u8], xattrs: Option<i64>) -> Result<Vec<CopyRow>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, k.ino, c.size, k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact,
                k.state = 'ok', coalesce(k.xattr_set_id, 0)
         FROM contents c JOIN copies k ON k.content_id = c.id
         WHERE c.hash = ?1 AND k.state != 'damaged'
           AND (?2 IS NULL OR coalesce(k.xattr_set_id, 0) = ?2)
         ORDER BY k.state = 'ok' DESC, k.id DESC",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![hash, xattrs], |r| {
            Ok(CopyRow {
                id: r.get(0)?,
                ino: r.get::<_, i64>(1)? as u64,
                size: r.get::<_, i64>(2)? as u64,
                meta: copy_meta(r, 3, 9)?,
                verified: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// True when content `hash` has ever been stored (its copies may be gone since).
pub fn content_known(db: &Db, hash: &[u8]) -> Result<bool> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached("SELECT 1 FROM contents WHERE hash = ?1")?;
    Ok(stmt.exists([hash])?)
}

/// Up to `limit` places where stored copy `copy_id` is linked, newest snapshot first.
pub fn copy_locations(db: &Db, copy_id: i64, limit: usize) -> Result<Vec<Location>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, s.timestamp, s.status, p.path, e.mtime_ns, e.mtime_exact
         FROM snapshot_runs s CROSS JOIN entries e ON e.snapshot_id = s.id AND e.copy_id = ?1
         JOIN paths p ON p.id = e.path_id
         WHERE s.status != 'missing'
         ORDER BY s.id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![copy_id, limit as i64], |r| {
            let name: String = r.get(0)?;
            let ts: String = r.get(1)?;
            let status: super::snapshots::Status = r.get(2)?;
            let path: Vec<u8> = r.get(3)?;
            Ok(Location {
                snapshot_dir: crate::layout::snapshot_dir_rel(
                    &name,
                    &ts,
                    status == super::snapshots::Status::Complete,
                ),
                rel: PathBuf::from(std::ffi::OsStr::from_bytes(&path)),
                mtime_ns: super::mtime::read(r, 4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Stored copies recorded with inode number `ino`, with their content hash.
pub fn copies_by_ino(db: &Db, ino: u64) -> Result<Vec<(CopyRow, Vec<u8>)>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, k.ino, c.size, k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact, c.hash,
                k.state = 'ok', coalesce(k.xattr_set_id, 0)
         FROM copies k JOIN contents c ON c.id = k.content_id WHERE k.ino = ?1",
    )?;
    let rows = stmt
        .query_map([ino as i64], |r| {
            Ok((
                CopyRow {
                    id: r.get(0)?,
                    ino: r.get::<_, i64>(1)? as u64,
                    size: r.get::<_, i64>(2)? as u64,
                    meta: copy_meta(r, 3, 10)?,
                    verified: r.get(9)?,
                },
                r.get(8)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copies_with_the_wanted_attribute_set_are_candidates() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO contents (id, hash, size) VALUES (1, x'aa', 5);
             INSERT INTO xattr_sets (id, hash, body) VALUES (7, x'01', x''), (8, x'02', x'');
             INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns, xattr_set_id)
                 VALUES (1, 1, 10, 420, 0, 0, 7, NULL), (2, 1, 11, 420, 0, 0, 7, 7),
                        (3, 1, 12, 420, 0, 0, 7, 8), (4, 1, 13, 420, 0, 0, 7, 7);",
        )
        .unwrap();
        let db = Db::own(conn);
        let ids = |set| -> Vec<i64> {
            copies_for_hash(&db, &[0xaa], Some(set))
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(ids(0), [1]);
        assert_eq!(ids(7), [4, 2]);
        assert_eq!(ids(8), [3]);
        assert!(ids(9).is_empty());
    }
}
