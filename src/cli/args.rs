//! The arguments of each command (clap derive types; doc comments are the help text).

use clap::Args;
use std::path::PathBuf;

/// Arguments of `phlb serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on, or localhost:PORT (each loopback address localhost
    /// resolves to); port 0: any free one (the URL printed says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8765")]
    pub listen: String,
    /// Read the token every request must carry from FILE (one line, mode 0600; default:
    /// PHLB_SERVE_TOKEN, else SERVE_TOKEN, else a random one).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Refused: a token in the arguments is shown by `ps` to every local user.
    #[arg(long, value_name = "TOKEN", hide = true)]
    pub token: Option<String>,
    /// Open the pages in the desktop's browser (xdg-open gets a 0600 file that redirects
    /// to the URL, never the token itself).
    #[arg(long)]
    pub open: bool,
    /// Allow a listen address other than loopback (plain HTTP: anyone on the path sees
    /// the token and the files).
    #[arg(long)]
    pub allow_remote: bool,
}

/// Arguments of `phlb init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to make a backup root (default: the configured root).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print JSON: root, existed, adopted_snapshots, filesystem, free_bytes.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `phlb status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON for scripts and monitoring.
    #[arg(long)]
    pub json: bool,
}

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
    /// Folders to back up; each becomes its own snapshot (none: the config's SOURCES).
    /// `[user@]host:/path` is a folder on another machine, pulled with rsync over ssh
    /// into a mirror in the backup root first (a colon before the first `/` makes it
    /// remote: write `./a:b` for a local folder `a:b`).
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,
    /// Snapshot name (default: the source folder's name; `HOST-FOLDER` for a remote
    /// source, `HOST` for `host:/`); only with a single SOURCE.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// An option for rsync when pulling a remote source, after phlb's own (repeat it
    /// for more; e.g. --rsync-opt=--bwlimit=5m).
    #[arg(long, value_name = "OPT", allow_hyphen_values = true)]
    pub rsync_opt: Vec<String>,
    /// Scan, hash and report what would be linked or copied; write nothing (with -v:
    /// each file and what would happen to it).
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// After a successful run, prune each backed-up name by the config's KEEP_* rules.
    #[arg(long, conflicts_with = "dry_run")]
    pub prune: bool,
    /// Make the backup root first when it is not one yet (as `phlb init` does).
    #[arg(long, conflicts_with = "dry_run")]
    pub init: bool,
    /// The source folder moved (renamed, a drive remounted at another path, a new host
    /// name): continue the name's history from SOURCE's path from now on, instead of
    /// refusing a source other than the one the name was made from.
    #[arg(long)]
    pub source_moved: bool,
    /// How paths get content already stored, for this run: hardlink, reflink (a
    /// copy-on-write clone per path; refused where the root's filesystem cannot clone)
    /// or auto (reflink where it can, else hardlink). Overrides LINK and the root's
    /// recorded way.
    #[arg(long, value_name = "WAY", value_parser = |s: &str| s.parse::<crate::decide::Link>())]
    pub link: Option<crate::decide::Link>,
    /// Print each snapshot's report as one JSON object per line instead of the summary
    /// (with --prune, the prune's report as one more line `{"prune": …}` after them).
    #[arg(long)]
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

impl From<WaitArgs> for crate::lock::Wait {
    fn from(args: WaitArgs) -> crate::lock::Wait {
        use crate::lock::Wait;
        match args.wait {
            None => Wait::No,
            Some(None) => Wait::Forever,
            Some(Some(span)) => Wait::AtMost(span.approx()),
        }
    }
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
    /// Folders to watch and back up; each becomes its own snapshot name (none: the
    /// config's SOURCES).
    #[arg(value_name = "SOURCE")]
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

/// The shells `phlb completions` writes for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Arguments of `phlb man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Print the command reference as Markdown instead (what docs/commands.md holds).
    #[arg(long, hide = true)]
    pub markdown: bool,
}

/// Arguments of `phlb completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_name = "SHELL")]
    pub shell: Shell,
}
