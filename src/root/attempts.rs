//! Owns `<root>/.phlb/attempts`: one JSON line per backup attempt of a name (time,
//! name, source, exit code, one-line reason), appended when the attempt ends, whether
//! or not a snapshot was started and whether or not the catalog could be opened. A run
//! that found the lock held and gave up, a dry run and a usage error are not attempts.
//! `status`, `list` and the web UI read the last attempt of each name from it. Past
//! 1 MiB it is compacted to the last attempt of each name and the newest 1,000 lines.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// The file's name in the meta folder.
const FILE: &str = "attempts";
/// Longest reason kept (a line, not a log).
const REASON_MAX: usize = 400;

/// One backup attempt of one snapshot name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// When it started, RFC 3339.
    pub time: String,
    pub name: String,
    /// The source folder as given (canonical when it could be resolved).
    pub source: String,
    /// 0 clean, 1 some files failed, 2 the attempt failed.
    pub exit: i32,
    /// Why it failed, one line (empty when it did not).
    pub reason: String,
}

impl Attempt {
    /// True when this attempt made no complete snapshot.
    pub fn failed(&self) -> bool {
        self.exit == 2
    }
}

/// An error as one line of at most `REASON_MAX` characters.
pub fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace(['\n', '\r'], " ");
    text.chars().take(REASON_MAX).collect()
}

/// Appends `attempts` to the file in `meta_dir` (made when missing, mode 0600), in one
/// write under an `flock` of the file, so lines of concurrent runs never interleave;
/// past `MAX_BYTES` the file is compacted (`compact`).
pub fn record(meta_dir: &Path, attempts: &[Attempt]) -> Result<()> {
    let mut text = String::new();
    for a in attempts {
        text.push_str(&serde_json::to_string(a)?);
        text.push('\n');
    }
    let path = meta_dir.join(FILE);
    let ctx = || format!("{}: cannot record the attempt", path.display());
    let mut f = loop {
        let f = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .with_context(ctx)?;
        // Closing the file drops the lock.
        crate::sys::file::lock_exclusive(&f).with_context(ctx)?;
        // A compaction may have put another file at the path while we waited.
        let same = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.ino() == f.metadata().map(|g| g.ino()).unwrap_or(0));
        if same {
            break f;
        }
    };
    // A line cut short (a full disk, a kill) must not swallow this one: start anew.
    let len = f.metadata().with_context(ctx)?.len();
    let mut last = [b'\n'];
    if len > 0 {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(&mut last, len - 1).with_context(ctx)?;
    }
    if last[0] != b'\n' {
        text.insert(0, '\n');
    }
    f.write_all(text.as_bytes()).with_context(ctx)?;
    if f.metadata().with_context(ctx)?.len() > MAX_BYTES {
        compact(&path, &mut f).with_context(ctx)?;
    }
    Ok(())
}

/// Largest the file grows before `compact` (some 5,000 attempts).
const MAX_BYTES: u64 = 1 << 20;
/// Lines `compact` keeps besides the last of each name.
const KEEP_LINES: usize = 1000;

/// Rewrites the file at `path` (held locked through `f`) with the last attempt of each
/// name and the newest `KEEP_LINES` lines, under a temp name renamed over it.
fn compact(path: &Path, f: &mut std::fs::File) -> std::io::Result<()> {
    let mut text = Vec::new();
    f.seek(std::io::SeekFrom::Start(0))?;
    f.read_to_end(&mut text)?;
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        if let Ok(a) = serde_json::from_slice::<Attempt>(line) {
            last.insert(a.name, i);
        }
    }
    let from = lines.len().saturating_sub(KEEP_LINES);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i >= from || last.values().any(|&j| j == i) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    let tmp = path.with_file_name(format!("{FILE}.tmp-{}", std::process::id()));
    let mut t = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let written = t.write_all(&out).and_then(|_| t.sync_all());
    match written.and_then(|_| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The last attempt of each name, from the file in `meta_dir` (none when it is
/// missing; a line that does not parse is skipped).
pub fn last_per_name(meta_dir: &Path) -> Result<BTreeMap<String, Attempt>> {
    let path = meta_dir.join(FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let mut out = BTreeMap::new();
    for line in text.split(|&b| b == b'\n') {
        if let Ok(a) = serde_json::from_slice::<Attempt>(line) {
            out.insert(a.name.clone(), a);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_attempt_of_each_name_wins() {
        let dir = tempfile::tempdir().unwrap();
        let a = |name: &str, exit| Attempt {
            time: "2026-01-01T00:00:00Z".into(),
            name: name.into(),
            source: "/s".into(),
            exit,
            reason: String::new(),
        };
        record(dir.path(), &[a("x", 2), a("y", 0)]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE))
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        record(dir.path(), &[a("x", 0)]).unwrap();
        let last = last_per_name(dir.path()).unwrap();
        assert_eq!(last["x"].exit, 0);
        assert_eq!(last["y"].exit, 0);
        assert!(last_per_name(&dir.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_line_cut_short_by_a_full_disk_never_swallows_the_next_attempt() {
        // Found by an attack: an attempt appended to a cut line was lost, and status
        // said ok after two failed backups.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{\"time\":\"2026-12-07T05:1").unwrap();
        let failed = Attempt {
            time: "2026-12-07T05:20:00Z".into(),
            name: "s".into(),
            source: "/s".into(),
            exit: 2,
            reason: "PRE_COMMAND failed".into(),
        };
        record(dir.path(), &[failed]).unwrap();
        assert_eq!(last_per_name(dir.path()).unwrap()["s"].exit, 2);
    }

    #[test]
    fn a_long_file_is_compacted_keeping_the_last_of_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = |name: &str, exit| Attempt {
            time: "2026-01-01T00:00:00Z".into(),
            name: name.into(),
            source: "/s".repeat(100),
            exit,
            reason: String::new(),
        };
        record(dir.path(), &[a("old", 2)]).unwrap();
        for _ in 0..6000 {
            record(dir.path(), &[a("busy", 0)]).unwrap();
        }
        let len = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(len <= MAX_BYTES + 1000, "{len}");
        let last = last_per_name(dir.path()).unwrap();
        assert_eq!((last["old"].exit, last["busy"].exit), (2, 0));
    }
}
