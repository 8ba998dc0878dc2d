//! Typed queries on the trust of stored copies: recording what `verify` found (damaged,
//! or an unverified copy now proven good), listing damaged paths, and moving a path to
//! a good copy (`verify --repair`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Result;
use rusqlite::params;

use super::Db;

use super::copies::copy_meta;
use crate::decide::CopyMeta;
use crate::snapshot_id::SnapshotId;

/// What a full read of a stored copy showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Its bytes match its hash.
    Good,
    /// Its bytes (or its size) differ from what was stored.
    Damaged,
}

/// Records what verify found for stored copy `copy_id`: damage is kept (with the time)
/// until the copy is repaired or forgotten; a good read makes an unverified copy (hash
/// taken from a manifest) a link source. Returns true when the copy was not recorded as
/// damaged before.
pub fn record_verdict(db: &Db, copy_id: i64, verdict: Verdict) -> Result<bool> {
    let conn = db.conn();
    let changed = match verdict {
        Verdict::Damaged => conn.execute(
            "UPDATE copies SET state = 'damaged', damaged_at = ?2
             WHERE id = ?1 AND state != 'damaged'",
            params![copy_id, crate::clock::now_rfc3339()],
        )?,
        Verdict::Good => conn.execute(
            "UPDATE copies SET state = 'ok' WHERE id = ?1 AND state = 'unverified'",
            [copy_id],
        )?,
    };
    Ok(changed > 0)
}

/// True when some stored copy's hash was only taken from a manifest (a lookup in the
/// small index of copies that are not 'ok').
pub fn any_unverified(db: &Db) -> Result<bool> {
    let conn = db.conn();
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM copies WHERE state != 'ok' AND state = 'unverified')",
        [],
        |r| r.get(0),
    )?)
}

/// Marks stored copy `copy_id` as unverified: its hash came from a manifest, so it is not
/// a link source for other content until a full `verify` has read it.
pub fn mark_unverified(db: &Db, copy_id: i64) -> Result<()> {
    let conn = db.conn();
    conn.execute(
        "UPDATE copies SET state = 'unverified' WHERE id = ?1 AND state = 'ok'",
        [copy_id],
    )?;
    Ok(())
}

/// One path of a snapshot whose stored copy is recorded as damaged.
#[derive(Debug, Clone)]
pub struct DamagedPath {
    pub copy_id: i64,
    pub snapshot_id: i64,
    pub snapshot: SnapshotId,
    pub path_id: i64,
    pub rel: PathBuf,
    pub hash: Vec<u8>,
    pub size: u64,
    /// The damaged copy's own metadata (what a replacement must carry).
    pub meta: CopyMeta,
    /// The path's own metadata (what a clone put back carries, `LINK = reflink`).
    pub own: crate::scan::Meta,
    pub damaged_at: String,
}

/// Every path of a complete snapshot whose copy is recorded as damaged, by copy.
pub fn damaged_paths(db: &Db) -> Result<Vec<DamagedPath>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(
        "SELECT k.id, s.id, s.name, p.id, p.path, c.hash, c.size,
                k.mode, k.uid, k.gid, k.mtime_ns, k.mtime_exact, coalesce(k.damaged_at, ''),
                s.timestamp, coalesce(k.xattr_set_id, 0),
                e.mtime_ns, e.mtime_exact, e.mode, e.uid, e.gid, coalesce(e.xattr_set_id, 0)
         FROM copies k
         JOIN entries e ON e.copy_id = k.id
         JOIN snapshot_runs s ON s.id = e.snapshot_id AND s.status = 'complete'
         JOIN paths p ON p.id = e.path_id
         JOIN contents c ON c.id = k.content_id
         WHERE k.state = 'damaged'
         ORDER BY k.id, s.id, p.path",
    )?;
    let rows = stmt
        .query_map([], |r| {
            let path: Vec<u8> = r.get(4)?;
            Ok(DamagedPath {
                copy_id: r.get(0)?,
                snapshot_id: r.get(1)?,
                snapshot: SnapshotId::new(r.get::<_, String>(2)?, r.get::<_, String>(13)?),
                path_id: r.get(3)?,
                rel: PathBuf::from(OsStr::from_bytes(&path)),
                hash: r.get(5)?,
                size: r.get::<_, i64>(6)? as u64,
                meta: copy_meta(r, 7, 14)?,
                own: crate::scan::Meta {
                    size: r.get::<_, i64>(6)? as u64,
                    mtime_ns: super::mtime::read(r, 15)?,
                    mode: r.get(17)?,
                    uid: r.get(18)?,
                    gid: r.get(19)?,
                    xattrs: r.get(20)?,
                },
                damaged_at: r.get(12)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Points the entry of `path_id` in snapshot `snapshot_id` at stored copy `copy_id`.
pub fn move_entry(db: &Db, snapshot_id: i64, path_id: i64, copy_id: i64) -> Result<()> {
    let conn = db.conn();
    conn.execute(
        "UPDATE entries SET copy_id = ?3 WHERE snapshot_id = ?1 AND path_id = ?2",
        params![snapshot_id, path_id, copy_id],
    )?;
    Ok(())
}

/// Drops a damaged copy's row once no entry uses it any more.
pub fn drop_if_unused(db: &Db, copy_id: i64) -> Result<()> {
    let conn = db.conn();
    conn.execute(
        "DELETE FROM copies WHERE id = ?1 AND NOT EXISTS
         (SELECT 1 FROM versions WHERE copy_id = ?1)",
        [copy_id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn damage_is_recorded_once_listed_and_repaired() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
                 VALUES (1, 'docs', 't1', 'complete', 'sha256', 'x');
             INSERT INTO contents (id, hash, size) VALUES (1, x'aa', 5);
             INSERT INTO copies (id, content_id, ino, mode, uid, gid, mtime_ns)
                 VALUES (1, 1, 10, 420, 0, 0, 7), (2, 1, 11, 420, 0, 0, 7);
             INSERT INTO paths (id, path) VALUES (1, CAST('a.txt' AS BLOB));
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id)
                 VALUES (1, 1, 'file', 5, 7, 420, 0, 0, 1);",
        )
        .unwrap();
        let conn = Db::own(conn);
        assert!(record_verdict(&conn, 1, Verdict::Damaged).unwrap());
        assert!(!record_verdict(&conn, 1, Verdict::Damaged).unwrap());
        let found = damaged_paths(&conn).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rel, PathBuf::from("a.txt"));
        let sources = super::super::copies::copies_for_hash(
            &conn,
            &[0xaa],
            crate::decide::Wanted {
                xattrs: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            sources.iter().map(|c| c.id).collect::<Vec<_>>(),
            [2],
            "a damaged copy is never a link source"
        );
        move_entry(&conn, 1, 1, 2).unwrap();
        drop_if_unused(&conn, 1).unwrap();
        assert!(damaged_paths(&conn).unwrap().is_empty());
    }
}
