//! Owns the space reserve in `.phlb`: a file of real blocks that every writer keeps in
//! place, so that `prune` and `forget` can run on a completely full filesystem — the
//! moment they are needed most. They release it before their catalog work (SQLite needs
//! a few free pages even to delete rows) and it is made again when the root is closed,
//! from the space the removal freed.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The reserve's file name in `.phlb`.
pub const FILE_NAME: &str = "reserve";

/// The reserve's size for a filesystem of `total` bytes: 4 MiB, but never more than
/// 1/64 of a small filesystem (a tmpfs of a few MiB), and at least 256 KiB.
fn size_for(total: u64) -> u64 {
    (total / 64).clamp(256 << 10, 4 << 20)
}

fn path(meta_dir: &Path) -> PathBuf {
    meta_dir.join(FILE_NAME)
}

/// Makes the reserve when it is missing; best effort: on a full disk (or a filesystem
/// that cannot allocate) it is left out and made by a later run.
pub fn ensure(meta_dir: &Path) {
    let p = path(meta_dir);
    if p.exists() {
        return;
    }
    let Ok(total) = crate::store::filesystem_size(meta_dir) else {
        return;
    };
    let Ok(file) = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&p)
    else {
        return;
    };
    let len = size_for(total) as libc::off_t;
    if crate::sys::file::allocate(&file, len).is_err() {
        drop(file);
        let _ = std::fs::remove_file(&p);
    }
}

/// True when `err` says the disk (or the user's quota) is full.
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(io.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT));
        }
        let text = c.to_string();
        text.contains("database or disk is full") || text.contains("No space left")
    })
}

/// Gives the reserve's blocks back to the filesystem; true when there was one.
pub fn release(meta_dir: &Path) -> bool {
    std::fs::remove_file(path(meta_dir)).is_ok()
}
