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
    /// Print a shell completion script to stdout.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
    /// Print phlb's man page (roff) to stdout.
    #[command(after_help = MAN_EXAMPLES)]
    Man,
}

const BACKUP_EXAMPLES: &str = "\
Examples:
  phlb backup ~/Documents
  phlb backup ~/Documents ~/Pictures --prune
  phlb backup /srv/www --name www --wait=10min
  phlb backup ~/Documents --dry-run -v        # each file: would link / would copy
  phlb backup ~/Documents --json | jq .new_bytes

Each SOURCE becomes <root>/<name>/<timestamp>/; <root>/<name>/latest then points at the
newest complete snapshot. -v lists each file's action on stderr; -q prints only errors.
--json prints one JSON object per snapshot (JSON lines) instead of the summary.";

const VERIFY_EXAMPLES: &str = "\
Examples:
  phlb verify
  phlb verify docs/latest --fast
  phlb verify docs --repair
  phlb verify --json | jq 'select(.problem)'

Problems go to stdout, one per line; notes to stderr (-q: problems only).
--json prints each problem as a JSON object {\"path\", \"problem\"} and then one
summary object {\"summary\": true, \"problems\", ...} (JSON lines).";

const ADD_EXAMPLES: &str = "\
Examples:
  phlb add                                  # rebuild a lost catalog from the folders
  phlb add ~/phlb-backups/docs/2026-11-22-101500
  phlb add --trust-manifests --no-link
  phlb add --dry-run                        # which folders it would record; writes nothing

-v names each recorded snapshot; -q prints only errors. --json prints the counts as one
JSON document.";

const LIST_EXAMPLES: &str = "\
Examples:
  phlb list
  phlb list docs --bytes
  phlb list --json | jq '.[].snapshot'

Times in JSON are RFC 3339 with offset. -v and -q change nothing here.";

const LS_EXAMPLES: &str = "\
Examples:
  phlb ls docs/latest
  phlb ls docs/2026-11-22-101500 notes --long
  phlb ls docs notes --recursive --json

--long adds kind, mode, size and mtime (local time; RFC 3339 in JSON).
-v and -q change nothing here.";

const DIFF_EXAMPLES: &str = "\
Examples:
  phlb diff docs                             # its two newest snapshots
  phlb diff docs/2026-11-21-101500 docs/latest
  phlb diff docs --json

-v and -q change nothing here.";

const FIND_EXAMPLES: &str = "\
Examples:
  phlb find '*.pdf'
  phlb find 'notes/**/todo*' --name docs
  phlb find '*.jpg' --json | jq length

-v and -q change nothing here.";

const HISTORY_EXAMPLES: &str = "\
Examples:
  phlb history notes/todo.txt
  phlb history ~/Documents/notes/todo.txt
  phlb history notes/todo.txt --name docs --json

-v and -q change nothing here.";

const DUPLICATES_EXAMPLES: &str = "\
Examples:
  phlb duplicates
  phlb duplicates docs/latest --bytes
  phlb duplicates --json

-v and -q change nothing here.";

const SQL_EXAMPLES: &str = "\
Examples:
  phlb sql 'SELECT name, timestamp, files FROM snapshots'
  phlb sql 'SELECT path, size FROM files ORDER BY size DESC LIMIT 10' --format csv
  phlb sql 'SELECT * FROM duplicates' --json

--json is --format json. -v and -q change nothing here.";

const CONFIG_EXAMPLES: &str = "\
Examples:
  phlb config
  PHLB_BACKUP_ROOT=/mnt/backup phlb config
  phlb --config ~/work.ini config --json
  phlb config --write

Precedence: command line > environment (PHLB_BACKUP_ROOT, PHLB_CONFIG) > ini > default.
A relative BACKUP_PATH in an ini is relative to that ini file's folder.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  phlb completions bash > ~/.local/share/bash-completion/completions/phlb
  phlb completions zsh > ~/.zfunc/_phlb
  phlb completions fish > ~/.config/fish/completions/phlb.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  phlb man > ~/.local/share/man/man1/phlb.1
  phlb man | man -l -";

const SERVE_EXAMPLES: &str = "\
Examples:
  phlb serve                                  # http://127.0.0.1:8765/?token=<random>
  phlb serve --listen 127.0.0.1:0 --open      # any free port, opened in the browser
  PHLB_SERVE_TOKEN=$(cat ~/.phlb-token) phlb serve --listen [::1]:9000

The URL printed at start carries the token; opening it sets a cookie, so the token
leaves the address bar. Scripts send `Authorization: Bearer TOKEN`. Requests whose Host
header is not the listen address are refused (no DNS rebinding). A listen address
other than loopback needs --allow-remote (the traffic is plain HTTP). SIGINT or
SIGTERM stops it (exit 0).";

const STATUS_EXAMPLES: &str = "\
Examples:
  phlb status
  phlb status --json | jq '.names[] | select(.stale)'
  phlb status -q || mail -s 'backups are stale' root < /dev/null

A name is stale when its newest complete snapshot (its time from the folder name) is
older than MAX_AGE (ini key, e.g. 26h; unset: never). Its last run failed when files
failed or it was killed (incomplete while no writer runs).";

/// Arguments of `phlb serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0: any free one; the URL printed says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8765")]
    pub listen: std::net::SocketAddr,
    /// The token every request must carry (default: SERVE_TOKEN, else a random one).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PHLB_SERVE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Open the URL (with the token) in the desktop's browser (xdg-open).
    #[arg(long)]
    pub open: bool,
    /// Allow a listen address other than loopback (plain HTTP: anyone on the path sees
    /// the token and the files).
    #[arg(long)]
    pub allow_remote: bool,
}

/// Arguments of `phlb status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for scripts and monitoring.
    #[arg(long)]
    pub json: bool,
}

