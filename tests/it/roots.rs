//! Roots made on purpose (issue #27): a folder that is not a backup root is never
//! written into (the unmounted drive), `phlb init` makes one and says where, the default
//! root still appears on first use, and every writing command says where it wrote.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

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
    // Found by a sysadmin: with the root on a mount that was not mounted, backup
    // exited 0 and wrote a full copy into the empty mount-point folder.
    let env = Env::bare();
    env.write("a.txt", b"alpha");
    let mount_point = env.dir.path().join("media/usb");
    fs::create_dir_all(&mount_point).unwrap();
    let out = env
        .cmd_at(&mount_point)
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
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
    let out = env
        .cmd_at(&root)
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
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
    // Found by a sysadmin: from another folder (cron starts in $HOME) nothing said
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
fn prune_on_a_completely_full_disk_frees_the_space_in_one_run() {
    // Found by a sysadmin: "cannot drop from the catalog: database or disk is full:
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
