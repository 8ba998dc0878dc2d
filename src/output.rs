//! Owns how query results are printed: aligned tables for people, CSV and JSON for
//! scripts, sizes in human units unless exact bytes are asked for.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use serde_json::{Map, Value};

use crate::units::{escape_controls, human_bytes};

/// How a result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!("expected table, csv or json, found {s:?}")),
        }
    }
}

/// One value in a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    Real(f64),
    /// A byte count: human units in tables unless `--bytes`.
    Bytes(i64),
    /// A point in time (nanoseconds since the epoch): local time to the second in tables
    /// and CSV, RFC 3339 with offset and nanoseconds in JSON.
    Time(i128),
    Null,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Cell {
        s.map(Cell::Text).unwrap_or(Cell::Null)
    }
}

impl Cell {
    fn shown(&self, exact: bool) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Real(x) => x.to_string(),
            Cell::Bytes(n) if exact => n.to_string(),
            Cell::Bytes(n) => human_bytes((*n).max(0) as u64),
            Cell::Time(ns) => local_time(*ns)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| format!("{ns} ns after 1970")),
            Cell::Null => String::new(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Int(n) | Cell::Bytes(n) => Value::from(*n),
            Cell::Real(x) => Value::from(*x),
            Cell::Time(ns) => match local_time(*ns) {
                Some(t) => Value::String(rfc3339(&t)),
                None => Value::String(format!("{ns} ns after 1970")),
            },
            Cell::Null => Value::Null,
        }
    }
}

/// `ns` (nanoseconds since the epoch) as local time, when the calendar reaches it.
fn local_time(ns: i128) -> Option<chrono::DateTime<chrono::Local>> {
    let secs = i64::try_from(ns.div_euclid(1_000_000_000)).ok()?;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos).map(|t| t.with_timezone(&chrono::Local))
}

/// A time as JSON shows every time: RFC 3339 with the offset and nanoseconds.
pub fn rfc3339<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
}

/// A stored RFC 3339 time (as the catalog keeps `started_at`) as a `Cell::Time`, or the
/// text as it is when it does not parse.
pub fn time_cell(text: &str) -> Cell {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => Cell::Time(
            i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()),
        ),
        Err(_) => Cell::Text(text.to_string()),
    }
}

/// A result: named columns and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(columns: &[&str]) -> Table {
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Renders in `format`; `exact` shows byte counts as plain numbers.
    pub fn render(&self, format: Format, exact: bool) -> String {
        match format {
            Format::Table => self.aligned(exact),
            Format::Csv => self.csv(),
            Format::Json => {
                let rows: Vec<Value> = self.rows.iter().map(|r| self.json_object(r)).collect();
                let mut s = serde_json::to_string_pretty(&rows).unwrap_or_default();
                s.push('\n');
                s
            }
        }
    }

    fn aligned(&self, exact: bool) -> String {
        let shown: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| escape_controls(&c.shown(exact))).collect())
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &shown {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows.iter().all(|r| {
                    matches!(
                        r.get(i),
                        Some(Cell::Int(_) | Cell::Bytes(_) | Cell::Real(_) | Cell::Null)
                    )
                }) && !self.rows.is_empty()
            })
            .collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = widths[i].saturating_sub(c.chars().count());
                    if numeric[i] {
                        format!("{}{c}", " ".repeat(pad))
                    } else if i + 1 == cells.len() {
                        c.clone()
                    } else {
                        format!("{c}{}", " ".repeat(pad))
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.columns);
        for row in &shown {
            out.push_str(&line(row));
        }
        out
    }

    fn csv(&self) -> String {
        let mut out = csv_line(self.columns.iter().map(String::as_str));
        for row in &self.rows {
            let shown: Vec<String> = row.iter().map(|c| c.shown(true)).collect();
            out.push_str(&csv_line(shown.iter().map(String::as_str)));
        }
        out
    }

    fn json_object(&self, row: &[Cell]) -> Value {
        let obj: Map<String, Value> = self
            .columns
            .iter()
            .cloned()
            .zip(row.iter().map(Cell::json))
            .collect();
        Value::Object(obj)
    }
}

