//! Owns the filesystem side of a snapshot: folders, symlinks, hardlinks and new stored
//! copies written under a temp name and renamed into place, with their metadata.

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::hash::{for_each_chunk, HashAlgo};
use crate::scan::Meta;

/// What happened when phlb tried to hardlink a stored copy.
#[derive(Debug)]
pub enum LinkOutcome {
    /// The link was made.
    Linked,
    /// The inode has as many links as the filesystem allows (EMLINK).
    Full,
    /// The filesystem cannot link here (EXDEV, EPERM, ENOTSUP): copy instead.
    Unsupported(io::Error),
    /// The source vanished or another error occurred.
    Failed(io::Error),
}

/// Hardlinks `src` to `dst`, classifying the errors that call for a fallback.
pub fn hard_link(src: &Path, dst: &Path) -> LinkOutcome {
    match fs::hard_link(src, dst) {
        Ok(()) => LinkOutcome::Linked,
        Err(e) => classify_link_error(e),
    }
}

/// Checks that `path` is still the stored copy the catalog describes (inode, size and
/// the mtime it was given: a copy changed in place since is never linked to); returns
/// its current link count.
pub fn check_stored_copy(path: &Path, ino: u64, size: u64, mtime_ns: i128) -> Option<u64> {
    let md = fs::symlink_metadata(path).ok()?;
    let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
    (md.is_file() && md.ino() == ino && md.len() == size && mtime == mtime_ns).then_some(md.nlink())
}

/// Opens a source file for reading without following a symlink swapped in for it.
pub fn open_source(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
}

/// Reads a whole (small) open file of about `size_hint` bytes into memory. Room for one
/// byte more lets the read that ends the file see whether it grew; reading through
/// `take` skips the size lookup `File::read_to_end` makes (a stat and a seek per file).
pub fn read_all(file: &mut File, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(size_hint as usize + 1);
    file.take(u64::MAX).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Creates a snapshot folder (private while the run fills it; `finish_dir` sets its mode).
pub fn make_dir(path: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Gives a finished folder its recorded mode, owner (as root) and mtime.
pub fn finish_dir(path: &Path, meta: &Meta, as_root: bool) -> io::Result<()> {
    if as_root {
        std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))?;
    set_times_nofollow(path, meta.mtime_ns)
}

/// Recreates a symlink with the same target, owner (as root) and mtime.
pub fn make_symlink(path: &Path, target: &Path, meta: &Meta, as_root: bool) -> io::Result<()> {
    std::os::unix::fs::symlink(target, path)?;
    if as_root {
        std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))?;
    }
    set_times_nofollow(path, meta.mtime_ns)
}

fn set_times_nofollow(path: &Path, mtime_ns: i128) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime_ns.div_euclid(1_000_000_000) as libc::time_t,
            tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
        },
    ];
    // SAFETY: `c` is a valid C string and `times` points to two timespecs, as required.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Converts nanoseconds since the epoch to a `SystemTime` (any time a filesystem can
/// hold: seconds in 64 bits).
pub fn system_time(mtime_ns: i128) -> SystemTime {
    let (secs, nanos) = (
        mtime_ns.div_euclid(1_000_000_000),
        mtime_ns.rem_euclid(1_000_000_000) as u32,
    );
    let secs = secs.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let whole = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    whole + Duration::from_nanos(u64::from(nanos))
}

/// A new stored copy being written under a temp name beside its final place; `commit`
/// renames it into place, and dropping it before that removes it, so a half-written copy
/// never carries a real file name.
pub struct NewCopy {
    file: File,
    tmp: PathBuf,
    dst: PathBuf,
    done: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, asked once (it names temp files).
fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Prefix of the temp names phlb writes files under before renaming them into place.
const TEMP_PREFIX: &str = ".phlb-tmp-";

/// True when `name` is one phlb gives a temp file (`.phlb-tmp-<pid>-<n>`).
pub fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    let Some(rest) = name.as_bytes().strip_prefix(TEMP_PREFIX.as_bytes()) else {
        return false;
    };
    let mut parts = rest.split(|&b| b == b'-');
    let digits =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// A name for a temp file beside `path`, unique within this process.
fn temp_beside(path: &Path) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TEMP_PREFIX}{}-{n}", pid()))
}

