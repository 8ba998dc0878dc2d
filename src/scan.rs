//! Owns walking a source tree: applies the skip rules and yields plain entries.

use std::cell::RefCell;
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

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
    pub mtime_ns: i64,
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
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
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
/// finding to `sink` as soon as it is made (a folder always before its contents).
/// The walk stops early when `sink` returns false.
pub fn walk(source: &Path, opts: &ScanOptions, mut sink: impl FnMut(Found) -> bool) {
    let patterns: Vec<CString> = opts
        .skip_patterns
        .iter()
        .filter_map(|p| CString::new(p.as_bytes()).ok())
        .collect();
    let walker = WalkDir::new(source)
        .follow_links(false)
        .same_file_system(opts.one_file_system)
        .sort_by_file_name()
        .into_iter();
    let left_out: RefCell<Vec<Found>> = RefCell::new(Vec::new());
    let mut walker = walker.filter_entry(|e| {
        if e.depth() == 0 {
            return true;
        }
        if opts.exclude.iter().any(|x| x == e.path()) {
            left_out
                .borrow_mut()
                .push(Found::Excluded(e.path().to_path_buf()));
            return false;
        }
        let name = e.file_name();
        let skip = if e.file_type().is_dir() {
            opts.skip_dirs.iter().any(|d| OsStr::new(d) == name)
        } else {
            patterns.iter().any(|p| fnmatch(p, name))
        };
        if skip {
            left_out.borrow_mut().push(Found::Skipped);
        }
        !skip
    });
    for item in walker.by_ref() {
        // What the filter left out on the way is reported with the rest.
        let mut keep_going = true;
        for f in left_out.take() {
            keep_going &= sink(f);
        }
        if let Some(found) = describe(source, item) {
            keep_going &= sink(found);
        }
        if !keep_going {
            return;
        }
    }
    for f in left_out.take() {
        sink(f);
    }
}

/// Turns one walk item into what it means for a backup (None: not a kind phlb keeps).
fn describe(source: &Path, item: walkdir::Result<walkdir::DirEntry>) -> Option<Found> {
    let dent = match item {
        Ok(d) => d,
        Err(err) => {
            let path = err.path().unwrap_or(source).to_path_buf();
            let message = err
                .io_error()
                .map(|e| e.to_string())
                .unwrap_or_else(|| err.to_string());
            return Some(Found::Problem(Problem { path, message }));
        }
    };
    let rel = match dent.path().strip_prefix(source) {
        Ok(r) if r.as_os_str().is_empty() => PathBuf::from("."),
        Ok(r) => r.to_path_buf(),
        Err(_) => return None,
    };
    let md = match dent.metadata() {
        Ok(md) => md,
        Err(err) => {
            return Some(Found::Problem(Problem {
                path: dent.path().to_path_buf(),
                message: err.to_string(),
            }))
        }
    };
    let ft = md.file_type();
    let (kind, target) = if ft.is_dir() {
        (Kind::Dir, None)
    } else if ft.is_file() {
        (Kind::File, None)
    } else if ft.is_symlink() {
        match std::fs::read_link(dent.path()) {
            Ok(t) => (Kind::Symlink, Some(t)),
            Err(err) => {
                return Some(Found::Problem(Problem {
                    path: dent.path().to_path_buf(),
                    message: format!("cannot read symlink: {err}"),
                }))
            }
        }
    } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
        return Some(Found::Special(dent.path().to_path_buf()));
    } else {
        return None;
    };
    Some(Found::Entry(Entry {
        rel,
        kind,
        meta: Meta::of(&md),
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
