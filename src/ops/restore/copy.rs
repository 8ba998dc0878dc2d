//! The copy of one file (or symlink) into the target: read from the snapshot, hashed
//! while it is written under a temp name, compared with the catalog, given its metadata
//! and renamed into place — or left as `<name>.phlb-damaged` when the bytes differ.
//! Files are shared out to worker threads, each with its own buffer and folder.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::attrs::Attrs;
use super::meta;
use super::target::{cname, look, split, Found, Replace, Target, Temp};
use crate::catalog::entries::Recorded;
use crate::hash::{hex, HashAlgo, CHUNK};
use crate::scan::Kind;
use crate::sys::at::{self, Scope};

/// How one file or symlink went.
#[derive(Debug)]
pub enum Done {
    /// Written (or linked) under its real name.
    Restored,
    /// Already in the target with the recorded size, mtime and mode: left untouched.
    Unchanged,
    /// Something is at its name and `--force` was not given: left untouched.
    Refused(String),
    /// Its bytes are not the recorded ones: left as `<name>.phlb-damaged`.
    Damaged(String),
    /// Could not be restored.
    Failed(String),
}

/// What every copy needs: where from, where to, and how.
pub struct Ctx<'a> {
    /// The snapshot folder (read beneath it, no symlink followed).
    pub snap: BorrowedFd<'a>,
    pub target: &'a Target,
    pub replace: Replace,
    pub as_root: bool,
    /// The recorded attribute sets, and what the target would not take.
    pub attrs: &'a Attrs,
}

/// One worker's state: its buffer and the target folder it wrote in last.
pub struct Copier<'a> {
    ctx: &'a Ctx<'a>,
    buf: Vec<u8>,
    parent: Option<(Vec<u8>, OwnedFd)>,
}

/// Suffix of a restored file whose bytes are not the recorded ones.
pub const DAMAGED: &str = ".phlb-damaged";

impl<'a> Copier<'a> {
    pub fn new(ctx: &'a Ctx<'a>) -> Copier<'a> {
        Copier {
            ctx,
            buf: Vec::new(),
            parent: None,
        }
    }

    /// The open target folder `dir` (the last one is kept).
    fn parent(&mut self, dir: &[u8]) -> io::Result<BorrowedFd<'_>> {
        if self.parent.as_ref().is_none_or(|(d, _)| d != dir) {
            let fd = self.ctx.target.dir(dir)?;
            self.parent = Some((dir.to_vec(), fd));
        }
        Ok(self.parent.as_ref().expect("just set").1.as_fd())
    }

    /// The target folder of `rel` and its name there; the folder stays cached.
    pub fn place(&mut self, rel: &[u8]) -> Result<(BorrowedFd<'_>, CString), String> {
        let (dir, name) = split(rel);
        let name = cname(name).map_err(|e| e.to_string())?;
        let fd = self.parent(dir).map_err(|e| folder_error(&e))?;
        Ok((fd, name))
    }
}

/// What to do about what is at the name already: go on (None) or stop with `Done`.
pub fn judge(ctx: &Ctx, dir: BorrowedFd, name: &CString, rec: &Recorded) -> Option<Done> {
    let st = match look(dir, name) {
        Ok(Found::Nothing) => return None,
        Ok(Found::Some(st)) => st,
        Err(e) => return Some(Done::Failed(e.to_string())),
    };
    let same = match rec.kind {
        Kind::Symlink => {
            st.st_mode & libc::S_IFMT == libc::S_IFLNK
                && at::read_link_at(dir, name).ok().as_deref()
                    == rec.target.as_deref().map(|t| Path::new(os(t)))
        }
        _ => {
            meta::unchanged(&st, &rec.meta, ctx.as_root)
                && ctx.attrs.same_on(dir, name, rec, ctx.as_root)
        }
    };
    if same {
        return Some(Done::Unchanged);
    }
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Some(Done::Failed("a folder is in its place".into()));
    }
    match ctx.replace {
        Replace::Never => Some(Done::Refused(
            "exists; not replaced (--force replaces it)".into(),
        )),
        Replace::Allowed => None,
    }
}

