//! A catalog phlb cannot write, or cannot make side files for, gets one line naming the
//! path and the real cause, and the commands that only read keep answering.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// The lines phlb printed on stderr, asserting there is exactly one and it is an error.
fn one_error_line(out: &Output) -> String {
    assert_code(out, 2);
    assert_no_panic(out);
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("phlb: error: "), "{err}");
    err
}

/// Backs up a small tree onto a tmpfs and fills it (the tests that call it are ignored
/// unless root, which can mount one).
fn full_disk(env: &Env) -> (SmallDisk, PathBuf) {
    let disk =
        SmallDisk::mount(&env.dir.path().join("small"), "4m").expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    for i in 0..20 {
        env.write(&format!("f{i}.txt"), format!("file {i}").as_bytes());
    }
    let out = env.backup_into(&root);
    assert_ok(&out);
    disk.fill();
    (disk, root)
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn full_disk_list_and_sql_answer_instead_of_disk_io_error() {
    let env = Env::new();
    let (_disk, root) = full_disk(&env);
    let out = env.cmd_at(&root).args(["list", "--json"]).output().unwrap();
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["files"], 20, "{rows}");
    let out = env
        .cmd_at(&root)
        .args([
            "sql",
            "SELECT count(*) AS n FROM files WHERE kind = 'file'",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n20\n");
    // While a writer holds the lock, a reader that cannot read the usual way says so.
    let mut held = env.cmd_at(&root);
    held.arg("list");
    let lock = fs::File::open(root.join(".phlb/lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) },
        0
    );
    let err = one_error_line(&held.output().unwrap());
    assert!(err.contains("another phlb run is writing"), "{err}");
    drop(lock);
    // While such a reader reads, a writer is told who holds the lock.
    let reader = fs::File::open(root.join(".phlb/lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&reader), libc::LOCK_SH) },
        0
    );
    let out = env.backup_into(&root);
    let err = one_error_line(&out);
    assert!(err.contains("a phlb query is reading the catalog"), "{err}");
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn full_disk_verify_and_add_name_the_path_and_the_cause() {
    let env = Env::new();
    let (_disk, root) = full_disk(&env);
    // The space reserve is for removals only: these stop, naming the path and the
    // cause, and leave it in place for a prune.
    for args in [&["verify", "--fast"][..], &["add"]] {
        let out = env.cmd_at(&root).args(args).output().unwrap();
        let err = one_error_line(&out);
        assert!(err.contains(root.to_str().unwrap()), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
        assert!(
            root.join(".phlb/reserve").is_file(),
            "{args:?} used the reserve"
        );
    }
}

#[test]
fn read_only_catalog_is_one_line_naming_it_and_creates_nothing() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.backup();
    let catalog = env.root.join(".phlb/catalog.sqlite3");
    set_mode(&catalog, 0o400);
    let before: Vec<PathBuf> = listing(&env.root);
    let src = env.src.to_str().unwrap();
    for args in [
        &["backup", src, "--name", "other"][..],
        &["verify", "--fast"],
        &["add"],
    ] {
        let out = run_without_dac_override(&env, args);
        let err = one_error_line(&out);
        assert!(err.contains(catalog.to_str().unwrap()), "{args:?}: {err}");
        assert!(err.contains("Permission denied"), "{args:?}: {err}");
        assert!(err.contains("mode 0400"), "{args:?}: {err}");
        assert_eq!(listing(&env.root), before, "{args:?} created something");
    }
    // Reading needs no write permission.
    assert_ok(&run_without_dac_override(&env, &["list"]));
}

#[test]
fn read_only_side_files_left_behind_are_repaired_not_called_locked() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.backup();
    let catalog = env.root.join(".phlb/catalog.sqlite3");
    set_mode(&catalog, 0o400);
    // A reader of the read-only catalog leaves its -wal and -shm behind, mode 0400.
    assert_ok(&run_without_dac_override(&env, &["list"]));
    let sides = ["-wal", "-shm"].map(|s| PathBuf::from(format!("{}{s}", catalog.display())));
    for side in &sides {
        assert_eq!(mode(side), 0o400, "{}", side.display());
    }
    set_mode(&catalog, 0o600);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(!err.contains("locked"), "{err}");
    // The -shm is made writable again (SQLite itself replaces an empty -wal).
    let line = format!("{}: was mode 0400", sides[1].display());
    assert_eq!(err.matches(&line).count(), 1, "{err}");
    for side in &sides {
        assert!(!side.exists() || mode(side) == 0o600, "{}", side.display());
    }
    assert_eq!(env.snapshots("src").len(), 2);
    assert_ok(&run_without_dac_override(&env, &["verify", "--fast"]));
}

#[test]
fn side_file_of_another_user_is_named_with_its_mode_not_called_locked() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.backup();
    let shm = env.root.join(".phlb/catalog.sqlite3-shm");
    fs::write(&shm, vec![0u8; 32768]).unwrap();
    std::os::unix::fs::chown(&shm, Some(4242), Some(4242)).unwrap();
    fs::set_permissions(&shm, fs::Permissions::from_mode(0o400)).unwrap();
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    let err = one_error_line(&out);
    assert!(err.contains(shm.to_str().unwrap()), "{err}");
    assert!(err.contains("mode 0400, owner uid 4242"), "{err}");
    assert!(!err.contains("locked"), "{err}");
    assert_eq!(fs::metadata(&shm).unwrap().uid(), 4242, "left as it was");
    assert_eq!(env.snapshots("src").len(), 1);
}

/// Every path under `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn full_disk_read_says_when_changes_in_the_wal_are_not_seen() {
    let env = Env::new();
    let (disk, root) = full_disk(&env);
    fs::remove_file(disk.0.join("filler")).unwrap();
    // A writer killed before its changes reached the catalog file leaves them in the WAL.
    let killed = rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3")).unwrap();
    killed
        .execute_batch("PRAGMA wal_autocheckpoint = 0; UPDATE snapshot_runs SET files = 999;")
        .unwrap();
    std::mem::forget(killed);
    // With its -shm gone too, a reader would have to make a new one on the full disk.
    fs::remove_file(root.join(".phlb/catalog.sqlite3-shm")).unwrap();
    disk.fill();
    let out = env.cmd_at(&root).args(["list", "--json"]).output().unwrap();
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("recent changes in"), "{err}");
    assert!(err.contains("catalog.sqlite3-wal"), "{err}");
}
