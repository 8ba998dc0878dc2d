//! `verify` under `LINK = reflink` (#32) on loop-mounted XFS and btrfs (root only): the
//! clones of one content are read once while their extents are shared, a flipped byte
//! in a shared extent names every path that shows it (and no path that does not), and
//! `--repair` puts a clone back with the path's own metadata, never a hardlink.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::reflink::{backup_with, fill_source, BIG};
use crate::common::*;

/// A root on a fresh `fs_name` image with two reflink runs of the usual source, whose
/// `d/a-copy` carries a user attribute.
fn two_runs(env: &Env, fs_name: &str) -> (LoopDisk, PathBuf, Vec<PathBuf>) {
    let disk = LoopDisk::mount(env.dir.path(), fs_name).expect("loop-mounting needs root");
    let root = disk.mnt.join("root");
    env.init(&root);
    fill_source(env);
    setfattr(&env.src.join("d/a-copy"), "kept");
    for _ in 0..2 {
        assert_ok(&backup_with(env, &root, "reflink"));
    }
    let snaps = snapshots_at(&root, "src");
    (disk, root, snaps)
}

fn setfattr(p: &Path, value: &str) {
    let ok = Command::new("setfattr")
        .args(["-n", "user.tag", "-v", value])
        .arg(p)
        .status()
        .unwrap();
    assert!(ok.success());
}

fn getfattr(p: &Path) -> String {
    let out = Command::new("getfattr")
        .args(["--only-values", "-n", "user.tag"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `phlb verify ARGS --json` in `root`: its output and its summary (the last line).
fn verify(env: &Env, root: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let out = env
        .cmd_at(root)
        .arg("verify")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or("{}").to_string();
    (out, serde_json::from_str(&last).unwrap_or_default())
}

/// How verify names `rel` of snapshot folder `snap`.
fn label(snap: &Path, rel: &str) -> String {
    format!("src/{}/{rel}", snap.file_name().unwrap().to_str().unwrap())
}

/// The problem lines about content read wrong or not at all (not the recorded damage).
fn read_problems(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.contains("content damaged") || l.contains("cannot read"))
        .map(str::to_string)
        .collect()
}

fn shared_extents_read_once_and_damage_named(fs_name: &str) {
    let env = Env::new();
    let (disk, root, snaps) = two_runs(&env, fs_name);
    let (out, sum) = verify(&env, &root, &[]);
    assert_ok(&out);
    let hashed = sum["hashed_bytes"].as_u64().unwrap();
    assert!(
        (BIG as u64..2 * BIG as u64).contains(&hashed),
        "{fs_name}: four clones of one content read {hashed} bytes"
    );
    let content = noise(BIG, 7);
    assert!(disk.flip_byte_of(&content[..64], 100) >= 1);
    let (out, _) = verify(&env, &root, &[]);
    assert_code(&out, 1);
    let found = read_problems(&out);
    assert_eq!(found.len(), 1, "{fs_name}: {}", stdout(&out));
    for snap in &snaps {
        for rel in ["a", "d/a-copy"] {
            assert!(found[0].contains(&label(snap, rel)), "{fs_name}: {found:?}");
        }
    }
    // One path rewritten with its right bytes (and its own mtime back) shares nothing
    // any more: it is read on its own, found good, and not named with the damage.
    let apart = snaps[1].join("d/a-copy");
    let mtime = mtime_ns(&apart);
    fs::write(&apart, &content).unwrap();
    set_mtime(
        &apart,
        (mtime / 1_000_000_000) as u64,
        (mtime % 1_000_000_000) as u32,
    );
    let (out, sum) = verify(&env, &root, &[]);
    assert_code(&out, 1);
    // The rewritten path was read on its own (btrfs: the damaged group reads nothing,
    // its checksum fails).
    let hashed = sum["hashed_bytes"].as_u64().unwrap();
    assert!(hashed >= BIG as u64, "{fs_name}: read {hashed} bytes");
    let found = read_problems(&out);
    assert_eq!(found.len(), 1, "{fs_name}: {}", stdout(&out));
    assert!(
        !found[0].contains(&label(&snaps[1], "d/a-copy")),
        "{found:?}"
    );
    for (snap, rel) in [(&snaps[0], "a"), (&snaps[0], "d/a-copy"), (&snaps[1], "a")] {
        assert!(found[0].contains(&label(snap, rel)), "{fs_name}: {found:?}");
    }
}

#[test]
#[ignore = "needs root (loop-mounts an XFS image)"]
fn reflink_verify_reads_shared_extents_once_and_names_every_damaged_path_on_xfs() {
    shared_extents_read_once_and_damage_named("xfs");
}

#[test]
#[ignore = "needs root (loop-mounts a btrfs image)"]
fn reflink_verify_reads_shared_extents_once_and_names_every_damaged_path_on_btrfs() {
    shared_extents_read_once_and_damage_named("btrfs");
}

fn repair_puts_clones_back(fs_name: &str) {
    let env = Env::new();
    let (disk, root, snaps) = two_runs(&env, fs_name);
    let content = noise(BIG, 7);
    assert!(disk.flip_byte_of(&content[..64], 100) >= 1);
    assert_code(&verify(&env, &root, &[]).0, 1);
    // The next backup never clones the damaged copy: it stores a fresh one.
    assert_ok(&backup_with(&env, &root, "reflink"));
    let out = env
        .cmd_at(&root)
        .args(["verify", "--repair"])
        .output()
        .unwrap();
    assert_code(&out, 1);
    assert_eq!(
        stdout(&out).matches("cloned from the good copy").count(),
        4,
        "{fs_name}: {}",
        stdout(&out)
    );
    let mut inodes = std::collections::HashSet::new();
    for snap in snapshots_at(&root, "src") {
        for rel in super::reflink::files(&snap) {
            assert!(inodes.insert(ino(&snap.join(&rel))), "{}", rel.display());
        }
    }
    for snap in &snaps {
        for rel in ["a", "d/a-copy"] {
            let (at, from) = (snap.join(rel), env.src.join(rel));
            assert_eq!(nlink(&at), 1, "{fs_name}: {} is a hardlink", at.display());
            assert_eq!(fs::read(&at).unwrap(), content, "{}", at.display());
            assert_eq!((mode(&at), mtime_ns(&at)), (mode(&from), mtime_ns(&from)));
            assert!(
                shares_extents(&at),
                "{fs_name}: {} is no clone",
                at.display()
            );
        }
        assert_eq!(getfattr(&snap.join("d/a-copy")), "kept");
    }
    let (out, _) = verify(&env, &root, &[]);
    assert_ok(&out);
}

#[test]
#[ignore = "needs root (loop-mounts an XFS image)"]
fn reflink_verify_repair_puts_a_clone_back_with_the_paths_own_metadata_on_xfs() {
    repair_puts_clones_back("xfs");
}

#[test]
#[ignore = "needs root (loop-mounts a btrfs image)"]
fn reflink_verify_repair_puts_a_clone_back_with_the_paths_own_metadata_on_btrfs() {
    repair_puts_clones_back("btrfs");
}
