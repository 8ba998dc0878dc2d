//! Owns writing a new stored copy: an unnamed file (`O_TMPFILE`) in its final folder,
//! or a temp name beside its final place where the filesystem has no unnamed files,
//! given its metadata and then its real name in one step.

use std::ffi::CString;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::temp_names::temp_beside;
use super::{running_as_root, system_time, xattrs};
use crate::hash::{for_each_chunk, HashAlgo};
use crate::scan::Meta;
use crate::xattr_set::XattrSet;

/// A new stored copy being written where nobody can see it: an unnamed file in its final
/// folder (a kill frees it: nothing half-written is ever left, in the snapshot or
/// anywhere) or, where the filesystem has no unnamed files, a temp name beside its final
/// place. `commit` gives it its real name; dropping it before that removes it, so a
/// half-written copy never carries a real file name.
pub struct NewCopy {
    pub(super) file: File,
    /// The temp name, when the copy has one (no `O_TMPFILE` here).
    tmp: Option<PathBuf>,
    dst: PathBuf,
    done: bool,
}

/// True when unnamed files can be given a name later: that goes through
/// `/proc/self/fd` (asked once).
fn unnamed_files_work() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

impl NewCopy {
    /// Creates the file with permission bits `mode` (less the umask; `commit` sets them
    /// exactly when they differ). The run's folders stay private until it ends.
    pub(super) fn create(dst: &Path, mode: u32) -> io::Result<NewCopy> {
        let new = |file, tmp| NewCopy {
            file,
            tmp,
            dst: dst.to_path_buf(),
            done: false,
        };
        if unnamed_files_work() {
            let dir = match dst.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            match OpenOptions::new()
                .write(true)
                .mode(mode & 0o777)
                .custom_flags(libc::O_CLOEXEC | libc::O_TMPFILE)
                .open(dir)
            {
                Ok(file) => return Ok(new(file, None)),
                // No unnamed files on this filesystem (or kernel): a temp name.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {}
                Err(e) => return Err(e),
            }
        }
        loop {
            let tmp = temp_beside(dst);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode & 0o777)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(file) => return Ok(new(file, Some(tmp))),
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
        src: &mut impl Read,
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

    /// Applies the recorded mtime, owner (as root) and mode, gives the copy its
    /// name, and returns its inode number and the mtime the filesystem stored (a
    /// filesystem with coarser or shorter-ranged times than the source's keeps another
    /// one: the catalog records what is on disk, so the copy is found again). Owner and mode are only changed where the
    /// new file does not have them already (most files, as root or not), which saves two
    /// inode updates per copy.
    pub fn commit(mut self, meta: &Meta, set: Option<&XattrSet>) -> io::Result<(u64, i128)> {
        self.file
            .set_times(FileTimes::new().set_modified(system_time(meta.mtime_ns)))?;
        let now = self.file.metadata()?;
        if running_as_root() && (now.uid(), now.gid()) != (meta.uid, meta.gid) {
            std::os::unix::fs::fchown(&self.file, Some(meta.uid), Some(meta.gid))?;
        }
        // Attributes (see `XattrSet::in_restore_order`): most before the mode, which may
        // take away the write permission `user.*` needs; ACLs after it (the mode then
        // agrees with them, mask included), capabilities last (after the owner).
        let (before, after) = set.map(XattrSet::in_restore_order).unwrap_or_default();
        let mut mode_now = now.mode() & 0o7777;
        if !before.is_empty() {
            use std::os::fd::AsFd;
            // A file made read-only (its mode is given at creation) takes no `user.*`
            // attribute from its owner: writable for as long as they go on.
            if mode_now & 0o200 == 0 && !running_as_root() {
                mode_now |= 0o200;
                self.file
                    .set_permissions(fs::Permissions::from_mode(mode_now))?;
            }
            xattrs::put(self.file.as_fd(), &before)?;
        }
        // The file was created without setuid, setgid and sticky bits, so a mode with
        // them is always set, and after the owner, whose change would clear them.
        if mode_now != meta.mode {
            self.file
                .set_permissions(fs::Permissions::from_mode(meta.mode))?;
        }
        if !after.is_empty() {
            use std::os::fd::AsFd;
            xattrs::put(self.file.as_fd(), &after)?;
        }
        match &self.tmp {
            Some(tmp) => fs::rename(tmp, &self.dst)?,
            None => name_unnamed(&self.file, &self.dst)?,
        }
        self.done = true;
        let stored = i128::from(now.mtime()) * 1_000_000_000 + i128::from(now.mtime_nsec());
        Ok((now.ino(), stored))
    }
}

impl Drop for NewCopy {
    fn drop(&mut self) {
        if let (false, Some(tmp)) = (self.done, &self.tmp) {
            let _ = fs::remove_file(tmp);
        }
    }
}
/// Gives unnamed `file` the name `dst`. A link never replaces a name: where `dst` exists
/// (a leftover the run replaces), the file is linked to a temp name beside it and renamed
/// over it.
fn name_unnamed(file: &File, dst: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    match crate::sys::file::link_unnamed(file, &c(dst)?) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        done => return done,
    }
    loop {
        let tmp = temp_beside(dst);
        match crate::sys::file::link_unnamed(file, &c(&tmp)?) {
            Ok(()) => {
                let renamed = fs::rename(&tmp, dst);
                if renamed.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                return renamed;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
