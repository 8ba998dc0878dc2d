//! Owns what stands between phlb and its catalog file on a bad disk: one-line causes for
//! a catalog a writer cannot write (mode, immutable flag, read-only mount), repair of the
//! `-wal`/`-shm` a run on a read-only catalog left read-only, and reading a catalog on a
//! full disk, where SQLite cannot make the side files a reader of a WAL database needs.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::create::with_suffix;

/// Checks, before a writer opens the catalog at `path`, that it can write the file and
/// its folder; `-wal`/`-shm` files of ours that a run on a read-only catalog left without
/// write permission are made 0600 again (the caller holds the writer lock), each
/// repair described in `notes`. Anything else is an error naming the file and the cause.
pub fn check_writable(path: &Path, notes: &mut Vec<String>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Err(e) = writable(dir) {
        bail!(
            "{}: phlb cannot write in the catalog's folder: {}",
            dir.display(),
            cause(dir, &e)
        );
    }
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    if let Err(e) = writable(path) {
        bail!(
            "{}: phlb cannot write the catalog: {}",
            path.display(),
            cause(path, &e)
        );
    }
    for side in [with_suffix(path, "-wal"), with_suffix(path, "-shm")] {
        let Ok(md) = side.symlink_metadata() else {
            continue;
        };
        let Err(e) = writable(&side) else {
            continue;
        };
        if md.len() == 0 && side.to_string_lossy().ends_with("-wal") {
            // SQLite replaces an empty WAL it cannot write.
            continue;
        }
        let ours = md.is_file() && md.uid() == crate::store::running_uid();
        let repaired = e.raw_os_error() == Some(libc::EACCES)
            && ours
            && std::fs::set_permissions(&side, std::fs::Permissions::from_mode(0o600)).is_ok()
            && writable(&side).is_ok();
        if !repaired {
            bail!(
                "{}: phlb cannot write this side file of its catalog: {}",
                side.display(),
                cause(&side, &e)
            );
        }
        notes.push(format!(
            "{}: was mode {:04o} (left by a run on a read-only catalog); made it 0600 again",
            side.display(),
            md.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Names the first of the catalog at `path`, its folder and its side files that this
/// process may not write, with the cause.
pub fn unwritable(path: &Path) -> Option<String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let files = [
        path.to_path_buf(),
        dir.to_path_buf(),
        with_suffix(path, "-wal"),
        with_suffix(path, "-shm"),
    ];
    files.iter().find_map(|f| {
        f.symlink_metadata().ok()?;
        let e = writable(f).err()?;
        Some(format!("{} is read-only: {}", f.display(), cause(f, &e)))
    })
}

/// Whether the calling process may write `path`, by its effective ids and capabilities.
fn writable(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    crate::sys::fs_info::may_write(&c)
}

/// The cause of `e` on `path` in words, with the file's mode and owner where they matter.
fn cause(path: &Path, e: &io::Error) -> String {
    let md = path.symlink_metadata().ok();
    let who = md
        .map(|m| format!("mode {:04o}, owner uid {}", m.mode() & 0o7777, m.uid()))
        .unwrap_or_default();
    match e.raw_os_error() {
        Some(libc::EACCES) => format!("{e} ({who})"),
        Some(libc::EPERM) => format!("{e} (is it immutable? `lsattr` shows an `i`)"),
        Some(libc::EROFS) => format!("{e} (mounted read-only)"),
        _ => e.to_string(),
    }
}

/// True when the filesystem holding `dir` has no space left for an unprivileged writer.
pub fn disk_full(dir: &Path) -> bool {
    let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    crate::sys::fs_info::statvfs(&c).is_ok_and(|st| st.f_bavail == 0)
}

/// How a reader opens the catalog.
pub enum ReadMode {
    /// As SQLite always does.
    Normal,
    /// As an unchanging file (`immutable=1`), because SQLite cannot create the `-shm` and
    /// `-wal` a reader needs (a full disk, a read-only folder); the shared flock on the
    /// writer lock keeps writers out while it is held.
    Immutable(Option<File>),
}

/// Decides how a reader opens the catalog at `path` in `meta_dir`: normally, or, when a
/// plain read fails for lack of space or permission to make its side files, as an
/// immutable file while no writer runs. A note in `notes` says when changes still in
/// the `-wal` (left by a killed run) cannot be seen that way.
pub fn reader_mode(path: &Path, meta_dir: &Path, notes: &mut Vec<String>) -> Result<ReadMode> {
    let failed = match probe(path) {
        Ok(()) => return Ok(ReadMode::Normal),
        Err(e) => e,
    };
    let needs_files = matches!(
        failed.sqlite_error_code(),
        Some(
            ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly
                | ErrorCode::DiskFull
        )
    );
    if !needs_files {
        return Ok(ReadMode::Normal);
    }
    let shared = crate::lock::hold_shared(meta_dir)?;
    let wal = with_suffix(path, "-wal");
    if let Ok(md) = wal.metadata() {
        if md.len() > 0 {
            notes.push(format!(
                "{}: read without the {} bytes of recent changes in {} (a reader cannot \
                 use them: {}); a run that can write sees them",
                path.display(),
                md.len(),
                wal.display(),
                super::cause(&failed, path)
            ));
        }
    }
    Ok(ReadMode::Immutable(shared))
}

/// Opens the catalog read-only and reads its schema, as every reader does first.
fn probe(path: &Path) -> rusqlite::Result<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(())
}

/// The URI that opens the catalog at `path` as an immutable, read-only file.
pub fn immutable_uri(path: &Path) -> PathBuf {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    PathBuf::from(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_uri_escapes_what_uris_reserve() {
        let cases = [
            ("/a/b.sqlite3", "file:/a/b.sqlite3?mode=ro&immutable=1"),
            ("/a b/c?#%", "file:/a%20b/c%3F%23%25?mode=ro&immutable=1"),
        ];
        for (path, uri) in cases {
            assert_eq!(immutable_uri(Path::new(path)), PathBuf::from(uri), "{path}");
        }
    }

    #[test]
    fn immutable_uri_opens_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd name?.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(immutable_uri(&path), flags).unwrap();
        let n: i64 = conn.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
