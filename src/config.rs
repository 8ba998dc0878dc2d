//! Owns phlb's settings: the `Config` type, its defaults, and where it is loaded from.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::decide::{Dedup, Link};
use crate::duration::Span;
use crate::hash::HashAlgo;

mod ini;
mod render;
mod sources;

pub use sources::SourceEntry;

pub use render::{entries, render};

/// The example ini shipped at the top of the repository; it lists every key with its default.
pub const EXAMPLE_INI: &str = include_str!("../phlb.example.ini");

/// The validated settings every command works from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Folder that holds the snapshots and the `.phlb` catalog folder.
    pub backup_path: PathBuf,
    /// strftime pattern (local time) naming each snapshot folder.
    pub sub_dir_formatter: String,
    /// Folder names never backed up.
    pub skip_dirs: Vec<String>,
    /// Shell globs matched against file names that are never backed up.
    pub skip_patterns: Vec<String>,
    /// When set, only these folders are backed up (globs).
    pub include_dirs: Vec<String>,
    /// When set, only files and symlinks matching these globs are backed up.
    pub include_patterns: Vec<String>,
    /// What the command line adds to the selection (`--exclude`, `--include`, …).
    pub select: CliSelect,
    /// Shell command run before each source's backup (`sh -c`); failing stops it.
    pub pre_command: Option<String>,
    /// Shell command run after each source's backup, with its exit code in `PHLB_EXIT`.
    pub post_command: Option<String>,
    /// Content hash algorithm.
    pub hash: HashAlgo,
    /// When identical content may share one stored copy (hardlinks only); `None`: the
    /// root's recorded policy.
    pub dedup: Option<Dedup>,
    /// How snapshot paths get stored content (`LINK`); `None`: the root's recorded way.
    pub link: Option<Link>,
    /// Do not cross mount points inside a source.
    pub one_file_system: bool,
    /// Threads for the per-file work (read, hash, write new copies, link); `None` means one per core.
    pub workers: Option<usize>,
    /// Detail of the per-snapshot log file.
    pub log_level: LogLevel,
    /// Most hardlinks put on one stored copy.
    pub max_links: u64,
    /// Wait until a run's files are on disk before it counts as complete.
    pub sync: bool,
    /// Keep extended attributes (xattrs, ACLs, file capabilities, SELinux labels) on the
    /// snapshot's inodes and in the catalog (`XATTRS`).
    pub xattrs: bool,
    /// Retention defaults for `prune` and `backup --prune` (`KEEP_*` keys).
    pub keep: crate::retention::Policy,
    /// When `phlb watch` snapshots (`WATCH_*` keys).
    pub watch: WatchTiming,
    /// Age past which a name's newest complete snapshot counts as stale (`phlb status`,
    /// `phlb serve`); `None`: never.
    pub max_age: Option<Span>,
    /// The token `phlb serve` wants on every request; `None`: a random one per start.
    pub serve_token: Option<String>,
    /// What `backup` and `watch` take when the command line names no source (`SOURCES`).
    pub sources: Vec<SourceEntry>,
    /// The rsync that pulls a remote source, with options before phlb's (`RSYNC`; split
    /// into words as a shell would, no expansion).
    pub rsync: String,
    /// The remote shell rsync runs, with its options (`SSH`, rsync's `-e`).
    pub ssh: String,
    /// Options `--rsync-opt` adds after phlb's own for this run.
    pub rsync_opts: Vec<String>,
    /// The ini file these settings were read from (`None`: built-in defaults), so a
    /// writing command's summary can say which it used.
    pub file: Option<PathBuf>,
}

/// What the command line adds to the selection, read and checked before any work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliSelect {
    /// `--exclude` and the lines of `--exclude-from` files.
    pub exclude: Vec<crate::scan::Pattern>,
    /// `--include`.
    pub include: Vec<crate::scan::Pattern>,
    /// The lines of `--files-from`.
    pub files_from: Option<Vec<PathBuf>>,
    /// `--exclude-caches`.
    pub exclude_caches: bool,
}

