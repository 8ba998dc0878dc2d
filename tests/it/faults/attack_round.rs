//! Regression tests for what the attack round on the merged roots, time, source and
//! resume work found (each named after its finding).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use common::*;

fn chattr(flag: &str, p: &std::path::Path) {
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

/// Kills `phlb backup src` at the `n`th rename (a few files finished under their final
/// names in the in-progress folder); returns that folder.
fn killed_backup(env: &Env, n: u32) -> std::path::PathBuf {
    for i in 1..=6u8 {
        env.write(&format!("f{i}"), &vec![i; 4 << 20]);
    }
    assert!(
        killed_at(env, "rename", n, &["backup", env.src.to_str().unwrap()])
            || killed_at(env, "renameat2", n, &["backup", env.src.to_str().unwrap()])
    );
    fs::read_dir(env.root.join("src"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".inprogress"))
        .expect("no in-progress folder")
}

#[test]
fn an_adopted_root_records_its_snapshots_so_the_next_backup_is_the_newest() {
    // Found by an attack: `init` on a folder of snapshots that lost `.phlb` made an empty
    // catalog; the next backup got sequence 1 like the oldest, and after `add` a prune
    // --keep-last 1 removed the snapshot just made.
    let env = Env::new();
    env.write("f", b"old1");
    backup_at(&env, "2026-01-01 10:00:00");
    env.write("f", b"old2");
    backup_at(&env, "2026-01-02 10:00:00");
    fs::remove_dir_all(env.root.join(".phlb")).unwrap();
    let out = env.run(&["init"]);
    assert_ok(&out);
    env.write("f", b"NEWEST");
    let newest = env.backup();
    assert_ok(&env.run(&["add"]));
    assert_ok(&env.run(&["prune", "--keep-last", "1"]));
    assert_eq!(env.snapshots("src"), vec![newest.clone()]);
    assert_eq!(fs::read(newest.join("f")).unwrap(), b"NEWEST");
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn a_root_unmounted_under_a_running_watch_is_never_made_again_on_the_system_disk() {
    // Found by an attack: after `umount`, watch made a fresh .phlb, catalog and snapshot
    // in the empty mount point.
    let env = Env::bare();
    env.config("WATCH_DELAY = 1\nWATCH_MAX_WAIT = 3\nWATCH_MIN_INTERVAL = 1\nSYNC = false");
    env.write("a", b"1");
    let point = env.dir.path().join("usb");
    let disk = SmallDisk::mount(&point, "20m").expect("mounting a tmpfs needs root");
    set_mode(&point, 0o700);
    env.init(&point);
    let mut cmd = env.cmd_at(&point);
    cmd.args(["watch", env.src.to_str().unwrap()]);
    let watch = Watched::spawn(&env, cmd);
    assert!(
        wait_for(|| watch.stderr().contains("phlb: watching")),
        "{}",
        watch.stderr()
    );
    let ok = Command::new("umount")
        .arg("-l")
        .arg(&point)
        .status()
        .unwrap();
    assert!(ok.success());
    std::mem::forget(disk); // already unmounted
    env.write("a", b"2");
    assert!(
        wait_for(|| watch.stderr().contains("not a phlb backup root")),
        "{}",
        watch.stderr()
    );
    let mut child = watch.child;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        fs::read_dir(&point).unwrap().count(),
        0,
        "wrote into the mount point"
    );
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn backups_never_use_up_the_space_reserve_that_prune_needs() {
    // Found by an attack: a backup (or verify, add) on a full disk gave the reserve back
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
fn an_existing_empty_default_root_folder_is_not_filled_and_home_unset_is_not_slash() {
    // Found by an attack: the default-root exception wrote into an existing empty
    // ~/phlb-backups (an empty mount point there), and with HOME unset the default
    // root was /phlb-backups.
    let env = Env::bare();
    env.write("a", b"a");
    let default = env.dir.path().join("phlb-backups");
    fs::create_dir(&default).unwrap();
    let bare = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_phlb"));
        c.current_dir(env.dir.path())
            .env("HOME", env.dir.path())
            .env_remove("PHLB_BACKUP_ROOT")
            .env_remove("PHLB_CONFIG");
        c
    };
    let out = bare()
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("not a phlb backup root"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_dir(&default).unwrap().count(), 0);
    let out = Command::new(env!("CARGO_BIN_EXE_phlb"))
        .current_dir(env.dir.path())
        .env_remove("HOME")
        .env_remove("PHLB_BACKUP_ROOT")
        .env_remove("PHLB_CONFIG")
        .args(["config", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = v["keys"]["BACKUP_PATH"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(path, "/phlb-backups");
    assert!(path.ends_with("/phlb-backups"), "{path}");
}

#[test]
fn init_inside_a_root_and_a_dot_phlb_symlink_are_refused() {
    // Found by an attack: `init` made a root inside a complete snapshot (changing it),
    // and readers followed a `.phlb` symlink to another root's catalog.
    let env = Env::new();
    env.write("a", b"a");
    let snap = env.backup();
    for inside in [
        snap.join("nested"),
        env.root.join("src"),
        env.root.join(".phlb/x"),
    ] {
        let out = env.cmd_at(&inside).arg("init").output().unwrap();
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("inside the backup root"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!snap.join("nested").exists());
    assert_ok(&env.run(&["verify"]));
    let other = env.dir.path().join("other");
    fs::create_dir(&other).unwrap();
    std::os::unix::fs::symlink(env.root.join(".phlb"), other.join(".phlb")).unwrap();
    for args in [
        vec!["list"],
        vec!["status"],
        vec!["prune", "--keep-last", "1", "-n"],
    ] {
        let out = env.cmd_at(&other).args(&args).output().unwrap();
        assert_code(&out, 2);
    }
}

#[test]
#[ignore = "slow: a killed run under strace"]
fn a_leftover_hardlinked_from_outside_is_never_linked_into_a_snapshot() {
    // Found by an attack: a finished leftover replaced by a hard link to a file outside
    // the root was linked in; writing to the outside file changed the snapshot.
    let env = Env::new();
    let inprogress = killed_backup(&env, 4);
    let target = fs::read_dir(&inprogress)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .expect("no finished leftover");
    let rel = target.file_name().unwrap().to_owned();
    let outside = env.dir.path().join("outside");
    fs::copy(env.src.join(&rel), &outside).unwrap();
    let md = fs::metadata(env.src.join(&rel)).unwrap();
    set_mtime(&outside, md.mtime() as u64, md.mtime_nsec() as u32);
    fs::remove_file(&target).unwrap();
    fs::hard_link(&outside, &target).unwrap();
    let snap = env.backup();
    assert_ne!(
        ino(&snap.join(&rel)),
        ino(&outside),
        "linked the outside file"
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (chattr) and strace"]
fn an_immutable_leftover_of_a_killed_run_never_fails_the_next_backup() {
    // Found by an attack: a leftover in-progress folder holding an immutable file made
    // every backup exit 2, although its snapshot was complete.
    let env = Env::new();
    let inprogress = killed_backup(&env, 3);
    let stuck = fs::read_dir(&inprogress)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .expect("no leftover file");
    chattr("+i", &stuck);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    chattr("-i", &stuck);
    assert_ok(&out);
    assert!(stderr(&out).contains("chattr -R -ia"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("os error"), "{}", stderr(&out));
    // Once it can be deleted, the next run removes it.
    assert_ok(&env.run(&["backup", env.src.to_str().unwrap()]));
    assert!(!inprogress.exists());
}

#[test]
#[ignore = "needs root (chattr)"]
fn a_new_snapshot_never_takes_the_name_of_a_stuck_removal_in_the_trash() {
    // Found by an attack: in the repeated hour of a DST switch a new snapshot got the
    // folder name of one whose removal was stuck in the trash; the next run, finishing
    // that removal, dropped the new snapshot's catalog rows.
    let env = Env::new();
    env.write("a", b"1");
    let trashed = env.root.join(".phlb/trash/src/2026-03-01-100000");
    fs::create_dir_all(&trashed).unwrap();
    fs::write(trashed.join("a"), b"old").unwrap();
    chattr("+i", &trashed.join("a"));
    let out = Command::new("faketime")
        .args(["-f", "2026-03-01 10:00:00"])
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(["backup", env.src.to_str().unwrap()])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .unwrap();
    let listed = env.run(&["list", "--json"]);
    let again = env.run(&["backup", env.src.to_str().unwrap()]);
    chattr("-i", &trashed.join("a"));
    assert_ok(&out);
    assert_ok(&again);
    assert!(env.root.join("src/2026-03-01-100000-1").is_dir());
    assert!(!env.root.join("src/2026-03-01-100000").exists());
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'complete'"),
        2,
        "a live snapshot's rows were dropped"
    );
}

#[test]
#[ignore = "needs root (mounts a tmpfs) and strace"]
fn a_backup_whose_drive_is_unmounted_mid_run_leaves_the_mount_point_empty() {
    // Found by the second attack round: the failed backup recorded its attempt by
    // making `.phlb` in the empty mount point, and every later backup then wrote there.
    let env = Env::bare();
    write_tree(&env, 20, 50, "one");
    let point = env.dir.path().join("usb");
    let disk = SmallDisk::mount(&point, "50m").expect("mounting a tmpfs needs root");
    set_mode(&point, 0o700);
    env.init(&point);
    // The walk slowed down, so the unmount lands mid-run.
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-o",
        "/dev/null",
        "-e",
        "inject=getdents64:delay_exit=200000",
    ])
    .arg(env!("CARGO_BIN_EXE_phlb"))
    .arg("--backup-root")
    .arg(&point)
    .args(["backup", env.src.to_str().unwrap()])
    .current_dir(env.dir.path())
    .env("HOME", env.dir.path());
    let run = Watched::spawn(&env, cmd);
    assert!(wait_for(|| point.join("src").is_dir()), "{}", run.stderr());
    assert!(Command::new("umount")
        .arg("-l")
        .arg(&point)
        .status()
        .unwrap()
        .success());
    std::mem::forget(disk);
    let (status, err) = run.finish();
    assert_ne!(status.code(), Some(0), "{err}");
    assert_eq!(
        fs::read_dir(&point).unwrap().count(),
        0,
        "wrote into the mount point: {err}"
    );
    let out = env
        .cmd_at(&point)
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_code(&out, 2);
}

#[test]
fn forget_missing_keeps_the_rows_of_snapshots_whose_folders_are_there() {
    // Found by the second attack round: a verify run while the drive was unmounted
    // marked present snapshots missing, and `forget --missing` dropped their rows.
    let env = Env::new();
    env.write("a", b"a");
    let snap = env.backup();
    env.db()
        .execute("UPDATE snapshot_runs SET status = 'missing'", [])
        .unwrap();
    assert_ok(&env.run(&["forget", "--missing"]));
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 1);
    assert!(snap.is_dir());
}

#[test]
fn a_fifo_where_a_snapshot_file_was_never_hangs_a_restore() {
    // Found by the second attack round: restore blocked forever opening it, holding the
    // snapshot's lock (prune waited behind it).
    let env = Env::new();
    env.write("a", b"alpha");
    env.write("b", b"beta");
    let snap = env.backup();
    fs::remove_file(snap.join("a")).unwrap();
    let made = Command::new("mkfifo").arg(snap.join("a")).status().unwrap();
    assert!(made.success());
    let mut cmd = env.cmd();
    cmd.args(["restore", "src", "--to"])
        .arg(env.dir.path().join("out"));
    let mut run = Watched::spawn(&env, cmd);
    assert!(
        wait_for(|| run.child.try_wait().unwrap().is_some()),
        "restore hangs: {}",
        run.stderr()
    );
    let (status, err) = run.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(fs::read(env.dir.path().join("out/b")).unwrap(), b"beta");
}

#[test]
#[ignore = "needs root (chown to another user)"]
fn a_token_file_another_user_owns_or_can_swap_is_refused() {
    // Found by the second attack round: serve took a token file owned by `nobody`, or
    // in a folder anyone may write, whose owner could read or set root's token.
    let env = Env::new();
    let theirs = env.dir.path().join("theirs");
    fs::write(&theirs, "abcdefghijklmnopqrstuvwxyz012345\n").unwrap();
    set_mode(&theirs, 0o600);
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let open = env.dir.path().join("open");
    fs::create_dir(&open).unwrap();
    set_mode(&open, 0o777);
    fs::write(open.join("t"), "abcdefghijklmnopqrstuvwxyz012345\n").unwrap();
    set_mode(&open.join("t"), 0o600);
    for file in [theirs, open.join("t")] {
        let out = env
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert_code(&out, 2);
        assert!(stderr(&out).contains("another user"), "{}", stderr(&out));
    }
}
