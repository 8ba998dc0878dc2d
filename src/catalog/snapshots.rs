//! Typed queries on snapshot runs: create, find the previous one, finish, drop.

use anyhow::Result;
use rusqlite::{params, OptionalExtension, Row};

use super::Db;
use crate::hash::HashAlgo;
use crate::snapshot_id::SnapshotId;
use crate::stamp::Stamp;

/// Where a snapshot run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its folder has its final name and everything it wrote is recorded.
    Complete,
    /// It was started and has not finished (running, or killed).
    Incomplete,
    /// Its folder is gone from disk (deleted by hand).
    Missing,
}

impl Status {
    /// The name the catalog and its views use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::Incomplete => "incomplete",
            Status::Missing => "missing",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One snapshot run as the catalog records it: the one row type of `snapshot_runs`,
/// whatever a caller needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub id: i64,
    pub name: String,
    pub timestamp: String,
    pub status: Status,
    pub hash_algo: HashAlgo,
    /// When it started, RFC 3339 UTC.
    pub started_at: String,
    /// When a backup run finished (None: still running, died, or recorded by `add`).
    pub finished_at: Option<String>,
    pub files: i64,
    pub bytes: i64,
    pub new_bytes: i64,
    /// Files the run could not back up.
    pub failed: i64,
    /// Its time, order and source.
    pub stamp: Stamp,
}

/// Counters written when a run finishes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    pub new_bytes: u64,
    pub linked: u64,
    pub copied: u64,
    pub failed: u64,
}

/// The columns `row` reads, first in a query (`stamp` last: `STAMP_COLUMNS`).
pub(super) const COLUMNS: &str = "id, name, timestamp, status, hash_algo, started_at, \
     finished_at, files, bytes, new_bytes, failed, instant_ns, utc_offset, sequence, \
     time_source, source_host, source, source_moved";

/// How many columns `row` reads.
pub(super) const COLUMN_COUNT: usize = 18;

/// `COLUMNS` of the table named `alias` in a join.
pub(super) fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The creation order of snapshot runs, oldest first: "newest" is the last one (V12).
pub(super) const OLDEST_FIRST: &str = "sequence, instant_ns, id";

/// The creation order, newest first.
pub(super) const NEWEST_FIRST: &str = "sequence DESC, instant_ns DESC, id DESC";

pub(super) fn row(r: &Row) -> rusqlite::Result<SnapshotRow> {
    Ok(SnapshotRow {
        id: r.get(0)?,
        name: r.get(1)?,
        timestamp: r.get(2)?,
        status: r.get(3)?,
        hash_algo: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        files: r.get(7)?,
        bytes: r.get(8)?,
        new_bytes: r.get(9)?,
        failed: r.get(10)?,
        stamp: super::stamps::stamp(r, 11)?,
    })
}