impl Config {
    /// The selection spec: the config's SKIP_* and INCLUDE_* keys plus what the command
    /// line adds (which adds to SKIP_*, never replaces them).
    pub fn select_spec(&self) -> crate::scan::SelectSpec {
        use crate::scan::Pattern;
        let pats = |v: &[String], origin: &str| -> Vec<Pattern> {
            v.iter().map(|p| Pattern::new(p.clone(), origin)).collect()
        };
        crate::scan::SelectSpec {
            skip_dirs: pats(&self.skip_dirs, "config"),
            skip_patterns: pats(&self.skip_patterns, "config"),
            exclude: self.select.exclude.clone(),
            include: self.select.include.clone(),
            include_dirs: pats(&self.include_dirs, "config"),
            include_patterns: pats(&self.include_patterns, "config"),
            files_from: self.select.files_from.clone(),
            exclude_caches: self.select.exclude_caches,
        }
    }
}

/// When `phlb watch` makes a snapshot after changes (`WATCH_DELAY`, `WATCH_MAX_WAIT`,
/// `WATCH_MIN_INTERVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchTiming {
    /// Quiet time after the last change of a burst before the snapshot starts.
    pub delay: Span,
    /// Longest time from the first change of a burst to its snapshot, however busy the
    /// source stays; also the interval of the cheap comparison when polling.
    pub max_wait: Span,
    /// Shortest time between the starts of two snapshots of one source.
    pub min_interval: Span,
}

impl Default for WatchTiming {
    fn default() -> Self {
        let secs = |secs| Span { months: 0, secs };
        WatchTiming {
            delay: secs(5),
            max_wait: secs(300),
            min_interval: secs(60),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backup_path: home_dir().join("phlb-backups"),
            sub_dir_formatter: "%Y-%m-%d-%H%M%S".into(),
            skip_dirs: vec!["__pycache__".into(), ".cache".into(), ".tmp".into()],
            skip_patterns: vec!["*.pyc".into(), "*.tmp".into(), "*.swp".into()],
            include_dirs: Vec::new(),
            include_patterns: Vec::new(),
            select: CliSelect::default(),
            pre_command: None,
            post_command: None,
            hash: HashAlgo::Sha256,
            dedup: None,
            link: None,
            one_file_system: true,
            workers: None,
            log_level: LogLevel::Info,
            max_links: 65000,
            sync: true,
            xattrs: true,
            keep: crate::retention::Policy::default(),
            watch: WatchTiming::default(),
            max_age: None,
            serve_token: None,
            sources: Vec::new(),
            rsync: "rsync".into(),
            ssh: "ssh".into(),
            rsync_opts: Vec::new(),
            file: None,
        }
    }
}

impl Config {
    /// The number of worker threads to use, resolving `auto` to the core count.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
    }

    /// The folder holding the catalog and lock.
    pub fn meta_dir(&self) -> PathBuf {
        self.backup_path.join(crate::root::META_DIR)
    }
}

/// How much the per-snapshot log file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warning" | "warn" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            _ => Err("expected debug, info, warning or error".into()),
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
        })
    }
}

/// A config together with where its values came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective settings.
    pub config: Config,
    /// The ini file that was read, if any.
    pub file: Option<PathBuf>,
    /// For each key set by the file or the command line: where it was set.
    pub origins: BTreeMap<&'static str, String>,
}

/// What the environment says about where the config and the backup root are
/// (`PHLB_CONFIG`, `PHLB_BACKUP_ROOT`); read once, before the config is loaded.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `PHLB_CONFIG`: the ini file to read, unless `--config` names one.
    pub config: Option<PathBuf>,
    /// `PHLB_BACKUP_ROOT`: the backup root, unless `--backup-root` names one.
    pub backup_root: Option<PathBuf>,
}

impl Env {
    /// Reads `PHLB_CONFIG` and `PHLB_BACKUP_ROOT` (empty counts as unset).
    pub fn from_process() -> Env {
        let var = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            config: var("PHLB_CONFIG"),
            backup_root: var("PHLB_BACKUP_ROOT"),
        }
    }
}

