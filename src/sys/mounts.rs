//! Owns telling where a folder lies within its filesystem, whatever mount shows it: a
//! bind mount of a folder inside the backup root names that folder by another path,
//! and a restore must never write there.

use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`: the device, the folder of the filesystem the
/// mount shows, and where it is mounted.
struct Mount {
    device: String,
    fs_root: PathBuf,
    point: PathBuf,
}

/// Undoes the octal escapes (`\040` for a space) of a mountinfo field.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

fn mounts() -> Vec<Mount> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 4).then(|| Mount {
                device: f[2].to_string(),
                fs_root: unescape(f[3]),
                point: unescape(f[4]),
            })
        })
        .collect()
}

/// The filesystem (`major:minor`) and the path within it of the canonical path `p`,
/// through the mount that shows it (the last, deepest one: later mounts cover earlier).
fn in_filesystem(p: &Path, all: &[Mount]) -> Option<(String, PathBuf)> {
    let m = all
        .iter()
        .filter(|m| p.starts_with(&m.point))
        .max_by_key(|m| m.point.components().count())?;
    let rest = p.strip_prefix(&m.point).ok()?;
    Some((m.device.clone(), m.fs_root.join(rest)))
}

/// True when the canonical path `target` lies in the canonical folder `root` on the
/// filesystem, through whatever mounts show either of them.
pub fn within(target: &Path, root: &Path) -> bool {
    let all = mounts();
    match (in_filesystem(target, &all), in_filesystem(root, &all)) {
        (Some((dt, pt)), Some((dr, pr))) => dt == dr && pt.starts_with(&pr),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
    }

    #[test]
    fn a_path_is_within_itself_on_its_mount() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().canonicalize().unwrap();
        assert!(within(&p.join("x"), &p));
        assert!(!within(Path::new("/"), &p));
    }
}
