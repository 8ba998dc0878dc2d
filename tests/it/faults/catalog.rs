//! A catalog that a kill, a full disk or an older phlb left half-made, or that is garbage,
//! foreign, newer or on another filesystem: never wedges a root, never overwritten.

use std::fs;
use std::process::Command;

use crate::common::*;

/// After whatever a kill left, a plain backup and a verify must both pass.
fn recovers(env: &Env, what: &str) {
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{what}: the next backup failed: {}",
        stderr(&out)
    );
    let out = env.run(&["verify"]);
    assert!(
        out.status.success(),
        "{what}: verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

#[test]
#[ignore = "slow: dozens of killed runs under strace"]
fn killed_catalog_creation_never_wedges_the_root() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("d/b.txt", b"beta");
    for (syscall, upto) in [
        ("pwrite64", 40),
        ("fsync", 10),
        ("rename", 4),
        ("unlink", 4),
    ] {
        let mut kills = 0;
        for n in 1..=upto {
            // The catalog is made by `init` (and on first use of the default root, by
            // the first backup, which runs the same code).
            let _ = fs::remove_dir_all(&env.root);
            kills += u32::from(killed_at(&env, syscall, n, &["init"]));
            let out = env.run(&["init"]);
            assert!(
                out.status.success(),
                "init killed at {syscall} #{n}: init again failed: {}",
                stderr(&out)
            );
            recovers(&env, &format!("init killed at {syscall} #{n}"));
        }
        assert!(kills > 0, "no run was killed at {syscall}");
    }
}

#[test]
#[ignore = "slow: dozens of killed runs under strace"]
fn killed_add_rebuilding_the_catalog_never_wedges_the_root() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    env.write("b.txt", b"beta");
    env.backup();
    for (syscall, upto) in [("pwrite64", 40), ("fsync", 10), ("rename", 3)] {
        let mut kills = 0;
        for n in 1..=upto {
            env.remove_catalog();
            kills += u32::from(killed_at(&env, syscall, n, &["add"]));
            let out = env.run(&["add"]);
            assert!(
                out.status.success(),
                "add killed at {syscall} #{n}: the next add failed: {}",
                stderr(&out)
            );
            let complete = env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'complete'");
            assert_eq!(complete, 2, "add killed at {syscall} #{n}");
            let out = env.run(&["verify"]);
            assert!(
                out.status.success(),
                "add killed at {syscall} #{n}: verify failed: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        assert!(kills > 0, "no add was killed at {syscall}");
    }
    // Leave a state for the last backup: it links everything to the recorded snapshots.
    recovers(&env, "after the add sweep");
}

#[test]
fn half_made_catalog_of_an_older_phlb_is_made_anew() {
    // What an older phlb left when killed between creating refinery's table and the
    // first migration, or after a first migration that did not set the application id.
    for schema in [
        "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY, name VARCHAR(255), applied_on VARCHAR(255), checksum VARCHAR(255));",
        "CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY); CREATE TABLE snapshot_runs (id INTEGER PRIMARY KEY);",
    ] {
        let env = Env::bare();
        env.write("a.txt", b"alpha");
        fs::create_dir_all(env.root.join(".phlb")).unwrap();
        let catalog = env.root.join(".phlb/catalog.sqlite3");
        rusqlite::Connection::open(&catalog)
            .unwrap()
            .execute_batch(schema)
            .unwrap();
        let out = env.run(&["list"]);
        assert_code(&out, 2);
        assert!(stderr(&out).contains("half-made"), "{}", stderr(&out));
        let out = env.run(&["backup", env.src.to_str().unwrap()]);
        assert_ok(&out);
        let err = stderr(&out);
        assert!(err.contains("half-made") && err.contains("broken-"), "{err}");
        assert_eq!(
            env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'complete'"),
            1
        );
        let aside = fs::read_dir(env.root.join(".phlb"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".broken-"))
            .count();
        assert!(aside >= 1, "the half-made catalog is kept aside, not deleted");
        assert_ok(&env.run(&["verify"]));
    }
}

#[test]
fn empty_catalog_in_a_root_with_snapshots_records_them_before_backing_up() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("big.bin", &vec![7u8; 100_000]);
    let first = env.backup();
    let catalog = env.root.join(".phlb/catalog.sqlite3");
    for f in ["-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{f}", catalog.display()));
    }
    fs::write(&catalog, b"").unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("the catalog is new"),
        "{}",
        stderr(&out)
    );
    let second = env.snapshots("src").pop().unwrap();
    assert_ne!(first, second);
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'complete'"),
        2,
        "the older snapshot is recorded again"
    );
    assert_eq!(
        ino(&first.join("big.bin")),
        ino(&second.join("big.bin")),
        "the new run links to the recorded snapshot instead of copying again"
    );
    assert_eq!(
        env.sql_int("SELECT new_bytes FROM snapshots ORDER BY id DESC LIMIT 1"),
        0
    );
}

