//! Owns walking a source tree: applies the skip rules and yields plain entries.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What kind of thing an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

impl Kind {
    /// The name used in the catalog and its views.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink => "symlink",
        }
    }

    /// Parses the catalog name back.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "file" => Some(Kind::File),
            "dir" => Some(Kind::Dir),
            "symlink" => Some(Kind::Symlink),
            _ => None,
        }
    }
}

/// The metadata phlb records and restores for every entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    /// Nanoseconds since the epoch (128 bits: times past 2262 are kept exactly).
    pub mtime_ns: i128,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Meta {
    /// Reads the recorded fields off `std` metadata.
    pub fn of(md: &std::fs::Metadata) -> Meta {
        Meta {
            size: if md.is_file() { md.len() } else { 0 },
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
        }
    }
}

/// One thing found in a source tree.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the source root; the root itself is `.`.
    pub rel: PathBuf,
    pub kind: Kind,
    pub meta: Meta,
    /// The link target, for symlinks.
    pub target: Option<PathBuf>,
    /// Inode number, telling hardlinked files apart.
    pub ino: u64,
}

/// The rules that keep things out of a snapshot.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Exact folder names to skip.
    pub skip_dirs: Vec<String>,
    /// Shell globs matched against file and symlink names.
    pub skip_patterns: Vec<String>,
    /// Do not descend into other file systems.
    pub one_file_system: bool,
    /// Absolute, canonical paths never entered (the backup root).
    pub exclude: Vec<PathBuf>,
}

/// A path that could not be scanned, and why.
#[derive(Debug, Clone)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

/// Everything a walk produced.
#[derive(Debug, Default)]
pub struct Scan {
    /// Entries in walk order: a folder always comes before its contents.
    pub entries: Vec<Entry>,
    /// Paths that could not be read.
    pub problems: Vec<Problem>,
    /// FIFOs, sockets and devices, which are not backed up.
    pub specials: Vec<PathBuf>,
    /// Paths left out because they are excluded (the backup root inside the source).
    pub excluded: Vec<PathBuf>,
    /// Entries left out by SKIP_DIRS / SKIP_PATTERNS.
    pub skipped: u64,
}

impl Scan {
    /// Total bytes of the regular files found.
    pub fn file_bytes(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.kind == Kind::File)
            .map(|e| e.meta.size)
            .sum()
    }
}

/// One thing a walk reports, in walk order.
#[derive(Debug)]
pub enum Found {
    Entry(Entry),
    /// A path that could not be read.
    Problem(Problem),
    /// A FIFO, socket or device, which is not backed up.
    Special(PathBuf),
    /// A path left out because it is excluded (the backup root inside the source).
    Excluded(PathBuf),
    /// An entry left out by SKIP_DIRS / SKIP_PATTERNS.
    Skipped,
}

/// Walks `source` (a canonical folder path) without following symlinks and collects
/// everything it finds.
pub fn scan(source: &Path, opts: &ScanOptions) -> Scan {
    let mut out = Scan::default();
    walk(source, opts, |found| {
        match found {
            Found::Entry(e) => out.entries.push(e),
            Found::Problem(p) => out.problems.push(p),
            Found::Special(p) => out.specials.push(p),
            Found::Excluded(p) => out.excluded.push(p),
            Found::Skipped => out.skipped += 1,
        }
        true
    });
    out
}

/// Walks `source` (a canonical folder path) without following symlinks, handing each
/// finding to `sink` as soon as it is made (a folder always before its contents, names
/// in byte order within a folder). The walk stops early when `sink` returns false.
///
/// Each folder is read once and its entries are stat'ed relative to the open folder
/// (`fstatat`), so the kernel never walks the full path of every file again.
pub fn walk(source: &Path, opts: &ScanOptions, mut sink: impl FnMut(Found) -> bool) {
    let rules = Rules::new(opts);
    let md = match std::fs::symlink_metadata(source) {
        Ok(md) => md,
        Err(err) => {
            sink(Found::Problem(Problem {
                path: source.to_path_buf(),
                message: err.to_string(),
            }));
            return;
        }
    };
    let root_dev = md.dev();
    let Some(root) = describe(|| source.to_path_buf(), PathBuf::from("."), &md) else {
        return;
    };
    let is_dir = matches!(&root, Found::Entry(e) if e.kind == Kind::Dir);
    if !sink(root) || !is_dir {
        return;
    }
    // Folders still being listed: each holds the findings of one folder not yet handed
    // on, in order; a folder's contents are listed when its own entry is handed on.
    let mut stack: Vec<std::vec::IntoIter<Child>> = vec![list(source, Path::new(""), &rules)];
    while let Some(level) = stack.last_mut() {
        let Some(child) = level.next() else {
            stack.pop();
            continue;
        };
        let same_fs = !opts.one_file_system || child.dev == root_dev;
        let descend = match &child.found {
            Found::Entry(e) if e.kind == Kind::Dir && same_fs => {
                Some((source.join(&e.rel), e.rel.clone()))
            }
            _ => None,
        };
        if !sink(child.found) {
            return;
        }
        if let Some((abs, rel)) = descend {
            stack.push(list(&abs, &rel, &rules));
        }
    }
}

/// The skip rules in the form the walk uses them.
struct Rules<'a> {
    opts: &'a ScanOptions,
    patterns: Vec<CString>,
}

