//! Owns the names of things in the backup root: snapshot folders, manifests, logs, leftovers.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

/// Name of the symlink in `<root>/<name>/` to the newest complete snapshot.
pub const LATEST: &str = "latest";

/// Suffix of a snapshot folder (and its side files) while its run is in progress.
pub const IN_PROGRESS: &str = ".inprogress";

/// Suffix of the side file that keeps a snapshot's instant, offset, sequence and source.
pub const STAMP_SUFFIX: &str = "-snapshot.json";

/// Snapshot folder relative to the backup root: `name/ts`, or `name/ts.inprogress`.
pub fn snapshot_dir_rel(name: &str, timestamp: &str, complete: bool) -> PathBuf {
    let leaf = if complete {
        timestamp.to_string()
    } else {
        format!("{timestamp}{IN_PROGRESS}")
    };
    Path::new(name).join(leaf)
}

/// The files one snapshot run writes beside its folder, under their final names.
#[derive(Debug, Clone)]
pub struct SnapshotPaths {
    /// `<root>/<name>/<ts>`
    pub dir: PathBuf,
    /// `<root>/<name>/<ts>.inprogress`
    pub work_dir: PathBuf,
    /// `<root>/<name>/<ts>.SHA256SUMS`
    pub manifest: PathBuf,
    /// `<root>/<name>/<ts>.inprogress.SHA256SUMS`
    pub work_manifest: PathBuf,
    /// `<root>/<name>/<ts>-summary.txt`
    pub summary: PathBuf,
    /// `<root>/<name>/<ts>-backup.log`
    pub log: PathBuf,
    /// `<root>/<name>/<ts>.inprogress-backup.log`
    pub work_log: PathBuf,
    /// `<root>/<name>/<ts>-snapshot.json`: instant, offset, sequence and source
    /// (`stamp::Stamp`).
    pub stamp: PathBuf,
}

impl SnapshotPaths {
    /// All paths of snapshot `name/timestamp` under `root`, with manifest suffix `sums`.
    pub fn new(root: &Path, name: &str, timestamp: &str, sums: &str) -> SnapshotPaths {
        let parent = root.join(name);
        let work = format!("{timestamp}{IN_PROGRESS}");
        SnapshotPaths {
            dir: parent.join(timestamp),
            work_dir: parent.join(&work),
            manifest: parent.join(format!("{timestamp}.{sums}")),
            work_manifest: parent.join(format!("{work}.{sums}")),
            summary: parent.join(format!("{timestamp}-summary.txt")),
            log: parent.join(format!("{timestamp}-backup.log")),
            work_log: parent.join(format!("{work}-backup.log")),
            stamp: parent.join(format!("{timestamp}{STAMP_SUFFIX}")),
        }
    }

    /// True when anything of this snapshot already exists on disk.
    pub fn taken(&self) -> bool {
        [
            &self.dir,
            &self.work_dir,
            &self.manifest,
            &self.summary,
            &self.log,
            &self.stamp,
        ]
        .iter()
        .any(|p| p.symlink_metadata().is_ok())
    }
}

/// The part of phlb's own names that a snapshot timestamp `ts` would contain, if any: a
/// timestamp holding one could make a finished snapshot look like a leftover or a side
/// file.
pub fn collides_with_own_names(ts: &str) -> Option<&'static str> {
    const OWN: [&str; 8] = [
        IN_PROGRESS,
        ".removing",
        "-summary",
        "-backup.log",
        STAMP_SUFFIX,
        ".SHA256SUMS",
        ".SHA512SUMS",
        crate::root::META_DIR,
    ];
    if ts == LATEST {
        return Some(LATEST);
    }
    OWN.into_iter().find(|own| ts.contains(own))
}

/// What an interrupted run of a snapshot with timestamp `ts` leaves on disk under name
/// `file` (its folder, manifest or log, by the exact names a run gives them): the
/// timestamp, when `file` is such a leftover.
pub fn leftover_of<'a>(file: &'a str, format: &str) -> Option<&'a str> {
    let idx = file.find(IN_PROGRESS)?;
    let (ts, rest) = (&file[..idx], &file[idx + IN_PROGRESS.len()..]);
    let side = matches!(rest, "" | "-backup.log" | ".SHA256SUMS" | ".SHA512SUMS");
    (side && is_timestamp(ts, format)).then_some(ts)
}

/// Checks that a snapshot name is one plain folder name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('.') || name.contains('/') || name.contains('\0') {
        return Err(format!(
            "snapshot name {name:?} must be a plain folder name not starting with '.'"
        ));
    }
    Ok(())
}