#[test]
#[ignore = "slow: killed runs under strace"]
fn killed_add_or_repair_leaves_no_temp_file_in_a_snapshot() {
    // add relinking a snapshot copied in by hand, killed at each rename it makes.
    for n in 1..=4 {
        let env = Env::new();
        env.write("x", b"x");
        env.backup();
        let same: &[u8] = b"same";
        let hand = env.hand_snapshot(
            "h/2026-01-01-000000",
            &[("f1", same), ("f2", same), ("f3", same), ("f4", same)],
        );
        killed_at(&env, "rename", n, &["add"]);
        assert_ok(&env.run(&["add"]));
        let out = env.run(&["verify"]);
        assert!(
            out.status.success(),
            "add killed at rename #{n}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let names: Vec<String> = fs::read_dir(&hand)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("phlb-tmp")), "{names:?}");
    }
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn catalog_on_another_filesystem_is_refused_until_rebuilt() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    let disk = SmallDisk::mount(&env.dir.path().join("other"), "16m")
        .expect("mounting a tmpfs needs root");
    // The backups, copied to another disk with their hardlinks (and their catalog).
    let moved = disk.0.join("root");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&env.root)
        .arg(&moved)
        .status()
        .unwrap()
        .success());
    let out = env.backup_into(&moved);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("on another filesystem"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    // The advice works: move the catalog aside, rebuild, back up.
    fs::rename(
        moved.join(".phlb/catalog.sqlite3"),
        moved.join(".phlb/old-catalog.sqlite3"),
    )
    .unwrap();
    assert_ok(&env.cmd_at(&moved).arg("add").output().unwrap());
    assert_ok(&env.backup_into(&moved));
    let snaps = snapshots_at(&moved, "src");
    assert_eq!(snaps.len(), 2);
    assert_eq!(ino(&snaps[0].join("a.txt")), ino(&snaps[1].join("a.txt")));
}

#[test]
fn garbage_or_foreign_or_newer_catalog_is_refused_untouched() {
    let env = Env::bare();
    env.write("a", b"a");
    fs::create_dir_all(env.root.join(".phlb")).unwrap();
    let cat = env.root.join(".phlb/catalog.sqlite3");

    fs::write(&cat, vec![0x42u8; 8192]).unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a phlb catalog (not an SQLite database)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(&cat).unwrap(), vec![0x42u8; 8192]);

    fs::remove_file(&cat).unwrap();
    rusqlite::Connection::open(&cat)
        .unwrap()
        .execute_batch("CREATE TABLE other (x)")
        .unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a phlb catalog (an SQLite database of another program)"));

    fs::remove_file(&cat).unwrap();
    env.backup();
    env.db()
        .execute_batch(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (999, 'future', '2030-01-01T00:00:00Z', '1')",
        )
        .unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("catalog schema v999 is newer than this phlb"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.snapshots("src").len(), 1);
}
