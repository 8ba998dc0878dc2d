//! Owns walking a source tree: applies the skip rules and yields plain entries. The
//! walk goes from open folder to open folder (`folder` reads one), never by full path,
//! so a folder swapped for a symlink or another folder during a run is not followed.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::sys::at;
use crate::sys::xattr::{self, Xattrs};

mod entry;
mod folder;
mod select;
mod source_dir;

pub use entry::{Entry, Kind, Meta, Seen};
pub use folder::Rules as SkipRules;
use folder::{has_cachedir_tag, open_child, Rules};
pub use select::{Pattern, SelectSpec, Selection};
use select::{Verdict, Within};
pub use source_dir::SourceDir;

/// The rules that keep things out of a snapshot.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// What to back up: skip, exclude and include rules, compiled once per run.
    pub select: std::sync::Arc<Selection>,
    /// Do not descend into other file systems.
    pub one_file_system: bool,
    /// Folders never entered, by device and inode number (the backup root and its
    /// `.phlb`), so no path to them, a bind mount included, leads back in.
    pub exclude: Vec<(u64, u64)>,
    /// What the walk does with extended attributes.
    pub xattrs: XattrScan,
    /// Regular files whose inode settled before the walk listed their folder
    /// (`Entry::seen_ctime`) are not read for attributes when they are kept
    /// (`Entry::xattrs_unread`): the run compares each with what the previous run saw of
    /// it and takes that run's set, or reads them then. Set only when the previous run
    /// read the same attributes and kept them, and this run links.
    pub defer_attrs: bool,
}

/// What a walk does with extended attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XattrScan {
    /// Not kept (`XATTRS = false`): a mode is narrowed to what an access ACL grants.
    #[default]
    Ignore,
    /// Kept on the snapshot's inodes: each entry's set is read (every namespace as
    /// root, `user.*` otherwise) and modes stay as they are.
    Keep { as_root: bool },
    /// Recorded in the catalog only (the backup filesystem cannot hold them): each
    /// entry's set is read, and modes are narrowed as with `Ignore`.
    Record { as_root: bool },
}

impl XattrScan {
    /// What a run into backup root `root` does with extended attributes: `XATTRS =
    /// false` (`enabled` false) ignores them; otherwise they are kept, or only recorded
    /// when the root's filesystem cannot hold them (then modes are narrowed to what an
    /// ACL grants, as without `XATTRS`).
    pub fn for_root(enabled: bool, root: &Path) -> XattrScan {
        if !enabled {
            return XattrScan::Ignore;
        }
        let as_root = crate::sys::users::effective_uid() == 0;
        let holds = at::with_cstr(root.as_os_str().as_encoded_bytes(), |p| {
            Ok(xattr::holds_user_attrs(p))
        })
        .unwrap_or(false);
        if holds {
            XattrScan::Keep { as_root }
        } else {
            XattrScan::Record { as_root }
        }
    }

    /// What a run records of the attributes it read, for the next run to compare with
    /// (`snapshot_runs.xattrs_read`): only a run that keeps them on the snapshot's
    /// inodes, since only then is a recorded set what a linked copy carries.
    pub fn label(self) -> Option<&'static str> {
        match self {
            XattrScan::Keep { as_root: true } => Some("all"),
            XattrScan::Keep { as_root: false } => Some("user"),
            _ => None,
        }
    }

    /// Whether sets are read, and which names.
    fn reads(self) -> Option<bool> {
        match self {
            XattrScan::Ignore => None,
            XattrScan::Keep { as_root } | XattrScan::Record { as_root } => Some(as_root),
        }
    }
}

/// What the walk found of one entry's attributes: its set (when read), and what the
/// snapshot's inode does not keep (`Entry::xattrs`), which narrows the mode. `probe`
/// only asks whether there are any (attributes not read); `read` reads the wanted ones
/// and probes all of them from one listing.
fn attributes(
    how: XattrScan,
    probe: impl FnOnce() -> Xattrs,
    read: impl FnOnce(&dyn Fn(&[u8]) -> bool) -> std::io::Result<(Vec<crate::sys::xattr::Attr>, Xattrs)>,
) -> std::io::Result<(Option<std::sync::Arc<crate::xattr_set::XattrSet>>, Xattrs)> {
    let Some(as_root) = how.reads() else {
        return Ok((None, probe()));
    };
    let wanted = crate::xattr_set::readable(as_root);
    let (attrs, probed) = match read(&wanted) {
        // A filesystem without attributes: nothing to read, nothing to narrow.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok((None, Xattrs::None)),
        // An entry this user may not read (a folder of mode 000): it is still backed up
        // with its mode and owner (its content fails on its own, named); its attributes
        // are as unreadable as its content, and the mode stays as narrow as it is.
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => return Ok((None, Xattrs::None)),
        other => other?,
    };
    let set = crate::xattr_set::XattrSet::new(attrs).map(std::sync::Arc::new);
    let unkept = match how {
        XattrScan::Keep { .. } => Xattrs::None,
        _ => probed,
    };
    Ok((set, unkept))
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
    /// Entries left out by the selection, each with the rule that left it out.
    pub skipped: Vec<Skip>,
}

