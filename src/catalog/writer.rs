//! Owns writing a run's rows: the batched writer thread a backup uses and how far its
//! rows are committed (the inserts themselves are in `inserts`).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;

pub use super::inserts::{record_copy, record_entry};
use super::Db;

use crate::decide::CopyMeta;
use crate::scan::{Kind, Meta};

/// One row for the writer thread.
enum Row {
    Copy {
        id: i64,
        hash: Vec<u8>,
        size: u64,
        ino: u64,
        meta: CopyMeta,
    },
    Entry {
        snapshot_id: i64,
        /// The path's id when the caller knows it; then `path` is left empty.
        path_id: Option<i64>,
        path: Vec<u8>,
        kind: Kind,
        meta: Meta,
        copy_id: Option<i64>,
        target: Option<Vec<u8>>,
        seen: Option<crate::scan::Seen>,
    },
    /// The file of the entry sent before shared its source inode with other files.
    SourceLink {
        snapshot_id: i64,
        path_id: Option<i64>,
        path: Vec<u8>,
        group: i64,
    },
    /// A new attribute set, under the id `Writer::xattr_set_id` gave it.
    XattrSet {
        id: i64,
        set: std::sync::Arc<crate::xattr_set::XattrSet>,
    },
    /// Not a row: commit what came before now (see `Writer::stored`).
    Commit,
    /// The snapshot's entries are all sent: take out the paths it inherited from the run
    /// before and did not record (`versions::close_unseen`).
    CloseUnseen { snapshot_id: i64 },
}

/// When a row sent to the writer is in the catalog: once `Committed::rows` reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// How many of the rows handed to a `Writer`, counted in order, are committed: readers on
/// other connections see them from then on.
#[derive(Debug, Clone, Default)]
pub struct Committed(Arc<AtomicU64>);

impl Committed {
    /// Rows committed so far.
    pub fn rows(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, rows: u64) {
        self.0.store(rows, Ordering::Release);
    }

    /// Sets the count, for tests of what follows a commit.
    #[cfg(test)]
    pub fn set_for_test(&self, rows: u64) {
        self.set(rows);
    }
}

/// Writes a run's rows on a thread of its own, in large transactions, so the filesystem
/// work of the run never waits for SQLite. Stored-copy ids are handed out up front (the
/// writer lock makes this run the only writer), so callers never wait for an insert.
pub struct Writer {
    tx: Option<SyncSender<Vec<Row>>>,
    thread: Option<JoinHandle<Result<()>>>,
    next_copy_id: i64,
    /// The next id for a new attribute set (0: not read from the catalog yet).
    next_xattr_id: i64,
    /// The ids of the attribute sets this run has used, by hash.
    /// Sets seen this run and their ids (a walk meets the same few sets again and again).
    xattr_ids: std::collections::HashMap<std::sync::Arc<crate::xattr_set::XattrSet>, i64>,
    /// Ids of the attribute sets the previous snapshot used, by hash (`know_sets_of`):
    /// an unchanged file's set is found without a catalog query. Loaded when the first
    /// set is looked up, so a run of files without attributes never reads them.
    known_sets: std::collections::HashMap<[u8; 32], i64>,
    /// The snapshot whose sets `known_sets` is still to load.
    sets_of: Option<i64>,
    /// Rows not yet handed to the thread: they go over in batches, so the two threads
    /// do not wake each other for every row.
    batch: Vec<Row>,
    /// Rows sent so far, and how many of them the thread has committed.
    sent: u64,
    handoff: usize,
    committed: Committed,
    /// Bytes of new stored copies recorded since the last early commit.
    unsaved_bytes: u64,
    /// New stored copies recorded since the last early commit.
    unsaved_files: u64,
}

/// Rows handed to the writer thread at once.
const HANDOFF_ROWS: usize = 512;

