//! Owns running SQL a user typed (`phlb sql`), judged by SQLite itself rather than by
//! matching text. The connection is read-only with `query_only`; a statement must be
//! read-only by `sqlite3_stmt_readonly` and pass an authorizer that allows only reading:
//! no ATTACH or DETACH, no pragma outside `PRAGMAS`, no function in `DENIED_FUNCTIONS`,
//! no transaction control. One value may hold at most `VALUE_CAP` bytes. Rows come out
//! one at a time as `Cell`s; showing them is the command's job.

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{ErrorCode, InterruptHandle, Statement};

use super::Db;
use crate::output::{Cell, Table};

/// Largest single value (text or blob) a query may make, in bytes (64 MiB).
pub const VALUE_CAP: i32 = 64 << 20;

/// Pragmas a query may use (as `PRAGMA x(t)` or `pragma_x('t')`): they only describe the
/// schema. Every other pragma is refused, with or without a value.
pub const PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// Functions refused by name because they read or write files or load code (most are
/// not even built into phlb's SQLite; the list guards against that changing).
pub const DENIED_FUNCTIONS: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

/// Why the authorizer refused the statement being prepared, if it did.
type Refusal = Arc<Mutex<Option<String>>>;

/// A catalog connection that refuses anything but reading, for queries a user typed.
pub struct Guarded<'d> {
    db: &'d Db,
    refusal: Refusal,
    /// What the connection was before, to put back when the guard goes: a pooled
    /// connection serves other queries after this one (a web server's, prune's).
    was_query_only: bool,
    was_length: i32,
}

impl Drop for Guarded<'_> {
    fn drop(&mut self) {
        let conn = self.db.conn();
        let _ = conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        let _ = conn.pragma_update(None, "query_only", self.was_query_only);
        let _ = conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, self.was_length);
    }
}

/// Stops a query running on a `Guarded` connection from another thread (Ctrl-C).
pub struct Interrupt(InterruptHandle);

impl Interrupt {
    /// Makes the running query fail with "query interrupted".
    pub fn interrupt(&self) {
        self.0.interrupt();
    }
}

/// One prepared, read-only user query.
pub struct Query<'g> {
    stmt: Statement<'g>,
    refusal: &'g Refusal,
}

/// The rows of a running `Query`.
pub struct Rows<'q> {
    rows: rusqlite::Rows<'q>,
    refusal: &'q Refusal,
    n: usize,
}

impl<'d> Guarded<'d> {
    /// Makes `db` refuse anything but reading: `query_only`, the value cap and the
    /// authorizer.
    pub fn new(db: &'d Db) -> Result<Guarded<'d>> {
        let conn = db.conn();
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)?;
        let was_query_only: bool = conn.query_row("PRAGMA query_only", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA query_only = ON")?;
        let was_length = conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, VALUE_CAP)?;
        let refusal: Refusal = Arc::default();
        let slot = Arc::clone(&refusal);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match refused(&ctx.action) {
                Some(why) => {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                    Authorization::Deny
                }
                None => Authorization::Allow,
            }
        }))?;
        Ok(Guarded {
            db,
            refusal,
            was_query_only,
            was_length,
        })
    }

    /// A handle that interrupts the query running on this connection.
    pub fn interrupt_handle(&self) -> Interrupt {
        Interrupt(self.db.conn().get_interrupt_handle())
    }

    /// Prepares `sql` and checks it is read-only and returns rows, naming what was
    /// refused.
    pub fn prepare(&self, sql: &str) -> Result<Query<'_>> {
        let refusal = &self.refusal;
        refusal.lock().unwrap_or_else(|e| e.into_inner()).take();
        let stmt = self
            .db
            .conn()
            .prepare(sql)
            .map_err(|e| match refused_now(refusal) {
                Some(not_allowed) => not_allowed,
                None => anyhow!("sql: invalid query: {e}"),
            })?;
        if !stmt.readonly() {
            bail!("sql: only read-only queries are allowed; the catalog was not changed");
        }
        if stmt.column_count() == 0 {
            bail!("sql: the query has no statement that returns rows");
        }
        Ok(Query { stmt, refusal })
    }
}

impl Query<'_> {
    /// The names of the result's columns.
    pub fn columns(&self) -> Vec<String> {
        self.stmt
            .column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    /// Starts the query.
    pub fn rows(&mut self) -> Result<Rows<'_>> {
        let n = self.stmt.column_count();
        let refusal = self.refusal;
        let rows = self.stmt.query([]).map_err(|e| failed(e, refusal))?;
        Ok(Rows { rows, refusal, n })
    }
}

