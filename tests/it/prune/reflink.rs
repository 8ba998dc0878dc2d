//! Prune's freed bytes under `LINK = reflink` (#32) on loop-mounted XFS and btrfs (root
//! only): a content's shared extents go only with its last user, so the figure counts
//! each stored copy whose last entry goes once, whatever number of clones it had; the
//! drop of `df` after a sync agrees within max(1 %, 4 MiB).

use std::path::Path;

use super::json;
use crate::common::*;

const MIB: usize = 1 << 20;

fn backup(env: &Env, root: &Path) {
    let out = env
        .cmd_at(root)
        .args(["backup", env.src.to_str().unwrap(), "--link", "reflink"])
        .output()
        .unwrap();
    assert_ok(&out);
}

fn freed_matches_df(fs_name: &str) {
    let env = Env::new();
    let disk = LoopDisk::mount(env.dir.path(), fs_name).expect("loop-mounting needs root");
    let root = disk.mnt.join("root");
    env.init(&root);
    // Kept: in both snapshots (clones in the second). Gone: 24 MiB stored once, under
    // two paths (a clone), only in the first snapshot.
    env.write("kept.bin", &noise(8 * MIB, 1));
    env.write("old/gone.bin", &noise(24 * MIB, 2));
    env.write("old/gone-too.bin", &noise(24 * MIB, 2));
    backup(&env, &root);
    std::fs::remove_dir_all(env.src.join("old")).unwrap();
    env.write("new.bin", &noise(8 * MIB, 3));
    backup(&env, &root);
    let prune = |args: &[&str]| {
        env.cmd_at(&root)
            .args(["prune", "--keep-last", "1", "--json"])
            .args(args)
            .output()
            .unwrap()
    };
    let plan = json(&prune(&["-n"]));
    assert_eq!(plan["freed"]["bytes"], 24 * MIB, "{fs_name}: {plan}");
    assert_eq!(plan["freed"]["copies"], 1, "{fs_name}: {plan}");
    let announced = plan["freed"]["disk_bytes"].as_u64().unwrap();
    let before = disk.used_synced();
    let done = json(&prune(&[]));
    assert_eq!(done["removed"], 1);
    let after = disk.used_synced();
    let dropped = before.saturating_sub(after);
    let slack = (announced / 100).max(4 << 20);
    assert!(
        dropped.abs_diff(announced) <= slack,
        "{fs_name}: announced {announced} bytes, df dropped {dropped}"
    );
    let kept = snapshots_at(&root, "src");
    assert_eq!(
        std::fs::read(kept[0].join("kept.bin")).unwrap(),
        noise(8 * MIB, 1)
    );
}

#[test]
#[ignore = "needs root (loop-mounts an XFS image)"]
fn reflink_prune_frees_what_df_shows_on_xfs() {
    freed_matches_df("xfs");
}

#[test]
#[ignore = "needs root (loop-mounts a btrfs image)"]
fn reflink_prune_frees_what_df_shows_on_btrfs() {
    freed_matches_df("btrfs");
}