/// Rows (or seconds) per transaction. Large, so each touched index page is written to
/// the WAL about once per run. A run killed mid-transaction loses those rows only: the
/// files they describe are in-progress leftovers, which the next run removes.
const BATCH_ROWS: usize = 200_000;
const BATCH_TIME: Duration = Duration::from_secs(10);

/// Bytes of new stored copies after which the rows recorded so far are committed at
/// once, whatever the batch: a killed run's finished copies are then known to the next
/// run, which links them instead of writing them again (#28). A commit appends the
/// pages its rows touched to the WAL, small beside 64 MiB of copying.
const COMMIT_BYTES: u64 = 64 << 20;

/// New stored copies after which the rows so far are committed at once, however few
/// bytes they hold: until its row is committed, a run remembers each new copy in memory
/// (so a later file of the same content links to it), and a tree of small or empty files
/// reaches 64 MiB only after hundreds of thousands of them (a first backup of 1M files
/// held 150 MB so). About 400 bytes each: at most ~13 MB remembered.
const COMMIT_FILES: u64 = 32_768;

/// Rows per handoff and per transaction: `HANDOFF_ROWS` and `BATCH_ROWS`, or both from
/// `PHLB_DEBUG_BATCH_ROWS` when set (a test knob, in every build, so a test can make a
/// small run commit part-way in release test builds too; it changes only how often
/// rows are committed, never what is written).
fn batch_sizes() -> (usize, usize) {
    if let Some(n) = std::env::var("PHLB_DEBUG_BATCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return (n, n);
    }
    (HANDOFF_ROWS, BATCH_ROWS)
}

