//! Owns the command-line interface: clap derive types only; doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// phlb: hardlink-deduplicated snapshot backups driven by an SQLite catalog.
#[derive(Debug, Parser)]
#[command(name = "phlb", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Read settings from this ini file instead of searching for phlb.ini.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Backup root folder (overrides BACKUP_PATH).
    #[arg(long, global = true, value_name = "DIR")]
    pub backup_root: Option<PathBuf>,
    /// Print every file's action.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print nothing but errors (no progress, no summary).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The phlb commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new snapshot of each SOURCE under <root>/<name>/<timestamp>/.
    Backup(BackupArgs),
    /// Check snapshots against the catalog: files, sizes, mtimes, manifests and (without
    /// --fast) content hashes. Exit 1 when anything is wrong.
    Verify(VerifyArgs),
    /// Rescan snapshot folders into the catalog (rebuild a lost catalog, or record trees
    /// copied in by hand), and hardlink identical content.
    Add(AddArgs),
    /// List snapshots with status, files, bytes, and the bytes only each one holds.
    List(ListArgs),
    /// Show what was added, removed, modified and renamed between two snapshots.
    Diff(DiffArgs),
    /// Find every snapshot and path matching a shell glob, newest first.
    Find(FindArgs),
    /// Show each distinct version of one path across snapshots.
    History(HistoryArgs),
    /// Show groups of paths with identical content, biggest waste first.
    Duplicates(DuplicatesArgs),
    /// Run a read-only SQL query against the catalog's views.
    Sql(SqlArgs),
    /// Copy a snapshot (or PATHs in it) back out, with each path's recorded mode, mtime
    /// and owner, checking every file's hash while copying.
    #[command(after_help = RESTORE_EXAMPLES)]
    Restore(RestoreArgs),
    /// Show the effective config and where each value came from.
    Config(ConfigArgs),
}

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
    /// Only snapshots of this name.
    #[arg(long, short = 'n', value_name = "N")]
    pub name: Option<String>,
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
    #[arg(long, short = 'n', value_name = "N")]
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
    /// Print sizes as they are stored (sql never converts units; kept for symmetry).
    #[arg(long, hide = true)]
    pub bytes: bool,
}

/// Arguments of `phlb verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Snapshots to check (NAME/TIMESTAMP, NAME for its newest, or a folder); default: all.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Relink paths whose stored copy is recorded as damaged to a good stored copy of the
    /// same content, where one exists (the one case where phlb changes an older snapshot;
    /// each change is printed).
    #[arg(long)]
    pub repair: bool,
    /// Check metadata and manifests only; do not read file contents.
    #[arg(long)]
    pub fast: bool,
}

/// Arguments of `phlb add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Snapshot folders (<root>/NAME/TIMESTAMP) or NAME folders to scan; default: every
    /// snapshot folder under the backup root.
    #[arg(value_name = "PATH")]
    pub paths: Vec<std::path::PathBuf>,
    /// Take content hashes from each snapshot's manifest instead of reading the files.
    /// Fast, but a file damaged since its manifest was written is recorded with the
    /// manifest's (wrong) hash; run `phlb verify` afterwards to catch that.
    #[arg(long)]
    pub trust_manifests: bool,
    /// Only record; do not replace identical files with hardlinks.
    #[arg(long)]
    pub no_link: bool,
}

/// Arguments of `phlb backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Folders to back up; each becomes its own snapshot.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// Snapshot name (default: the source folder's name); only with a single SOURCE.
    #[arg(long, short = 'n', value_name = "N")]
    pub name: Option<String>,
    /// Scan, hash and report what would be linked or copied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

const RESTORE_EXAMPLES: &str = "Examples:
  phlb restore docs --to ~/restored                      # newest snapshot of docs: ~/restored/notes/…
  phlb restore docs/2026-11-22-101500 notes/todo.txt --to /tmp/r   # one file: /tmp/r/notes/todo.txt
  phlb restore docs/latest '*.pdf' --to ~/Documents --force        # put PDFs back in place";

/// Arguments of `phlb restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The snapshot: NAME/TIMESTAMP, NAME or NAME/latest (its newest complete), or its folder.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// Files, folders or shell globs inside the snapshot (default: all of it); each lands
    /// under DIR with its path in the snapshot.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Where to restore to; a whole snapshot lands with its top level directly in DIR.
    #[arg(long, value_name = "DIR", required = true)]
    pub to: PathBuf,
    /// Replace files and symlinks that exist in DIR (unchanged ones are left as they are).
    #[arg(long)]
    pub force: bool,
    /// Say what would be restored, left or refused; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `phlb config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Write the example config (every key with its default) to ./phlb.ini.
    #[arg(long)]
    pub write: bool,
}
