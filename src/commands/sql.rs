//! `phlb sql`: read-only SQL against the catalog. The connection is opened read-only and
//! with `query_only`; statements that could write or attach are refused before they run.

use anyhow::{bail, Context, Result};
use rusqlite::types::ValueRef;

use crate::cli::SqlArgs;
use crate::commands::select::open_read;
use crate::config::Config;
use crate::output::{Cell, Format, Table};
use crate::Outcome;

/// Runs `phlb sql`.
pub fn run(config: &Config, args: &SqlArgs) -> Result<Outcome> {
    let (_, catalog) = open_read(config)?;
    let conn = catalog.conn()?;
    conn.execute_batch("PRAGMA query_only = ON")?;
    let table = query(&conn, &args.query)?;
    let format: Format = args.format.parse().map_err(anyhow::Error::msg)?;
    print!("{}", table.render(format, true));
    Ok(Outcome::Clean)
}

/// Runs one read-only statement and collects its rows.
pub fn query(conn: &rusqlite::Connection, sql: &str) -> Result<Table> {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    if matches!(first.as_str(), "ATTACH" | "DETACH" | "VACUUM") {
        bail!("sql: {first} is not allowed; the catalog is read-only here");
    }
    let mut stmt = conn
        .prepare(sql)
        .with_context(|| "sql: invalid query".to_string())?;
    if !stmt.readonly() || first == "PRAGMA" && sql.contains('=') {
        bail!("sql: only read-only queries are allowed; the catalog was not changed");
    }
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let mut table = Table {
        columns,
        rows: Vec::new(),
    };
    let n = table.columns.len();
    let mut rows = stmt.query([]).context("sql: query failed")?;
    while let Some(r) = rows.next().context("sql: query failed")? {
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
        table.push(row);
    }
    Ok(table)
}
