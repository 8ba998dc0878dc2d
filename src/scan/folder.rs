//! Owns reading one open folder for the walk: its names in byte order, each stat'ed
//! relative to the folder's descriptor, with the skip and exclude rules applied; and
//! opening a listed subfolder so that only that very folder is entered.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::select::{SourceRules, Verdict, Within, CACHEDIR_SIGNATURE};
use super::{Entry, Found, Kind, Meta, Problem, ScanOptions, Skip};
use crate::sys::at;
use crate::sys::xattr::{self, Xattrs};

/// The selection in the form one walk of one source uses it (and a watch filtering its
/// events).
pub struct Rules<'a> {
    opts: &'a ScanOptions,
    pub(super) sel: SourceRules<'a>,
}

impl<'a> Rules<'a> {
    /// Prepares the rules of `opts` for the source at `source`.
    pub fn new(opts: &'a ScanOptions, source: &Path) -> Rules<'a> {
        Rules {
            opts,
            sel: opts.select.for_source(source),
        }
    }

    /// Whether the walk leaves out `rel` (relative to the source): some folder on its
    /// way, or the path itself, is skipped by the selection.
    pub fn leaves_out(&self, rel: &Path, is_dir: bool) -> bool {
        self.sel.leaves_out(rel, is_dir)
    }

    /// Whether a folder is one of those never entered (the backup root).
    fn excludes(&self, st: &libc::stat) -> bool {
        self.opts.exclude.contains(&(st.st_dev, st.st_ino))
    }
}

/// One finding inside a listed folder.
pub(super) struct Child {
    pub(super) found: Found,
    /// The device of an entry, for ONE_FILE_SYSTEM.
    pub(super) dev: u64,
    /// What the selection says of an entry.
    pub(super) verdict: Verdict,
}

/// Reads the open folder `dir` (at `rel` in the source at `source`; `rel` is empty for
/// the root) and describes its entries in name order. A folder that cannot be read is
/// one problem.
pub(super) fn list(
    dir: BorrowedFd,
    source: &Path,
    rel: &Path,
    within: &Within,
    rules: &Rules,
    buf: &mut Vec<u8>,
) -> std::vec::IntoIter<Child> {
    let problem = |name: Option<&CStr>, message: String| {
        let mut path = source.join(rel);
        if let Some(name) = name {
            path.push(OsStr::from_bytes(name.to_bytes()));
        }
        Child {
            found: Found::Problem(Problem { path, message }),
            dev: 0,
            verdict: Verdict::Drop,
        }
    };
    // Read before any entry of the folder is stat'ed: a ctime over a second older than
    // this is one no later change can give the inode again (`Entry::seen_ctime`). Only
    // where this kernel stamps the times, from the clock read here (not the process's
    // clock, which a preloaded library can fake): a network or FUSE filesystem's times
    // come from another clock, and no ctime of one is recorded.
    let listed_ns = crate::sys::fs_info::stamps_from_this_kernel(dir)
        .then(crate::sys::fs_info::kernel_now_ns)
        .flatten();
    let mut names = match at::list(dir, buf) {
        Ok(names) => names,
        Err(err) => return vec![problem(None, err.to_string())].into_iter(),
    };
    let mut out = Vec::with_capacity(names.len());
    // The type from the folder itself spares skipped entries their stat.
    let mut typed = Vec::with_capacity(names.len());
    for at::Name { name, d_type } in names.drain(..) {
        match d_type {
            libc::DT_UNKNOWN => match at::stat_at(dir, &name) {
                Ok(s) => typed.push((name, s.st_mode & libc::S_IFMT == libc::S_IFDIR, Some(s))),
                Err(err) => out.push(problem(Some(&name), err.to_string())),
            },
            t => typed.push((name, t == libc::DT_DIR, None)),
        }
    }
    typed.sort_unstable_by(|a, b| walk_order(a.0.as_bytes(), a.1, b.0.as_bytes(), b.1));
    for (name, is_dir, st) in typed {
        let rel = rel.join(OsStr::from_bytes(name.to_bytes()));
        let verdict = match rules.sel.judge(&rel, is_dir, within) {
            Verdict::Skip(rule) => {
                out.push(Child {
                    found: Found::Skipped(Skip { rel, rule }),
                    dev: 0,
                    verdict: Verdict::Drop,
                });
                continue;
            }
            Verdict::Drop => continue,
            v => v,
        };
        let st = match st.map_or_else(|| at::stat_at(dir, &name), Ok) {
            Ok(st) => st,
            Err(err) => {
                out.push(problem(Some(&name), err.to_string()));
                continue;
            }
        };
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if is_dir && rules.excludes(&st) {
            out.push(Child {
                found: Found::Excluded(source.join(rel)),
                dev: 0,
                verdict: Verdict::Drop,
            });
            continue;
        }
        let attrs = Attrs {
            scan: rules.opts.xattrs,
            defer: rules.opts.defer_attrs,
            listed_ns,
        };
        if let Some(found) = describe(dir, &name, source, rel, &st, attrs) {
            out.push(Child {
                found,
                dev: st.st_dev,
                verdict,
            });
        }
    }
    out.into_iter()
}

/// Turns entry `name` of folder `dir`, stat'ed as `st`, into what it means for a backup
/// (None: not a kind phlb keeps).
fn describe(
    dir: BorrowedFd,
    name: &CStr,
    source: &Path,
    rel: std::path::PathBuf,
    st: &libc::stat,
    attrs: Attrs,
) -> Option<Found> {
    let how = attrs.scan;
    let (kind, target) = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => (Kind::Dir, None),
        libc::S_IFREG => (Kind::File, None),
        libc::S_IFLNK => match at::read_link_at(dir, name) {
            Ok(t) => (Kind::Symlink, Some(t)),
            Err(err) => {
                return Some(Found::Problem(Problem {
                    path: source.join(rel),
                    message: format!("cannot read symlink: {err}"),
                }))
            }
        },
        libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFBLK | libc::S_IFCHR => {
            return Some(Found::Special(source.join(rel)))
        }
        _ => return None,
    };
    // A symlink's attributes (only trusted.* and security.*, which only root reads) do
    // not widen anything: looked at only when they are kept.
    let how = match (kind, how) {
        (
            Kind::Symlink,
            super::XattrScan::Keep { as_root: true } | super::XattrScan::Record { as_root: true },
        ) => how,
        (Kind::Symlink, _) => super::XattrScan::Ignore,
        _ => how,
    };
    let probe = || match kind {
        Kind::Symlink => Xattrs::None,
        _ => xattr::probe_at(dir, name),
    };
    let read = |w: &dyn Fn(&[u8]) -> bool| xattr::read_probe_at(dir, name, w);
    let seen_ctime = (kind == Kind::File)
        .then(|| ctime_ns(st))
        .flatten()
        .filter(|&c| {
            attrs
                .listed_ns
                .is_some_and(|t| i128::from(c) < t - 1_000_000_000)
        });
    let unread =
        attrs.defer && seen_ctime.is_some() && matches!(how, super::XattrScan::Keep { .. });
    let attributes = if unread {
        Ok((None, Xattrs::None))
    } else {
        super::attributes(how, probe, read)
    };
    let (xattr_set, xattrs) = match attributes {
        Ok(found) => found,
        Err(err) => {
            return Some(Found::Problem(Problem {
                path: source.join(rel),
                message: format!("cannot read extended attributes: {err}"),
            }))
        }
    };
    let mut meta = Meta::from_stat(st);
    meta.mode = xattrs.narrow(meta.mode);
    Some(Found::Entry(Entry {
        rel,
        kind,
        meta,
        target,
        ino: st.st_ino,
        dev: st.st_dev,
        nlink: st.st_nlink,
        xattrs,
        xattr_set,
        seen_ctime,
        ctime_trusted: attrs.listed_ns.is_some(),
        xattrs_unread: unread,
    }))
}

