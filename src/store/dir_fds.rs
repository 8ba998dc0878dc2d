//! Owns linking through cached folder descriptors: the hot path that hardlinks an
//! unchanged file to its stored copy after checking it is still that copy.

use std::borrow::Cow;
use std::ffi::{CStr, CString};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{classify_link_error, LinkOutcome};
use crate::decide::CopyMeta;
use crate::sys::at;

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

    /// Open descriptors of folders `first` and `second` at once (opened in that order;
    /// opening the second never closes the first, which was just used).
    pub fn get_two(
        &mut self,
        first: &Path,
        second: &Path,
    ) -> io::Result<(std::os::fd::BorrowedFd<'_>, std::os::fd::BorrowedFd<'_>)> {
        use std::os::fd::AsFd;
        self.get(first)?;
        self.get(second)?;
        let held = |dir: &Path| {
            let (_, fd) = self
                .open
                .iter()
                .find(|(p, _)| p.as_os_str() == dir.as_os_str())
                .expect("both just opened");
            fd.as_fd()
        };
        Ok((held(first), held(second)))
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
/// the mtime, mode and owner `meta` it was given (see `check_stored_copy`) and fewer than
/// `max_links` links. `None` means the stored copy is not usable.
pub fn link_stored_copy(
    fds: &mut DirFds,
    src: &Path,
    dst: &Path,
    expect: (u64, u64, &CopyMeta),
    max_links: u64,
) -> Option<LinkOutcome> {
    let (ino, size, meta) = expect;
    let (mut src_buf, mut dst_buf) = ([0u8; 256], [0u8; 256]);
    let (src_dir, src_name) = split(src, &mut src_buf).ok()?;
    let (dst_dir, dst_name) = split(dst, &mut dst_buf).ok()?;
    let st: libc::stat = at::stat_at(fds.get(src_dir).ok()?, &src_name).ok()?;
    let usable = (st.st_mode & libc::S_IFMT) == libc::S_IFREG
        && st.st_ino == ino
        && st.st_size as u64 == size
        && i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec) == meta.mtime_ns
        && super::as_given(st.st_mode, st.st_uid, st.st_gid, meta)
        && crate::decide::has_room(st.st_nlink as u64, max_links);
    if !usable {
        return None;
    }
    // The source folder's descriptor may have been evicted by opening the destination's.
    let (dst_fd, src_fd) = match fds.get_two(dst_dir, src_dir) {
        Ok(fds) => fds,
        Err(e) => return Some(LinkOutcome::Failed(e)),
    };
    // Flags 0 does not follow a symlink source.
    if let Err(e) = at::link_at(src_fd, &src_name, dst_fd, &dst_name, 0) {
        return Some(classify_link_error(e));
    }
    // Workers link in parallel: near the limit, two may have seen room for one more link.
    // Count again and take ours back when the inode went over.
    if st.st_nlink as u64 + NEAR_LIMIT >= max_links {
        let now: libc::stat = match at::stat_at(dst_fd, &dst_name) {
            Ok(st) => st,
            Err(_) => return Some(LinkOutcome::Linked),
        };
        if now.st_nlink as u64 > max_links {
            // Removes only the link just made.
            let _ = at::unlink_at(dst_fd, &dst_name, 0);
            return Some(LinkOutcome::Full);
        }
    }
    Some(LinkOutcome::Linked)
}

/// How close to `MAX_LINKS` an inode must be before a link is counted again.
const NEAR_LIMIT: u64 = 64;
