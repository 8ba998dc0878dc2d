//! Owns the inserts of one stored copy and one entry, shared by backup's writer thread
//! (`writer`) and by add's import.

use super::Db;
use crate::decide::CopyMeta;
use crate::scan::{Kind, Meta, Seen};
use anyhow::Result;
use rusqlite::{params, OptionalExtension};

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
    // The three cases of nearly every row a run writes, straight on `versions`: the
    // path's version already holds this row (an unchanged file: nothing to write), no
    // version of it holds this place and the place is its line's last (a new file: one
    // current version), or another version holds it there (a changed file: that one
    // ends, a current one starts). Every other case (a place before the line's last: an
    // add of an older snapshot, a resume) goes through the view's trigger, the one rule
    // for ending and splitting versions. (Through the trigger alone a new file cost a
    // view query and two joins: 42k new files/s on the writer thread against 112k.)
    let (line, pos, last): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT s.line, s.pos, l.last_pos FROM snapshot_runs s JOIN lines l ON l.id = s.line
             WHERE s.id = ?1",
        )?
        .query_row([snapshot_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    // One set of values for the three statements: ?1..?14 the row as `entries` takes it,
    // ?15 the place, ?16 the line.
    let values = params![
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
        pos,
        line
    ];
    // The version with the greatest start at or before the place: the only one that can
    // hold it (a path's versions never overlap), found walking the primary key back:
    // whether it holds the place, whether it is this row, and where it starts.
    let held: Option<(bool, bool, i64)> = conn
        .prepare_cached(
            "SELECT hi >= ?15,
                    kind IS ?3 AND size IS ?4 AND mtime_ns IS ?5 AND mode IS ?6 AND uid IS ?7
                    AND gid IS ?8 AND copy_id IS ?9 AND target IS ?10 AND mtime_exact IS ?11
                    AND xattr_set_id IS nullif(?12, 0) AND src_ino IS ?13
                    AND src_ctime_ns IS ?14, lo
             FROM versions WHERE line = ?16 AND path_id = ?2 AND lo <= ?15
             ORDER BY lo DESC LIMIT 1",
        )?
        .query_row(values, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let insert_current = || -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO versions (line, path_id, lo, hi, kind, size, mtime_ns, mode, uid,
                 gid, copy_id, target, mtime_exact, xattr_set_id, src_ino, src_ctime_ns)
             VALUES (?16, ?2, ?15, 9223372036854775807, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                     ?10, ?11, nullif(?12, 0), ?13, ?14)",
        )?
        .execute(values)?;
        Ok(())
    };
    match (held, pos >= last) {
        (Some((true, true, _)), _) => {}
        (None | Some((false, _, _)), true) => insert_current()?,
        (Some((true, false, lo)), true) => {
            // A changed file at the line's last place: the version that held the path
            // ends just before it (or goes, when no snapshot row is left to hold it, or
            // this run started it), and the new one is current. What the trigger does,
            // in three statements on the primary key (through it: 8k changed files/s).
            let ended = conn
                .prepare_cached(
                    "UPDATE versions SET hi = ?3 - 1
                     WHERE line = ?1 AND path_id = ?2 AND lo = ?4 AND lo < ?3
                       AND EXISTS (SELECT 1 FROM snapshot_runs r
                                   WHERE r.line = ?1 AND r.pos >= ?4 AND r.pos < ?3)",
                )?
                .execute(params![line, path_id, pos, lo])?;
            if ended == 0 {
                conn.prepare_cached(
                    "DELETE FROM versions WHERE line = ?1 AND path_id = ?2 AND lo = ?3",
                )?
                .execute(params![line, path_id, lo])?;
            }
            insert_current()?;
        }
        _ => {
            conn.prepare_cached(
                "INSERT INTO entries
                 (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id, target,
                  mtime_exact, xattr_set_id, src_ino, src_ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, nullif(?12, 0), ?13, ?14)",
            )?
            .execute(&values[..14])?;
        }
    }
    Ok(path_id)
}
