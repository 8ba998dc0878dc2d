//! Typed queries on stored copies: finding the copies of a content, where a copy is
//! linked, and the copies behind an inode.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use rusqlite::{params, OptionalExtension};

use super::Db;

use crate::decide::{CopyMeta, Wanted};

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

/// The stored copies of the content with digest `hash` that carry what `wanted` asks
/// (attribute set, mode and owner, mtime: what the policy compares) and are not known
/// damaged, good ones and newest first: only these could serve the path. The index on
/// content, set, mode, owner and mtime (V16) finds just them, so a content stored in many
/// copies (empty files with their own mtimes, a per-file tag on many equal files) costs
/// a lookup of the few that could serve, never a scan of them all.
pub fn copies_for_hash(db: &Db, hash: &[u8], wanted: Wanted) -> Result<Vec<CopyRow>> {
    let conn = db.conn();
    let mut sql = String::from(
        "SELECT k.id, k.ino, c.size, k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact,
                k.state = 'ok', coalesce(k.xattr_set_id, 0)
         FROM contents c JOIN copies k ON k.content_id = c.id
         WHERE c.hash = :hash AND k.state != 'damaged'",
    );
    let mut args: Vec<(&str, Box<dyn rusqlite::ToSql>)> = vec![(":hash", Box::new(hash.to_vec()))];
    if let Some(set) = wanted.xattrs {
        sql.push_str(" AND k.xattr_set_id IS nullif(:set, 0)");
        args.push((":set", Box::new(set)));
    }
    if let Some((mode, uid, gid)) = wanted.owner_mode {
        sql.push_str(" AND k.mode = :mode AND k.uid = :uid AND k.gid = :gid");
        args.extend([
            (":mode", Box::new(mode) as Box<dyn rusqlite::ToSql>),
            (":uid", Box::new(uid)),
            (":gid", Box::new(gid)),
        ]);
    }
    if let Some(mtime) = wanted.mtime_ns {
        let (ns, exact) = super::mtime::to_columns(mtime);
        sql.push_str(" AND k.mtime_ns = :mtime AND k.mtime_exact IS :exact");
        args.extend([
            (":mtime", Box::new(ns) as Box<dyn rusqlite::ToSql>),
            (":exact", Box::new(exact)),
        ]);
    }
    sql.push_str(" ORDER BY k.state = 'ok' DESC, k.id DESC");
    let mut stmt = conn.prepare_cached(&sql)?;
    let params: Vec<(&str, &dyn rusqlite::ToSql)> =
        args.iter().map(|(name, v)| (*name, v.as_ref())).collect();
    let rows = stmt
        .query_map(params.as_slice(), |r| {
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

/// Up to `limit` places where stored copy `copy_id` is linked, newest snapshot first,
/// leaving out snapshot `except` (a run being recorded: it inherits the paths of the one
/// before it until it ends, and they are not on disk under its folder's name).
pub fn copy_locations(
    db: &Db,
    copy_id: i64,
    limit: usize,
    except: Option<i64>,
) -> Result<Vec<Location>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, s.timestamp, s.status, p.path, e.mtime_ns, e.mtime_exact
         FROM snapshot_runs s CROSS JOIN entries e ON e.snapshot_id = s.id AND e.copy_id = ?1
         JOIN paths p ON p.id = e.path_id
         WHERE s.status != 'missing' AND s.id IS NOT ?3
         ORDER BY s.id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![copy_id, limit as i64, except], |r| {
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

/// The path (relative to its snapshot folder) of one entry of snapshot `snapshot_id`
/// recorded with stored copy `copy_id`: where a snapshot being recorded holds a copy it
/// recorded itself (`copy_locations` leaves out the folder of a run not complete yet).
pub fn copy_path_in(db: &Db, snapshot_id: i64, copy_id: i64) -> Result<Option<PathBuf>> {
    let conn = db.conn();
    let path: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT p.path FROM entries e JOIN paths p ON p.id = e.path_id
             WHERE e.copy_id = ?1 AND e.snapshot_id = ?2 LIMIT 1",
        )?
        .query_row(params![copy_id, snapshot_id], |r| r.get(0))
        .optional()?;
    Ok(path.map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(&p))))
}

/// Every entry recorded with stored copy `copy_id`: (snapshot id, path), in snapshot
/// and path order.
pub fn copy_paths(db: &Db, copy_id: i64) -> Result<Vec<(i64, Vec<u8>)>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT e.snapshot_id, p.path FROM entries e JOIN paths p ON p.id = e.path_id
         WHERE e.copy_id = ?1 ORDER BY e.snapshot_id, p.path",
    )?;
    let rows = stmt
        .query_map([copy_id], |r| Ok((r.get(0)?, r.get(1)?)))?
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
        let found = |wanted| -> Vec<i64> {
            copies_for_hash(&db, &[0xaa], wanted)
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect()
        };
        let ids = |set| {
            found(Wanted {
                xattrs: Some(set),
                ..Wanted::default()
            })
        };
        assert_eq!(ids(0), [1]);
        assert_eq!(ids(7), [4, 2]);
        assert_eq!(ids(8), [3]);
        assert!(ids(9).is_empty());
        // Mode and owner, then the mtime, narrow the copies as DEDUP compares them.
        db.conn()
            .execute_batch(
                "INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns, xattr_set_id)
                 VALUES (5, 1, 14, 384, 0, 0, 7, 7), (6, 1, 15, 420, 0, 0, 8, 7);",
            )
            .unwrap();
        let meta = |mode, mtime_ns| Wanted {
            xattrs: Some(7),
            owner_mode: Some((mode, 0, 0)),
            mtime_ns,
        };
        assert_eq!(found(meta(420, None)), [6, 4, 2]);
        assert_eq!(found(meta(384, None)), [5]);
        assert_eq!(found(meta(420, Some(8))), [6]);
        assert_eq!(found(meta(420, Some(7))), [4, 2]);
        assert!(found(meta(420, Some(9))).is_empty());
        // Any copy of the content, for clones.
        assert_eq!(found(Wanted::default()), [6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn a_strict_lookup_finds_its_copies_by_the_index_without_sorting_them_all() {
        // Regression (#34): 100k empty files with their own mtimes are 100k copies of
        // one content; each new one read and sorted them all (a quadratic first backup).
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT k.id FROM contents c JOIN copies k ON k.content_id = c.id
                 WHERE c.hash = x'aa' AND k.state != 'damaged' AND k.xattr_set_id IS NULL
                   AND k.mode = 420 AND k.uid = 0 AND k.gid = 0
                   AND k.mtime_ns = 7 AND k.mtime_exact IS NULL",
            )
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("copies_by_content_meta (content_id=? AND xattr_set_id=? AND mode=? AND uid=? AND gid=? AND mtime_ns=?)"),
            "{plan}"
        );
    }
}
