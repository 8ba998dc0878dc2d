//! Owns the handle the rest of phlb holds on the catalog: `Db`, one connection (pooled,
//! or of its own for a worker thread) that code outside `catalog` passes to the typed
//! queries but cannot run SQL on, and `Tx`, a transaction over it.

use std::ops::Deref;
use std::path::Path;

use anyhow::{Context, Result};
use r2d2::PooledConnection;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, Transaction};

/// A pooled connection to the catalog.
pub(in crate::catalog) type Conn = PooledConnection<SqliteConnectionManager>;

/// One connection to the catalog, handed to the typed queries of `catalog` (its SQL
/// stays inside that module).
pub struct Db(Handle);

enum Handle {
    Pooled(Conn),
    Own(Connection),
}

impl Db {
    /// Wraps a connection taken from the catalog's pool.
    pub(in crate::catalog) fn pooled(conn: Conn) -> Db {
        Db(Handle::Pooled(conn))
    }

    /// Wraps a connection of its own (a reader outside the pool, a test database).
    pub(in crate::catalog) fn own(conn: Connection) -> Db {
        Db(Handle::Own(conn))
    }

    /// The SQLite connection, for the queries in `catalog`.
    pub(in crate::catalog) fn conn(&self) -> &Connection {
        match &self.0 {
            Handle::Pooled(c) => c,
            Handle::Own(c) => c,
        }
    }

    /// Runs `read` in one read transaction, or in the transaction already open: its
    /// queries see one state of the catalog and take SQLite's lock once, not once each
    /// (thousands of small lookups each locked and unlocked the file: half a diff's
    /// time).
    pub fn reading<T>(&self, read: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        if !self.conn().is_autocommit() {
            return read(self);
        }
        let tx = self.begin()?;
        // Nothing was written: dropping the transaction ends it.
        read(&tx)
    }

    /// Starts a transaction on this connection: what the queries called with this `Db`
    /// do until `Tx::commit` is kept together; dropping the `Tx` undoes it.
    pub fn begin(&self) -> Result<Tx<'_>> {
        Ok(Tx {
            db: self,
            tx: self.conn().unchecked_transaction()?,
        })
    }
}

/// A transaction on a `Db`, rolled back unless committed; queries take it as the `Db`.
pub struct Tx<'d> {
    db: &'d Db,
    tx: Transaction<'d>,
}

impl Tx<'_> {
    /// Commits what was done since `Db::begin`.
    pub fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

impl Deref for Tx<'_> {
    type Target = Db;

    fn deref(&self) -> &Db {
        self.db
    }
}

/// Opens a read-only connection of its own to the catalog file at `path`, outside the
/// pool (for a worker thread); it sees what is committed.
pub fn open_reader(path: &Path) -> Result<Db> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .and_then(|c| c.execute_batch("PRAGMA busy_timeout = 5000;").map(|_| c))
        .with_context(|| format!("{}: cannot open catalog", path.display()))?;
    Ok(Db::own(conn))
}