impl NewCopy {
    /// Creates the temp file with permission bits `mode` (less the umask; `commit` sets
    /// them exactly when they differ). The run's folders stay private until it ends.
    fn create(dst: &Path, mode: u32) -> io::Result<NewCopy> {
        loop {
            let tmp = temp_beside(dst);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o777)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(file) => {
                    return Ok(NewCopy {
                        file,
                        tmp,
                        dst: dst.to_path_buf(),
                        done: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `bytes` as a new stored copy at `dst` that will have permission bits `mode`.
    pub fn write(dst: &Path, bytes: &[u8], mode: u32) -> io::Result<NewCopy> {
        let mut copy = NewCopy::create(dst, mode)?;
        copy.file.write_all(bytes)?;
        Ok(copy)
    }

    /// Streams `src` into a new stored copy at `dst`, hashing what it copies; runs of
    /// zeros of a whole chunk become holes. Returns the copy, the digest of the bytes
    /// written and their number.
    pub fn stream(
        src: &mut File,
        dst: &Path,
        algo: HashAlgo,
        mode: u32,
    ) -> io::Result<(NewCopy, Vec<u8>, u64)> {
        let mut copy = NewCopy::create(dst, mode)?;
        let mut hasher = algo.hasher();
        let file = &mut copy.file;
        let total = for_each_chunk(src, |chunk| {
            hasher.update(chunk);
            if chunk.iter().all(|&b| b == 0) {
                // Leave a hole: sparse files stay sparse, and zeros cost no disk.
                file.seek(SeekFrom::Current(chunk.len() as i64))?;
                Ok(())
            } else {
                file.write_all(chunk)
            }
        })?;
        copy.file.set_len(total)?;
        Ok((copy, hasher.finish(), total))
    }

    /// Applies the recorded mtime, owner (as root) and mode, renames the copy into
    /// place, and returns its inode number. Owner and mode are only changed where the
    /// new file does not have them already (most files, as root or not), which saves two
    /// inode updates per copy.
    pub fn commit(mut self, meta: &Meta, as_root: bool) -> io::Result<u64> {
        self.file
            .set_times(FileTimes::new().set_modified(system_time(meta.mtime_ns)))?;
        let now = self.file.metadata()?;
        if as_root && (now.uid(), now.gid()) != (meta.uid, meta.gid) {
            std::os::unix::fs::fchown(&self.file, Some(meta.uid), Some(meta.gid))?;
        }
        // The file was created without setuid, setgid and sticky bits, so a mode with
        // them is always set, and after the owner, whose change would clear them.
        if now.mode() & 0o7777 != meta.mode {
            self.file
                .set_permissions(fs::Permissions::from_mode(meta.mode))?;
        }
        fs::rename(&self.tmp, &self.dst)?;
        self.done = true;
        Ok(now.ino())
    }
}

impl Drop for NewCopy {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// True for errors that mean the backup destination itself is unusable (full, read-only,
/// failing): the run must stop instead of going on file by file.
pub fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOSPC | libc::EDQUOT | libc::EROFS | libc::EIO)
    )
}

/// True when the open file still has the size and mtime it had before it was read
/// (and, when known, the number of bytes read matches).
pub fn unchanged_since(file: &File, before: &Meta, read: Option<u64>) -> bool {
    match file.metadata() {
        Ok(md) => {
            let now = Meta::of(&md);
            now.size == before.size
                && now.mtime_ns == before.mtime_ns
                && read.is_none_or(|n| n == before.size)
        }
        Err(_) => false,
    }
}

/// True when files `a` and `b` (symlinks not followed) hold the same bytes; compared in
/// 1 MiB chunks, so memory does not grow with file size.
pub fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (open_source(a)?, open_source(b)?);
    let (ma, mb) = (fa.metadata()?, fb.metadata()?);
    if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() {
        return Ok(false);
    }
    if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
        return Ok(true);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fill(&mut fa, &mut ba)?;
        let m = fill(&mut fb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn fill(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Atomically replaces `path` by a hardlink to `src` (link to a temp name, then rename).
pub fn replace_with_link(src: &Path, path: &Path) -> io::Result<()> {
    loop {
        let tmp = temp_beside(path);
        match fs::hard_link(src, &tmp) {
            Ok(()) => {
                return fs::rename(&tmp, path).inspect_err(|_| {
                    let _ = fs::remove_file(&tmp);
                })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The user phlb runs as.
fn running_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Makes sure `path` is a folder only the running user can enter (0700): creates it, or
/// tightens one that is ours; refuses a symlink, a non-folder, or a folder another user
/// owns (they could plant symlinks where phlb writes).
pub fn make_private_dir(path: &Path) -> anyhow::Result<()> {
    use anyhow::{bail, Context};
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return fs::DirBuilder::new()
                .mode(0o700)
                .create(path)
                .with_context(|| format!("{}: cannot create folder", path.display()));
        }
        Err(e) => return Err(e).with_context(|| format!("{}: cannot open", path.display())),
    };
    if md.file_type().is_symlink() || !md.is_dir() {
        bail!(
            "{}: must be a folder, found a {}; phlb never writes through it",
            path.display(),
            if md.file_type().is_symlink() {
                "symlink"
            } else {
                "file"
            }
        );
    }
    if md.uid() != running_uid() {
        bail!(
            "{}: owned by another user (uid {}); phlb only writes into folders the running user owns",
            path.display(),
            md.uid()
        );
    }
    if md.mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("{}: cannot make private", path.display()))?;
    }
    Ok(())
}

/// Refuses a backup root that another user could change under a run: writable by
/// group or others without the sticky bit, or owned by another user (other than root).
pub fn check_root_safe(root: &Path) -> anyhow::Result<()> {
    use anyhow::{bail, Context};
    let md = fs::metadata(root)
        .with_context(|| format!("{}: cannot open backup root", root.display()))?;
    let sticky = md.mode() & 0o1000 != 0;
    if md.mode() & 0o022 != 0 && !sticky {
        bail!(
            "{}: backup root is writable by other users (mode {:04o}); `chmod go-w` it first",
            root.display(),
            md.mode() & 0o7777
        );
    }
    if md.uid() != running_uid() && md.uid() != 0 {
        bail!(
            "{}: backup root is owned by another user (uid {}); use a root you own",
            root.display(),
            md.uid()
        );
    }
    Ok(())
}

/// Creates file `path` anew for writing (0600): whatever was at that name is removed
/// first (never followed), and the file is opened with `O_EXCL | O_NOFOLLOW`, so nothing
/// is ever written through a symlink planted there.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(md) if !md.is_dir() => fs::remove_file(path)?,
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Writes `bytes` as file `path` (0600): under a temp name opened with `O_EXCL |
/// O_NOFOLLOW`, then renamed over `path`, which replaces a symlink there, never follows it.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    loop {
        let tmp = temp_beside(path);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let done = file.write_all(bytes).and_then(|_| fs::rename(&tmp, path));
        if done.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        return done;
    }
}

/// A few open folder descriptors, so repeated syscalls on files of one folder do not
/// walk the whole path each time. Work arrives in walk order, so a handful suffices.
#[derive(Default)]
pub struct DirFds {
    open: Vec<(PathBuf, std::os::fd::OwnedFd)>,
}

impl DirFds {
    const KEEP: usize = 8;

    /// An open descriptor of folder `dir`.
    pub fn get(&mut self, dir: &Path) -> io::Result<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        if let Some(i) = self
            .open
            .iter()
            .position(|(p, _)| p.as_os_str() == dir.as_os_str())
        {
            let hit = self.open.remove(i);
            self.open.push(hit);
        } else {
            let fd: std::os::fd::OwnedFd = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
                .open(dir)?
                .into();
            if self.open.len() >= Self::KEEP {
                self.open.remove(0);
            }
            self.open.push((dir.to_path_buf(), fd));
        }
        Ok(self.open.last().expect("just pushed").1.as_fd())
    }
}

/// Splits `path` into its folder and its file name as a C string, built in `buf` when it
/// fits (Linux names have at most 255 bytes), so the hot link path does not allocate.
fn split<'a, 'b>(path: &'a Path, buf: &'b mut [u8; 256]) -> io::Result<(&'a Path, Cow<'b, CStr>)> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .as_bytes();
    let nul = || io::Error::new(io::ErrorKind::InvalidInput, "name holds a NUL byte");
    let name = if name.len() < buf.len() {
        buf[..name.len()].copy_from_slice(name);
        buf[name.len()] = 0;
        Cow::Borrowed(CStr::from_bytes_with_nul(&buf[..=name.len()]).map_err(|_| nul())?)
    } else {
        Cow::Owned(CString::new(name).map_err(|_| nul())?)
    };
    Ok((parent, name))
}

/// Like `check_stored_copy` then `hard_link`, but through cached folder descriptors:
/// links `dst` to the stored copy `src` when it is still inode `ino` of `size` bytes with
/// mtime `mtime_ns` (the one it was given) and fewer than `max_links` links. `None`
/// means the stored copy is not usable.
pub fn link_stored_copy(
    fds: &mut DirFds,
    src: &Path,
    dst: &Path,
    expect: (u64, u64, i128),
    max_links: u64,
) -> Option<LinkOutcome> {
    let (ino, size, mtime_ns) = expect;
    use std::os::fd::AsRawFd;
    let (mut src_buf, mut dst_buf) = ([0u8; 256], [0u8; 256]);
    let (src_dir, src_name) = split(src, &mut src_buf).ok()?;
    let (dst_dir, dst_name) = split(dst, &mut dst_buf).ok()?;
    let src_fd = fds.get(src_dir).ok()?.as_raw_fd();
    // SAFETY: an all-zero stat is a valid value to be overwritten by fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor, C string and out pointer.
    let rc = unsafe {
        libc::fstatat(
            src_fd,
            src_name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    let usable = rc == 0
        && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
        && st.st_ino == ino
        && st.st_size as u64 == size
        && i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec) == mtime_ns
        && crate::plan::has_room(st.st_nlink as u64, max_links);
    if !usable {
        return None;
    }
    let dst_fd = match fds.get(dst_dir) {
        Ok(fd) => fd.as_raw_fd(),
        Err(e) => return Some(LinkOutcome::Failed(e)),
    };
    // The source folder's descriptor may have been evicted by opening the destination's.
    let src_fd = match fds.get(src_dir) {
        Ok(fd) => fd.as_raw_fd(),
        Err(e) => return Some(LinkOutcome::Failed(e)),
    };
    // SAFETY: valid descriptors and C strings; flags 0 does not follow a symlink source.
    let rc = unsafe { libc::linkat(src_fd, src_name.as_ptr(), dst_fd, dst_name.as_ptr(), 0) };
    if rc != 0 {
        return Some(classify_link_error(io::Error::last_os_error()));
    }
    // Workers link in parallel: near the limit, two may have seen room for one more link.
    // Count again and take ours back when the inode went over.
    if st.st_nlink as u64 + NEAR_LIMIT >= max_links {
        // SAFETY: valid descriptor, C string and out pointer.
        let rc = unsafe {
            libc::fstatat(
                dst_fd,
                dst_name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc == 0 && st.st_nlink as u64 > max_links {
            // SAFETY: valid descriptor and C string; removes only the link just made.
            unsafe { libc::unlinkat(dst_fd, dst_name.as_ptr(), 0) };
            return Some(LinkOutcome::Full);
        }
    }
    Some(LinkOutcome::Linked)
}

/// How close to `MAX_LINKS` an inode must be before a link is counted again.
const NEAR_LIMIT: u64 = 64;

/// Sorts a failed link into the outcomes that call for a fallback.
pub fn classify_link_error(e: io::Error) -> LinkOutcome {
    match e.raw_os_error() {
        Some(libc::EMLINK) => LinkOutcome::Full,
        Some(libc::EXDEV | libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS) => {
            LinkOutcome::Unsupported(e)
        }
        _ => LinkOutcome::Failed(e),
    }
}

/// The id of the filesystem holding `path` (`statvfs` f_fsid, derived from the
/// filesystem's UUID on ext4 and most others, so it survives remounts and reboots).
pub fn filesystem_id(path: &Path) -> io::Result<String> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(format!("{:x}", st.f_fsid))
}
