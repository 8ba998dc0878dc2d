//! Owns the SQLite catalog: opening the pool, the schema migrations, and typed queries.
//! This module tree is the only place in phlb that holds SQL.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

pub mod entries;
pub mod queries;
pub mod settings;
pub mod snapshots;

pub use entries::{CopyRow, Writer};
pub use snapshots::SnapshotRow;

refinery::embed_migrations!("migrations");

/// `PRAGMA application_id` of a phlb catalog ("phlb" in ASCII).
const APPLICATION_ID: i64 = 0x7068_6C62;

/// File name of the catalog inside `<root>/.phlb/`.
pub const FILE_NAME: &str = "catalog.sqlite3";

/// A pooled connection to the catalog.
pub type Conn = PooledConnection<SqliteConnectionManager>;

/// How a command wants the catalog opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Create it if missing and bring the schema up to date (writers).
    Write,
    /// Open an existing catalog without changing it (queries, dry runs).
    ReadOnly,
}

/// Opens a read-only connection of its own to the catalog file at `path`, outside the
/// pool (for a worker thread); it sees what is committed.
pub fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .and_then(|c| c.execute_batch("PRAGMA busy_timeout = 5000;").map(|_| c))
        .with_context(|| format!("{}: cannot open catalog", path.display()))?;
    Ok(conn)
}

/// The open catalog: a small connection pool over one SQLite file.
pub struct Catalog {
    pool: Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl Catalog {
    /// Opens `<meta_dir>/catalog.sqlite3`, checking that it is a phlb catalog this binary reads.
    pub fn open(meta_dir: &Path, access: Access) -> Result<Catalog> {
        let path = meta_dir.join(FILE_NAME);
        if access == Access::Write && !path.exists() {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("{}: cannot create catalog", path.display()))?;
        }
        if !path.exists() {
            bail!(
                "{}: no catalog here (run `phlb backup` first)",
                path.display()
            );
        }
        check_identity(&path, access)?;
        let flags = match access {
            Access::Write => OpenFlags::SQLITE_OPEN_READ_WRITE,
            Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
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
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(flags)
            .with_init(init);
        let pool = Pool::builder()
            .max_size(4)
            .min_idle(Some(0))
            .build(manager)
            .with_context(|| format!("{}: cannot open catalog", path.display()))?;
        let catalog = Catalog { pool, path };
        if access == Access::Write {
            let mut conn = catalog.conn()?;
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK")
                .map_err(|e| {
                    anyhow::anyhow!(
                        "{}: catalog is locked by another program ({e}); close it and try again",
                        catalog.path.display()
                    )
                })?;
            migrations::runner()
                .run(&mut *conn)
                .with_context(|| format!("{}: schema migration failed", catalog.path.display()))?;
        }
        Ok(catalog)
    }

    /// Takes a connection from the pool.
    pub fn conn(&self) -> Result<Conn> {
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
        let conn = self.conn()?;
        match settings::get(&conn, "root_fsid")? {
            Some(then) if then != now => bail!(
                "{}: the backup root is on another filesystem than the one its catalog was made on \
                 (id {now}, catalog says {then}); is the right drive mounted? If you copied the \
                 backups here, move {} aside and run `phlb add` to rebuild the catalog",
                root.display(),
                self.path.display()
            ),
            Some(_) => Ok(()),
            None => settings::set(&conn, "root_fsid", &now),
        }
    }

    /// The catalog file's path.
    pub fn path(&self) -> &Path {
        &self.path
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

/// Refuses files that are not SQLite, not phlb's, or from a newer phlb.
fn check_identity(path: &Path, access: Access) -> Result<()> {
    let not_ours = |why: &str| {
        anyhow::anyhow!(
            "{}: not a phlb catalog ({why}); move it aside, then `phlb add` rebuilds the catalog from the snapshots",
            path.display()
        )
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("{}: cannot open catalog", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let app_id: i64 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not_ours("not an SQLite database"));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("{}: cannot read catalog", path.display()))
        }
    };
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID {
        if tables == 0 && access == Access::Write {
            return Ok(());
        }
        return Err(not_ours("an SQLite database of another program"));
    }
    let applied: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM refinery_schema_history",
            [],
            |r| r.get(0),
        )
        .unwrap_or(0);
    if applied > known_version() {
        bail!(
            "{}: catalog schema v{applied} is newer than this phlb (v{}); use a newer phlb, or move it aside and rebuild it with `phlb add`",
            path.display(),
            known_version()
        );
    }
    if access == Access::ReadOnly && applied < known_version() {
        bail!(
            "{}: catalog schema v{applied} is older than this phlb (v{}); run `phlb backup` once to upgrade it",
            path.display(),
            known_version()
        );
    }
    Ok(())
}
