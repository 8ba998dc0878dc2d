//! `LINK = reflink | auto` (#32): every snapshot path its own inode, cloned from the
//! stored copy on a filesystem that clones (loop-mounted XFS and btrfs, made by the
//! tests: root only), refused where it cannot, and `auto` picking each way.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

pub(super) const BIG: usize = 4 << 20;

/// A source with one large content under two paths of different mode and mtime, and a
/// small file.
pub(super) fn fill_source(env: &Env) {
    let big = noise(BIG, 7);
    env.write("a", &big);
    let copy = env.write("d/a-copy", &big);
    set_mode(&copy, 0o600);
    set_mtime(&copy, 1_577_836_800, 123_456_789);
    env.write("b", b"small");
}

pub(super) fn backup_with(env: &Env, root: &Path, link: &str) -> Output {
    env.cmd_at(root)
        .args(["backup", env.src.to_str().unwrap(), "--link", link])
        .output()
        .unwrap()
}

/// Every regular file below `dir`, relative.
pub(super) fn files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

/// Two reflink runs on `fs`: each path its own inode with the source's exact mode and
/// ns mtime, unchanged content sharing extents, the second run costing no new content,
/// one stored copy per content in the catalog, and verify and restore passing.
fn two_runs_clone_on(fs_name: &str) {
    let env = Env::new();
    let disk = LoopDisk::mount(env.dir.path(), fs_name).expect("loop-mounting needs root");
    let root = disk.mnt.join("root");
    env.init(&root);
    fill_source(&env);
    let out = backup_with(&env, &root, "reflink");
    assert_ok(&out);
    assert!(
        stdout(&out).contains("links:   reflink"),
        "{}",
        stdout(&out)
    );
    let before = disk.used();
    let out = backup_with(&env, &root, "reflink");
    assert_ok(&out);
    let grown = disk.used().saturating_sub(before);
    assert!(
        grown < (BIG / 4) as u64,
        "{fs_name}: a run without change grew the disk by {grown} bytes"
    );
    let snaps = snapshots_at(&root, "src");
    assert_eq!(snaps.len(), 2);
    let mut inodes = HashSet::new();
    for snap in &snaps {
        for rel in files(snap) {
            let (at, from) = (snap.join(&rel), env.src.join(&rel));
            assert!(inodes.insert(ino(&at)), "{}: shares an inode", at.display());
            assert_eq!(nlink(&at), 1, "{}", at.display());
            assert_eq!(mode(&at), mode(&from), "{}", at.display());
            assert_eq!(mtime_ns(&at), mtime_ns(&from), "{}", at.display());
            assert_eq!(fs::read(&at).unwrap(), fs::read(&from).unwrap());
        }
    }
    for rel in ["a", "d/a-copy"] {
        assert!(
            shares_extents(&snaps[1].join(rel)),
            "{fs_name}: {rel} shares no extent"
        );
    }
    let db = rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3")).unwrap();
    let copies: i64 = db
        .query_row("SELECT count(*) FROM copies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        copies, 2,
        "one stored copy per content, clones are not rows"
    );
    drop(db);
    assert_ok(&env.cmd_at(&root).args(["verify"]).output().unwrap());
    let to = env.dir.path().join("restored");
    let out = env
        .cmd_at(&root)
        .args(["restore", "src", "--to"])
        .arg(&to)
        .output()
        .unwrap();
    assert_ok(&out);
    for rel in files(&env.src) {
        let (got, want) = (to.join(&rel), env.src.join(&rel));
        assert_eq!(fs::read(&got).unwrap(), fs::read(&want).unwrap());
        assert_eq!((mode(&got), mtime_ns(&got)), (mode(&want), mtime_ns(&want)));
    }
}

#[test]
#[ignore = "needs root (loop-mounts an XFS image)"]
fn reflink_gives_every_path_its_own_inode_on_xfs() {
    two_runs_clone_on("xfs");
}

#[test]
#[ignore = "needs root (loop-mounts a btrfs image)"]
fn reflink_gives_every_path_its_own_inode_on_btrfs() {
    two_runs_clone_on("btrfs");
}

#[test]
fn reflink_is_refused_where_the_filesystem_cannot_clone() {
    let env = Env::new();
    fill_source(&env);
    let out = backup_with(&env, &env.root, "reflink");
    assert_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot make reflinks"), "{err}");
    assert!(env.nothing_backed_up());
}

#[test]
#[ignore = "needs root (loop-mounts an XFS image)"]
fn auto_picks_reflink_on_xfs_and_hardlinks_on_the_test_disk() {
    let env = Env::new();
    let disk = LoopDisk::mount(env.dir.path(), "xfs").expect("loop-mounting needs root");
    let xfs_root = disk.mnt.join("root");
    env.init(&xfs_root);
    fill_source(&env);
    for root in [&xfs_root, &env.root] {
        for _ in 0..2 {
            assert_ok(&backup_with(&env, root, "auto"));
        }
    }
    let out = backup_with(&env, &xfs_root, "auto");
    assert!(
        stdout(&out).contains("reflink (LINK = auto"),
        "{}",
        stdout(&out)
    );
    let out = backup_with(&env, &env.root, "auto");
    assert!(
        stdout(&out).contains("hardlink, DEDUP = strict (LINK = auto"),
        "{}",
        stdout(&out)
    );
    let on_xfs = snapshots_at(&xfs_root, "src");
    assert_eq!(nlink(&on_xfs[0].join("a")), 1);
    assert_ne!(ino(&on_xfs[0].join("a")), ino(&on_xfs[1].join("a")));
    let here = snapshots_at(&env.root, "src");
    assert_eq!(
        ino(&here[0].join("a")),
        ino(&here[1].join("a")),
        "hardlinked"
    );
}
