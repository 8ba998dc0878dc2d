//! Owns what a backup run tells: counters, the per-snapshot log file, the summary text.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::catalog::snapshots::Totals;
use crate::config::LogLevel;
use crate::units::{human_bytes, human_duration, OneLine};

/// What one snapshot run did.
/// Whether a summary tells of a real run or of a dry run's prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// The run wrote the snapshot.
    Real,
    /// `--dry-run`: nothing was written; the counts say what a run would do.
    Dry,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    /// Regular files in the snapshot.
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Files hardlinked to a copy already stored.
    pub linked: u64,
    /// Of `linked`: files the fast path found unchanged (same path, size, mtime) and
    /// linked without reading.
    pub unchanged: u64,
    /// Of `linked`: files an interrupted run of this name had already stored under their
    /// final name (same path, size, mtime), linked from its leftovers without reading.
    pub resumed: u64,
    /// Bytes of the `resumed` files.
    pub resumed_bytes: u64,
    /// Files written as a new stored copy.
    pub copied: u64,
    /// FIFOs, sockets and devices left out.
    pub special: u64,
    /// Entries left out by SKIP_DIRS / SKIP_PATTERNS.
    pub skipped: u64,
    /// Files or folders that could not be backed up.
    pub failed: u64,
    /// Files deleted from the source while the run went on.
    pub vanished: u64,
    /// Files and folders whose ACLs or extended attributes were not kept.
    pub not_kept: u64,
    /// Of `copied`: files whose content was stored already, under other extended
    /// attributes (changed since, or a copy made before phlb kept them).
    pub attrs_anew: u64,
    /// Bytes of all regular files in the snapshot.
    pub bytes: u64,
    /// Bytes written as new stored copies.
    pub new_bytes: u64,
    /// A remote source: files rsync transferred into the mirror (new or changed).
    pub pulled_files: u64,
    /// A remote source: bytes rsync received over the network.
    pub pulled_bytes: u64,
}

impl Counts {
    /// The counters the catalog keeps for a run.
    pub fn totals(&self) -> Totals {
        Totals {
            files: self.files,
            bytes: self.bytes,
            new_bytes: self.new_bytes,
            linked: self.linked,
            copied: self.copied,
            failed: self.failed,
        }
    }

    /// The run's report as one line of JSON (`backup --json`): every counter, plus
    /// `snapshot`, `dry_run`, `seconds` and `finished_at` (RFC 3339 with offset).
    pub fn json(
        &self,
        snapshot: &str,
        elapsed: Duration,
        run: RunKind,
        failures: &Failures,
    ) -> String {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            let (list, more) = failures.json();
            obj.insert("failures".into(), list);
            obj.insert("failures_not_listed".into(), more.into());
            obj.insert("snapshot".into(), snapshot.into());
            obj.insert("dry_run".into(), (run == RunKind::Dry).into());
            obj.insert("seconds".into(), elapsed.as_secs_f64().into());
            let now = crate::output::rfc3339(&crate::clock::now_local());
            obj.insert("finished_at".into(), now.into());
        }
        v.to_string()
    }

    /// The final summary, a few lines of plain text.
    pub fn summary(&self, snapshot: &str, elapsed: Duration, run: RunKind) -> String {
        let dry_run = run == RunKind::Dry;
        let (linked, copied) = if dry_run {
            ("would link", "would copy")
        } else {
            ("linked", "copied")
        };
        format!(
            "snapshot {snapshot}{}\n  files:   {} ({linked} {}, {copied} {})\n{}  folders: {}, symlinks: {}\n  skipped: {} (special files: {}, by skip rules: {})\n  failed:  {}{}\n{}  bytes:   {} new of {} ({} new of {} bytes)\n  time:    {}\n",
            if dry_run { " (dry run, nothing written)" } else { "" },
            self.files,
            self.linked,
            self.copied,
            if self.resumed > 0 {
                format!(
                    "  resumed {} files, {} bytes from an interrupted run ({})\n",
                    self.resumed,
                    self.resumed_bytes,
                    human_bytes(self.resumed_bytes)
                )
            } else {
                String::new()
            },
            self.dirs,
            self.symlinks,
            self.special + self.skipped,
            self.special,
            self.skipped,
            self.failed,
            if self.vanished > 0 {
                format!(" (and {} deleted from the source during the run)", self.vanished)
            } else {
                String::new()
            },
            self.attrs_lines() + &self.pulled_line(),
            human_bytes(self.new_bytes),
            human_bytes(self.bytes),
            self.new_bytes,
            self.bytes,
            human_duration(elapsed),
        )
    }
}

