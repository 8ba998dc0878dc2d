//! Owns a snapshot's time and place in the creation order: its instant (UTC, ns), the UTC
//! offset in effect when it was made, its creation sequence, where the time came from, and
//! the source it was made from — and the side file `<timestamp>-snapshot.json` that keeps
//! them beside the snapshot, so a rebuilt catalog gets them back exactly. The folder name
//! is a label, read only for a tree copied in by hand without that file.
//!
//! The side file is one JSON object, e.g.
//! `{"instant":"2025-10-26T02:30:00.123456789+02:00","sequence":7,"time_source":"run",
//! "source":{"host":"laptop","path":"/home/u/Documents"}}` (a path that is not UTF-8 is
//! `"path_hex"`, its bytes in hex; a tree copied in by hand has `"source":null`).

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};

mod anomaly;
mod history;

pub use anomaly::{clock_anomalies, Anomaly, Timed, CLOCK_SLACK_SECS};
pub use history::histories;

/// Where a snapshot's instant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSource {
    /// The run that made the snapshot read the clock.
    Run,
    /// Read from the folder name of a tree copied in by hand.
    Name,
}

impl TimeSource {
    /// The name the catalog, its views and the side file use.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::Run => "run",
            TimeSource::Name => "name",
        }
    }

    fn parse(s: &str) -> Option<TimeSource> {
        match s {
            "run" => Some(TimeSource::Run),
            "name" => Some(TimeSource::Name),
            _ => None,
        }
    }
}

/// What a snapshot was made from: this machine's host name and the source folder's
/// canonical absolute path (a remote source will be `user@host` and its path).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId {
    pub host: String,
    pub path: Vec<u8>,
}

impl SourceId {
    /// `host:/path`, as messages and `list` show it.
    pub fn show(&self) -> String {
        format!("{}:{}", self.host, String::from_utf8_lossy(&self.path))
    }
}

/// A snapshot's time and order, as the catalog and the side file keep them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// UTC nanoseconds since 1970.
    pub instant_ns: i64,
    /// Seconds east of UTC in effect when it was made.
    pub offset_secs: i32,
    /// Its place in the creation order of the root.
    pub sequence: i64,
    pub time_source: TimeSource,
    /// None for a tree copied in by hand (nothing says what it was made from).
    pub source: Option<SourceId>,
    /// Made with `--source-moved`: its source continues the history of the one before.
    pub source_moved: bool,
}

impl Stamp {
    /// The instant in the offset recorded with it (its local time when it was made).
    pub fn local(&self) -> DateTime<FixedOffset> {
        at(self.instant_ns, self.offset_secs)
    }

    /// RFC 3339 with the recorded offset and nanoseconds.
    pub fn rfc3339(&self) -> String {
        rfc3339(self.instant_ns, self.offset_secs)
    }

    /// The side file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let source = self
            .source
            .as_ref()
            .map(|s| match std::str::from_utf8(&s.path) {
                Ok(p) => serde_json::json!({ "host": s.host, "path": p }),
                Err(_) => serde_json::json!({ "host": s.host, "path_hex": hex(&s.path) }),
            });
        let mut doc = serde_json::json!({
            "instant": self.rfc3339(),
            "sequence": self.sequence,
            "time_source": self.time_source.as_str(),
            "source": source,
        });
        if self.source_moved {
            doc["source_moved"] = serde_json::Value::Bool(true);
        }
        let mut out = serde_json::to_vec_pretty(&doc).expect("a JSON value serialises");
        out.push(b'\n');
        out
    }

    /// Reads a side file's bytes; the error says what is wrong with them.
    pub fn from_json(bytes: &[u8]) -> Result<Stamp> {
        let doc: serde_json::Value = serde_json::from_slice(bytes).context("not JSON")?;
        let instant = doc["instant"].as_str().context("no \"instant\"")?;
        let t = DateTime::parse_from_rfc3339(instant)
            .with_context(|| format!("\"instant\" {instant:?} is not RFC 3339"))?;
        let Some(instant_ns) = t.timestamp_nanos_opt() else {
            bail!("\"instant\" {instant:?} is out of range");
        };
        let sequence = doc["sequence"].as_i64().context("no \"sequence\"")?;
        // A creation sequence counts runs: a negative or absurd one (a tampered file)
        // would put the snapshot before all others or stop every later backup.
        if !(0..=1i64 << 53).contains(&sequence) {
            bail!("\"sequence\" {sequence} is out of range");
        }
        let time_source = doc["time_source"]
            .as_str()
            .and_then(TimeSource::parse)
            .context("\"time_source\" is not \"run\" or \"name\"")?;
        let source = match &doc["source"] {
            serde_json::Value::Null => None,
            s => {
                let host = s["host"].as_str().context("source without \"host\"")?;
                let path = match (s["path"].as_str(), s["path_hex"].as_str()) {
                    (Some(p), _) => p.as_bytes().to_vec(),
                    (None, Some(h)) => unhex(h).context("bad \"path_hex\"")?,
                    _ => bail!("source without \"path\""),
                };
                Some(SourceId {
                    host: host.to_string(),
                    path,
                })
            }
        };
        Ok(Stamp {
            instant_ns,
            offset_secs: t.offset().local_minus_utc(),
            sequence,
            time_source,
            source,
            source_moved: doc["source_moved"].as_bool().unwrap_or(false),
        })
    }

    /// Reads the side file at `path` (never through a symlink, at most 64 KiB): None
    /// when there is none.
    pub fn read(path: &Path) -> Result<Option<Stamp>> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path);
        let mut bytes = Vec::new();
        match file.and_then(|f| f.take(64 * 1024).read_to_end(&mut bytes)) {
            Ok(_) => Stamp::from_json(&bytes)
                .map(Some)
                .with_context(|| format!("{}: unreadable side file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
        }
    }

    /// Writes the side file at `path` (temp name, then rename; never through a symlink).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::store::write_file(path, &self.to_json())
            .with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// `instant_ns` in the fixed offset `offset_secs` (UTC when the offset is impossible).
pub fn at(instant_ns: i64, offset_secs: i32) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(offset_secs).unwrap_or(Utc.fix());
    DateTime::from_timestamp_nanos(instant_ns).with_timezone(&offset)
}