impl<'a> Rules<'a> {
    fn new(opts: &'a ScanOptions) -> Rules<'a> {
        let patterns = opts
            .skip_patterns
            .iter()
            .filter_map(|p| CString::new(p.as_bytes()).ok())
            .collect();
        Rules { opts, patterns }
    }

    /// What leaves entry `name` of folder `dir` out of the snapshot, if anything.
    fn leaves_out(&self, dir: &Path, name: &OsStr, is_dir: bool) -> Option<Found> {
        // Only folders are excluded (the backup root), so files skip the path building.
        if is_dir && !self.opts.exclude.is_empty() {
            let path = dir.join(name);
            if self
                .opts
                .exclude
                .iter()
                .any(|x| x.as_os_str() == path.as_os_str())
            {
                return Some(Found::Excluded(path));
            }
        }
        let skip = if is_dir {
            self.opts.skip_dirs.iter().any(|d| OsStr::new(d) == name)
        } else {
            self.patterns.iter().any(|p| fnmatch(p, name))
        };
        skip.then_some(Found::Skipped)
    }
}

/// One finding inside a listed folder.
struct Child {
    found: Found,
    /// The device of an entry, for ONE_FILE_SYSTEM.
    dev: u64,
}

/// Reads folder `abs` (at `rel` in the source; empty for the root) and describes its
/// entries in name order. A folder that cannot be read is one problem.
fn list(abs: &Path, rel: &Path, rules: &Rules) -> std::vec::IntoIter<Child> {
    let problem = |path: &Path, message: String| Child {
        found: Found::Problem(Problem {
            path: path.to_path_buf(),
            message,
        }),
        dev: 0,
    };
    let dir = match std::fs::read_dir(abs) {
        Ok(d) => d,
        Err(err) => return vec![problem(abs, err.to_string())].into_iter(),
    };
    let mut names = Vec::new();
    let mut out = Vec::new();
    for item in dir {
        match item {
            Ok(d) => names.push((d.file_name(), d)),
            Err(err) => out.push(problem(abs, err.to_string())),
        }
    }
    names.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (name, d) in names {
        let is_dir = d.file_type().is_ok_and(|t| t.is_dir());
        if let Some(left_out) = rules.leaves_out(abs, &name, is_dir) {
            out.push(Child {
                found: left_out,
                dev: 0,
            });
            continue;
        }
        let md = match d.metadata() {
            Ok(md) => md,
            Err(err) => {
                out.push(problem(&abs.join(&name), err.to_string()));
                continue;
            }
        };
        if let Some(found) = describe(|| abs.join(&name), rel.join(&name), &md) {
            out.push(Child {
                found,
                dev: md.dev(),
            });
        }
    }
    out.into_iter()
}

/// Turns one stat'ed entry into what it means for a backup (None: not a kind phlb
/// keeps). `path` builds its full path, only for what needs it.
fn describe(path: impl Fn() -> PathBuf, rel: PathBuf, md: &std::fs::Metadata) -> Option<Found> {
    let ft = md.file_type();
    let (kind, target) = if ft.is_dir() {
        (Kind::Dir, None)
    } else if ft.is_file() {
        (Kind::File, None)
    } else if ft.is_symlink() {
        match std::fs::read_link(path()) {
            Ok(t) => (Kind::Symlink, Some(t)),
            Err(err) => {
                return Some(Found::Problem(Problem {
                    path: path(),
                    message: format!("cannot read symlink: {err}"),
                }))
            }
        }
    } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
        return Some(Found::Special(path()));
    } else {
        return None;
    };
    Some(Found::Entry(Entry {
        rel,
        kind,
        meta: Meta::of(md),
        target,
        ino: md.ino(),
    }))
}

fn fnmatch(pattern: &CString, name: &OsStr) -> bool {
    let Ok(name) = CString::new(name.as_bytes()) else {
        return false;
    };
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(pattern.as_ptr(), name.as_ptr(), 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        let cases = [
            ("*.pyc", "a.pyc", true),
            ("*.pyc", "a.py", false),
            ("*.tmp", ".x.tmp", true),
            ("data?", "data1", true),
        ];
        for (pat, name, want) in cases {
            let p = CString::new(pat).unwrap();
            assert_eq!(fnmatch(&p, OsStr::new(name)), want, "{pat} {name}");
        }
    }

    #[test]
    fn skips_and_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/__pycache__")).unwrap();
        std::fs::write(root.join("a/x.txt"), b"x").unwrap();
        std::fs::write(root.join("a/y.pyc"), b"y").unwrap();
        std::fs::write(root.join("a/__pycache__/z"), b"z").unwrap();
        std::os::unix::fs::symlink("x.txt", root.join("a/l")).unwrap();
        let opts = ScanOptions {
            skip_dirs: vec!["__pycache__".into()],
            skip_patterns: vec!["*.pyc".into()],
            ..Default::default()
        };
        let scan = scan(&root, &opts);
        let got: Vec<(String, Kind)> = scan
            .entries
            .iter()
            .map(|e| (e.rel.display().to_string(), e.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                (".".into(), Kind::Dir),
                ("a".into(), Kind::Dir),
                ("a/l".into(), Kind::Symlink),
                ("a/x.txt".into(), Kind::File),
            ]
        );
        assert_eq!(scan.skipped, 2);
    }
}