/// Finds and reads the config: `--config`, else `PHLB_CONFIG`, else `phlb.ini` upwards
/// from `cwd`, else `~/phlb.ini`; then the backup root: `--backup-root`, else
/// `PHLB_BACKUP_ROOT`, else the ini's `BACKUP_PATH` (relative to the ini's folder), else
/// the default.
pub fn load(
    explicit: Option<&Path>,
    backup_root: Option<&Path>,
    env: &Env,
    cwd: &Path,
) -> Result<Loaded> {
    let named = explicit
        .map(|p| (p, "--config"))
        .or_else(|| env.config.as_deref().map(|p| (p, "PHLB_CONFIG")));
    let file = match named {
        Some((p, by)) => {
            if p.is_dir() {
                bail!(
                    "{}: is a folder, not a config file ({by} names the ini file itself, e.g. {})",
                    p.display(),
                    p.join("phlb.ini").display()
                );
            }
            if !p.is_file() {
                bail!("{}: config file not found (named by {by})", p.display());
            }
            Some(absolute(p, cwd))
        }
        None => {
            let found = search(cwd);
            if let Some(p) = &found {
                check_found_config(p)?;
            }
            found
        }
    };
    let mut loaded = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read config", path.display()))?;
            let (mut config, origins) = ini::parse(&text, path)?;
            if config.backup_path.is_relative() {
                let folder = path.parent().unwrap_or(Path::new("/"));
                config.backup_path = folder.join(&config.backup_path);
            }
            Loaded {
                config,
                file,
                origins,
            }
        }
        None => Loaded {
            config: Config::default(),
            file: None,
            origins: BTreeMap::new(),
        },
    };
    let root = backup_root
        .map(|p| (p, "--backup-root"))
        .or_else(|| env.backup_root.as_deref().map(|p| (p, "PHLB_BACKUP_ROOT")));
    if let Some((root, by)) = root {
        loaded.config.backup_path = absolute(root, cwd);
        loaded.origins.insert("BACKUP_PATH", by.to_string());
    }
    if loaded.config.backup_path.is_relative() {
        loaded.config.backup_path = absolute(&loaded.config.backup_path, cwd);
    }
    loaded.config.file = loaded.file.clone();
    Ok(loaded)
}

/// Refuses a `phlb.ini` found by the search (not named with `--config`) that another
/// user could have written: owned by someone else than the running user or root, or
/// writable by group or others. Planted in a shared folder such as `/tmp`, it could send
/// root's backups elsewhere or skip every file.
fn check_found_config(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read config", path.display()))?;
    let me = crate::store::running_uid();
    if md.uid() != me && md.uid() != 0 {
        bail!(
            "{}: config file owned by another user (uid {}); phlb only reads a phlb.ini it finds when you or root own it (name one with --config to use it anyway)",
            path.display(),
            md.uid()
        );
    }
    if md.mode() & 0o022 != 0 {
        bail!(
            "{}: config file is writable by other users (mode {:04o}); `chmod go-w` it, or name it with --config",
            path.display(),
            md.mode() & 0o7777
        );
    }
    Ok(())
}

fn search(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|dir| dir.join("phlb.ini"))
        .find(|p| p.is_file())
        .or_else(|| Some(home_dir().join("phlb.ini")).filter(|p| p.is_file()))
}

fn absolute(p: &Path, cwd: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

/// The user's home folder (`$HOME`, else `/`).
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(passwd_home)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The running user's home folder from the password database: where `HOME` is unset or
/// empty (a bare cron or systemd environment), the default root is still `~/phlb-backups`
/// and not `/phlb-backups` on the system disk.
fn passwd_home() -> Option<PathBuf> {
    use crate::sys::users;
    let dir = users::passwd_home(users::effective_uid())?;
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Checks a `phlb serve` token: 16 to 256 printable ASCII characters without spaces, so
/// it fits a URL, a cookie and a header as it is.
pub fn check_token(token: &str) -> Result<String, String> {
    let fits = token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b));
    if !fits || !(16..=256).contains(&token.len()) {
        return Err("a token is 16 to 256 characters of A-Z, a-z, 0-9, '-', '_', '.', '~'".into());
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests;
