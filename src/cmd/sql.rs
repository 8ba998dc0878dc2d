//! `phlb sql`: read-only SQL against the catalog, run by `catalog::user_sql` (which
//! refuses anything but reading). Rows stream out for csv and json; the aligned table
//! holds at most `TABLE_ROW_CAP` rows. Ctrl-C or SIGTERM interrupts the query.

use std::io::Write;

use anyhow::{bail, Result};

use crate::catalog::user_sql::Guarded;
use crate::cli::SqlArgs;
use crate::config::Config;
use crate::ops::open::open_read;
use crate::output::{Format, RowWriter};
use crate::progress::Ui;
use crate::{signals, Outcome};

/// Most rows the aligned table prints; larger results need `--format csv` or `json`,
/// which stream.
pub const TABLE_ROW_CAP: u64 = 10_000;

/// Runs `phlb sql`.
pub fn run(config: &Config, ui: &Ui, args: &SqlArgs) -> Result<Outcome> {
    let format: Format = if args.json {
        Format::Json
    } else {
        args.format.parse().map_err(anyhow::Error::msg)?
    };
    let (_, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let guarded = Guarded::new(&db)?;
    let handle = guarded.interrupt_handle();
    signals::doing("sql query stopped");
    signals::on_stop(move || handle.interrupt());
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let result = stream(&guarded, &args.query, format, stdout);
    signals::clear_on_stop();
    match result {
        Err(err) if !closed_pipe(&err) => Err(err),
        _ => Ok(Outcome::Clean),
    }
}

/// Runs `sql` and writes its rows to `out` as they come.
fn stream(guarded: &Guarded, sql: &str, format: Format, out: impl Write) -> Result<()> {
    let mut query = guarded.prepare(sql)?;
    let mut writer = RowWriter::start(format, query.columns(), out).map_err(written)?;
    let mut rows = query.rows()?;
    while let Some(row) = rows.next()? {
        if format == Format::Table && writer.rows() == TABLE_ROW_CAP {
            bail!(
                "sql: more than {TABLE_ROW_CAP} rows; the table format stops there, \
                 use --format csv or --format json for large results"
            );
        }
        writer.row(row).map_err(written)?;
    }
    writer.finish().map_err(written)
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
