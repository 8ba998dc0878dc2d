//! Manifests that unchanged snapshots share (one inode, a link per snapshot): what
//! removing and trimming them frees, to the byte, and that a trim never changes the
//! lines of the snapshots that keep theirs.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::space::{assert_freed_exactly, env_on};
use crate::common::*;

fn manifest(snap: &Path) -> PathBuf {
    let mut side = snap.as_os_str().to_owned();
    side.push(".SHA256SUMS");
    PathBuf::from(side)
}

/// Three snapshots of the same tree, all linked to one manifest.
fn three_unchanged(env: &Env) -> Vec<PathBuf> {
    write_tree(env, 3, 40, "v0");
    let snaps: Vec<PathBuf> = [
        "2026-05-01 10:00:00",
        "2026-05-02 10:00:00",
        "2026-05-03 10:00:00",
    ]
    .iter()
    .map(|t| backup_at(env, t))
    .collect();
    let first = fs::metadata(manifest(&snaps[0])).unwrap();
    assert_eq!(
        first.nlink(),
        3,
        "the unchanged snapshots share one manifest"
    );
    snaps
}

#[test]
fn removing_snapshots_that_share_a_manifest_frees_it_only_with_its_last_link() {
    let (env, _disk) = env_on(false);
    let snaps = three_unchanged(&env);
    assert_freed_exactly(&env, &["prune", "--keep-last", "2"], "one of three links");
    assert!(!snaps[0].exists());
    assert_freed_exactly(&env, &["prune", "--keep-last", "1"], "two of two links");
    assert_eq!(fs::metadata(manifest(&snaps[2])).unwrap().nlink(), 1);
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_trim_rewrites_a_shared_manifest_beside_the_others_never_in_place() {
    let (env, _disk) = env_on(false);
    let snaps = three_unchanged(&env);
    let before = fs::read(manifest(&snaps[0])).unwrap();
    // A fourth snapshot with every file changed makes the first three's versions old.
    write_tree(&env, 3, 40, "v1");
    backup_at(&env, "2026-05-04 10:00:00");
    env.write("d00/f000", b"a version of its own");
    let fifth = backup_at(&env, "2026-05-05 10:00:00");
    assert_freed_exactly(&env, &["prune", "--keep-versions", "2"], "trims");
    // The oldest snapshots lost their lines; the newer keep theirs, unchanged.
    assert!(fs::read(manifest(&snaps[0])).unwrap().len() < before.len());
    let kept = fs::read_to_string(manifest(&fifth)).unwrap();
    assert_eq!(kept.lines().count(), 120, "{kept}");
    assert_ok(&env.run(&["verify"]));
}
