//! `phlb sql`: read-only SQL against the catalog, judged by SQLite itself rather than by
//! matching text. The connection is read-only with `query_only`; a statement must be
//! read-only by `sqlite3_stmt_readonly` and pass an authorizer that allows only reading:
//! no ATTACH or DETACH, no pragma outside `PRAGMAS`, no function in `DENIED_FUNCTIONS`,
//! no transaction control. One value may hold at most `VALUE_CAP` bytes. Rows stream out
//! for csv and json; the aligned table holds at most `TABLE_ROW_CAP` rows. Ctrl-C or
//! SIGTERM interrupts the query.

use std::io::Write;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, Statement};

use crate::cli::SqlArgs;
use crate::commands::select::open_read;
use crate::config::Config;
use crate::output::{Cell, Format, RowWriter, Table};
use crate::{signals, Outcome};

/// Most rows the aligned table prints; larger results need `--format csv` or `json`,
/// which stream.
pub const TABLE_ROW_CAP: u64 = 10_000;

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

/// Runs `phlb sql`.
pub fn run(config: &Config, args: &SqlArgs) -> Result<Outcome> {
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    let (_, catalog) = open_read(config)?;
    let conn = catalog.conn()?;
    let refusal = guard(&conn)?;
    let handle = conn.get_interrupt_handle();
    signals::doing("sql query stopped");
    signals::on_stop(move || handle.interrupt());
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let result = stream(&conn, &refusal, &args.query, format, stdout);
    signals::clear_on_stop();
    match result {
        Err(err) if !closed_pipe(&err) => Err(err),
        _ => Ok(Outcome::Clean),
    }
}

/// Runs one read-only statement and collects its rows (for callers that want a `Table`).
pub fn query(conn: &Connection, sql: &str) -> Result<Table> {
    let refusal = guard(conn)?;
    let mut stmt = prepare(conn, &refusal, sql)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut table = Table {
        columns,
        rows: Vec::new(),
    };
    let n = table.columns.len();
    let mut rows = stmt.query([]).map_err(|e| failed(e, &refusal))?;
    while let Some(r) = rows.next().map_err(|e| failed(e, &refusal))? {
        table.push(cells(r, n)?);
    }
    Ok(table)
}

/// Makes `conn` refuse anything but reading: `query_only`, the value cap and the
/// authorizer. Returns where the authorizer leaves its reason for a refusal.
pub fn guard(conn: &Connection) -> Result<Refusal> {
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)?;
    conn.execute_batch("PRAGMA query_only = ON")?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, VALUE_CAP)?;
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
    Ok(refusal)
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

/// Prepares `sql` and checks it is read-only, naming what was refused.
fn prepare<'c>(conn: &'c Connection, refusal: &Refusal, sql: &str) -> Result<Statement<'c>> {
    refusal.lock().unwrap_or_else(|e| e.into_inner()).take();
    let stmt = conn.prepare(sql).map_err(|e| match refused_now(refusal) {
        Some(not_allowed) => not_allowed,
        None => anyhow!("sql: invalid query: {e}"),
    })?;
    if !stmt.readonly() {
        bail!("sql: only read-only queries are allowed; the catalog was not changed");
    }
    if stmt.column_count() == 0 {
        bail!("sql: the query has no statement that returns rows");
    }
    Ok(stmt)
}

/// The error for what the authorizer refused last, if it refused anything.
fn refused_now(refusal: &Refusal) -> Option<anyhow::Error> {
    let what = refusal.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    Some(anyhow!(
        "sql: {what} is not allowed; the catalog is read-only here"
    ))
}

/// Runs `sql` and writes its rows to `out` as they come.
fn stream(
    conn: &Connection,
    refusal: &Refusal,
    sql: &str,
    format: Format,
    out: impl Write,
) -> Result<()> {
    let mut stmt = prepare(conn, refusal, sql)?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let n = columns.len();
    let mut writer = RowWriter::start(format, columns, out).map_err(written)?;
    let mut rows = stmt.query([]).map_err(|e| failed(e, refusal))?;
    while let Some(r) = rows.next().map_err(|e| failed(e, refusal))? {
        if format == Format::Table && writer.rows() == TABLE_ROW_CAP {
            bail!(
                "sql: more than {TABLE_ROW_CAP} rows; the table format stops there, \
                 use --format csv or --format json for large results"
            );
        }
        writer.row(cells(r, n)?).map_err(written)?;
    }
    writer.finish().map_err(written)
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

/// The error of output that could not be written.
fn written(e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("sql: cannot write the result")
}

/// True when the reader of the output went away (`phlb sql … | head` has all it wanted).
fn closed_pipe(err: &anyhow::Error) -> bool {
    err.root_cause()
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reading_passes_the_authorizer() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
            .unwrap();
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
            let got = query(&conn, sql);
            assert_eq!(got.is_ok(), ok, "{sql}: {:?}", got.err());
        }
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)
            .unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let query_only: bool = conn
            .query_row("PRAGMA query_only", [], |r| r.get(0))
            .unwrap();
        assert!(query_only);
    }
}