const WATCH_EXAMPLES: &str = "\
Examples:
  phlb watch ~/Documents
  phlb watch ~/Documents ~/Pictures --prune
  phlb watch /srv/www --name www -q

At start each source is compared with its newest snapshot by names, sizes and mtimes
(no file is read), and a snapshot is made only if something differs. Then, after the
last change of a burst, it waits WATCH_DELAY of quiet (5s), but never longer than
WATCH_MAX_WAIT from the burst's first change (5min), and never snapshots a source
more often than WATCH_MIN_INTERVAL (60s). Each snapshot is a full incremental backup;
events only decide when. The writer lock is held only while a snapshot runs. When the
kernel's watch limit is reached or its event queue overflows, it polls instead: every
WATCH_MAX_WAIT the same cheap comparison. One line per snapshot; -q: errors only.";

const PRUNE_EXAMPLES: &str = "\
Examples:
  phlb prune --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  phlb prune docs --keep-last 10 --keep-within 30d
  phlb prune --keep-yearly unlimited --keep-monthly 24 --show-lost --json
  phlb prune --keep-versions 5 -n

Within each snapshot name, newest first, a snapshot is kept by a rule when its hour,
day, ISO week, month or year (the local time in its folder name) differs from the
last one that rule kept and the rule has count left; --keep-last keeps the N newest;
--keep-within keeps all not older than the span before the newest. The newest
complete snapshot of a name is always kept; incomplete ones (killed runs) always go.
Without any --keep-* option the KEEP_* keys of the config apply; a policy with no rule
at all is refused. -v lists each removed folder; -q prints nothing but errors.";

const FORGET_EXAMPLES: &str = "\
Examples:
  phlb forget docs/2026-11-30-101500 --dry-run
  phlb forget docs/2026-11-30-101500 docs/2026-12-01-101500
  phlb forget --missing";

/// The keep rules of a retention policy.
#[derive(Debug, Args, Clone, Default)]
pub struct KeepArgs {
    /// Keep the N newest snapshots.
    #[arg(long, value_name = "N", value_parser = crate::retention::Count::parse)]
    pub keep_last: Option<crate::retention::Count>,
    /// Keep the newest snapshot of each of the last N hours that have one.
    #[arg(long, value_name = "N", value_parser = crate::retention::Count::parse)]
    pub keep_hourly: Option<crate::retention::Count>,
    /// Keep the newest snapshot of each of the last N days that have one.
    #[arg(long, value_name = "N", value_parser = crate::retention::Count::parse)]
    pub keep_daily: Option<crate::retention::Count>,
    /// Keep the newest snapshot of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N", value_parser = crate::retention::Count::parse)]
    pub keep_weekly: Option<crate::retention::Count>,
    /// Keep the newest snapshot of each of the last N months that have one.
    #[arg(long, value_name = "N", value_parser = crate::retention::Count::parse)]
    pub keep_monthly: Option<crate::retention::Count>,
    /// Keep the newest snapshot of each of the last N years that have one.
    #[arg(long, value_name = "N", value_parser = crate::retention::Count::parse)]
    pub keep_yearly: Option<crate::retention::Count>,
    /// Keep every snapshot taken within DURATION before the newest (e.g. 30d, 12h, 6mo).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub keep_within: Option<crate::duration::Span>,
    /// Per file: keep only the N newest distinct contents of each path; older versions
    /// are removed from the (older) snapshots that hold them, which stay complete and
    /// are marked trimmed. The one option that changes older snapshots.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_versions: Option<u32>,
}

