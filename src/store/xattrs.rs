//! Owns putting extended attributes on what a snapshot (or a restore) makes: a stored
//! copy, a folder, a symlink, in the order the kernel needs (see
//! `XattrSet::in_restore_order`).

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::sys::xattr::{self, Attr};

/// Puts `attrs` on the open file or folder `fd`. A failing disk's error comes back as it
/// is (it stops the run); any other names the attribute.
pub fn put(fd: BorrowedFd, attrs: &[&Attr]) -> io::Result<()> {
    for (name, value) in attrs {
        xattr::set_fd(fd, name, value).map_err(|e| named(e, name, value, fd))?;
    }
    Ok(())
}

/// Puts `attrs` on the symlink (or any entry, not followed) at `path`.
pub fn put_nofollow(path: &Path, attrs: &[&Attr]) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default();
    let dir = std::fs::File::open(parent)?;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    crate::sys::at::with_cstr(name.as_bytes(), |entry| {
        for (attr, value) in attrs {
            xattr::set_at(dir.as_fd(), entry, attr, value)
                .map_err(|e| named(e, attr, value, dir.as_fd()))?;
        }
        Ok(())
    })
}

/// Room on the disk that says "no space" for an attribute is not a full disk: the
/// attribute is larger than the filesystem holds for one file (ext4: about one block).
const ROOMY: u64 = 64 << 20;

/// The error of putting attribute `name` with `value` on a file of the disk of `fd`: a
/// failing or full disk's as it is (it stops the run); any other names the attribute —
/// also "no space" on a disk with room, so one oversized attribute (any user can set
/// one on their own files) fails that path only, never the whole run.
fn named(e: io::Error, name: &[u8], value: &[u8], fd: BorrowedFd) -> io::Error {
    let roomy = || crate::sys::fs_info::free_bytes_fd(fd).is_ok_and(|free| free > ROOMY);
    if e.raw_os_error() == Some(libc::ENOSPC) && roomy() {
        return io::Error::other(format!(
            "cannot keep extended attribute {} ({} bytes): the backup filesystem holds no \
             attribute that large for one file",
            String::from_utf8_lossy(name),
            value.len()
        ));
    }
    if super::is_fatal(&e) {
        return e;
    }
    io::Error::new(
        e.kind(),
        format!(
            "cannot keep extended attribute {}: {e}",
            String::from_utf8_lossy(name)
        ),
    )
}