impl Writer {
    /// Starts the writer thread on a connection of the catalog's pool.
    pub fn start(db: Db) -> Result<Writer> {
        let max_id: i64 =
            db.conn()
                .query_row("SELECT coalesce(max(id), 0) FROM copies", [], |r| r.get(0))?;
        let (tx, rx) = sync_channel::<Vec<Row>>(8);
        let committed = Committed::default();
        let (handoff, batch) = batch_sizes();
        let thread = {
            let committed = committed.clone();
            std::thread::Builder::new()
                .name("catalog-writer".into())
                .spawn(move || write_rows(&db, rx, &committed, batch))?
        };
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            next_copy_id: max_id + 1,
            next_xattr_id: 0,
            xattr_ids: std::collections::HashMap::new(),
            known_sets: std::collections::HashMap::new(),
            sets_of: None,
            batch: Vec::with_capacity(handoff),
            sent: 0,
            handoff,
            committed,
            unsaved_bytes: 0,
            unsaved_files: 0,
        })
    }

    /// A handle on how far the writer has committed.
    pub fn committed(&self) -> Committed {
        self.committed.clone()
    }

    fn send(&mut self, row: Row) -> Result<()> {
        self.sent += 1;
        self.batch.push(row);
        if self.batch.len() >= self.handoff {
            self.hand_over()?;
        }
        Ok(())
    }

    /// Hands the rows collected so far to the thread.
    fn hand_over(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(self.handoff));
        let sent = self
            .tx
            .as_ref()
            .map(|tx| tx.send(rows).is_ok())
            .unwrap_or(false);
        if sent {
            return Ok(());
        }
        // The thread stopped: its error says why.
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => Err(e),
            _ => anyhow::bail!("the catalog writer stopped"),
        }
    }

    /// Records a new stored copy of content `hash`; returns its id.
    pub fn insert_copy(&mut self, hash: &[u8], size: u64, ino: u64, meta: CopyMeta) -> Result<i64> {
        let id = self.next_copy_id;
        self.next_copy_id += 1;
        self.send(Row::Copy {
            id,
            hash: hash.to_vec(),
            size,
            ino,
            meta,
        })?;
        Ok(id)
    }

    /// Learns the attribute sets snapshot `run_id` used (one query, at the first set
    /// looked up), so that a run comparing with it finds each unchanged file's set by its
    /// hash alone.
    pub fn know_sets_of(&mut self, run_id: i64) {
        self.sets_of = Some(run_id);
    }

    /// The id of attribute set `set`, whose hash is `hash`: one the catalog (`db`, a
    /// reader) or this run already has, else a new one whose row goes before the rows
    /// that refer to it.
    pub fn xattr_set_id(
        &mut self,
        db: &Db,
        set: &std::sync::Arc<crate::xattr_set::XattrSet>,
    ) -> Result<i64> {
        if let Some(&id) = self.xattr_ids.get(set) {
            return Ok(id);
        }
        if let Some(run_id) = self.sets_of.take() {
            self.known_sets = super::xattr_sets::hashes_of_run(db, run_id)?;
        }
        let hash = set.hash();
        let known = self.known_sets.get(&hash).copied();
        let id =
            match known.map_or_else(|| super::xattr_sets::find(db, &hash), |id| Ok(Some(id)))? {
                Some(id) => id,
                None => {
                    if self.next_xattr_id == 0 {
                        self.next_xattr_id = super::xattr_sets::max_id(db)? + 1;
                    }
                    let id = self.next_xattr_id;
                    self.next_xattr_id += 1;
                    self.send(Row::XattrSet {
                        id,
                        set: std::sync::Arc::clone(set),
                    })?;
                    id
                }
            };
        self.xattr_ids.insert(std::sync::Arc::clone(set), id);
        Ok(id)
    }

    /// Records one entry of snapshot `snapshot_id`; `path_id` skips the path lookup when
    /// the caller knows it (an unchanged path of the previous snapshot). The ticket says
    /// when the row (and every row sent before it) is committed.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_entry(
        &mut self,
        snapshot_id: i64,
        path_id: Option<i64>,
        rel: &Path,
        kind: Kind,
        meta: &Meta,
        copy_id: Option<i64>,
        target: Option<&Path>,
        seen: Option<crate::scan::Seen>,
    ) -> Result<Ticket> {
        self.send(Row::Entry {
            snapshot_id,
            path_id,
            path: match path_id {
                Some(_) => Vec::new(),
                None => rel.as_os_str().as_bytes().to_vec(),
            },
            kind,
            meta: *meta,
            copy_id,
            target: target.map(|t| t.as_os_str().as_bytes().to_vec()),
            seen,
        })?;
        Ok(Ticket(self.sent))
    }

    /// Records that the entry just sent (same snapshot, path, path id) belongs to source
    /// hardlink group `group` (see `links`).
    pub fn insert_source_link(
        &mut self,
        snapshot_id: i64,
        path_id: Option<i64>,
        rel: &Path,
        group: i64,
    ) -> Result<()> {
        self.send(Row::SourceLink {
            snapshot_id,
            path_id,
            path: match path_id {
                Some(_) => Vec::new(),
                None => rel.as_os_str().as_bytes().to_vec(),
            },
            group,
        })
    }

    /// Notes that the rows just sent record a new stored copy of `bytes` bytes: once
    /// `COMMIT_BYTES` (or `COMMIT_FILES` copies) are waiting, everything sent so far is
    /// committed now, so a run killed from then on leaves them for the next run to link
    /// (#28), and the copies remembered until then are let go.
    pub fn stored(&mut self, bytes: u64) -> Result<()> {
        self.unsaved_bytes += bytes;
        self.unsaved_files += 1;
        if self.unsaved_bytes < COMMIT_BYTES && self.unsaved_files < COMMIT_FILES {
            return Ok(());
        }
        self.commit_now()
    }

    /// Says that every entry of snapshot `snapshot_id` is sent: the paths the run before
    /// had and this run did not record are taken out of it. Only for a run that walked
    /// its whole source (a stopped run leaves the versions as they are).
    pub fn close_unseen(&mut self, snapshot_id: i64) -> Result<()> {
        self.send(Row::CloseUnseen { snapshot_id })
    }

    /// Commits everything sent so far now (a stopping run keeps each file it finishes).
    pub fn commit_now(&mut self) -> Result<()> {
        self.unsaved_bytes = 0;
        self.unsaved_files = 0;
        self.batch.push(Row::Commit);
        self.hand_over()
    }

    /// Waits until every row is committed.
    pub fn finish(mut self) -> Result<()> {
        self.hand_over()?;
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("the catalog writer crashed"),
            None => anyhow::bail!("the catalog writer stopped"),
        }
    }
}

