//! Typed queries on snapshot entries and stored copies, and the batched writer a run uses.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use rusqlite::{params, Connection};

use super::Conn;
use crate::plan::{CopyMeta, PrevEntry};
use crate::scan::{Kind, Meta};

/// One physical stored copy of some content.
#[derive(Debug, Clone, Copy)]
pub struct CopyRow {
    pub id: i64,
    pub ino: u64,
    pub size: u64,
    pub meta: CopyMeta,
}

/// Where a stored copy can be found: a snapshot folder (relative to the root) and a path in it.
#[derive(Debug, Clone)]
pub struct Location {
    pub snapshot_dir: PathBuf,
    pub rel: PathBuf,
}

/// Loads the regular files of a snapshot as path -> what was recorded, in one query.
pub fn previous_entries(
    conn: &Connection,
    snapshot_id: i64,
) -> Result<HashMap<PathBuf, PrevEntry>> {
    let mut stmt = conn.prepare(
        "SELECT p.path, e.size, e.mtime_ns, c.hash, k.id, k.ino, k.mode, k.uid, k.gid, k.mtime_ns
         FROM entries e
         JOIN paths p ON p.id = e.path_id
         JOIN copies k ON k.id = e.copy_id
         JOIN contents c ON c.id = k.content_id
         WHERE e.snapshot_id = ?1 AND e.kind = 'file'",
    )?;
    let mut rows = stmt.query([snapshot_id])?;
    let mut map = HashMap::new();
    while let Some(r) = rows.next()? {
        let path: Vec<u8> = r.get(0)?;
        let prev = PrevEntry {
            size: r.get::<_, i64>(1)? as u64,
            mtime_ns: r.get(2)?,
            hash: r.get(3)?,
            copy_id: r.get(4)?,
            copy_ino: r.get::<_, i64>(5)? as u64,
            copy: CopyMeta {
                mode: r.get(6)?,
                uid: r.get(7)?,
                gid: r.get(8)?,
                mtime_ns: r.get(9)?,
            },
        };
        map.insert(PathBuf::from(std::ffi::OsStr::from_bytes(&path)), prev);
    }
    Ok(map)
}

/// Every stored copy of the content with digest `hash`.
pub fn copies_for_hash(conn: &Connection, hash: &[u8]) -> Result<Vec<CopyRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.id, k.ino, c.size, k.mode, k.uid, k.gid, k.mtime_ns
         FROM contents c JOIN copies k ON k.content_id = c.id WHERE c.hash = ?1
         ORDER BY k.id DESC",
    )?;
    let rows = stmt
        .query_map([hash], |r| {
            Ok(CopyRow {
                id: r.get(0)?,
                ino: r.get::<_, i64>(1)? as u64,
                size: r.get::<_, i64>(2)? as u64,
                meta: CopyMeta {
                    mode: r.get(3)?,
                    uid: r.get(4)?,
                    gid: r.get(5)?,
                    mtime_ns: r.get(6)?,
                },
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Up to `limit` places where stored copy `copy_id` is linked, newest snapshot first.
pub fn copy_locations(conn: &Connection, copy_id: i64, limit: usize) -> Result<Vec<Location>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.name, s.timestamp, s.status, p.path FROM entries e
         JOIN snapshot_runs s ON s.id = e.snapshot_id
         JOIN paths p ON p.id = e.path_id
         WHERE e.copy_id = ?1 AND s.status != 'missing'
         ORDER BY e.snapshot_id DESC LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![copy_id, limit as i64], |r| {
            let name: String = r.get(0)?;
            let ts: String = r.get(1)?;
            let status: String = r.get(2)?;
            let path: Vec<u8> = r.get(3)?;
            Ok(Location {
                snapshot_dir: crate::layout::snapshot_dir_rel(&name, &ts, status == "complete"),
                rel: PathBuf::from(std::ffi::OsStr::from_bytes(&path)),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Writes a run's rows in large transactions, committing every few thousand rows or second.
pub struct Writer {
    conn: Option<Conn>,
    pending: usize,
    since: Instant,
}

const BATCH_ROWS: usize = 20_000;
const BATCH_TIME: Duration = Duration::from_secs(2);

impl Writer {
    /// Starts batching on a pooled connection.
    pub fn new(conn: Conn) -> Result<Writer> {
        conn.execute_batch("BEGIN")?;
        Ok(Writer {
            conn: Some(conn),
            pending: 0,
            since: Instant::now(),
        })
    }

    /// The connection, for reads that must see this run's own rows.
    pub fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("writer is open until finish")
    }

    /// Records a new stored copy of content `hash`; returns its id.
    pub fn insert_copy(&mut self, hash: &[u8], size: u64, ino: u64, meta: CopyMeta) -> Result<i64> {
        self.conn()
            .prepare_cached("INSERT OR IGNORE INTO contents (hash, size) VALUES (?1, ?2)")?
            .execute(params![hash, size as i64])?;
        let content_id: i64 = self
            .conn()
            .prepare_cached("SELECT id FROM contents WHERE hash = ?1")?
            .query_row([hash], |r| r.get(0))?;
        self.conn()
            .prepare_cached(
                "INSERT INTO copies (content_id, ino, mode, uid, gid, mtime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                content_id,
                ino as i64,
                meta.mode,
                meta.uid,
                meta.gid,
                meta.mtime_ns
            ])?;
        let id = self.conn().last_insert_rowid();
        self.tick()?;
        Ok(id)
    }

    /// Records one entry of snapshot `snapshot_id`.
    pub fn insert_entry(
        &mut self,
        snapshot_id: i64,
        rel: &Path,
        kind: Kind,
        meta: &Meta,
        copy_id: Option<i64>,
        target: Option<&Path>,
    ) -> Result<()> {
        let path = rel.as_os_str().as_bytes();
        self.conn()
            .prepare_cached("INSERT OR IGNORE INTO paths (path) VALUES (?1)")?
            .execute([path])?;
        let path_id: i64 = self
            .conn()
            .prepare_cached("SELECT id FROM paths WHERE path = ?1")?
            .query_row([path], |r| r.get(0))?;
        self.conn()
            .prepare_cached(
                "INSERT OR REPLACE INTO entries
                 (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id, target)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                snapshot_id,
                path_id,
                kind.as_str(),
                meta.size as i64,
                meta.mtime_ns,
                meta.mode,
                meta.uid,
                meta.gid,
                copy_id,
                target.map(|t| t.as_os_str().as_bytes()),
            ])?;
        self.tick()
    }

    fn tick(&mut self) -> Result<()> {
        self.pending += 1;
        if self.pending >= BATCH_ROWS || self.since.elapsed() >= BATCH_TIME {
            self.commit()?;
        }
        Ok(())
    }

    /// Commits what is pending and starts a new batch.
    pub fn commit(&mut self) -> Result<()> {
        self.conn().execute_batch("COMMIT; BEGIN")?;
        self.pending = 0;
        self.since = Instant::now();
        Ok(())
    }

    /// Commits what is pending and hands the connection back.
    pub fn finish(mut self) -> Result<Conn> {
        let conn = self.conn.take().expect("writer is open until finish");
        conn.execute_batch("COMMIT")?;
        Ok(conn)
    }
}

impl Drop for Writer {
    /// A run that stops early keeps the rows it wrote: they only describe files already on disk.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.execute_batch("COMMIT");
        }
    }
}