/// An error chain as phlb prints it (`{:#}`), without the raw codes some causes carry:
/// std's ` (os error N)` and SQLite's `Error code N: ` say nothing the words do not.
pub fn error_text(err: &anyhow::Error) -> String {
    // The chain joined as `{:#}` does, but a cause that only repeats the line before it
    // (SQLite's "database or disk is full: database or disk is full") is said once.
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    without_codes(&parts.join(": "))
}

/// `text` without the raw codes the standard library and SQLite append (` (os error
/// 13)`, `Error code 21: `): every line phlb prints or logs says the cause in words.
pub fn without_codes(text: &str) -> String {
    let mut text = text.to_string();
    while let Some(at) = text.find(" (os error ") {
        let rest = &text[at + " (os error ".len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !rest[digits..].starts_with(')') {
            break;
        }
        text.replace_range(at..at + " (os error ".len() + digits + 1, "");
    }
    while let Some(at) = text.find("Error code ") {
        let rest = &text[at + "Error code ".len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !rest[digits..].starts_with(": ") {
            break;
        }
        text.replace_range(at..at + "Error code ".len() + digits + 2, "");
    }
    // A cause said twice in a row ("database or disk is full: database or disk is
    // full", SQLite's message and its code's) is said once.
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split(": ") {
        if parts.last() != Some(&part) {
            parts.push(part);
        }
    }
    parts.join(": ")
}

/// One CSV line (with newline) of these fields, quoted where they need it.
fn csv_line<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = fields.map(field).collect::<Vec<_>>().join(",");
    out.push('\n');
    out
}

/// Writes a result as its rows come: CSV and JSON row by row (JSON stays one valid
/// document, one object per line), the aligned table all at once at the end.
pub struct RowWriter<W: Write> {
    format: Format,
    out: W,
    /// Column names; for the aligned table also the rows held until `finish`.
    table: Table,
    rows: u64,
}

impl<W: Write> RowWriter<W> {
    /// Starts a result with these column names (writes the CSV header or the `[`).
    pub fn start(format: Format, columns: Vec<String>, mut out: W) -> std::io::Result<Self> {
        let table = Table {
            columns,
            rows: Vec::new(),
        };
        match format {
            Format::Csv => {
                out.write_all(csv_line(table.columns.iter().map(String::as_str)).as_bytes())?
            }
            Format::Json => out.write_all(b"[")?,
            Format::Table => {}
        }
        Ok(RowWriter {
            format,
            out,
            table,
            rows: 0,
        })
    }

    /// How many rows were given so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes (or, for the aligned table, holds) one row.
    pub fn row(&mut self, row: Vec<Cell>) -> std::io::Result<()> {
        self.rows += 1;
        match self.format {
            Format::Csv => {
                let shown: Vec<String> = row.iter().map(|c| c.shown(true)).collect();
                self.out
                    .write_all(csv_line(shown.iter().map(String::as_str)).as_bytes())
            }
            Format::Json => {
                let sep: &[u8] = if self.rows == 1 { b"\n" } else { b",\n" };
                self.out.write_all(sep)?;
                let obj = self.table.json_object(&row);
                serde_json::to_writer(&mut self.out, &obj).map_err(std::io::Error::other)
            }
            Format::Table => {
                self.table.push(row);
                Ok(())
            }
        }
    }

    /// Ends the result (the table, or the closing `]`) and flushes.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.format {
            Format::Csv => {}
            Format::Json if self.rows == 0 => self.out.write_all(b"]\n")?,
            Format::Json => self.out.write_all(b"\n]\n")?,
            Format::Table => self
                .out
                .write_all(self.table.render(Format::Table, true).as_bytes())?,
        }
        self.out.flush()
    }
}

/// Prints a query result: JSON when asked, an aligned table otherwise (sizes exact with
/// `bytes`). Called by the front ends only.
#[allow(clippy::print_stdout)]
pub fn print_table(table: &Table, json: bool, bytes: bool) {
    let format = if json { Format::Json } else { Format::Table };
    print!("{}", table.render(format, bytes));
}

#[cfg(test)]
mod tests;