impl Copier<'_> {
    /// Restores regular file `rec`.
    pub fn file(&mut self, rec: &Recorded) -> Done {
        let mut buf = std::mem::take(&mut self.buf);
        let done = self.file_with(rec, &mut buf);
        self.buf = buf;
        done
    }

    fn file_with(&mut self, rec: &Recorded, buf: &mut Vec<u8>) -> Done {
        let Some(copy) = rec.copy.as_ref() else {
            return Done::Failed("the catalog records no stored copy".into());
        };
        let ctx = self.ctx;
        let (snap, replace, as_root) = (ctx.snap, ctx.replace, ctx.as_root);
        {
            let (dir, name) = match self.place(&rec.path) {
                Ok(p) => p,
                Err(why) => return Done::Failed(why),
            };
            if let Some(done) = judge(ctx, dir, &name, rec) {
                return done;
            }
            // O_NONBLOCK: a FIFO put where a file was must not hang the restore (and
            // the snapshot's lock with it); the kind is judged on the descriptor.
            let flags = libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK;
            let mut src = match at::open_no_symlinks(
                Some(snap),
                Path::new(os(&rec.path)),
                flags,
                Scope::Beneath,
            ) {
                Ok(fd) => File::from(fd),
                Err(e) => return Done::Failed(format!("cannot read the snapshot's copy: {e}")),
            };
            if !src.metadata().is_ok_and(|m| m.is_file()) {
                return Done::Failed(
                    "the snapshot's copy is not a regular file (replaced by hand?)".to_string(),
                );
            }
            let temp = Temp::new(dir);
            let written = temp.create_file().and_then(|mut dst| {
                let algo = HashAlgo::of_digest(&copy.hash);
                let got = copy_hashing(&mut src, &mut dst, algo, buf)?;
                Ok((dst, got))
            });
            let (dst, (digest, size)) = match written {
                Ok(w) => w,
                Err(e) => return Done::Failed(e.to_string()),
            };
            if digest != copy.hash || size != rec.meta.size {
                let why = format!(
                    "content damaged in the backup: {size} bytes with hash {}, the catalog says {} bytes with hash {}",
                    &hex(&digest)[..16],
                    rec.meta.size,
                    &hex(&copy.hash)[..16]
                );
                let mut aside = name.into_bytes();
                aside.extend_from_slice(DAMAGED.as_bytes());
                let kept = cname(&aside).and_then(|a| temp.rename_to(&a, Replace::Allowed));
                return Done::Damaged(match kept {
                    Ok(()) => format!(
                        "{why}; left as {}{DAMAGED}",
                        os(split(&rec.path).1).to_string_lossy()
                    ),
                    Err(e) => format!("{why}; removed (cannot keep it aside: {e})"),
                });
            }
            let set = ctx.attrs.of(rec);
            let finished = meta::set_fd(dst.as_fd(), &rec.meta, as_root, meta::own_ids(), set)
                .and_then(|skipped| {
                    temp.rename_to(&name, replace)?;
                    ctx.attrs.note(&rec.path, skipped);
                    Ok(())
                });
            match finished {
                Ok(()) => Done::Restored,
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    Done::Refused("appeared during the restore; not replaced".into())
                }
                Err(e) => Done::Failed(e.to_string()),
            }
        }
    }

    /// Restores symlink `rec` with its recorded target (never followed).
    pub fn symlink(&mut self, rec: &Recorded) -> Done {
        let ctx = self.ctx;
        let (replace, as_root) = (ctx.replace, ctx.as_root);
        let (dir, name) = match self.place(&rec.path) {
            Ok(p) => p,
            Err(why) => return Done::Failed(why),
        };
        if let Some(done) = judge(ctx, dir, &name, rec) {
            return done;
        }
        let temp = Temp::new(dir);
        let made = temp
            .create_symlink(rec.target.as_deref().unwrap_or_default())
            .and_then(|()| {
                let set = ctx.attrs.of(rec);
                meta::set_symlink(dir, &temp.name, &rec.meta, as_root, set)
            })
            .and_then(|skipped| {
                temp.rename_to(&name, replace)?;
                ctx.attrs.note(&rec.path, skipped);
                Ok(())
            });
        match made {
            Ok(()) => Done::Restored,
            Err(e) => Done::Failed(e.to_string()),
        }
    }
}

