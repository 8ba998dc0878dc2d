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
        xattr::set_fd(fd, name, value).map_err(|e| named(e, name))?;
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
            xattr::set_at(dir.as_fd(), entry, attr, value).map_err(|e| named(e, attr))?;
        }
        Ok(())
    })
}

fn named(e: io::Error, name: &[u8]) -> io::Error {
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
