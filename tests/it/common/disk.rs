//! What tests read and set on disk: inode, links, mode, mtime, a whole tree, chattr.

use super::Node;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use walkdir::WalkDir;

/// Sets a file's mtime to `t`, before 1970 or after 2262 as well.
pub fn set_mtime_to(p: &Path, t: std::time::SystemTime) {
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(t))
        .unwrap();
}

pub fn ino(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().ino()
}

pub fn nlink(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().nlink()
}

pub fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

pub fn mtime_ns(p: &Path) -> i64 {
    let md = fs::symlink_metadata(p).unwrap();
    md.mtime() * 1_000_000_000 + md.mtime_nsec()
}

pub fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets a file's mtime to `secs` seconds plus `nsec` nanoseconds.
pub fn set_mtime(p: &Path, secs: u64, nsec: u32) {
    set_mtime_to(
        p,
        std::time::UNIX_EPOCH + std::time::Duration::new(secs, nsec),
    );
}

/// Every entry under `dir` (not following symlinks) with what a test compares.
pub fn tree(dir: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    for e in WalkDir::new(dir).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap();
        let rel: &OsStr = if rel.as_os_str().is_empty() {
            OsStr::new(".")
        } else {
            rel.as_os_str()
        };
        let md = e.path().symlink_metadata().unwrap();
        let (kind, data) = if md.is_dir() {
            ("dir", Vec::new())
        } else if md.file_type().is_symlink() {
            (
                "symlink",
                fs::read_link(e.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            ("file", fs::read(e.path()).unwrap())
        };
        let node = Node {
            kind,
            data,
            mode: md.mode() & 0o7777,
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        };
        out.insert(rel.as_bytes().to_vec(), node);
    }
    out
}

pub fn chattr(flag: &str, p: &std::path::Path) {
    let ok = Command::new("chattr")
        .arg(flag)
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "chattr {flag} needs root and a filesystem with the flag"
    );
}

/// A filesystem made in an image file and loop-mounted for one test (needs root),
/// unmounted when dropped.
pub struct LoopDisk {
    pub mnt: std::path::PathBuf,
    /// The loop device holding the image.
    dev: std::path::PathBuf,
}

impl LoopDisk {
    /// Makes `fs` (`xfs` with reflink, `btrfs`, or `ext4-seconds`: ext4 keeping times to
    /// the whole second) in a 320 MiB sparse image under `dir`
    /// and mounts it at `dir/<fs>`; None when that cannot be done (not root, no mkfs).
    pub fn mount(dir: &Path, fs: &str) -> Option<LoopDisk> {
        let img = dir.join(format!("{fs}.img"));
        let mnt = dir.join(fs);
        fs::create_dir_all(&mnt).ok()?;
        fs::File::create(&img).ok()?.set_len(320 << 20).ok()?;
        let mkfs = match fs {
            "xfs" => Command::new("mkfs.xfs")
                .args(["-q", "-m", "reflink=1"])
                .arg(&img)
                .output(),
            // ext4 with 128-byte inodes: times to the whole second.
            "ext4-seconds" => Command::new("mkfs.ext4")
                .args(["-q", "-F", "-I", "128"])
                .arg(&img)
                .output(),
            _ => Command::new("mkfs.btrfs").arg("-q").arg(&img).output(),
        };
        if !mkfs.ok()?.status.success() {
            return None;
        }
        // A loop device of its own, kept while mounted, so the filesystem keeps its
        // device number when `flip_byte_of` mounts it again.
        let dev = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&img)
            .output()
            .ok()?;
        let dev = std::path::PathBuf::from(String::from_utf8_lossy(&dev.stdout).trim());
        if dev.as_os_str().is_empty() {
            return None;
        }
        let mounted = Command::new("mount").arg(&dev).arg(&mnt).output().ok()?;
        if !mounted.status.success() {
            let _ = Command::new("losetup").arg("-d").arg(&dev).status();
            return None;
        }
        Some(LoopDisk { mnt, dev })
    }

    /// Unmounts the filesystem, flips one bit of the byte at `at` of every 4 KiB
    /// block of the image that starts with `head` (a content's first bytes: where its
    /// data lie, however many files share them), and mounts it again (no cache left).
    /// Returns how many blocks it changed (blocks a file freed may hold the bytes too).
    pub fn flip_byte_of(&self, head: &[u8], at: usize) -> usize {
        assert!(Command::new("umount")
            .arg(&self.mnt)
            .status()
            .unwrap()
            .success());
        let mut image = fs::read(&self.dev).unwrap();
        let mut flipped = 0;
        for block in image.chunks_mut(4096) {
            if block.starts_with(head) {
                block[at] ^= 0x01;
                flipped += 1;
            }
        }
        fs::OpenOptions::new()
            .write(true)
            .open(&self.dev)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &image))
            .unwrap();
        let mounted = Command::new("mount")
            .arg(&self.dev)
            .arg(&self.mnt)
            .status()
            .unwrap();
        assert!(mounted.success());
        flipped
    }

    /// Bytes in use after a full `sync` (`btrfs filesystem sync` as well on btrfs, so
    /// freed extents are given back before `df` counts).
    pub fn used_synced(&self) -> u64 {
        let _ = Command::new("btrfs")
            .args(["filesystem", "sync"])
            .arg(&self.mnt)
            .output();
        Command::new("sync").status().unwrap();
        self.used()
    }

    /// Bytes in use on the filesystem, after its writes are on disk.
    pub fn used(&self) -> u64 {
        Command::new("sync")
            .arg("-f")
            .arg(&self.mnt)
            .status()
            .unwrap();
        let out = Command::new("df")
            .args(["--output=used", "-B1"])
            .arg(&self.mnt)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// True when `filefrag -v` says some extent of `p` is shared with another file.
pub fn shares_extents(p: &Path) -> bool {
    let out = Command::new("filefrag").arg("-v").arg(p).output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("shared")
}

/// `len` bytes that no filesystem compresses, dedupes or turns into holes, the same for
/// the same `seed` and different for different ones.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
