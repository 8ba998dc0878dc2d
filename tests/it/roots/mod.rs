//! Roots made on purpose: a folder that is not a backup root is never written into (the
//! unmounted drive), `phlb init` makes one and says where, the default root still appears
//! on first use, adopted roots keep their snapshots.

mod copied;

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Every entry under `dir`, as relative paths.
fn listing(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .flatten()
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[test]
fn an_unmounted_drive_is_never_filled() {
    // Regression: with the root on a mount that was not mounted, backup
    // exited 0 and wrote a full copy into the empty mount-point folder.
    let env = Env::bare();
    env.write("a.txt", b"alpha");
    let mount_point = env.dir.path().join("media/usb");
    fs::create_dir_all(&mount_point).unwrap();
    let out = env.backup_into(&mount_point);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(
        err.contains("not a phlb backup root") && err.contains("phlb init"),
        "{err}"
    );
    assert!(err.contains("is the drive mounted?"), "{err}");
    assert!(
        listing(&mount_point).is_empty(),
        "{:?}",
        listing(&mount_point)
    );
    // A removable drive's folder that is gone is not made on the system disk either,
    // and readers say the same.
    let gone = env.dir.path().join("media/LABEL");
    for args in [
        vec!["backup", env.src.to_str().unwrap()],
        vec!["list"],
        vec!["status"],
        vec!["prune", "--keep-last", "1"],
        vec!["verify"],
    ] {
        let out = env.cmd_at(&gone).args(&args).output().unwrap();
        assert_code(&out, 2);
        assert!(stderr(&out).contains("not a phlb backup root"), "{args:?}");
        assert!(!gone.exists(), "{args:?} made the root");
    }
}

#[test]
fn init_makes_a_root_then_backup_writes_there() {
    let env = Env::bare();
    env.write("a.txt", b"alpha");
    let root = env.dir.path().join("drive/backups");
    let out = env.cmd_at(&root).args(["init"]).output().unwrap();
    assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("is a new backup root, on ext4") || said.contains("on "),
        "{said}"
    );
    assert!(said.contains(root.to_str().unwrap()), "{said}");
    assert!(root.join(".phlb/catalog.sqlite3").is_file());
    // Again: says it is one already, changes nothing.
    let out = env.cmd_at(&root).args(["init", "--json"]).output().unwrap();
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["existed"], true);
    let out = env.backup_into(&root);
    assert_ok(&out);
    let snapshots = fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .count();
    assert_eq!(snapshots, 1);
    // backup --init makes the root in the same command.
    let other = env.dir.path().join("other");
    let out = env
        .cmd_at(&other)
        .args(["backup", "--init", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(other.join(".phlb").is_dir());
    assert!(
        stderr(&out).contains("is a new backup root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_default_root_is_made_by_the_first_backup() {
    // The README's first command on a fresh machine: no ini, no --backup-root.
    let env = Env::bare();
    env.write("a.txt", b"alpha");
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
    assert_ok(&out);
    let root = env.dir.path().join("phlb-backups");
    assert!(root.join(".phlb").is_dir());
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("where:   root {}, no config file", root.display())));
    // A reader of a missing default root is refused like any other non-root.
    fs::remove_dir_all(&root).unwrap();
    let out = bare().args(["list"]).output().unwrap();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("not a phlb backup root"));
}

#[test]
fn init_adopts_a_folder_of_snapshots_that_lost_its_catalog_folder() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    fs::remove_dir_all(env.root.join(".phlb")).unwrap();
    let out = env.run(&["list"]);
    assert_code(&out, 2);
    let out = env.run(&["init"]);
    assert_ok(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("the 1 snapshot folder(s) it holds are recorded"),
        "{said}"
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'complete'"),
        1
    );
    assert_eq!(tree(&snap), tree(&env.src));
}

#[test]
fn every_writing_command_says_which_root_and_config_it_used() {
    // Regression: from another folder (cron starts in $HOME) nothing said
    // which root or config file a run used.
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.config("KEEP_LAST = 5");
    let ini = env.dir.path().join("phlb.ini");
    let elsewhere = env.dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let run = |args: &[&str]| {
        env.cmd()
            .current_dir(&elsewhere)
            .arg("--config")
            .arg(&ini)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let root = env.root.canonicalize().unwrap();
    let want = format!("root {}, config {}", root.display(), ini.display());
    assert!(text.contains(&want), "{text}");
    let out = run(&["backup", "--json", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["root"], root.display().to_string());
    assert_eq!(v["config"], ini.display().to_string());
    for args in [vec!["verify"], vec!["add"], vec!["prune"]] {
        let out = run(&args);
        assert_ok(&out);
        assert!(stderr(&out).contains(&want), "{args:?}: {}", stderr(&out));
    }
    // And in their JSON (verify: its summary line).
    for args in [
        vec!["verify", "--json"],
        vec!["add", "--json"],
        vec!["prune", "--json"],
    ] {
        let out = run(&args);
        assert_ok(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        let doc: serde_json::Value = if args[0] == "verify" {
            serde_json::from_str(text.lines().last().unwrap()).unwrap()
        } else {
            serde_json::from_str(&text).unwrap()
        };
        assert_eq!(doc["root"], root.display().to_string(), "{args:?}: {doc}");
        assert_eq!(doc["config"], ini.display().to_string(), "{args:?}: {doc}");
    }
}

#[test]
fn no_create_root_in_an_old_ini_gives_one_note() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.config("NO_CREATE_ROOT = true");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(err.matches("NO_CREATE_ROOT").count(), 1, "{err}");
    assert!(err.contains("no longer does anything"), "{err}");
    // And `config` no longer lists it.
    let out = env.run(&["config"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("NO_CREATE_ROOT ="));
}

#[test]
fn an_adopted_root_records_its_snapshots_so_the_next_backup_is_the_newest() {
    // Regression: `init` on a folder of snapshots that lost `.phlb` made an empty
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
fn an_existing_empty_default_root_folder_is_not_filled_and_home_unset_is_not_slash() {
    // Regression: the default-root exception wrote into an existing empty
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
    // Regression: `init` made a root inside a complete snapshot (changing it),
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
#[ignore = "needs root (mounts a tmpfs) and strace"]
fn a_backup_whose_drive_is_unmounted_mid_run_leaves_the_mount_point_empty() {
    // Regression: the failed backup recorded its attempt by
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
    let out = env.backup_into(&point);
    assert_code(&out, 2);
}

#[test]
fn missing_root_is_an_error_whatever_no_create_root_says() {
    let env = Env::bare();
    env.config("NO_CREATE_ROOT = false");
    env.write("a", b"a");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is the drive mounted?"));
    assert!(!env.root.exists());
}