impl Counts {
    /// The summary's line about a remote source's pull (none for a local source).
    fn pulled_line(&self) -> String {
        if self.pulled_files == 0 && self.pulled_bytes == 0 {
            return String::new();
        }
        format!(
            "  pulled:  {} files changed, {} received over the network ({} bytes)\n",
            self.pulled_files,
            human_bytes(self.pulled_bytes),
            self.pulled_bytes
        )
    }

    /// The summary's lines about extended attributes (none when there is nothing to say).
    fn attrs_lines(&self) -> String {
        let mut out = String::new();
        if self.attrs_anew > 0 {
            out.push_str(&format!(
                "  attributes: {} files stored anew, same content under other extended \
                 attributes (changed, or stored before phlb kept them)\n",
                self.attrs_anew
            ));
        }
        if self.not_kept > 0 {
            out.push_str(&format!(
                "  not kept: {} files or folders with ACLs or xattrs (modes keep only what an ACL grants)\n",
                self.not_kept
            ));
        }
        out
    }
}

/// The files a run could not back up, each with why, for the summary (the log has all).
#[derive(Debug, Clone, Default)]
pub struct Failures {
    /// Each failed path and why, as shown (one line each).
    named: Vec<(String, String)>,
    more: u64,
}

impl Failures {
    /// How many failures the summary names; the rest are counted.
    const NAMED: usize = 1000;

    /// Notes one failure: the path (on one line) and why.
    pub fn push(&mut self, path: String, why: String) {
        if self.named.len() < Self::NAMED {
            self.named.push((path, why));
        } else {
            self.more += 1;
        }
    }

    /// The failures for a JSON report: `[{"path", "error"}]` and how many more the log
    /// holds.
    pub fn json(&self) -> (serde_json::Value, u64) {
        let list = self
            .named
            .iter()
            .map(|(path, why)| serde_json::json!({ "path": path, "error": why }))
            .collect();
        (list, self.more)
    }

    /// The summary's list of failed files (empty when none failed).
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.named.is_empty() {
            return out;
        }
        out.push_str("  failed files:\n");
        for (path, why) in &self.named {
            out.push_str(&format!("    {path}: {why}\n"));
        }
        if self.more > 0 {
            out.push_str(&format!("    … and {} more (see the log)\n", self.more));
        }
        out
    }
}

/// The `-backup.log` beside a snapshot: one line per action or problem, filtered by LOG_LEVEL.
pub struct Log {
    out: BufWriter<File>,
    level: LogLevel,
    /// Where it is written, for error messages.
    path: std::path::PathBuf,
}

impl Log {
    /// Creates the log file at `path`.
    pub fn create(path: &Path, level: LogLevel) -> Result<Log> {
        let file = crate::store::create_fresh(path)
            .with_context(|| format!("{}: cannot create log", path.display()))?;
        let mut log = Log {
            out: BufWriter::new(file),
            level,
            path: path.to_path_buf(),
        };
        log.stamp(&format!("phlb {} started", env!("CARGO_PKG_VERSION")));
        Ok(log)
    }

    /// Writes one line when `level` is at or above the configured level.
    pub fn line(&mut self, level: LogLevel, text: &str) {
        if level < self.level {
            return;
        }
        let text = crate::output::without_codes(text);
        let _ = writeln!(self.out, "{level:<7} {text}");
    }

    /// Writes one action line (`what` then the path) when `level` is at or above the
    /// configured level.
    pub fn action(&mut self, level: LogLevel, what: &str, rel: &Path) {
        if level < self.level {
            return;
        }
        let _ = writeln!(self.out, "{level:<7} {what:<7} {}", OneLine(rel));
    }

    /// Writes the closing line with the time and flushes the log to disk.
    pub fn flush(&mut self) -> Result<()> {
        self.stamp("finished");
        let path = &self.path;
        self.out
            .flush()
            .with_context(|| format!("{}: cannot write log", path.display()))
    }

    /// Writes `what` with the local time, whatever the level.
    fn stamp(&mut self, what: &str) {
        let now = crate::clock::now_local().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let _ = writeln!(self.out, "{what} {now}");
    }
}
