//! Owns how a snapshot is named: `NAME/TIMESTAMP` (`SnapshotId`), and what a user may
//! write to pick one (`SnapshotSpec`: `NAME`, `NAME/latest`, `NAME/TIMESTAMP` or the
//! snapshot's folder). Paths of files inside a snapshot are not its business.

use std::fmt;
use std::path::Path;

/// The name and timestamp of one snapshot, shown as `NAME/TIMESTAMP`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotId {
    pub name: String,
    pub timestamp: String,
}

impl SnapshotId {
    pub fn new(name: impl Into<String>, timestamp: impl Into<String>) -> SnapshotId {
        SnapshotId {
            name: name.into(),
            timestamp: timestamp.into(),
        }
    }

    /// Parses `NAME/TIMESTAMP` at its first `/` (a name never holds one); None without
    /// one.
    pub fn parse(text: &str) -> Option<SnapshotId> {
        let (name, timestamp) = text.split_once('/')?;
        Some(SnapshotId::new(name, timestamp))
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.timestamp)
    }
}

impl serde::Serialize for SnapshotId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A snapshot as a user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotSpec {
    /// `NAME` or `NAME/latest`: the newest complete snapshot of the name.
    Newest(String),
    /// `NAME/TIMESTAMP`, or the snapshot's folder.
    Exact(SnapshotId),
}

/// The word that stands for a name's newest snapshot.
const LATEST: &str = crate::layout::LATEST;

impl SnapshotSpec {
    /// Parses `NAME/TIMESTAMP`, `NAME`, `NAME/latest` or a folder path (absolute, or
    /// relative to the current folder when it exists) inside the backup root `root`
    /// (canonical).
    pub fn parse(root: &Path, spec: &str) -> SnapshotSpec {
        let as_path = Path::new(spec);
        let rel = as_path
            .canonicalize()
            .ok()
            .filter(|_| as_path.is_absolute() || as_path.exists())
            .and_then(|p| p.strip_prefix(root).ok().map(Path::to_path_buf));
        match &rel {
            Some(r) => SnapshotSpec::from_text(&r.to_string_lossy()),
            None => SnapshotSpec::from_text(spec.trim_end_matches('/')),
        }
    }

    /// Parses `NAME`, `NAME/latest` or `NAME/TIMESTAMP` (trailing `/`s of the timestamp
    /// left out).
    fn from_text(text: &str) -> SnapshotSpec {
        match SnapshotId::parse(text) {
            Some(mut id) => {
                let ts = id.timestamp.trim_end_matches('/');
                if ts == LATEST {
                    SnapshotSpec::Newest(id.name)
                } else {
                    id.timestamp.truncate(ts.len());
                    SnapshotSpec::Exact(id)
                }
            }
            None => SnapshotSpec::Newest(text.to_string()),
        }
    }

    /// The snapshot name it picks from.
    pub fn name(&self) -> &str {
        match self {
            SnapshotSpec::Newest(name) => name,
            SnapshotSpec::Exact(id) => &id.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(name: &str, ts: &str) -> SnapshotSpec {
        SnapshotSpec::Exact(SnapshotId::new(name, ts))
    }

    fn newest(name: &str) -> SnapshotSpec {
        SnapshotSpec::Newest(name.into())
    }

    #[test]
    fn shows_and_parses_name_slash_timestamp() {
        for (name, ts) in [
            ("docs", "2026-01-01-000000"),
            ("my docs", "2026-01-01 00:00:00"),
            ("fotos-ärger-日本", "2026-01-01-000000"),
            ("100%", "%s%n"),
            ("2026-01-01-000000", "2026-01-02-000000"),
        ] {
            let id = SnapshotId::new(name, ts);
            let text = id.to_string();
            assert_eq!(text, format!("{name}/{ts}"));
            assert_eq!(SnapshotId::parse(&text), Some(id.clone()), "{text}");
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("{text:?}"));
        }
        assert_eq!(SnapshotId::parse("docs"), None);
        // A timestamp keeps what follows its first `/`.
        assert_eq!(
            SnapshotId::parse("docs/a/b"),
            Some(SnapshotId::new("docs", "a/b"))
        );
    }

    #[test]
    fn specs() {
        let root = Path::new("/nonexistent-root");
        let cases = [
            ("docs", newest("docs")),
            ("docs/", newest("docs")),
            ("docs/latest", newest("docs")),
            ("docs/latest/", newest("docs")),
            ("docs/2026-01-01-000000", exact("docs", "2026-01-01-000000")),
            (
                "docs/2026-01-01-000000/",
                exact("docs", "2026-01-01-000000"),
            ),
            (
                "my docs/2026-01-01-000000",
                exact("my docs", "2026-01-01-000000"),
            ),
            ("ünï 日本", newest("ünï 日本")),
            ("100%/%d", exact("100%", "%d")),
            // A name that looks like a timestamp is still a name.
            ("2026-01-01-000000", newest("2026-01-01-000000")),
            (
                "2026-01-01-000000/2026-01-02-000000",
                exact("2026-01-01-000000", "2026-01-02-000000"),
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(SnapshotSpec::parse(root, spec), want, "{spec}");
        }
        assert_eq!(newest("a").name(), "a");
        assert_eq!(exact("b", "t").name(), "b");
    }

    #[test]
    fn folder_paths_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let folder = root.join("my docs").join("2026-01-01-000000");
        std::fs::create_dir_all(&folder).unwrap();
        let want = exact("my docs", "2026-01-01-000000");
        assert_eq!(SnapshotSpec::parse(&root, folder.to_str().unwrap()), want);
        let with_slash = format!("{}/", folder.display());
        assert_eq!(SnapshotSpec::parse(&root, &with_slash), want);
        assert_eq!(
            SnapshotSpec::parse(&root, root.join("my docs").to_str().unwrap()),
            newest("my docs")
        );
        // A path outside the root is read as `NAME/TIMESTAMP` text.
        let outside = tempfile::tempdir().unwrap();
        let p = outside.path().canonicalize().unwrap();
        assert!(matches!(
            SnapshotSpec::parse(&root, p.to_str().unwrap()),
            SnapshotSpec::Exact(_)
        ));
    }
}