/// An entry the selection left out, and the rule that did.
#[derive(Debug, Clone)]
pub struct Skip {
    /// Path relative to the source.
    pub rel: PathBuf,
    /// The rule, e.g. `exclude *.log (--exclude)`.
    pub rule: std::sync::Arc<str>,
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
    /// An entry left out by the selection.
    Skipped(Skip),
}

/// Walks folder `source` without following symlinks and collects everything it finds.
pub fn scan(source: &Path, opts: &ScanOptions) -> Scan {
    match SourceDir::open(source) {
        Ok(root) => scan_open(&root, opts),
        Err(err) => Scan {
            problems: vec![Problem {
                path: source.to_path_buf(),
                message: err.to_string(),
            }],
            ..Scan::default()
        },
    }
}

/// Walks folder `source` as `walk` does, handing each finding to `sink`; a folder that
/// cannot be opened is one problem.
pub fn walk_folder(source: &Path, opts: &ScanOptions, mut sink: impl FnMut(Found) -> bool) {
    match SourceDir::open(source) {
        Ok(root) => walk(&root, opts, sink),
        Err(err) => {
            sink(Found::Problem(Problem {
                path: source.to_path_buf(),
                message: err.to_string(),
            }));
        }
    }
}

/// Walks the open folder `root` without following symlinks and collects everything it
/// finds.
pub fn scan_open(root: &SourceDir, opts: &ScanOptions) -> Scan {
    let mut out = Scan::default();
    let sink = |found| {
        match found {
            Found::Entry(e) => out.entries.push(e),
            Found::Problem(p) => out.problems.push(p),
            Found::Special(p) => out.specials.push(p),
            Found::Excluded(p) => out.excluded.push(p),
            Found::Skipped(s) => out.skipped.push(s),
        }
        true
    };
    walk(root, opts, sink);
    out
}

