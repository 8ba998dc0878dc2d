//! How `phlb backup` fails: kills, locks, unreadable files, bad setups. Nothing is lost.

mod common;

use std::fs;
use std::os::fd::AsRawFd;

use common::*;

fn status_of(env: &Env, sql: &str) -> Vec<String> {
    let db = env.db();
    let mut stmt = db.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn killed_run_is_never_complete_and_next_run_succeeds() {
    let env = Env::new();
    write_tree(&env, 20, 150, "first");
    env.backup();
    // Change everything so the second run has real work, then kill it part-way.
    write_tree(&env, 20, 150, "changed");
    assert!(
        kill_backup_part_way(&env, 200),
        "the run ended before it could be killed"
    );
    let statuses = status_of(&env, "SELECT status FROM snapshots ORDER BY id");
    assert_eq!(statuses, vec!["complete", "incomplete"]);
    assert_eq!(
        env.snapshots("src").len(),
        1,
        "no killed snapshot has a final name"
    );
    let snap = env.backup();
    let (got, want) = (tree(&snap), tree(&env.src));
    assert_eq!(got.len(), want.len());
    for (path, node) in want {
        if node.kind == "file" {
            assert_eq!(got[&path].data, node.data);
        }
    }
    let statuses = status_of(&env, "SELECT status FROM snapshots ORDER BY id");
    assert_eq!(
        statuses,
        vec!["complete", "complete"],
        "the dead run's rows are gone"
    );
    let leftovers: Vec<_> = fs::read_dir(env.root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".inprogress"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let dangling = env.sql_int("SELECT count(*) FROM copies k WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.copy_id = k.id)");
    assert_eq!(dangling, 0);
}

#[test]
fn second_concurrent_run_is_refused() {
    let env = Env::new();
    env.write("a", b"a");
    env.backup();
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(env.root.join(".phlb/lock"))
        .unwrap();
    // SAFETY: flock on an open descriptor.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    fs::write(env.root.join(".phlb/lock"), "4242\n").unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("another phlb run (pid 4242) is writing"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(env.snapshots("src").len(), 1);
    drop(lock);
}

#[test]
fn stale_lock_is_taken_over() {
    let env = Env::new();
    env.write("a", b"a");
    env.backup();
    fs::write(env.root.join(".phlb/lock"), "999999\n").unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(stderr(&out).contains("stale lock of process 999999"));
    assert_eq!(env.snapshots("src").len(), 2);
}

#[test]
fn unreadable_file_is_named_counted_and_exits_1() {
    let env = Env::new();
    env.write("ok.txt", b"fine");
    let bad = env.write("secret.txt", b"hidden");
    set_mode(&bad, 0o000);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    set_mode(&bad, 0o644);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secret.txt: cannot open"),
        "{}",
        stderr(&out)
    );
    let snap = env.snapshots("src").pop().expect("the run finished");
    assert_eq!(fs::read(snap.join("ok.txt")).unwrap(), b"fine");
    assert!(!snap.join("secret.txt").exists());
    let failed = env.sql_int("SELECT failed FROM snapshot_runs");
    assert_eq!(failed, 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed:  1"));
    // The summary names the file, and list says the run is not clean.
    let summary = fs::read_to_string(beside(&snap, "-summary.txt")).unwrap();
    assert!(
        summary.contains("failed files:") && summary.contains("secret.txt: cannot open"),
        "{summary}"
    );
    let list = env.run(&["list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("complete, 1 failed"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
}

#[test]
fn unreadable_folder_is_kept_empty_named_and_exits_1() {
    let env = Env::new();
    env.write("ok/a.txt", b"fine");
    env.write("locked/inner.txt", b"hidden");
    let locked = env.src.join("locked");
    set_mode(&locked, 0o000);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    set_mode(&locked, 0o755);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("locked: "), "{}", stderr(&out));
    let snap = env.snapshots("src").pop().expect("the run finished");
    assert_eq!(fs::read(snap.join("ok/a.txt")).unwrap(), b"fine");
    assert!(snap.join("locked").is_dir(), "the folder itself is kept");
    assert!(!snap.join("locked/inner.txt").exists());
    assert_eq!(env.sql_int("SELECT failed FROM snapshot_runs"), 1);
}

#[test]
fn backup_root_inside_source_is_not_copied_into_itself() {
    let env = Env::new();
    env.write("a.txt", b"a");
    let root = env.src.join("backups");
    env.init(&root);
    let run = |env: &Env| {
        env.cmd_at(&root)
            .args(["backup", env.src.to_str().unwrap()])
            .output()
            .unwrap()
    };
    assert_ok(&run(&env));
    assert_ok(&run(&env));
    let snaps: Vec<_> = fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir() && !e.path().is_symlink())
        .collect();
    assert_eq!(snaps.len(), 2);
    for s in snaps {
        assert!(s.path().join("a.txt").exists());
        assert!(!s.path().join("backups").exists());
    }
}

#[test]
fn bad_setups_get_one_line_and_exit_2() {
    let env = Env::new();
    env.write("a", b"a");
    let file_source = env.write("plain-file", b"x");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["backup".into(), "/no/such/folder".into()],
            "/no/such/folder: cannot back up",
        ),
        (
            vec!["backup".into(), file_source.display().to_string()],
            "not a folder",
        ),
        (
            vec!["--config".into(), "/no/such.ini".into(), "config".into()],
            "/no/such.ini: config file not found",
        ),
    ];
    for (args, want) in cases {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
    }
    assert!(env.nothing_backed_up(), "nothing was created");
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

#[test]
fn two_runs_in_the_same_second_do_not_collide() {
    let env = Env::new();
    // A format of whole days makes every run of the day collide, as runs within one
    // second do with the default.
    env.config("SUB_DIR_FORMATTER = %Y-%m-%d");
    env.write("a", b"a");
    env.backup();
    env.backup();
    env.backup();
    let day = today();
    let names: Vec<String> = env
        .snapshots("src")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![day.clone(), format!("{day}-1"), format!("{day}-2")]
    );
}
