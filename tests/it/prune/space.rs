//! What `phlb prune` frees: exact freed bytes against `du`, last copies, the space reserve
//! and full disks.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::common::*;

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn backups_never_use_up_the_space_reserve_that_prune_needs() {
    // Regression: a backup (or verify, add) on a full disk gave the reserve back
    // and could not make it again; prune then failed on the full disk.
    let env = Env::bare();
    let disk = SmallDisk::mount(&env.dir.path().join("small"), "24m")
        .expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    let phlb = |args: &[&str]| env.cmd_at(&root).args(args).output().unwrap();
    for i in 0..3u8 {
        env.write("big", &vec![i; 3 << 20]);
        assert_ok(&phlb(&["backup", env.src.to_str().unwrap()]));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    disk.fill();
    env.write("new", b"new data");
    assert_code(&phlb(&["backup", env.src.to_str().unwrap()]), 2);
    assert_code(&phlb(&["verify", "--fast"]), 2);
    assert!(
        root.join(".phlb/reserve").is_file(),
        "a backup used the reserve"
    );
    assert_ok(&phlb(&["prune", "--keep-last", "1"]));
}

#[test]
fn freed_bytes_equal_the_real_drop_of_du() {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    env.write("kept.bin", &vec![7u8; 50_000]);
    env.write("old/gone.bin", &vec![1u8; 300_000]);
    env.write("old/twice-a.bin", &vec![2u8; 70_000]);
    env.write("old/twice-b.bin", &vec![2u8; 70_000]);
    std::os::unix::fs::symlink(
        "a/long/target/name/that/needs/a/block/of/its/own/on/ext4/because/it/is/long",
        env.src.join("old/link"),
    )
    .unwrap();
    backup_at(&env, "2026-02-01 10:00:00");
    fs::remove_dir_all(env.src.join("old")).unwrap();
    backup_at(&env, "2026-02-02 10:00:00");
    let plan = json(&env.run(&["prune", "--keep-last", "1", "-n", "--json", "--show-lost"]));
    assert_eq!(plan["freed"]["bytes"], 300_000 + 70_000);
    assert_eq!(plan["lost_files"], 2);
    let before = du(&env);
    let done = json(&env.run(&["prune", "--keep-last", "1", "--json"]));
    assert_eq!(done["removed"], 1);
    let after = du(&env);
    assert_eq!(
        before - after,
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    assert_eq!(
        fs::read(env.snapshots("src")[0].join("kept.bin")).unwrap(),
        vec![7u8; 50_000]
    );
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn the_writer_lock_is_taken_on_a_full_disk() {
    // Regression: at 0 bytes free, prune (the command a full disk needs) stopped
    // at "cannot write the lock file" — the pid in it only serves messages.
    let env = Env::new();
    let disk =
        SmallDisk::mount(&env.dir.path().join("small"), "8m").expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    env.write("a.txt", b"a");
    let out = env.backup_into(&root);
    assert_ok(&out);
    disk.fill();
    let out = env
        .cmd_at(&root)
        .args(["prune", "--keep-last", "1"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("lock file"), "{}", stderr(&out));
    assert_eq!(fs::read(root.join("src/latest/a.txt")).unwrap(), b"a");
}

#[test]
fn last_copy_is_reported_when_the_other_snapshot_holding_it_was_deleted_by_hand() {
    // Regression: X in s1 and s2 (one inode); s2 removed with `rm -rf` (or
    // already `missing` after verify); `prune --keep-last 1` then removed s1 saying
    // "frees 0 B in 0 stored copies", lost 0: X was gone from disk.
    for by_verify in [false, true] {
        let env = Env::new();
        env.write("x.bin", &vec![3u8; 40_000]);
        let s1 = backup_at(&env, "2026-03-01 10:00:00");
        let s2 = backup_at(&env, "2026-03-02 10:00:00");
        fs::remove_file(env.src.join("x.bin")).unwrap();
        env.write("y.txt", b"newest");
        backup_at(&env, "2026-03-03 10:00:00");
        fs::remove_dir_all(&s2).unwrap();
        if by_verify {
            env.run(&["verify", "--fast"]);
            assert_eq!(
                env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'missing'"),
                1
            );
        }
        let plan = json(&env.run(&["prune", "--keep-last", "1", "-n", "--json", "--show-lost"]));
        assert_eq!(plan["freed"]["bytes"], 40_000, "{plan}");
        assert_eq!(plan["freed"]["copies"], 1, "{plan}");
        assert_eq!(plan["lost_files"], 1, "{plan}");
        assert_eq!(plan["lost"][0]["path"], "x.bin", "{plan}");
        let text = env.run(&["prune", "--keep-last", "1", "-n", "--show-lost"]);
        let out = String::from_utf8_lossy(&text.stdout);
        assert!(
            out.contains("1 file has its last copy") && out.contains("x.bin"),
            "{out}"
        );
        let before = du(&env);
        assert_ok(&env.run(&["prune", "--keep-last", "1"]));
        assert!(!s1.exists());
        assert_eq!(
            before - du(&env),
            plan["freed"]["disk_bytes"].as_u64().unwrap()
        );
    }
}

/// A fresh env whose backup root is a tmpfs of its own when `tmpfs` (bound as
/// `let (env, _disk)`, so the disk is unmounted before the temp folder goes).
pub(super) fn env_on(tmpfs: bool) -> (Env, Option<SmallDisk>) {
    let env = Env::bare();
    let disk = tmpfs.then(|| {
        let disk = SmallDisk::mount(&env.root, "400m").expect("mounting a tmpfs needs root");
        set_mode(&env.root, 0o700);
        disk
    });
    env.init(&env.root);
    (env, disk)
}

/// Runs `prune ARGS` after its dry run, asserting that the disk bytes announced are the
/// drop of `du`, to the byte; returns the plan.
pub(super) fn assert_freed_exactly(env: &Env, args: &[&str], what: &str) -> serde_json::Value {
    let mut dry = args.to_vec();
    dry.extend(["-n", "--json"]);
    let plan = json(&env.run(&dry));
    let before = du(env);
    let out = env.run(args);
    assert_ne!(out.status.code(), Some(2), "{what}: {}", stderr(&out));
    let after = du(env);
    assert_eq!(
        before - after,
        plan["freed"]["disk_bytes"].as_u64().unwrap(),
        "{what}: announced {plan}"
    );
    plan
}

/// A killed backup with new copies on disk and (almost surely) no catalog rows for
/// them yet; asserts that it left more files than rows.
fn killed_run_with_new_copies(env: &Env) {
    for i in 0..40 {
        env.write(&format!("big/{i:02}"), &noise(1 << 20, i));
    }
    assert!(
        kill_backup_part_way(env, 12),
        "the backup finished before the kill"
    );
    let part = fs::read_dir(env.root.join("src"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".inprogress"))
        .expect("a killed run's folder")
        .path();
    let on_disk = walkdir::WalkDir::new(&part)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count() as i64;
    let rows = env.sql_int(
        // The rows the killed run wrote itself: the versions it started.
        "SELECT count(*) FROM versions v JOIN snapshot_runs s ON s.line = v.line AND v.lo = s.pos
         WHERE s.status = 'incomplete' AND v.kind = 'file'",
    );
    assert!(on_disk > rows, "{on_disk} files, {rows} rows");
}

#[test]
#[ignore = "needs root (mounts a tmpfs); slow"]
fn freed_bytes_count_killed_run_leftovers_hand_deleted_snapshots_and_shrinking_manifests_to_the_byte(
) {
    // Regression: a killed run's ~40 MB of new copies (no rows yet) were
    // announced as `frees 0 B`, `disk_bytes 4096`; `--keep-versions 1` over 3 x 200
    // changed paths announced 1,638,400 B where `du` dropped 1,687,552 B (manifests).
    for tmpfs in [false, true] {
        let on = if tmpfs { "tmpfs" } else { "ext4" };
        // Plain removal.
        let (env, _disk) = env_on(tmpfs);
        env.write("kept.bin", &noise(50_000, 1));
        env.write("old/gone.bin", &noise(300_000, 2));
        std::os::unix::fs::symlink("t".repeat(200), env.src.join("old/link")).unwrap();
        backup_at(&env, "2026-05-01 10:00:00");
        fs::remove_dir_all(env.src.join("old")).unwrap();
        backup_at(&env, "2026-05-02 10:00:00");
        assert_freed_exactly(
            &env,
            &["prune", "--keep-last", "1"],
            &format!("plain on {on}"),
        );
        drop((env, _disk));
        // An incomplete snapshot a killed run left.
        let (env, _disk) = env_on(tmpfs);
        env.write("small", b"x");
        backup_at(&env, "2026-05-01 10:00:00");
        killed_run_with_new_copies(&env);
        let plan = assert_freed_exactly(
            &env,
            &["prune", "--keep-last", "1"],
            &format!("killed on {on}"),
        );
        assert!(
            plan["freed"]["bytes"].as_u64().unwrap() >= 5 << 20,
            "{plan}"
        );
        drop((env, _disk));
        // A snapshot deleted by hand held the other link of a removed file.
        let (env, _disk) = env_on(tmpfs);
        env.write("x.bin", &noise(40_000, 3));
        backup_at(&env, "2026-05-01 10:00:00");
        let s2 = backup_at(&env, "2026-05-02 10:00:00");
        fs::remove_file(env.src.join("x.bin")).unwrap();
        backup_at(&env, "2026-05-03 10:00:00");
        fs::remove_dir_all(&s2).unwrap();
        assert_freed_exactly(
            &env,
            &["prune", "--keep-last", "1"],
            &format!("by hand on {on}"),
        );
        drop((env, _disk));
        // Trims: 200 changed paths in each of 3 snapshots.
        let (env, _disk) = env_on(tmpfs);
        for (i, t) in [
            "2026-05-01 10:00:00",
            "2026-05-02 10:00:00",
            "2026-05-03 10:00:00",
        ]
        .iter()
        .enumerate()
        {
            write_tree(&env, 4, 50, &format!("v{i}"));
            backup_at(&env, t);
        }
        assert_freed_exactly(
            &env,
            &["prune", "--keep-versions", "1"],
            &format!("trims on {on}"),
        );
        assert_ok(&env.run(&["verify"]));
        drop((env, _disk));
        // All of it in one prune.
        let (env, _disk) = env_on(tmpfs);
        let times = [
            "2026-05-01 10:00:00",
            "2026-05-02 10:00:00",
            "2026-05-03 10:00:00",
        ];
        let mut snaps = Vec::new();
        for (i, t) in times.iter().enumerate() {
            write_tree(&env, 2, 50, &format!("v{i}"));
            env.write("x.bin", &noise(40_000, 9));
            snaps.push(backup_at(&env, t));
        }
        fs::remove_file(env.src.join("x.bin")).unwrap();
        write_tree(&env, 2, 50, "v3");
        backup_at(&env, "2026-05-04 10:00:00");
        fs::remove_dir_all(&snaps[1]).unwrap();
        killed_run_with_new_copies(&env);
        assert_freed_exactly(
            &env,
            &["prune", "--keep-last", "2", "--keep-versions", "1"],
            &format!("mix on {on}"),
        );
        drop((env, _disk));
    }
}

#[test]
fn prune_on_a_completely_full_disk_frees_the_space_in_one_run() {
    // Regression: "cannot drop from the catalog: database or disk is full:
    // database or disk is full" (said twice), although the files were already deleted.
    let env = Env::bare();
    let disk = SmallDisk::mount(&env.dir.path().join("small"), "24m")
        .expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    let phlb = |args: &[&str]| env.cmd_at(&root).args(args).output().unwrap();
    for i in 0..3u32 {
        let body: Vec<u8> = (0..2_000_000u32)
            .map(|n| (n.wrapping_mul(2654435761).wrapping_add(i) >> 11) as u8)
            .collect();
        env.write("big.bin", &body);
        env.write(&format!("f{i}.txt"), format!("version {i}").as_bytes());
        assert_ok(&phlb(&["backup", env.src.to_str().unwrap()]));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert!(root.join(".phlb/reserve").is_file(), "no space reserve");
    disk.fill();
    let out = phlb(&["prune", "--keep-last", "1"]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(!err.contains("disk is full"), "{err}");
    let runs: i64 = rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3"))
        .unwrap()
        .query_row("SELECT count(*) FROM snapshot_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1, "{err}");
    // The space came back: two snapshots' big files, less the reserve made again.
    let free = free_bytes(&disk.0);
    assert!(free > 3_000_000, "only {free} bytes free");
    assert!(
        root.join(".phlb/reserve").is_file(),
        "the reserve was not made again"
    );
    assert_ok(&phlb(&["verify"]));
}

/// Free bytes of the filesystem holding `p`.
fn free_bytes(p: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
