//! Regression tests: what phlb says agrees with the disk: snapshot folders the catalog
//! lacks are reported, leftovers are notes, not damage, times keep their meaning, and
//! output it cannot write ends it cleanly.

mod common;

use std::fs;

use common::*;

#[test]
fn verify_reports_snapshot_folders_the_catalog_does_not_know() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    let copy = snap.with_file_name("2020-01-01-000000");
    fs::create_dir(&copy).unwrap();
    fs::write(copy.join("a.txt"), b"alpha").unwrap();
    let out = env.run(&["verify"]);
    assert_code(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("2020-01-01-000000: snapshot folder not in the catalog"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_ok(&env.run(&["add"]));
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn leftovers_of_an_interrupted_run_are_notes_not_damage() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    let leftover = snap.with_file_name("2020-01-01-000000.inprogress");
    fs::create_dir(&leftover).unwrap();
    let out = env.run(&["verify"]);
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains("leftover of an interrupted run"),
        "{}",
        stderr(&out)
    );
    env.backup();
    assert!(!leftover.exists(), "the next backup removes it");
}

#[test]
fn rebuilt_catalog_keeps_when_snapshots_were_taken() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    // A snapshot taken long ago, copied in by hand.
    let old = env.root.join("src/2020-03-04-050607");
    fs::create_dir(&old).unwrap();
    fs::write(old.join("a.txt"), b"alpha").unwrap();
    env.remove_catalog();
    assert_ok(&env.run(&["add"]));
    let db = env.db();
    let (started, finished, source): (String, Option<String>, String) = db
        .query_row(
            "SELECT started_at, finished_at, time_source FROM snapshots WHERE timestamp = '2020-03-04-050607'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(source, "name");
    assert_eq!(finished, None, "when the run ended is not known");
    // The folder name is local time; the catalog says UTC.
    let want = String::from_utf8(
        std::process::Command::new("date")
            .args(["-u", "-d", "2020-03-04 05:06:07", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(started, want.trim());
}

#[test]
fn closed_output_pipe_ends_phlb_without_a_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    // More output than a pipe holds (64 KiB), so phlb writes after the reader is gone.
    for i in 0..3000 {
        env.write(&format!("some/longer/folder/names/f{i:04}"), b"x");
    }
    env.backup();
    // The reader takes one byte and closes the pipe, as `| head -c1` does.
    let mut child = env
        .cmd()
        .args(["find", "*"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut one = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut one).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    assert!(
        out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
}

#[test]
fn mtime_before_1970_shows_its_own_second() {
    let env = Env::new();
    let f = env.write("old", b"x");
    let t = std::time::UNIX_EPOCH - std::time::Duration::new(1, 500_000_000);
    set_mtime_to(&f, t);
    env.backup();
    let mtime: String = env
        .db()
        .query_row("SELECT mtime FROM files WHERE path = 'old'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(mtime, "1969-12-31 23:59:58");
}

#[test]
fn output_to_a_full_disk_is_exit_2_not_a_panic() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    let full = || fs::File::options().write(true).open("/dev/full").unwrap();
    let out = env.cmd().arg("list").stdout(full()).output().unwrap();
    assert_code(&out, 2);
    assert_no_panic(&out);
    let out = env
        .cmd()
        .args(["-v", "backup", env.src.to_str().unwrap()])
        .stderr(full())
        .output()
        .unwrap();
    assert_code(&out, 2);
    // Stopped as a kill would stop it: the next run cleans up and verify passes.
    env.backup();
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn temp_files_of_killed_runs_are_emptied_by_the_next_writer() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    // What killed runs leave under temp names: in phlb's temp folder, and beside the
    // snapshots (a side file's temp name).
    let in_tmp = env.root.join(".phlb/tmp/.phlb-tmp-4242-0");
    fs::hard_link(snap.join("a.txt"), &in_tmp).unwrap();
    let beside_snap = env.root.join("src/.phlb-tmp-4242-1");
    fs::write(&beside_snap, b"half a summary").unwrap();
    env.backup();
    assert!(!in_tmp.exists());
    assert!(!beside_snap.exists());
    assert_eq!(
        nlink(&snap.join("a.txt")),
        2,
        "only the two snapshots link it"
    );
}

#[test]
#[ignore = "needs root (mounts a tmpfs, which keeps times past the year 9999)"]
fn a_file_from_the_year_10000_does_not_break_the_queries() {
    let env = Env::new();
    let disk =
        SmallDisk::mount(&env.dir.path().join("t"), "8m").expect("mounting a tmpfs needs root");
    let src = disk.0.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("y10000"), b"far").unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(253_402_300_800 + 86_400, 0);
    set_mtime_to(&src.join("y10000"), t);
    let root = disk.0.join("root");
    env.init(&root);
    let phlb = |args: &[&str]| env.cmd_at(&root).args(args).output().unwrap();
    assert_ok(&phlb(&["backup", src.to_str().unwrap()]));
    for args in [&["find", "*"][..], &["history", "y10000"], &["list"]] {
        let out = phlb(args);
        assert_ok(&out);
        assert_no_panic(&out);
    }
    let shown: String = rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3"))
        .unwrap()
        .query_row("SELECT mtime FROM files WHERE path = 'y10000'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(shown.ends_with("seconds after 1970"), "{shown}");
}

#[test]
fn a_snapshot_added_later_takes_its_place_by_its_time_not_last() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.write("b.txt", b"beta");
    let newest = env.backup();
    // An old tree copied in by hand and recorded afterwards.
    let old = env.root.join("src/2020-01-01-000000");
    fs::create_dir(&old).unwrap();
    fs::write(old.join("z.txt"), b"old").unwrap();
    assert_ok(&env.run(&["add"]));
    let out = env.run(&["diff", "src"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("2020-01-01") && !text.contains("z.txt"),
        "{text}"
    );
    assert!(text.contains("b.txt"), "{text}");
    let list = String::from_utf8_lossy(&env.run(&["list"]).stdout).into_owned();
    let first_row = list.lines().nth(1).unwrap_or_default().to_string();
    assert!(
        first_row.contains("2020-01-01-000000"),
        "oldest first: {list}"
    );
    let out = env.run(&["verify", "src", "--fast"]);
    assert_ok(&out);
    assert!(newest.exists());
}

/// Every entry under `dir` with its bytes, mode and mtime, for "nothing changed" checks.
fn listing(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>, u32, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| {
            let md = e.path().symlink_metadata().unwrap();
            let bytes = if md.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.path().to_path_buf(),
                bytes,
                md.mode(),
                md.mtime_nsec() + md.mtime() * 1_000_000_000,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn dry_run_writes_nothing_and_says_what_the_real_run_would() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let first = env.backup();
    let src = env.src.to_str().unwrap().to_string();
    let before = listing(&env.root);
    assert_ok(&env.run(&["backup", "--dry-run", &src]));
    assert_eq!(
        listing(&env.root),
        before,
        "not even the catalog's -shm or -wal"
    );
    // A HASH the real run would refuse is refused by the dry run too.
    env.config("HASH = sha512");
    assert_code(&env.run(&["backup", "--dry-run", &src]), 2);
    assert_code(&env.run(&["backup", &src]), 2);
    fs::remove_file(env.dir.path().join("phlb.ini")).unwrap();
    // With the snapshot deleted by hand, nothing is left to link: both copy.
    fs::remove_dir_all(&first).unwrap();
    let out = env.run(&["backup", "--dry-run", &src]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would copy 1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn history_of_a_deleted_file_named_through_a_symlinked_folder() {
    let env = Env::new();
    env.write("gone.txt", b"was here");
    env.backup();
    fs::remove_file(env.src.join("gone.txt")).unwrap();
    let link = env.dir.path().join("via-link");
    std::os::unix::fs::symlink(&env.src, &link).unwrap();
    let out = env.run(&["history", link.join("gone.txt").to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("src/"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn dry_run_on_a_half_made_catalog_predicts_like_the_real_run() {
    let env = Env::bare();
    env.write("a.txt", b"alpha");
    fs::create_dir_all(env.root.join(".phlb")).unwrap();
    rusqlite::Connection::open(env.root.join(".phlb/catalog.sqlite3"))
        .unwrap()
        .execute_batch("CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY);")
        .unwrap();
    fs::set_permissions(
        env.root.join(".phlb"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let before = listing(&env.root);
    let src = env.src.to_str().unwrap().to_string();
    let out = env.run(&["backup", "--dry-run", &src]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would copy 1"));
    assert_eq!(listing(&env.root), before);
    assert_ok(&env.run(&["backup", &src]));
}