impl SnapshotRow {
    /// Records a new run as `incomplete` with its time, order and source; returns its
    /// row.
    pub fn create(
        db: &Db,
        name: &str,
        timestamp: &str,
        hash_algo: HashAlgo,
        stamp: &Stamp,
    ) -> Result<SnapshotRow> {
        let conn = db.conn();
        let (host, source) = match &stamp.source {
            Some(s) => (Some(s.host.as_str()), s.path.as_slice()),
            None => (None, &b""[..]),
        };
        conn.execute(
            "INSERT INTO snapshot_runs (name, timestamp, status, source, hash_algo, started_at,
                 time_source, instant_ns, utc_offset, sequence, source_host, source_moved)
             VALUES (?1, ?2, 'incomplete', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                name,
                timestamp,
                source,
                hash_algo,
                started_at(stamp.instant_ns),
                stamp.time_source.as_str(),
                stamp.instant_ns,
                stamp.offset_secs,
                stamp.sequence,
                host,
                stamp.source_moved
            ],
        )?;
        Ok(SnapshotRow {
            id: conn.last_insert_rowid(),
            name: name.into(),
            timestamp: timestamp.into(),
            status: Status::Incomplete,
            hash_algo,
            started_at: started_at(stamp.instant_ns),
            finished_at: None,
            files: 0,
            bytes: 0,
            new_bytes: 0,
            failed: 0,
            stamp: stamp.clone(),
        })
    }

    /// The newest complete snapshot of `name` (whether or not its folder still exists).
    pub fn previous_complete(db: &Db, name: &str) -> Result<Option<SnapshotRow>> {
        Self::newest_complete(db, name, &|_| true)
    }

    /// The newest complete snapshot of `name` that `keep` accepts (readers: the newest
    /// whose folder is on disk), in the order of `previous_complete`.
    pub fn newest_complete(
        db: &Db,
        name: &str,
        keep: &dyn Fn(&SnapshotRow) -> bool,
    ) -> Result<Option<SnapshotRow>> {
        let conn = db.conn();
        let sql = format!(
            "SELECT {COLUMNS} FROM snapshot_runs WHERE name = ?1 AND status = 'complete'
             ORDER BY {NEWEST_FIRST}"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([name])?;
        while let Some(r) = rows.next()? {
            let found = row(r)?;
            if keep(&found) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The newest complete snapshot of `name` that a backup run made from the source
    /// folder `source` and recorded in this catalog (not one `add` recorded, even from a
    /// side file that names the source: only a run saw the source's files).
    pub fn previous_of_source(db: &Db, name: &str, source: &[u8]) -> Result<Option<SnapshotRow>> {
        let conn = db.conn();
        let sql = format!(
            "SELECT {COLUMNS} FROM snapshot_runs WHERE name = ?1 AND status = 'complete'
             AND source = ?2 AND time_source = 'run' AND finished_at IS NOT NULL
             ORDER BY {NEWEST_FIRST} LIMIT 1"
        );
        Ok(conn
            .query_row(&sql, params![name, source], row)
            .optional()?)
    }

    /// Runs of `name` that never finished.
    pub fn incomplete(db: &Db, name: &str) -> Result<Vec<SnapshotRow>> {
        let conn = db.conn();
        let sql = format!(
            "SELECT {COLUMNS} FROM snapshot_runs WHERE name = ?1 AND status = 'incomplete' ORDER BY id"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map([name], row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// True when `name/timestamp` is already taken in the catalog.
    pub fn exists(db: &Db, name: &str, timestamp: &str) -> Result<bool> {
        let conn = db.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM snapshot_runs WHERE name = ?1 AND timestamp = ?2",
                [name, timestamp],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records which extended attributes the run reads from every file and keeps (see
    /// `XattrScan::label`; None: none).
    pub fn set_xattrs_read(&self, db: &Db, what: Option<&str>) -> Result<()> {
        db.conn().execute(
            "UPDATE snapshot_runs SET xattrs_read = ?2 WHERE id = ?1",
            params![self.id, what],
        )?;
        Ok(())
    }

    /// Which extended attributes run `id` read from every file and kept (None: none, or
    /// a run from before V15).
    pub fn xattrs_read(db: &Db, id: i64) -> Result<Option<String>> {
        Ok(db.conn().query_row(
            "SELECT xattrs_read FROM snapshot_runs WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?)
    }

    /// Stores the run's counters (status unchanged).
    pub fn set_totals(&self, db: &Db, t: &Totals, finished_at: &str) -> Result<()> {
        let conn = db.conn();
        conn.execute(
            "UPDATE snapshot_runs SET files = ?2, bytes = ?3, new_bytes = ?4, linked = ?5,
             copied = ?6, failed = ?7, finished_at = ?8 WHERE id = ?1",
            params![
                self.id,
                t.files as i64,
                t.bytes as i64,
                t.new_bytes as i64,
                t.linked as i64,
                t.copied as i64,
                t.failed as i64,
                finished_at
            ],
        )?;
        Ok(())
    }

    /// Runs an older phlb's `add` recorded (no source, times of the import) that do not
    /// say so yet.
    pub fn added_with_import_time(db: &Db) -> Result<Vec<SnapshotRow>> {
        let conn = db.conn();
        let sql = format!(
            "SELECT {COLUMNS} FROM snapshot_runs
             WHERE time_source = 'run' AND (source IS NULL OR length(source) = 0)"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Marks the run complete: the last step of a run.
    pub fn mark_complete(&self, db: &Db) -> Result<()> {
        let conn = db.conn();
        conn.execute(
            "UPDATE snapshot_runs SET status = 'complete' WHERE id = ?1",
            [self.id],
        )?;
        Ok(())
    }

    /// Deletes the run, its entries, and the stored copies and contents only it used.
    pub fn delete(&self, db: &Db) -> Result<()> {
        super::prune::delete_run(db, self.id)
    }
}

impl SnapshotRow {
    /// Marks a run whose folder is gone from disk as `missing` (its rows stay).
    pub fn mark_missing(&self, db: &Db) -> Result<()> {
        let conn = db.conn();
        conn.execute(
            "UPDATE snapshot_runs SET status = 'missing' WHERE id = ?1",
            [self.id],
        )?;
        Ok(())
    }
}

impl SnapshotRow {
    /// Every run, oldest first in the creation order (a snapshot recorded later by `add`
    /// takes its place by its instant).
    pub fn all(db: &Db) -> Result<Vec<SnapshotRow>> {
        let conn = db.conn();
        let sql = format!("SELECT {COLUMNS} FROM snapshot_runs ORDER BY {OLDEST_FIRST}");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The run `name/timestamp`, if recorded.
    pub fn find(db: &Db, name: &str, timestamp: &str) -> Result<Option<SnapshotRow>> {
        let conn = db.conn();
        let sql = format!("SELECT {COLUMNS} FROM snapshot_runs WHERE name = ?1 AND timestamp = ?2");
        Ok(conn.query_row(&sql, [name, timestamp], row).optional()?)
    }

    /// Its name and timestamp.
    pub fn ident(&self) -> SnapshotId {
        SnapshotId::new(&self.name, &self.timestamp)
    }

    /// `NAME/TIMESTAMP`, as users name a snapshot.
    pub fn label(&self) -> String {
        self.ident().to_string()
    }

    /// Made by a backup run (its time noted by the run), not recorded by `add`.
    pub fn made_by_run(&self) -> bool {
        self.stamp.time_source == crate::stamp::TimeSource::Run
    }

    /// What the clock check needs of it.
    pub fn timed(&self) -> crate::stamp::Timed {
        crate::stamp::Timed {
            label: self.label(),
            name: self.name.clone(),
            made_by_run: self.made_by_run(),
            stamp: self.stamp.clone(),
        }
    }

    /// Its place in the creation order (the last is the newest).
    pub fn order(&self) -> (i64, i64, i64) {
        (self.stamp.sequence, self.stamp.instant_ns, self.id)
    }
}

/// `instant_ns` as the catalog's `started_at` text: RFC 3339 UTC, whole seconds.
pub(super) fn started_at(instant_ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(instant_ns)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl SnapshotRow {
    /// Distinct (source folder, snapshot name) pairs that backups were made from.
    pub fn sources(db: &Db) -> Result<Vec<(std::path::PathBuf, String)>> {
        let conn = db.conn();
        use std::os::unix::ffi::OsStrExt;
        let mut stmt = conn.prepare(
            "SELECT DISTINCT source, name FROM snapshot_runs WHERE source IS NOT NULL AND length(source) > 0",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let src: Vec<u8> = r.get(0)?;
                Ok((
                    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&src)),
                    r.get(1)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}