/// RFC 3339 of `instant_ns` in offset `offset_secs`, with nanoseconds when not whole.
pub fn rfc3339(instant_ns: i64, offset_secs: i32) -> String {
    at(instant_ns, offset_secs).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// The offset the time zone in effect (TZ) has at `t`.
pub fn local_offset(t: DateTime<Utc>) -> i32 {
    t.with_timezone(&Local).offset().local_minus_utc()
}

/// The time a snapshot folder's name says it was taken: with the offset the name carries
/// (`%z` in `SUB_DIR_FORMATTER`), else as local time in the time zone in effect (of two
/// times an hour repeats when clocks go back, the first; a time skipped when they go
/// forward is read an hour later, as the clock would have shown it). A `-N` suffix is
/// ignored; a date alone means its midnight.
pub fn from_name(folder: &str, format: &str) -> Option<DateTime<FixedOffset>> {
    let base = crate::layout::timestamp_base(folder, format)?;
    if let Ok(t) = DateTime::parse_from_str(base, format) {
        return Some(t);
    }
    let naive = NaiveDateTime::parse_from_str(base, format)
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(base, format)
                .ok()?
                .and_hms_opt(0, 0, 0)
        })?;
    let local = Local.from_local_datetime(&naive).earliest().or_else(|| {
        let later = naive.checked_add_signed(chrono::TimeDelta::hours(1))?;
        Local.from_local_datetime(&later).earliest()
    })?;
    Some(local.fixed_offset())
}

/// This machine's host name (`unknown` when it has none).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    let named = crate::sys::process::hostname(&mut buf).is_ok();
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if named && !h.is_empty() => h.to_string(),
        _ => "unknown".to_string(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_files_give_back_exactly_what_was_written() {
        for source in [
            None,
            Some(SourceId {
                host: "box".into(),
                path: b"/home/u/src".to_vec(),
            }),
            Some(SourceId {
                host: "box".into(),
                path: b"/home/\xff".to_vec(),
            }),
        ] {
            let s = Stamp {
                instant_ns: 1_761_438_600_123_456_789,
                offset_secs: 7200,
                sequence: 7,
                time_source: TimeSource::Run,
                source_moved: source.is_some(),
                source,
            };
            assert_eq!(Stamp::from_json(&s.to_json()).unwrap(), s);
        }
        assert!(Stamp::from_json(b"{}").is_err());
        assert!(Stamp::from_json(b"{\"instant\":\"x\",\"sequence\":1}").is_err());
        let absurd = b"{\"instant\":\"2025-01-01T00:00:00Z\",\"sequence\":9223372036854775807,\"time_source\":\"run\",\"source\":null}";
        assert!(Stamp::from_json(absurd).is_err());
    }

    #[test]
    fn names_are_read_with_the_offset_they_carry() {
        let t = from_name("2025-10-26T023000+0100", "%Y-%m-%dT%H%M%S%z").unwrap();
        assert_eq!(t.timestamp(), 1_761_442_200);
        assert_eq!(t.offset().local_minus_utc(), 3600);
        let t = from_name("2025-10-26T023000+0100-2", "%Y-%m-%dT%H%M%S%z").unwrap();
        assert_eq!(t.timestamp(), 1_761_442_200);
    }
}
