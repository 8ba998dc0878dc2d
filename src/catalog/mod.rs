//! Owns the SQLite catalog: opening the pool, the schema migrations, and typed queries.
//! This module tree is the only place in phlb that holds SQL: the rest of phlb holds a
//! `Db` (from `Catalog::db` or `open_reader`) and hands it to the queries here.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::hash::HashAlgo;

pub mod access;
pub mod copies;
mod create;
pub mod damage;
mod db;
pub mod diff;
mod duplicates;
pub mod entries;
pub mod found;
pub mod inodes;
mod inserts;
pub mod links;
pub mod listing;
pub mod mtime;
pub mod prune;
pub mod queries;
pub mod resume;
pub mod settings;
pub mod snapshots;
mod stamps;
pub mod trim;
mod types;
pub mod user_sql;
pub mod versions;
pub mod web;
mod web_find;
pub mod writer;
pub mod xattr_sets;

pub use copies::CopyRow;
pub use db::{open_reader, Db, Tx};
pub use snapshots::SnapshotRow;
pub use writer::Writer;

refinery::embed_migrations!("migrations");

/// `PRAGMA application_id` of a phlb catalog ("phlb" in ASCII).
const APPLICATION_ID: i64 = 0x7068_6C62;

/// File name of the catalog inside `<root>/.phlb/`.
pub const FILE_NAME: &str = "catalog.sqlite3";

/// How a command wants the catalog opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Create it if missing and bring the schema up to date (writers).
    Write,
    /// Open an existing catalog without changing it (queries).
    ReadOnly,
    /// Read it without writing anything at all, not even the `-shm` and `-wal` a reader
    /// of a WAL catalog makes: as an unchanging file, while a shared lock keeps writers
    /// out (dry runs, which promise to write nothing).
    Peek,
}

/// The open catalog: a small connection pool over one SQLite file.
pub struct Catalog {
    pool: Pool<SqliteConnectionManager>,
    path: PathBuf,
    access: Access,
    /// How the catalog came to be for this run.
    pub origin: Origin,
    /// Lines for the user about how it was opened (repairs made, changes not seen).
    pub notes: Vec<String>,
    /// The shared writer lock a reader holds while it reads the catalog as immutable.
    _reader_lock: Option<std::fs::File>,
}

/// A catalog a killed run left half-made: readers refuse it, the next writer makes it
/// anew (a dry run takes it as no catalog, as that writer would).
#[derive(Debug)]
pub struct HalfMade(pub PathBuf);

impl std::fmt::Display for HalfMade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: the catalog is half-made (a run was killed while creating it); the next \
             `phlb backup` or `phlb add` makes it anew",
            self.0.display()
        )
    }
}

impl std::error::Error for HalfMade {}

/// Whether a writer found the catalog it opened or had to make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// It existed (and was brought up to the current schema).
    Existing,
    /// There was none (or an empty file): a new one was created.
    Created,
    /// A catalog a killed phlb run left half-made was moved to `aside` and a new one made.
    Remade { aside: PathBuf, why: String },
}