impl Drop for Writer {
    /// A run that stops early keeps the rows it sent: they only describe files on disk.
    fn drop(&mut self) {
        let _ = self.hand_over();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Settings of the writer's connection while it writes: foreign keys are not checked row
/// by row (every id it writes was just read from, or handed out for, this catalog), and
/// a larger page cache keeps the scattered index inserts of a big catalog off the disk.
const WRITER_ON: &str =
    "PRAGMA foreign_keys = OFF; PRAGMA ignore_check_constraints = ON; PRAGMA cache_size = -16384;";
/// The pool's settings, restored before the connection goes back.
const WRITER_OFF: &str =
    "PRAGMA foreign_keys = ON; PRAGMA ignore_check_constraints = OFF; PRAGMA cache_size = -2000;";

fn write_rows(db: &Db, rx: Receiver<Vec<Row>>, committed: &Committed, batch: usize) -> Result<()> {
    db.conn().execute_batch(WRITER_ON)?;
    let written = write_batches(db, rx, committed, batch);
    let restored = db.conn().execute_batch(WRITER_OFF);
    written?;
    restored?;
    Ok(())
}

fn write_batches(
    db: &Db,
    rx: Receiver<Vec<Row>>,
    committed: &Committed,
    batch: usize,
) -> Result<()> {
    let conn = db.conn();
    conn.execute_batch("BEGIN")?;
    let mut done = 0u64;
    let mut pending = 0usize;
    let mut since = Instant::now();
    // The paths recorded so far, by snapshot.
    let mut recorded: std::collections::HashMap<i64, super::versions::IdSet> =
        std::collections::HashMap::new();
    let result = (|| -> Result<()> {
        for row in rx.into_iter().flatten() {
            let early = matches!(row, Row::Commit);
            match row {
                Row::Commit => {}
                Row::XattrSet { id, set } => super::xattr_sets::record(db, id, &set)?,
                Row::Copy {
                    id,
                    hash,
                    size,
                    ino,
                    meta,
                } => {
                    record_copy(db, Some(id), &hash, size, ino, meta)?;
                }
                Row::Entry {
                    snapshot_id,
                    path_id,
                    path,
                    kind,
                    meta,
                    copy_id,
                    target,
                    seen,
                } => {
                    let id = record_entry(
                        db,
                        snapshot_id,
                        path_id,
                        &path,
                        kind,
                        &meta,
                        copy_id,
                        target.as_deref(),
                        seen,
                    )?;
                    recorded.entry(snapshot_id).or_default().insert(id);
                }
                Row::CloseUnseen { snapshot_id } => {
                    let seen = recorded.remove(&snapshot_id).unwrap_or_default();
                    super::versions::close_unseen(db, snapshot_id, &seen)?;
                }
                Row::SourceLink {
                    snapshot_id,
                    path_id,
                    path,
                    group,
                } => super::links::record_source_link(db, snapshot_id, path_id, &path, group)?,
            }
            if !early {
                pending += 1;
                done += 1;
            }
            let due = pending >= batch || since.elapsed() >= BATCH_TIME;
            if pending > 0 && (due || early) {
                conn.execute_batch("COMMIT; BEGIN")?;
                committed.set(done);
                pending = 0;
                since = Instant::now();
            }
        }
        Ok(())
    })();
    let last = conn.execute_batch("COMMIT");
    result?;
    last?;
    committed.set(done);
    Ok(())
}