/// The order a folder's entries are handed on in: by name bytes, a folder's name with a
/// `/` after it. A depth-first walk in this order hands files on in the byte order of
/// their whole paths (`a.txt` before `a/x`, as `a.txt` < `a/`), the order the previous
/// snapshot's listing is read in, so a run merges the two instead of holding a map of
/// every path (#34).
fn walk_order(a: &[u8], a_dir: bool, b: &[u8], b_dir: bool) -> std::cmp::Ordering {
    a.iter()
        .chain(a_dir.then_some(&b'/'))
        .cmp(b.iter().chain(b_dir.then_some(&b'/')))
}

/// The change time of `st` in ns since the epoch (None past what an i64 holds).
fn ctime_ns(st: &libc::stat) -> Option<i64> {
    st.st_ctime
        .checked_mul(1_000_000_000)?
        .checked_add(st.st_ctime_nsec)
}

/// How the walk treats one entry's attributes (see `ScanOptions`), and the kernel's
/// clock read before its folder was listed (ns since the epoch; None where the folder's
/// filesystem does not stamp times from it).
#[derive(Clone, Copy)]
struct Attrs {
    scan: super::XattrScan,
    defer: bool,
    listed_ns: Option<i128>,
}

/// Opens the listed folder `e` relative to its parent's descriptor `parent`, and checks
/// it is still the folder that was listed; the error says why it is not entered.
pub(super) fn open_child(parent: BorrowedFd, e: &Entry) -> Result<OwnedFd, String> {
    let name = e.rel.file_name().map_or(&b"."[..], |n| n.as_bytes());
    let fd = at::with_cstr(name, |c| at::open_dir_at(parent, c)).map_err(|err| {
        match err.raw_os_error() {
            Some(libc::ELOOP | libc::ENOTDIR) => {
                "changed during the backup (no longer a folder); not entered".to_string()
            }
            _ => err.to_string(),
        }
    })?;
    let st = at::stat_fd(fd.as_fd()).map_err(|err| err.to_string())?;
    if (st.st_dev, st.st_ino) != (e.dev, e.ino) {
        return Err("changed during the backup (another folder is there now); not entered".into());
    }
    Ok(fd)
}

/// Whether the open folder `dir` holds a `CACHEDIR.TAG` file (not a symlink) that starts
/// with the cache directory signature, as tar, borg and restic check it.
pub(super) fn has_cachedir_tag(dir: BorrowedFd) -> bool {
    use std::io::Read;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let Ok(fd) = at::open_at(Some(dir), c"CACHEDIR.TAG", flags, 0) else {
        return false;
    };
    match at::stat_fd(fd.as_fd()) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
        _ => return false,
    }
    let mut head = [0u8; CACHEDIR_SIGNATURE.len()];
    std::fs::File::from(fd).read_exact(&mut head).is_ok() && head == CACHEDIR_SIGNATURE
}