/// Bytes as a file name.
pub fn os(bytes: &[u8]) -> &std::ffi::OsStr {
    std::os::unix::ffi::OsStrExt::from_bytes(bytes)
}

/// Why a file's folder in the target could not be opened, in words.
fn folder_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ELOOP | libc::ENOTDIR) => {
            "a symlink or file stands in place of a folder on its path; not followed".into()
        }
        _ => format!("cannot open its folder: {e}"),
    }
}

/// Copies `src` into `dst`, hashing every byte; blocks of zeros become holes,
/// so sparse files stay sparse. Returns the digest and the number of bytes.
fn copy_hashing(
    src: &mut File,
    dst: &mut File,
    algo: HashAlgo,
    buf: &mut Vec<u8>,
) -> io::Result<(Vec<u8>, u64)> {
    buf.resize(CHUNK, 0);
    let mut hasher = algo.hasher();
    let (mut total, mut holes) = (0u64, false);
    loop {
        let n = crate::store::fill(src, buf)?;
        let chunk = &buf[..n];
        hasher.update(chunk);
        holes |= write_sparse(dst, chunk)?;
        total += n as u64;
        crate::progress::moved(n as u64);
        if n < buf.len() {
            break;
        }
    }
    if holes {
        dst.set_len(total)?;
    }
    Ok((hasher.finish(), total))
}

/// Blocks of zeros this long become holes.
const HOLE: usize = 64 << 10;

/// Writes `chunk` at the file's offset, leaving whole `HOLE`-sized blocks of zeros as
/// holes (a seek); returns whether it left one. Runs of data are written at once.
fn write_sparse(dst: &mut File, chunk: &[u8]) -> io::Result<bool> {
    if chunk.len() < HOLE {
        dst.write_all(chunk)?;
        return Ok(false);
    }
    let (mut data_from, mut holes) = (0, false);
    for (i, block) in chunk.chunks(HOLE).enumerate() {
        if block.len() == HOLE && block.iter().all(|&b| b == 0) {
            let at = i * HOLE;
            dst.write_all(&chunk[data_from..at])?;
            dst.seek(SeekFrom::Current(HOLE as i64))?;
            data_from = at + HOLE;
            holes = true;
        }
    }
    dst.write_all(&chunk[data_from..])?;
    Ok(holes)
}

/// Files a worker takes at once, and reports on together (fewer wake-ups).
const CLAIM: usize = 16;

/// Restores `files` on `workers` threads; `done` hears of each (by index) on the calling
/// thread, in the order they finish.
pub fn files_on_workers(
    ctx: &Ctx,
    files: &[&Recorded],
    workers: usize,
    mut done: impl FnMut(usize, Done),
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<Vec<(usize, Done)>>(64);
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, files.len().max(1)) {
            let (tx, next) = (tx.clone(), &next);
            s.spawn(move || {
                let mut copier = Copier::new(ctx);
                loop {
                    let from = next.fetch_add(CLAIM, Ordering::Relaxed);
                    let Some(batch) = files.get(from..(from + CLAIM).min(files.len())) else {
                        break;
                    };
                    let results = batch
                        .iter()
                        .enumerate()
                        .map(|(i, rec)| (from + i, copier.file(rec)))
                        .collect();
                    if batch.is_empty() || tx.send(results).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, d) in rx.into_iter().flatten() {
            done(i, d);
        }
    });
}