impl Rows<'_> {
    /// The values of the next result row; None after the last.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Vec<Cell>>> {
        match self.rows.next().map_err(|e| failed(e, self.refusal))? {
            Some(r) => Ok(Some(cells(r, self.n)?)),
            None => Ok(None),
        }
    }
}

/// Runs one read-only statement and collects its rows (for callers that want a `Table`).
pub fn query(db: &Db, sql: &str) -> Result<Table> {
    let guarded = Guarded::new(db)?;
    let mut stmt = guarded.prepare(sql)?;
    let mut table = Table {
        columns: stmt.columns(),
        rows: Vec::new(),
    };
    let mut rows = stmt.rows()?;
    while let Some(row) = rows.next()? {
        table.push(row);
    }
    Ok(table)
}

/// Why an action is not allowed in `phlb sql`, or None when it only reads.
fn refused(action: &AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => None,
        AuthAction::Function { function_name } => {
            let name = function_name.to_ascii_lowercase();
            DENIED_FUNCTIONS
                .contains(&name.as_str())
                .then(|| format!("function {name}()"))
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            match pragma_value {
                _ if PRAGMAS.contains(&name.as_str()) => None,
                Some(v) => Some(format!("PRAGMA {name}({v})")),
                None => Some(format!("PRAGMA {name}")),
            }
        }
        AuthAction::Attach { .. } => Some("ATTACH".into()),
        AuthAction::Detach { .. } => Some("DETACH".into()),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some("transaction control".into())
        }
        other => Some(format!("{other:?}")),
    }
}

/// The error for what the authorizer refused last, if it refused anything.
fn refused_now(refusal: &Refusal) -> Option<anyhow::Error> {
    let what = refusal.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    Some(anyhow!(
        "sql: {what} is not allowed; the catalog is read-only here"
    ))
}

/// The values of one result row.
fn cells(r: &rusqlite::Row<'_>, n: usize) -> Result<Vec<Cell>> {
    let mut row = Vec::with_capacity(n);
    for i in 0..n {
        row.push(match r.get_ref(i)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Real(v) => Cell::Real(v),
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Cell::Text(crate::hash::hex(b)),
        });
    }
    Ok(row)
}

/// The one-line error of a query that failed while it ran (a table-valued pragma is
/// authorized only then).
fn failed(e: rusqlite::Error, refusal: &Refusal) -> anyhow::Error {
    if let Some(not_allowed) = refused_now(refusal) {
        return not_allowed;
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::OperationInterrupted) => anyhow!("sql: query interrupted"),
        Some(ErrorCode::TooBig) => anyhow!(
            "sql: query failed: a value would exceed {} MiB, the most one value may hold",
            VALUE_CAP >> 20
        ),
        _ => anyhow!("sql: query failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn only_reading_passes_the_authorizer() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
            .unwrap();
        let db = Db::own(conn);
        let cases = [
            ("SELECT count(*) FROM t", true),
            ("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 3) SELECT n FROM c", true),
            ("SELECT name FROM pragma_table_info('t')", true),
            ("PRAGMA table_info(t)", true),
            ("/**/ATTACH ':memory:' AS x", false),
            ("/**/PRAGMA writable_schema=1", false),
            ("PRAGMA query_only(0)", false),
            ("PRAGMA user_version", false),
            ("SELECT * FROM pragma_query_only", false),
            ("SELECT load_extension('x')", false),
            ("BEGIN IMMEDIATE", false),
            ("SELECT 1; DELETE FROM t", false),
            ("DELETE FROM t", false),
        ];
        for (sql, ok) in cases {
            let got = query(&db, sql);
            assert_eq!(got.is_ok(), ok, "{sql}: {:?}", got.err());
        }
        let conn: &Connection = db.conn();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_pooled_connection_is_restored_after_a_user_query() {
        // Found by prune's benchmark: after `sql` the connection refused prune's temp
        // table ("not authorized"); a long-lived process reuses pooled connections.
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let db = Db::own(conn);
        assert!(query(&db, "SELECT count(*) FROM t").is_ok());
        assert!(query(&db, "DELETE FROM t").is_err());
        let conn: &Connection = db.conn();
        conn.execute_batch("CREATE TEMP TABLE scratch (id INTEGER); INSERT INTO t VALUES (2);")
            .unwrap();
        let query_only: bool = conn
            .query_row("PRAGMA query_only", [], |r| r.get(0))
            .unwrap();
        assert!(!query_only);
    }
}