/// What prune and forget print and whether they act.
#[derive(Debug, Args, Clone, Copy)]
pub struct RemovalArgs {
    /// Print the plan and change nothing.
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print the plan and the result as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// List the files whose last stored copy goes with the removed snapshots.
    #[arg(long)]
    pub show_lost: bool,
    /// Print sizes as exact byte counts instead of human units.
    #[arg(long)]
    pub bytes: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Arguments of `phlb prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Snapshot names to prune; default: every name.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub keep: KeepArgs,
    #[command(flatten)]
    pub removal: RemovalArgs,
}

/// Arguments of `phlb forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Snapshots to remove (NAME/TIMESTAMP or a snapshot folder).
    #[arg(value_name = "SNAPSHOT", required_unless_present = "missing")]
    pub snapshots: Vec<String>,
    /// Drop the catalog rows of snapshots whose folders are gone from disk.
    #[arg(long, conflicts_with = "snapshots")]
    pub missing: bool,
    #[command(flatten)]
    pub removal: RemovalArgs,
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
    /// Only snapshots of this name (may repeat).
    #[arg(long, value_name = "N")]
    pub name: Vec<String>,
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
    /// Print each problem as a JSON object, then a summary object (JSON lines).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
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
    /// Say which folders would be recorded and which snapshots marked missing; write
    /// nothing (no catalog rows, no links, no manifests).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Print what was done as one JSON document.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Arguments of `phlb backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Folders to back up; each becomes its own snapshot.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// Snapshot name (default: the source folder's name); only with a single SOURCE.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Scan, hash and report what would be linked or copied; write nothing (with -v:
    /// each file and what would happen to it).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// After a successful run, prune each backed-up name by the config's KEEP_* rules.
    #[arg(long, conflicts_with = "dry_run")]
    pub prune: bool,
    /// Print each snapshot's report as one JSON object per line instead of the summary.
    #[arg(long, conflicts_with = "prune")]
    pub json: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub select: SelectArgs,
}

/// How a writing command treats a writer lock another run holds.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct WaitArgs {
    /// Wait for another run's writer lock instead of failing; with DURATION (e.g. 90s,
    /// 10min, 2h) at most that long.
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true,
          value_parser = crate::duration::parse)]
    pub wait: Option<Option<crate::duration::Span>>,
}

/// What to back up, on top of the config's SKIP_* and INCLUDE_* keys. Globs: `*` (not
/// across `/`), `**`, `?`, `[...]`, `\` escapes; a leading `/` anchors at the source's
/// top, else any depth; a trailing `/` matches folders only.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Leave out paths matching GLOB (a matching folder with everything in it). GLOB:
    /// `*` (not across `/`), `**` (across), `?`, `[...]`, `\` takes the next character
    /// literally; a leading `/` anchors at the source's top, else any depth; a trailing
    /// `/` matches folders only. Adds to SKIP_DIRS / SKIP_PATTERNS.
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub exclude: Vec<String>,
    /// Read exclude globs from FILE, one a line (blank lines and `#` comments ignored).
    #[arg(long, value_name = "FILE", help_heading = "Selection")]
    pub exclude_from: Vec<PathBuf>,
    /// Keep paths matching GLOB although an exclude or skip rule matched (also inside an
    /// excluded folder, which is then walked).
    #[arg(long, value_name = "GLOB", help_heading = "Selection")]
    pub include: Vec<String>,
    /// Back up only the paths listed in FILE (one a line, relative to the source or
    /// absolute; a folder brings everything in it).
    #[arg(long, value_name = "FILE", help_heading = "Selection")]
    pub files_from: Option<PathBuf>,
    /// Leave out folders holding a valid CACHEDIR.TAG (as tar, borg and restic).
    #[arg(long, help_heading = "Selection")]
    pub exclude_caches: bool,
    /// Do not cross mount points inside a source (overrides ONE_FILE_SYSTEM).
    #[arg(
        long,
        overrides_with = "cross_file_systems",
        help_heading = "Selection"
    )]
    pub one_file_system: bool,
    /// Cross mount points inside a source (overrides ONE_FILE_SYSTEM).
    #[arg(long, overrides_with = "one_file_system", help_heading = "Selection")]
    pub cross_file_systems: bool,
}

/// Arguments of `phlb watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Folders to watch and back up; each becomes its own snapshot name.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// Snapshot name (default: the source folder's name); only with a single SOURCE.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// After each successful snapshot, prune its name by the config's KEEP_* rules.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub select: SelectArgs,
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
    #[arg(short = 'n', long)]
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
    /// Print the effective config as JSON: per key its value and where it came from.
    #[arg(long, conflicts_with = "write")]
    pub json: bool,
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

/// The shells `phlb completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Arguments of `phlb completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}
