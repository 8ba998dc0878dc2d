//! The arguments of the query commands: list, ls, diff, find, history, duplicates, sql.

use clap::Args;
use std::path::PathBuf;

/// How the query commands print.
#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArgs {
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print sizes as exact byte counts instead of human units.
    #[arg(long)]
    pub bytes: bool,
}

/// Arguments of `phlb list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only snapshots of this name.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `phlb diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older snapshot (NAME/TIMESTAMP or folder); alone as NAME: its two newest.
    #[arg(value_name = "A")]
    pub a: String,
    /// The newer snapshot.
    #[arg(value_name = "B")]
    pub b: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `phlb find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Shell glob matched against the path in the snapshot (or the file name when it has no `/`).
    #[arg(value_name = "GLOB")]
    pub glob: String,
    /// Only snapshots of this name (may repeat).
    #[arg(long, value_name = "N")]
    pub name: Vec<String>,
    /// One row per snapshot holding each path (default: one per version of each path,
    /// with the first and last snapshot holding it).
    #[arg(long)]
    pub each_snapshot: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `phlb history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Path inside the snapshots (e.g. notes/todo.txt), or an absolute path in a source.
    #[arg(value_name = "PATH")]
    pub path: std::path::PathBuf,
    /// Only snapshots of this name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `phlb duplicates`.
#[derive(Debug, Args)]
pub struct DuplicatesArgs {
    /// Snapshot to look in; default: the newest complete snapshot of every name.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `phlb sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT path, size FROM files ORDER BY size DESC LIMIT 10".
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "csv", "json"])]
    pub format: String,
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Print sizes as they are stored (sql never converts units; kept for symmetry).
    #[arg(long, hide = true)]
    pub bytes: bool,
}

/// Arguments of `phlb ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The snapshot: NAME/TIMESTAMP, NAME or NAME/latest (its newest complete), or its folder.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// Folder inside the snapshot (default: its top).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Show kind, mode, size and mtime of each entry.
    #[arg(short, long)]
    pub long: bool,
    /// List everything below PATH, not only its direct entries.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}
