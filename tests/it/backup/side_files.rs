//! The files beside a snapshot follow change: an unchanged snapshot links the previous
//! manifest and keeps a log of a few lines.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The side files of `snap`: manifest, log, summary and instant.
fn side_files(snap: &Path) -> Vec<PathBuf> {
    [
        ".SHA256SUMS",
        "-backup.log",
        "-summary.txt",
        "-snapshot.json",
    ]
    .iter()
    .map(|end| {
        let mut p = snap.as_os_str().to_owned();
        p.push(end);
        PathBuf::from(p)
    })
    .collect()
}

#[test]
fn an_unchanged_snapshot_shares_the_previous_manifest_and_keeps_a_short_log() {
    // A no-change run of 200k files wrote 44.8 MB of side files: a manifest line and a
    // log line per file.
    let env = Env::new();
    write_tree(&env, 10, 200, "v0");
    settle();
    let first = backup_at(&env, "2026-05-01 10:00:00");
    let second = backup_at(&env, "2026-05-02 10:00:00");
    let (a, b) = (side_files(&first), side_files(&second));
    let (ma, mb) = (fs::metadata(&a[0]).unwrap(), fs::metadata(&b[0]).unwrap());
    assert_eq!(
        (ma.ino(), mb.nlink()),
        (mb.ino(), 2),
        "one manifest, two links"
    );
    let new_blocks: u64 = b[1..]
        .iter()
        .map(|p| fs::metadata(p).unwrap().blocks() * 512)
        .sum();
    assert!(new_blocks <= 64 << 10, "{new_blocks} B of new side files");
    let log = fs::read_to_string(&b[1]).unwrap();
    assert!(log.lines().count() < 10, "{log}");
    // Still readable by `sha256sum -c` from the snapshot folder.
    let out = Command::new("sha256sum")
        .args(["-c", "--quiet"])
        .arg(&b[0])
        .current_dir(&second)
        .output()
        .unwrap();
    assert_ok(&out);
    // A change gives the next snapshot a manifest of its own; the shared one is intact.
    env.write("d00/f000", b"changed");
    let third = backup_at(&env, "2026-05-03 10:00:00");
    let mc = fs::metadata(&side_files(&third)[0]).unwrap();
    assert_ne!(mc.ino(), mb.ino());
    assert_eq!(fs::metadata(&b[0]).unwrap().nlink(), 2);
    let log = fs::read_to_string(&side_files(&third)[1]).unwrap();
    assert!(log.contains("copied  d00/f000"), "{log}");
    assert_ok(&env.run(&["verify"]));
}
