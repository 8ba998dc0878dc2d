//! Owns which events count: a path's source, and whether the backup would record it at
//! all (not inside the backup root, not left out by SKIP_DIRS / SKIP_PATTERNS). Pure:
//! it judges paths as given and touches no disk.

use std::path::{Path, PathBuf};

use crate::scan::{ScanOptions, SkipRules};

/// The sources and the rules that events are judged by.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The watched sources (canonical paths), by index.
    pub sources: Vec<PathBuf>,
    /// The backup root (canonical): nothing under it is ever a change.
    pub root: PathBuf,
    /// The skip rules of the backup.
    pub skips: ScanOptions,
}

impl Filter {
    /// The indexes of the sources a change of `path` is a change of (none when it is
    /// inside the backup root or skipped there); `is_dir` says whether the path is a
    /// folder, for SKIP_DIRS against SKIP_PATTERNS.
    pub fn sources_of(&self, path: &Path, is_dir: bool) -> Vec<usize> {
        if path.starts_with(&self.root) {
            return Vec::new();
        }
        self.sources
            .iter()
            .enumerate()
            .filter(|(_, source)| {
                path.strip_prefix(source)
                    .is_ok_and(|rel| !SkipRules::new(&self.skips, source).leaves_out(rel, is_dir))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Pattern, SelectSpec, Selection};

    #[test]
    fn events_count_where_a_backup_would_record_them() {
        let filter = Filter {
            sources: vec!["/src/a".into(), "/src/b".into(), "/src/a/inner".into()],
            root: "/src/a/backups".into(),
            skips: ScanOptions {
                select: std::sync::Arc::new(
                    Selection::compile(&SelectSpec {
                        skip_dirs: vec![
                            Pattern::new("__pycache__", "t"),
                            Pattern::new(".cache", "t"),
                        ],
                        skip_patterns: vec![Pattern::new("*.swp", "t"), Pattern::new("*.tmp", "t")],
                        ..SelectSpec::default()
                    })
                    .unwrap(),
                ),
                ..ScanOptions::default()
            },
        };
        let cases: [(&str, bool, &[usize]); 12] = [
            ("/src/a/x.txt", false, &[0]),
            ("/src/a", true, &[0]),
            ("/src/b/d/e/f", false, &[1]),
            ("/src/a/inner/f", false, &[0, 2]),
            ("/src/c/f", false, &[]),
            ("/src/ab/f", false, &[]),
            // The backup root inside a source, and everything in it.
            ("/src/a/backups", true, &[]),
            ("/src/a/backups/.phlb/catalog.sqlite3-wal", false, &[]),
            // Skip rules: a folder on the way, or the name itself.
            ("/src/a/__pycache__/m.pyc", false, &[]),
            ("/src/a/d/.cache", true, &[]),
            ("/src/a/notes.txt.swp", false, &[]),
            // A folder whose name matches a file pattern is not skipped by it.
            ("/src/a/d.tmp", true, &[0]),
        ];
        for (path, is_dir, want) in cases {
            assert_eq!(filter.sources_of(Path::new(path), is_dir), want, "{path}");
        }
    }
}