/// The part of snapshot folder name `folder` that `format` wrote (without the `-N`
/// suffix two runs in one second get), when it is one.
pub fn timestamp_base<'a>(folder: &'a str, format: &str) -> Option<&'a str> {
    if is_timestamp_without_suffix(folder, format) {
        return Some(folder);
    }
    let (base, n) = folder.rsplit_once('-')?;
    (!n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && is_timestamp_without_suffix(base, format))
    .then_some(base)
}

/// The time a snapshot folder's name says it was taken (local time, as `format` wrote
/// it; a `-N` suffix is ignored; a date alone means its midnight), in UTC.
pub fn timestamp_time(folder: &str, format: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{Local, TimeZone};
    Local
        .from_local_datetime(&timestamp_local(folder, format)?)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The local time a snapshot folder's name says it was taken, as written (see
/// `timestamp_time`).
pub fn timestamp_local(folder: &str, format: &str) -> Option<chrono::NaiveDateTime> {
    use chrono::{NaiveDate, NaiveDateTime};
    let parse = |s: &str| {
        NaiveDateTime::parse_from_str(s, format).ok().or_else(|| {
            NaiveDate::parse_from_str(s, format)
                .ok()?
                .and_hms_opt(0, 0, 0)
        })
    };
    parse(folder).or_else(|| {
        let (base, n) = folder.rsplit_once('-')?;
        (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .then(|| parse(base))
            .flatten()
    })
}

/// The order of snapshot folders of one name: by the time in the name, then by the
/// `-N` suffix two runs in one second get (as a number: `-10` after `-9`), then by the
/// name as text; a name that is no timestamp sorts first, by text.
pub fn timestamp_order(folder: &str, format: &str) -> (Option<chrono::NaiveDateTime>, u64, String) {
    let time = timestamp_local(folder, format);
    let suffix = if time.is_some() && !is_timestamp_without_suffix(folder, format) {
        folder
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    (time, suffix, folder.to_string())
}

fn is_timestamp_without_suffix(folder: &str, format: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(folder, format).is_ok()
        || chrono::NaiveDate::parse_from_str(folder, format).is_ok()
}

/// True when `folder` is a snapshot timestamp made by `format` (optionally with the `-N`
/// suffix that keeps two runs in one second apart).
pub fn is_timestamp(folder: &str, format: &str) -> bool {
    if is_timestamp_without_suffix(folder, format) {
        return true;
    }
    match folder.rsplit_once('-') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            is_timestamp_without_suffix(base, format)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_one_second_sort_by_their_number() {
        let f = "%Y-%m-%d-%H%M%S";
        let mut names = vec![
            "2026-01-01-100000-10",
            "2026-01-01-100000-2",
            "2026-01-01-100000",
            "2026-01-01-090000-11",
        ];
        names.sort_by_key(|n| timestamp_order(n, f));
        assert_eq!(
            names,
            vec![
                "2026-01-01-090000-11",
                "2026-01-01-100000",
                "2026-01-01-100000-2",
                "2026-01-01-100000-10"
            ]
        );
    }

    #[test]
    fn timestamps() {
        let f = "%Y-%m-%d-%H%M%S";
        let cases = [
            ("2026-11-22-101500", true),
            ("2026-11-22-101500-2", true),
            ("2026-11-22", false),
            ("my-tree", false),
            ("2026-11-22-101500.inprogress", false),
        ];
        for (name, want) in cases {
            assert_eq!(is_timestamp(name, f), want, "{name}");
        }
        assert!(is_timestamp("2026-11-22", "%Y-%m-%d"));
    }

    #[test]
    fn folder_names_give_back_their_time() {
        let f = "%Y-%m-%d-%H%M%S";
        let t = timestamp_time("2026-11-22-101500-2", f).unwrap();
        let local = t.with_timezone(&chrono::Local);
        assert_eq!(local.format(f).to_string(), "2026-11-22-101500");
        let d = timestamp_time("2026-11-22", "%Y-%m-%d").unwrap();
        assert_eq!(
            d.with_timezone(&chrono::Local).format("%H%M").to_string(),
            "0000"
        );
        assert!(timestamp_time("my-tree", f).is_none());
    }

    #[test]
    fn leftovers_are_known_by_their_exact_names() {
        let f = "%Y-%m-%d-%H%M%S";
        let cases = [
            ("2026-11-22-101500.inprogress", Some("2026-11-22-101500")),
            (
                "2026-11-22-101500-1.inprogress-backup.log",
                Some("2026-11-22-101500-1"),
            ),
            (
                "2026-11-22-101500.inprogress.SHA256SUMS",
                Some("2026-11-22-101500"),
            ),
            ("2026-11-22-101500.inprogress.old", None),
            ("mine.inprogress", None),
            ("2026-11-22-101500", None),
        ];
        for (name, want) in cases {
            assert_eq!(leftover_of(name, f), want, "{name}");
        }
    }
}