/// Walks the open folder `root` without following symlinks, handing each finding to
/// `sink` as soon as it is made (a folder always before its contents, names in byte
/// order within a folder). The walk stops early when `sink` returns false.
///
/// Each folder is opened relative to its parent's descriptor (`O_NOFOLLOW`) and checked
/// to be the folder that was listed (device and inode), its entries are stat'ed relative
/// to it (`fstatat`), and symlinks are read with `readlinkat`: no full path is walked
/// again, so no folder swapped in during the run is entered.
pub fn walk(root: &SourceDir, opts: &ScanOptions, mut sink: impl FnMut(Found) -> bool) {
    let rules = Rules::new(opts, &root.path);
    let problem = |message: String| {
        Found::Problem(Problem {
            path: root.path.clone(),
            message,
        })
    };
    // A descriptor of its own, so listing it does not move the offset of `root.fd`.
    let opened = at::open_dir_at(root.fd.as_fd(), c".")
        .and_then(|fd| at::stat_fd(fd.as_fd()).map(|st| (fd, st)));
    let (fd, st) = match opened {
        Ok(x) => x,
        Err(err) => {
            sink(problem(err.to_string()));
            return;
        }
    };
    let root_dev = st.st_dev;
    let (xattr_set, xattrs) = match attributes(
        opts.xattrs,
        || xattr::probe_fd(fd.as_fd()),
        |w| xattr::read_probe_fd(fd.as_fd(), w),
    ) {
        Ok(found) => found,
        Err(err) => {
            sink(problem(format!("cannot read extended attributes: {err}")));
            return;
        }
    };
    let mut meta = Meta::from_stat(&st);
    meta.mode = xattrs.narrow(meta.mode);
    let entry = Entry {
        rel: PathBuf::from("."),
        kind: Kind::Dir,
        meta,
        target: None,
        ino: st.st_ino,
        dev: st.st_dev,
        nlink: st.st_nlink,
        xattrs,
        xattr_set,
        seen_ctime: None,
        ctime_trusted: false,
        xattrs_unread: false,
    };
    if !sink(Found::Entry(entry)) {
        return;
    }
    let mut buf = Vec::new();
    // Folders still being listed, each with the findings not yet handed on (a folder's
    // contents are listed when its own entry is handed on) and its descriptor, kept only
    // while subfolders are left to open: a chain of single folders holds few.
    let top = Level::new(
        fd,
        root,
        Path::new(""),
        rules.sel.top(),
        None,
        &rules,
        &mut buf,
    );
    let mut stack = vec![top];
    while let Some(level) = stack.last_mut() {
        let Some(child) = level.children.next() else {
            // A held-back folder nothing in it was kept from: said once as skipped.
            if let Some(Held { skip: Some(s), .. }) = stack.pop().and_then(|l| l.held) {
                if !sink(Found::Skipped(s)) {
                    return;
                }
            }
            continue;
        };
        let in_excluded = level.within.is_excluded();
        let e = match child.found {
            Found::Entry(e) => e,
            // Inside an excluded folder walked only for --include: no problem is news.
            Found::Problem(_) if in_excluded => continue,
            found => {
                if !sink(found) {
                    return;
                }
                continue;
            }
        };
        if e.kind != Kind::Dir {
            if matches!(child.verdict, Verdict::Keep(_))
                && !(flush(&mut stack, &mut sink) && sink(Found::Entry(e)))
            {
                return;
            }
            continue;
        }
        let same_fs = !opts.one_file_system || child.dev == root_dev;
        let opened = match &level.fd {
            Some(fd) if same_fs => Some(open_child(fd.as_fd(), &e)),
            _ => None,
        };
        level.dirs_left -= 1;
        if level.dirs_left == 0 {
            level.fd = None;
        }
        if rules.sel.exclude_caches() {
            if let Some(Ok(fd)) = &opened {
                if has_cachedir_tag(fd.as_fd()) {
                    let skip = Skip {
                        rel: e.rel,
                        rule: "CACHEDIR.TAG (--exclude-caches)".into(),
                    };
                    if !in_excluded && !sink(Found::Skipped(skip)) {
                        return;
                    }
                    continue;
                }
            }
        }
        let rel = e.rel.clone();
        let (within, held) = match child.verdict {
            Verdict::Keep(within) => {
                if !(flush(&mut stack, &mut sink) && sink(Found::Entry(e))) {
                    return;
                }
                (within, None)
            }
            Verdict::Hold(within, rule) => {
                let skip = rule.map(|rule| Skip {
                    rel: rel.clone(),
                    rule,
                });
                (within, Some(Held { entry: e, skip }))
            }
            Verdict::Skip(_) | Verdict::Drop => continue,
        };
        match opened {
            Some(Ok(fd)) => {
                let level = Level::new(fd, root, &rel, within, held, &rules, &mut buf);
                stack.push(level);
            }
            Some(Err(message)) if held.is_none() => {
                let p = Problem {
                    path: root.path.join(rel),
                    message,
                };
                if !sink(Found::Problem(p)) {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Hands on the held-back entries of the folders on the way to what is about to be
/// handed on, outermost first; false when `sink` says stop.
fn flush(stack: &mut [Level], sink: &mut impl FnMut(Found) -> bool) -> bool {
    for level in stack.iter_mut() {
        if let Some(held) = level.held.take() {
            if !sink(Found::Entry(held.entry)) {
                return false;
            }
        }
    }
    true
}

/// A folder's own entry, held back until something in it is kept.
struct Held {
    entry: Entry,
    /// What to say if nothing in it is kept (None: nothing).
    skip: Option<Skip>,
}

/// One folder of the walk being handed on.
struct Level {
    children: std::vec::IntoIter<folder::Child>,
    /// Subfolders among `children` not yet opened.
    dirs_left: usize,
    /// The folder's descriptor, while `dirs_left` is not 0.
    fd: Option<OwnedFd>,
    /// Where the folder stands in the selection.
    within: Within,
    /// Its own entry, until something in it is kept.
    held: Option<Held>,
}

impl Level {
    /// Lists the open folder `fd` at `rel` in `root`.
    fn new(
        fd: OwnedFd,
        root: &SourceDir,
        rel: &Path,
        within: Within,
        held: Option<Held>,
        rules: &Rules,
        buf: &mut Vec<u8>,
    ) -> Level {
        let children = folder::list(fd.as_fd(), &root.path, rel, &within, rules, buf);
        let dirs_left = children
            .as_slice()
            .iter()
            .filter(|c| matches!(&c.found, Found::Entry(e) if e.kind == Kind::Dir))
            .count();
        Level {
            children,
            dirs_left,
            fd: (dirs_left > 0).then_some(fd),
            within,
            held,
        }
    }
}

#[cfg(test)]
mod tests;
