//! Owns the places phlb writes that another user could aim at: private folders, a backup
//! root nobody else can change, files created without following a planted symlink, and
//! the byte comparison that stands before any inode is replaced by a link.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{open_source, temp_beside};

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
pub fn fill(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
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

/// The user phlb runs as.
pub fn running_uid() -> u32 {
    crate::sys::users::effective_uid()
}

/// Makes sure `path` is a folder only the running user can enter (0700): creates it, or
/// tightens one that is ours; refuses a symlink, a non-folder, or a folder another user
/// owns (they could plant symlinks where phlb writes).
pub fn make_private_dir(path: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match fs::DirBuilder::new().mode(0o700).create(path) {
                Ok(()) => return Ok(()),
                // Another run made it a moment ago: judge what is there now.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => fs::symlink_metadata(path)
                    .with_context(|| format!("{}: cannot open", path.display()))?,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("{}: cannot create folder", path.display()))
                }
            }
        }
        Err(e) => return Err(e).with_context(|| format!("{}: cannot open", path.display())),
    };
    owned_dir(path, &md)?;
    if md.mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("{}: cannot make private", path.display()))?;
    }
    Ok(())
}

/// Refuses a backup root that another user could change under a run: the root writable
/// by group or others (sticky or not: they could create its `<name>` folders first), a
/// folder above it writable by them without the sticky bit, or any of these — or a
/// symlink on the way, as the path was given or as it resolves — owned by another user
/// (other than root): whoever can rename an entry on the way to the root could swap the
/// snapshot folders for symlinks while a run writes into them. A root that does not
/// exist yet is judged by the folders that do, before anything is created.
pub fn check_root_safe(root: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let abs = if root.is_absolute() {
        root.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current folder")?
            .join(root)
    };
    let parts: Vec<_> = abs.components().collect();
    let mut prefix = std::path::PathBuf::new();
    let mut deepest = None;
    for (i, part) in parts.iter().enumerate() {
        prefix.push(part);
        let md = match fs::symlink_metadata(&prefix) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot open", prefix.display())),
        };
        judge_on_the_way(&prefix, &md, i + 1 == parts.len())?;
        deepest = Some(prefix.clone());
    }
    let Some(deepest) = deepest else {
        return Ok(());
    };
    let whole = deepest == abs;
    let canon = deepest
        .canonicalize()
        .with_context(|| format!("{}: cannot open", deepest.display()))?;
    for (i, dir) in canon.ancestors().enumerate() {
        let md = fs::metadata(dir).with_context(|| format!("{}: cannot open", dir.display()))?;
        judge_on_the_way(dir, &md, whole && i == 0)?;
    }
    Ok(())
}

/// The refusals of `check_root_safe` for one entry on the way to the root (`is_root`:
/// the root itself).
fn judge_on_the_way(path: &Path, md: &fs::Metadata, is_root: bool) -> anyhow::Result<()> {
    use anyhow::bail;
    let what = if md.file_type().is_symlink() {
        "symlink on the way to the backup root"
    } else if is_root {
        "backup root"
    } else {
        "folder above the backup root"
    };
    if md.uid() != running_uid() && md.uid() != 0 {
        bail!(
            "{}: {what} is owned by another user (uid {}), who could swap the snapshots under a run; use a root only you and root control",
            path.display(),
            md.uid()
        );
    }
    if md.file_type().is_symlink() {
        return Ok(());
    }
    let sticky = md.mode() & 0o1000 != 0;
    if md.mode() & 0o022 != 0 && (is_root || !sticky) {
        bail!(
            "{}: {what} is writable by other users (mode {:04o}); `chmod go-w` it or choose another root",
            path.display(),
            md.mode() & 0o7777
        );
    }
    Ok(())
}

/// Refuses `path` when it exists and is not a folder the running user owns (a symlink,
/// a file, another user's folder), without changing anything.
pub fn check_own_dir(path: &Path) -> anyhow::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("{}: cannot open", path.display()))),
        Ok(md) => owned_dir(path, &md),
    }
}

/// The refusal of `check_own_dir` for an entry with metadata `md`.
fn owned_dir(path: &Path, md: &fs::Metadata) -> anyhow::Result<()> {
    use anyhow::bail;
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
    Ok(())
}

/// The device and inode of folder `p` (a symlink there is not followed and gives None),
/// which say it is the same folder whatever path names it.
pub fn folder_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(p)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_making_the_same_private_folder_both_go_on() {
        // Two runs started together on a root without `.phlb`: the one that loses the
        // race to create it must find it made, not fail with "File exists".
        let base = tempfile::tempdir().unwrap();
        for round in 0..200 {
            let dir = base.path().join(format!("d{round}"));
            let start = std::sync::Barrier::new(2);
            let results: Vec<bool> = std::thread::scope(|s| {
                let racers: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            make_private_dir(&dir).is_ok()
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(results, [true, true], "round {round}");
        }
    }
}