impl Catalog {
    /// Opens `<meta_dir>/catalog.sqlite3`, checking that it is a phlb catalog this binary
    /// reads. Writers (who hold the lock) create it when missing and bring its schema up
    /// to date, both atomically; a catalog a killed run left half-made is moved aside and
    /// made anew (see `origin`).
    pub fn open(meta_dir: &Path, access: Access) -> Result<Catalog> {
        let path = meta_dir.join(FILE_NAME);
        let mut notes = Vec::new();
        let mut target = path.clone();
        let mut reader_lock = None;
        let origin = match access {
            Access::Write => {
                access::check_writable(&path, &mut notes)?;
                prepare_for_writing(&path)?
            }
            Access::ReadOnly => {
                if path.symlink_metadata().is_ok() {
                    let mode = access::reader_mode(&path, meta_dir, &mut notes)?;
                    if let access::ReadMode::Immutable(lock) = mode {
                        target = access::immutable_uri(&path);
                        reader_lock = lock;
                    }
                }
                check_for_reading(&target, &path)?;
                Origin::Existing
            }
            Access::Peek => {
                reader_lock = crate::lock::hold_shared(meta_dir)?;
                target = access::immutable_uri(&path);
                check_for_reading(&target, &path)?;
                Origin::Existing
            }
        };
        let flags = match access {
            Access::Write => OpenFlags::SQLITE_OPEN_READ_WRITE,
            Access::ReadOnly | Access::Peek => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let init = move |c: &mut Connection| {
            c.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")?;
            if access == Access::Write {
                c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
            }
            c.set_prepared_statement_cache_capacity(64);
            Ok(())
        };
        let manager = SqliteConnectionManager::file(&target)
            .with_flags(flags)
            .with_init(init);
        let pool = Pool::builder()
            .max_size(4)
            .min_idle(Some(0))
            .build(manager)
            .map_err(|e| anyhow::anyhow!("{}: cannot open catalog: {e}", path.display()))?;
        let catalog = Catalog {
            pool,
            path,
            access,
            origin,
            notes,
            _reader_lock: reader_lock,
        };
        if access == Access::Write {
            let mut conn = catalog.pooled()?;
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK")
                .map_err(|e| explain(e, &catalog.path))?;
            create::migrate(&mut conn)
                .with_context(|| format!("{}: schema migration failed", catalog.path.display()))?;
        }
        Ok(catalog)
    }

    /// Takes a connection from the pool.
    pub fn db(&self) -> Result<Db> {
        Ok(Db::pooled(self.pooled()?))
    }

    fn pooled(&self) -> Result<db::Conn> {
        self.pool
            .get()
            .with_context(|| format!("{}: cannot open catalog", self.path.display()))
    }

    /// Checks that the backup root is on the filesystem this catalog was made on (and
    /// records it the first time). Inode numbers in the catalog only mean something there:
    /// backups copied to another disk must have their catalog rebuilt.
    pub fn check_filesystem(&self, root: &Path) -> Result<()> {
        let now = crate::store::filesystem_id(root)
            .with_context(|| format!("{}: cannot read filesystem", root.display()))?;
        let db = self.db()?;
        match settings::get(&db, "root_fsid")? {
            Some(then) if then != now => bail!(
                "{}: the backup root is on another filesystem than the one its catalog was made on \
                 (id {now}, catalog says {then}); is the right drive mounted? If you copied the \
                 backups here, move {} aside and run `phlb add` to rebuild the catalog",
                root.display(),
                self.path.display()
            ),
            Some(_) => Ok(()),
            None => settings::set(&db, "root_fsid", &now),
        }
    }

    /// Checks that `algo` is the hash this backup root was made with, recording it the
    /// first time (from the newest run of a catalog an older phlb made, else `algo`).
    /// Hashes of two algorithms never meet in one root: a changed `HASH` is an error.
    pub fn check_hash(&self, algo: HashAlgo) -> Result<()> {
        let db = self.db()?;
        let recorded = self.root_hash()?.unwrap_or(algo);
        if settings::get(&db, "hash_algo")?.is_none() {
            settings::set(&db, "hash_algo", &recorded.to_string())?;
        }
        if recorded != algo {
            bail!(
                "{}: this backup root uses HASH = {recorded} (set when it was made), the config says HASH = {algo}; \
                 set HASH = {recorded} for this root, or back up to a new root (--backup-root) to use {algo}",
                self.path.display()
            );
        }
        Ok(())
    }

    /// The hash this backup root uses: recorded in the catalog, or for a catalog of an
    /// older phlb the hash of its newest run; None for a root with no run yet.
    pub fn root_hash(&self) -> Result<Option<HashAlgo>> {
        let db = self.db()?;
        if let Some(h) = settings::get(&db, "hash_algo")? {
            return h
                .parse()
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{}: hash_algo setting: {e}", self.path.display()));
        }
        Ok(db
            .conn()
            .query_row(
                "SELECT hash_algo FROM snapshot_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The catalog file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Catalog {
    /// Leaves a writer's WAL empty, so a reader that can only read the catalog as an
    /// unchanging file (on a full disk) misses nothing. Without waiting: while a reader
    /// holds an older state (a restore reads one state to its end) the WAL cannot be
    /// emptied, and waiting for it cost every writer the busy timeout (5 s); what can be
    /// copied back is, and a later writer empties the rest.
    fn drop(&mut self) {
        if self.access == Access::Write {
            if let Ok(conn) = self.pool.get() {
                let _ = conn.busy_timeout(std::time::Duration::ZERO);
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
                let _ = conn.busy_timeout(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// The newest schema version this binary knows.
fn known_version() -> i64 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// Makes sure a writer finds a usable catalog at `path`: creates it when missing or
/// empty, remakes one a killed run left half-made, refuses anything else not phlb's.
fn prepare_for_writing(path: &Path) -> Result<Origin> {
    if path.symlink_metadata().is_err() {
        create::create(path)?;
        return Ok(Origin::Created);
    }
    let why = match create::inspect(path, true)? {
        create::Found::Ours(v) => {
            check_version(path, v)?;
            return Ok(Origin::Existing);
        }
        create::Found::Empty => {
            create::remove_with_companions(path)?;
            create::create(path)?;
            return Ok(Origin::Created);
        }
        create::Found::HalfMade => "a run was killed while creating it",
        create::Found::Foreign => {
            return Err(not_ours(path, "an SQLite database of another program"))
        }
        create::Found::NotSqlite => return Err(not_ours(path, "not an SQLite database")),
    };
    let aside = create::move_aside(path)?;
    create::create(path)?;
    Ok(Origin::Remade {
        aside,
        why: why.to_string(),
    })
}

/// Refuses, for a reader, files that are not SQLite, not phlb's, half-made, or of
/// another schema version (`target` opens the catalog at `path`: the path or a URI).
fn check_for_reading(target: &Path, path: &Path) -> Result<()> {
    if path.symlink_metadata().is_err() {
        bail!(
            "{}: no catalog here; if it was lost, `phlb add` rebuilds it from the snapshot \
             folders (a new backup root gets one with its first `phlb backup`)",
            path.display()
        );
    }
    let applied = match create::inspect_as(target, path, false)? {
        create::Found::Ours(v) => v,
        create::Found::Empty | create::Found::HalfMade => {
            return Err(anyhow::Error::new(HalfMade(path.to_path_buf())))
        }
        create::Found::Foreign => {
            return Err(not_ours(path, "an SQLite database of another program"))
        }
        create::Found::NotSqlite => return Err(not_ours(path, "not an SQLite database")),
    };
    check_version(path, applied)?;
    if applied < known_version() {
        bail!(
            "{}: catalog schema v{applied} is older than this phlb (v{}); run `phlb backup` once to upgrade it",
            path.display(),
            known_version()
        );
    }
    Ok(())
}

fn not_ours(path: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: not a phlb catalog ({why}); move it aside, then `phlb add` rebuilds the catalog from the snapshots",
        path.display()
    )
}

/// Refuses a catalog made by a newer phlb.
fn check_version(path: &Path, applied: i64) -> Result<()> {
    if applied > known_version() {
        bail!(
            "{}: catalog schema v{applied} is newer than this phlb (v{}); use a newer phlb, or move it aside and rebuild it with `phlb add`",
            path.display(),
            known_version()
        );
    }
    Ok(())
}

/// Turns an SQLite error on the catalog at `path` into one line naming the path and the
/// real cause.
fn explain(e: rusqlite::Error, path: &Path) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", path.display(), cause(&e, path))
}

/// The real cause of an SQLite error on the catalog at `path`, in words.
fn cause(e: &rusqlite::Error, path: &Path) -> String {
    use rusqlite::ErrorCode as C;
    let dir = path.parent().unwrap_or(Path::new("."));
    match e.sqlite_error_code() {
        Some(C::DiskFull) => "No space left on device".to_string(),
        Some(C::SystemIoFailure | C::CannotOpen) if access::disk_full(dir) => {
            format!("No space left on device ({e})")
        }
        Some(C::ReadOnly) => access::unwritable(path)
            .unwrap_or_else(|| "the catalog file or its folder is read-only".to_string()),
        Some(C::CannotOpen) => format!("cannot open ({e})"),
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            format!("catalog is locked by another program ({e}); close it and try again")
        }
        _ => e.to_string(),
    }
}
