//! Owns the command-line interface: clap derive types only; doc comments are the help text.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod args;
mod examples;
mod query_args;
mod selection;

pub use args::*;
pub use query_args::*;
pub use selection::with_selection;

use examples::*;

/// phlb: hardlink-deduplicated snapshot backups driven by an SQLite catalog.
#[derive(Debug, Parser)]
#[command(name = "phlb", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after the command name.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Read settings from this ini file instead of searching for phlb.ini
    /// (environment: PHLB_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Backup root folder; beats PHLB_BACKUP_ROOT, which beats the ini's BACKUP_PATH.
    #[arg(long, global = true, value_name = "DIR")]
    pub backup_root: Option<PathBuf>,
    /// Say more: each file's action (what it means per command: see its help).
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
    #[command(after_help = BACKUP_EXAMPLES)]
    Backup(BackupArgs),
    /// Check snapshots against the catalog: files, sizes, mtimes, manifests and (without
    /// --fast) content hashes. Exit 1 when anything is wrong.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Rescan snapshot folders into the catalog (rebuild a lost catalog, or record trees
    /// copied in by hand), and hardlink identical content.
    #[command(after_help = ADD_EXAMPLES)]
    Add(AddArgs),
    /// List snapshots with status, files, bytes, and the bytes only each one holds.
    #[command(after_help = LIST_EXAMPLES)]
    List(ListArgs),
    /// List a folder of a snapshot, from the catalog (restic `ls`).
    #[command(after_help = LS_EXAMPLES)]
    Ls(LsArgs),
    /// Show what was added, removed, modified and renamed between two snapshots.
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Find every snapshot and path matching a shell glob, newest first.
    #[command(after_help = FIND_EXAMPLES)]
    Find(FindArgs),
    /// Show each distinct version of one path across snapshots.
    #[command(after_help = HISTORY_EXAMPLES)]
    History(HistoryArgs),
    /// Show content stored under more than one path, with the stored copies (inodes) it takes.
    #[command(after_help = DUPLICATES_EXAMPLES)]
    Duplicates(DuplicatesArgs),
    /// Run a read-only SQL query against the catalog's views.
    #[command(after_help = SQL_EXAMPLES)]
    Sql(SqlArgs),
    /// Remove snapshots a retention policy does not keep (restic `forget` semantics),
    /// saying first what that frees.
    #[command(after_help = PRUNE_EXAMPLES)]
    Prune(PruneArgs),
    /// Remove the named snapshots, or (--missing) drop the catalog rows of snapshots
    /// whose folders were deleted by hand.
    #[command(after_help = FORGET_EXAMPLES)]
    Forget(ForgetArgs),
    /// Watch the sources and make a snapshot after each burst of changes settles; runs
    /// until SIGINT or SIGTERM (then exit 0).
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Copy a snapshot (or PATHs in it) back out, with each path's recorded mode, mtime
    /// and owner, checking every file's hash while copying.
    #[command(after_help = RESTORE_EXAMPLES)]
    Restore(RestoreArgs),
    /// Serve a read-only web UI on the catalog (snapshots, browse and download,
    /// history, diff, find, duplicates); every request must carry the token.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(ServeArgs),
    /// Per snapshot name: the newest complete snapshot, its age, and whether it is stale
    /// by MAX_AGE; exit 1 when any name is stale or its last run failed.
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Show the effective config and where each value came from (command line,
    /// environment, ini file and line, or default).
    #[command(after_help = CONFIG_EXAMPLES)]
    Config(ConfigArgs),
    /// Make a backup root on purpose (default: the configured one) and say where and on
    /// which filesystem. Every other command refuses a folder that is not a root.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Print a shell completion script to stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print phlb's man page (roff) to stdout.
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArgs),
}
