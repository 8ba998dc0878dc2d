//! Owns the inserts of one stored copy and one entry, shared by backup's writer thread
//! (`writer`) and by add's import.

use super::Db;
use crate::decide::CopyMeta;
use crate::scan::{Kind, Meta, Seen};
use anyhow::Result;
use rusqlite::params;

/// Inserts a stored copy (and its content when new); returns the copy's id.
pub fn record_copy(
    db: &Db,
    id: Option<i64>,
    hash: &[u8],
    size: u64,
    ino: u64,
    meta: CopyMeta,
) -> Result<i64> {
    let conn = db.conn();
    conn.prepare_cached("INSERT OR IGNORE INTO contents (hash, size) VALUES (?1, ?2)")?
        .execute(params![hash, size as i64])?;
    let content_id: i64 = conn
        .prepare_cached("SELECT id FROM contents WHERE hash = ?1")?
        .query_row([hash], |r| r.get(0))?;
    let (mtime_ns, mtime_exact) = super::mtime::to_columns(meta.mtime_ns);
    conn.prepare_cached(
        "INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns, mtime_exact,
                             xattr_set_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, nullif(?9, 0))",
    )?
    .execute(params![
        id,
        content_id,
        ino as i64,
        meta.mode,
        meta.uid,
        meta.gid,
        mtime_ns,
        mtime_exact,
        meta.xattrs
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Records one entry of a snapshot (and its path when new); `seen` is what the run saw
/// of a regular file's source inode. Returns the path's id. An entry the snapshot's line
/// already holds exactly so writes nothing (`entries` is a view over path versions, V17).
#[allow(clippy::too_many_arguments)]
pub fn record_entry(
    db: &Db,
    snapshot_id: i64,
    path_id: Option<i64>,
    path: &[u8],
    kind: Kind,
    meta: &Meta,
    copy_id: Option<i64>,
    target: Option<&[u8]>,
    seen: Option<Seen>,
) -> Result<i64> {
    let conn = db.conn();
    let path_id: i64 = match path_id {
        Some(id) => id,
        None => {
            conn.prepare_cached("INSERT OR IGNORE INTO paths (path) VALUES (?1)")?
                .execute([path])?;
            conn.prepare_cached("SELECT id FROM paths WHERE path = ?1")?
                .query_row([path], |r| r.get(0))?
        }
    };
    let (mtime_ns, mtime_exact) = super::mtime::to_columns(meta.mtime_ns);
    conn.prepare_cached(
        "INSERT INTO entries
         (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id, target, mtime_exact,
          xattr_set_id, src_ino, src_ctime_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, nullif(?12, 0), ?13, ?14)",
    )?
    .execute(params![
        snapshot_id,
        path_id,
        kind,
        meta.size as i64,
        mtime_ns,
        meta.mode,
        meta.uid,
        meta.gid,
        copy_id,
        target,
        mtime_exact,
        meta.xattrs,
        seen.map(|s| s.ino as i64),
        seen.and_then(|s| s.ctime_ns),
    ])?;
    Ok(path_id)
}
