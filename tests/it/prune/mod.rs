//! `phlb prune` and `phlb forget` on real snapshots made at chosen times (libfaketime):
//! what the policy keeps, exact freed bytes against `du`, crash safety, the reader lock.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// Leaf names of the complete snapshots of `src`.
fn leaves(env: &Env) -> Vec<String> {
    env.snapshots("src")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// `du -s -B1` of the backup root without phlb's own folder.
fn du(env: &Env) -> u64 {
    let out = Command::new("du")
        .args(["-s", "-B1", "--exclude=.phlb"])
        .arg(&env.root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Six snapshots over two weeks, each with one file of its own.
fn six_snapshots(env: &Env) -> Vec<&'static str> {
    let times = vec![
        "2026-01-01 09:00:00",
        "2026-01-01 18:00:00",
        "2026-01-02 10:00:00",
        "2026-01-05 10:00:00",
        "2026-01-12 10:00:00",
        "2026-01-13 10:00:00",
    ];
    env.write("always.txt", b"same in every snapshot");
    for (i, t) in times.iter().enumerate() {
        env.write(&format!("day{i}.txt"), t.as_bytes());
        backup_at(env, t);
        fs::remove_file(env.src.join(format!("day{i}.txt"))).unwrap();
    }
    times
}

#[test]
fn prune_keeps_by_policy_on_snapshots_made_at_chosen_times_also_after_a_catalog_rebuild() {
    let env = Env::new();
    six_snapshots(&env);
    let plan = |env: &Env| {
        let doc = json(&env.run(&[
            "prune",
            "--keep-daily",
            "2",
            "--keep-weekly",
            "2",
            "-n",
            "--json",
        ]));
        doc["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}",
                    s["timestamp"].as_str().unwrap(),
                    s["action"].as_str().unwrap(),
                    s["kept_by"]
                )
            })
            .collect::<Vec<_>>()
    };
    let want = vec![
        "2026-01-01-090000 remove []",
        "2026-01-01-180000 remove []",
        "2026-01-02-100000 remove []",
        "2026-01-05-100000 keep [\"weekly\"]",
        "2026-01-12-100000 keep [\"daily\"]",
        "2026-01-13-100000 keep [\"daily\",\"weekly\"]",
    ];
    assert_eq!(plan(&env), want);
    // The times come from the folder names, so a rebuilt catalog plans the same.
    env.remove_catalog();
    assert_ok(&env.run(&["add"]));
    assert_eq!(plan(&env), want);
    // A dry run changed nothing; the real run removes exactly the three.
    assert_eq!(leaves(&env).len(), 6);
    let out = env.run(&["prune", "--keep-daily", "2", "--keep-weekly", "2"]);
    assert_ok(&out);
    assert_eq!(
        leaves(&env),
        vec![
            "2026-01-05-100000",
            "2026-01-12-100000",
            "2026-01-13-100000"
        ]
    );
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 3);
    for gone in ["2026-01-01-090000", "2026-01-02-100000"] {
        for side in ["-summary.txt", "-backup.log", ".SHA256SUMS"] {
            assert!(!env.root.join("src").join(format!("{gone}{side}")).exists());
        }
    }
}

#[test]
fn freed_bytes_equal_the_real_drop_of_du() {
    let env = Env::new();
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
fn after_prune_verify_passes_and_the_next_backup_still_links_unchanged_files() {
    let env = Env::new();
    six_snapshots(&env);
    assert_ok(&env.run(&["prune", "--keep-last", "2"]));
    let out = env.run(&["verify"]);
    assert_ok(&out);
    let newest = env.snapshots("src").pop().unwrap();
    let next = backup_at(&env, "2026-01-14 10:00:00");
    assert_eq!(
        ino(&next.join("always.txt")),
        ino(&newest.join("always.txt"))
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn an_empty_or_bad_policy_is_refused_with_exit_2_and_nothing_is_removed() {
    let env = Env::new();
    six_snapshots(&env);
    for args in [
        vec!["prune"],
        vec!["prune", "--keep-daily=-1"],
        vec!["prune", "--keep-within", "5m"],
        vec!["prune", "--keep-within", "5x"],
    ] {
        let out = env.run(&args);
        assert_code(&out, 2);
        let lines = stderr(&out).lines().filter(|l| !l.is_empty()).count();
        assert!(lines <= 3, "{}", stderr(&out));
    }
    assert!(stderr(&env.run(&["prune"])).contains("no retention rule given"));
    assert_eq!(leaves(&env).len(), 6);
    // Counts of 0 alone are no policy either (restic: "no policy was specified"), also
    // from the ini: KEEP_LAST = 0 meant "off".
    let out = env.run(&["prune", "--keep-daily", "0", "--keep-last", "0"]);
    assert_code(&out, 2);
    env.config("KEEP_LAST = 0");
    assert_code(&env.run(&["prune"]), 2);
    assert_eq!(leaves(&env).len(), 6);
}

#[test]
fn a_dry_run_writes_nothing() {
    let env = Env::new();
    six_snapshots(&env);
    let before = tree(&env.root);
    let catalog = env.root.join(".phlb/catalog.sqlite3");
    let stamp = fs::metadata(&catalog).unwrap().modified().unwrap();
    let out = env.run(&["prune", "--keep-last", "1", "--dry-run"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would remove 5 snapshots"));
    let after = tree(&env.root);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(changed.is_empty(), "the dry run changed {changed:?}");
    assert_eq!(fs::metadata(&catalog).unwrap().modified().unwrap(), stamp);
}

#[test]
fn incomplete_snapshots_left_by_killed_runs_are_removed_too() {
    let env = Env::new();
    write_tree(&env, 20, 20, "one");
    env.backup();
    write_tree(&env, 20, 20, "two");
    assert!(kill_backup_part_way(&env, 50));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'incomplete'"),
        1
    );
    let out = env.run(&["prune", "--keep-last", "5"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("incomplete"));
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 1);
    let leftovers: Vec<_> = fs::read_dir(env.root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".inprogress"))
        .collect();
    assert!(leftovers.is_empty());
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn forget_removes_named_snapshots_and_missing_drops_rows_of_deleted_folders() {
    let env = Env::new();
    six_snapshots(&env);
    let out = env.run(&["forget", "src/2026-01-02-100000", "-n"]);
    assert_ok(&out);
    assert_eq!(leaves(&env).len(), 6);
    assert_ok(&env.run(&["forget", "src/2026-01-02-100000"]));
    assert!(!leaves(&env).contains(&"2026-01-02-100000".to_string()));
    // A folder deleted by hand: verify complains until forget --missing.
    fs::remove_dir_all(env.root.join("src/2026-01-05-100000")).unwrap();
    assert_code(&env.run(&["verify"]), 1);
    let out = env.run(&["forget", "--missing"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("src/2026-01-05-100000"));
    assert_ok(&env.run(&["verify"]));
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 4);
    // Unknown snapshots are an error naming them.
    let out = env.run(&["forget", "src/1999-01-01-000000"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("src/1999-01-01-000000"));
}

#[test]
fn a_restore_started_while_prune_removes_its_snapshot_fails_cleanly() {
    let env = Env::new();
    six_snapshots(&env);
    let oldest = env.snapshots("src")[0].clone();
    // prune holds the oldest exclusively (as a remover does) while restore starts.
    let held = fs::File::open(&oldest).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let to = env.dir.path().join("out");
    let mut cmd = env.cmd();
    cmd.args(["restore", "src/2026-01-01-090000", "--to"])
        .arg(&to);
    let restore = Watched::spawn(&env, cmd);
    // Moved only once restore says it waits for the snapshot (not after a guessed delay).
    assert!(
        wait_for(|| restore.stderr().contains("phlb: waiting:")),
        "{}",
        restore.stderr()
    );
    // The remover moves the folder away and lets go.
    fs::rename(&oldest, env.dir.path().join("moved")).unwrap();
    drop(held);
    let (status, err) = restore.finish();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("removed while waiting"), "{err}");
    assert!(!to.join("always.txt").exists());
}

#[test]
fn prune_waits_for_a_reader_of_the_snapshot() {
    let env = Env::new();
    six_snapshots(&env);
    let oldest = env.snapshots("src")[0].clone();
    let held = fs::File::open(&oldest).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_SH) }, 0);
    let mut cmd = env.cmd();
    cmd.args(["prune", "--keep-last", "5"]);
    let mut prune = Watched::spawn(&env, cmd);
    assert!(
        wait_for(|| prune
            .stderr()
            .contains("waiting for a reader of src/2026-01-01-090000")),
        "{}",
        prune.stderr()
    );
    assert!(
        prune.child.try_wait().unwrap().is_none(),
        "prune did not wait"
    );
    assert!(oldest.is_dir());
    drop(held);
    let (status, err) = prune.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!oldest.exists());
}

#[test]
fn backup_prune_applies_the_config_policy_and_is_refused_without_one() {
    let env = Env::new();
    env.write("a.txt", b"a");
    let out = env.run(&["backup", "--prune", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("KEEP_"));
    assert!(!env.root.join("src").exists());
    env.config("KEEP_LAST = 2");
    for _ in 0..4 {
        env.write("a.txt", format!("{:?}", Instant::now()).as_bytes());
        assert_ok(&env.run(&["backup", "--prune", env.src.to_str().unwrap()]));
        std::thread::sleep(Duration::from_millis(1100));
    }
    assert_eq!(leaves(&env).len(), 2);
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 2);
}

#[test]
fn odd_file_names_and_read_only_folders_are_removed() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let odd = env.src.join(std::ffi::OsStr::from_bytes(b"bad\xff\nname"));
    fs::create_dir_all(odd.join("-dash")).unwrap();
    fs::write(odd.join("-dash/f"), b"x").unwrap();
    set_mode(&odd.join("-dash"), 0o555);
    set_mode(&odd, 0o500);
    backup_at(&env, "2026-03-01 10:00:00");
    set_mode(&odd, 0o755);
    set_mode(&odd.join("-dash"), 0o755);
    fs::remove_dir_all(&odd).unwrap();
    backup_at(&env, "2026-03-02 10:00:00");
    assert_ok(&env.run(&["prune", "--keep-last", "1"]));
    assert_eq!(leaves(&env), vec!["2026-03-02-100000"]);
    assert!(fs::read_dir(env.root.join(".phlb/trash")).map_or(true, |mut d| d.next().is_none()));
}

#[test]
#[ignore = "slow: killed runs under strace"]
fn a_prune_killed_at_any_step_leaves_no_half_deleted_snapshot_listed_and_the_next_run_finishes_it()
{
    let mut kills = 0;
    for (syscall, n) in [
        ("rename", 1),
        ("rename", 2),
        ("rename", 4),
        ("unlinkat", 1),
        ("unlinkat", 30),
        ("fsync", 1),
        ("fsync", 3),
    ] {
        let env = Env::new();
        write_tree(&env, 5, 10, "one");
        backup_at(&env, "2026-04-01 10:00:00");
        write_tree(&env, 5, 10, "two");
        backup_at(&env, "2026-04-02 10:00:00");
        let killed = killed_at(&env, syscall, n, &["prune", "--keep-last", "1"]);
        kills += u32::from(killed);
        // Every snapshot the catalog lists as complete is whole at its place (not in
        // the trash: a reader would list it and fail to open it).
        let listed = env.db();
        let mut stmt = listed
            .prepare("SELECT name || '/' || timestamp FROM snapshot_runs WHERE status = 'complete'")
            .unwrap();
        let complete: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for label in &complete {
            let dir = env.root.join(label);
            let in_trash = env.root.join(".phlb/trash").join(label);
            assert!(
                dir.is_dir() || in_trash.is_dir(),
                "{syscall}#{n}: {label} listed but gone"
            );
            let whole = if dir.is_dir() { dir } else { in_trash };
            assert_eq!(
                fs::read_dir(&whole).unwrap().count(),
                5,
                "{syscall}#{n}: {label} half deleted"
            );
        }
        // The next writer finishes the removal; verify is clean.
        assert_ok(&env.run(&["prune", "--keep-last", "1"]));
        assert_eq!(
            leaves(&env),
            vec!["2026-04-02-100000"],
            "{syscall}#{n} (killed: {killed})"
        );
        assert_ok(&env.run(&["verify"]));
        assert!(fs::read_dir(env.root.join(".phlb/trash")).map_or(true, |mut d| d.next().is_none()));
    }
    assert!(kills >= 6, "only {kills} of the runs were killed");
}

/// A file with five versions over five snapshots (and one unchanged file).
fn five_versions(env: &Env) {
    for i in 1..=5 {
        env.write(
            "f.txt",
            format!("version {i} {}", "v".repeat(5000 * i)).as_bytes(),
        );
        env.write("same.txt", b"never changes");
        backup_at(env, &format!("2026-05-0{i} 10:00:00"));
    }
}

#[test]
fn keep_versions_2_on_a_file_with_five_versions_leaves_exactly_two_and_verify_passes() {
    let env = Env::new();
    five_versions(&env);
    let plan = json(&env.run(&["prune", "--keep-versions", "2", "-n", "--json"]));
    assert_eq!(plan["lost_files"], 3);
    let before = du(&env);
    let out = env.run(&["prune", "--keep-versions", "2"]);
    assert_ok(&out);
    assert_eq!(
        before - du(&env),
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    // On disk: f.txt only in the two newest snapshots; same.txt everywhere.
    let snaps = env.snapshots("src");
    assert_eq!(snaps.len(), 5);
    let holding: Vec<bool> = snaps.iter().map(|s| s.join("f.txt").exists()).collect();
    assert_eq!(holding, vec![false, false, false, true, true]);
    assert!(snaps.iter().all(|s| s.join("same.txt").exists()));
    // In the catalog: two versions left, three listed as trimmed.
    assert_eq!(
        env.sql_int("SELECT count(DISTINCT hash) FROM files WHERE path = 'f.txt'"),
        2
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed WHERE path = 'f.txt'"),
        3
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE trimmed = 1"),
        3
    );
    // verify passes, and so does sha256sum -c on every rewritten manifest.
    assert_ok(&env.run(&["verify"]));
    for s in &snaps {
        let sums = beside(s, ".SHA256SUMS");
        let out = Command::new("sha256sum")
            .arg("-c")
            .arg(&sums)
            .current_dir(s)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // history says where the versions went; list marks the trimmed snapshots.
    let h = json(&env.run(&["history", "f.txt", "--json"]));
    let trimmed: Vec<bool> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| !v["trimmed"].is_null())
        .collect();
    assert_eq!(trimmed, vec![true, true, true, false, false]);
    let list = String::from_utf8_lossy(&env.run(&["list"]).stdout).into_owned();
    assert_eq!(list.matches("1 trimmed").count(), 3, "{list}");
    // restore says where a trimmed version went, and restores a kept one.
    let out = env.restore(
        &["src/2026-05-01-100000", "f.txt"],
        &env.dir.path().join("r1"),
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("removed from the snapshot by `prune --keep-versions`"),
        "{}",
        stderr(&out)
    );
    let out = env.restore(
        &["src/2026-05-04-100000", "f.txt"],
        &env.dir.path().join("r2"),
    );
    assert_ok(&out);
    assert_eq!(
        fs::read(env.dir.path().join("r2/f.txt")).unwrap(),
        fs::read(snaps[3].join("f.txt")).unwrap()
    );
    // A second run has nothing left to trim, and the next backup still links.
    let again = json(&env.run(&["prune", "--keep-versions", "2", "--json"]));
    assert_eq!(again["freed"]["copies"], 0);
    let next = backup_at(&env, "2026-05-06 10:00:00");
    assert_eq!(ino(&next.join("f.txt")), ino(&snaps[4].join("f.txt")));
}

#[test]
fn a_trim_killed_before_its_files_went_is_finished_by_the_next_writer() {
    let env = Env::new();
    five_versions(&env);
    let killed = killed_at(&env, "unlinkat", 1, &["prune", "--keep-versions", "1"]);
    assert!(killed, "the prune made no unlinkat call");
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed_entries WHERE done = 0"),
        4
    );
    // verify is a writer: it finishes the trim first, then finds everything in order.
    let out = env.run(&["verify"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("finished trimming 4 old versions"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed_entries WHERE done = 0"),
        0
    );
    let holding: Vec<bool> = env
        .snapshots("src")
        .iter()
        .map(|s| s.join("f.txt").exists())
        .collect();
    assert_eq!(holding, vec![false, false, false, false, true]);
}

#[test]
fn prune_keeps_the_last_snapshot_on_disk_when_the_newest_was_deleted_by_hand() {
    let env = Env::new();
    env.write("a.txt", b"v1");
    let first = backup_at(&env, "2026-06-01 10:00:00");
    env.write("a.txt", b"v2");
    let second = backup_at(&env, "2026-06-02 10:00:00");
    fs::remove_dir_all(&second).unwrap();
    for args in [
        vec!["prune", "--keep-last", "1"],
        vec!["prune", "--keep-versions", "1"],
    ] {
        let out = env.run(&args);
        assert_ok(&out);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("gone"),
            "{args:?}"
        );
        assert_eq!(fs::read(first.join("a.txt")).unwrap(), b"v1", "{args:?}");
    }
    assert_eq!(env.sql_int("SELECT count(*) FROM trimmed_entries"), 0);
    // `latest` points at the snapshot left on disk (it was removed, found by an attack).
    assert_eq!(
        fs::read_link(env.root.join("src/latest")).unwrap(),
        first.file_name().unwrap()
    );
}

#[test]
fn runs_of_one_second_keep_their_order_after_a_catalog_rebuild() {
    let env = Env::new();
    for i in 0..12 {
        env.write("a.txt", format!("v{i}").as_bytes());
        let out = Command::new("faketime")
            .args(["-f", "2026-07-01 10:00:00"])
            .arg(env!("CARGO_BIN_EXE_phlb"))
            .arg("--backup-root")
            .arg(&env.root)
            .args(["-q", "backup", env.src.to_str().unwrap()])
            .env("HOME", env.dir.path())
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        assert_ok(&out);
    }
    env.remove_catalog();
    assert_ok(&env.run(&["add", "-q"]));
    let plan = json(&env.run(&["prune", "--keep-last", "1", "-n", "--json"]));
    let kept: Vec<&str> = plan["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "keep")
        .map(|s| s["timestamp"].as_str().unwrap())
        .collect();
    assert_eq!(kept, vec!["2026-07-01-100000-11"]);
    // And `NAME` means the newest: restore gives the last version.
    let out = env.restore(&["src", "a.txt"], &env.dir.path().join("r"));
    assert_ok(&out);
    assert_eq!(fs::read(env.dir.path().join("r/a.txt")).unwrap(), b"v11");
}

#[test]
fn a_snapshot_named_by_a_wrong_clock_stops_prune() {
    let env = Env::new();
    env.write("a.txt", b"v1");
    backup_at(&env, "2026-01-01 10:00:00");
    env.write("a.txt", b"v2");
    backup_at(&env, "2030-01-01 10:00:00");
    env.write("a.txt", b"v3");
    env.write("only-here.txt", b"new");
    let real = backup_at(&env, "2026-01-02 10:00:00");
    for args in [
        vec!["prune", "--keep-last", "1"],
        vec!["prune", "--keep-versions", "1"],
    ] {
        let out = env.run(&args);
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("the clock was wrong"),
            "{}",
            stderr(&out)
        );
    }
    assert!(real.join("only-here.txt").exists());
    assert_eq!(leaves(&env).len(), 3);
    // Once the wrong one is gone, prune goes on.
    assert_ok(&env.run(&["forget", "src/2030-01-01-100000"]));
    assert_ok(&env.run(&["prune", "--keep-last", "1"]));
    assert_eq!(leaves(&env), vec!["2026-01-02-100000"]);
}

#[test]
fn forget_refuses_a_bare_name() {
    let env = Env::new();
    six_snapshots(&env);
    for spec in ["src", "src/latest"] {
        let out = env.run(&["forget", spec]);
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("name one snapshot exactly"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(leaves(&env).len(), 6);
}

#[test]
fn a_symlink_planted_at_the_trash_bin_is_removed_not_followed() {
    let env = Env::new();
    six_snapshots(&env);
    let outside = env.dir.path().join("outside");
    fs::create_dir_all(outside.join("2026-01-01-090000")).unwrap();
    fs::write(outside.join("2026-01-01-090000/keep.txt"), b"keep").unwrap();
    fs::create_dir_all(env.root.join(".phlb/trash")).unwrap();
    std::os::unix::fs::symlink(&outside, env.root.join(".phlb/trash/src")).unwrap();
    assert_ok(&env.run(&["prune", "--keep-last", "5"]));
    assert_eq!(
        fs::read(outside.join("2026-01-01-090000/keep.txt")).unwrap(),
        b"keep"
    );
    assert_eq!(leaves(&env).len(), 5);
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn the_writer_lock_is_taken_on_a_full_disk() {
    // Found by an attack: at 0 bytes free, prune (the command a full disk needs) stopped
    // at "cannot write the lock file" — the pid in it only serves messages.
    let env = Env::new();
    let disk =
        SmallDisk::mount(&env.dir.path().join("small"), "8m").expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    env.write("a.txt", b"a");
    let out = env
        .cmd_at(&root)
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
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
    // Found by an attack: X in s1 and s2 (one inode); s2 removed with `rm -rf` (or
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

/// Clears the immutable flag of everything under a folder when dropped (so the temp
/// folder can go even when a test fails).
struct Mutable(std::path::PathBuf);

impl Drop for Mutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

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

#[test]
#[ignore = "needs root (chattr +i)"]
fn an_immutable_file_left_in_the_trash_never_stops_later_backups() {
    // Found by an attack: `forget` of a snapshot holding a `chattr +i` file exited 2
    // and left it in `.phlb/trash` with its marker; every later backup exited 2
    // (`cannot delete: Operation not permitted`). The same for a pending trim.
    let env = Env::new();
    let _clear = Mutable(env.dir.path().to_path_buf());
    env.write("f", b"v1");
    env.write("g", b"stays");
    let s1 = backup_at(&env, "2026-04-01 10:00:00");
    env.write("f", b"v2");
    let s2 = backup_at(&env, "2026-04-02 10:00:00");
    chattr("+i", &s1.join("f"));
    let forget = env.run(&[
        "forget",
        &format!("src/{}", s1.file_name().unwrap().to_str().unwrap()),
    ]);
    assert_code(&forget, 1);
    let warned = stderr(&forget);
    assert!(
        warned.contains(".phlb/trash/src/") && warned.contains("chattr -R -ia"),
        "{warned}"
    );
    assert!(!s1.exists());
    let again = env.backup();
    let said = stderr(&env.run(&["backup", "src"]));
    assert_eq!(
        said.matches("cannot delete").count(),
        1,
        "once per run: {said}"
    );
    assert!(said.contains("Operation not permitted"), "{said}");
    for args in [vec!["add"], vec!["verify", "--fast"]] {
        let out = env.run(&args);
        assert_ne!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let status = env.run(&["status"]);
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("stuck removal:") && shown.contains(".phlb/trash/src/"),
        "{shown}"
    );
    // The web UI's snapshots page says the same (#26 item 13).
    {
        let srv = common::serve::Server::start(&env);
        let page = srv.get("/").text();
        assert!(
            page.contains("stuck removal:") && page.contains(".phlb/trash/src/"),
            "{page}"
        );
    }
    // A trim of an immutable old version: pending, said, never stopping a backup.
    env.write("f", b"v3");
    env.backup();
    chattr("+i", &s2.join("f"));
    let trim = env.run(&["prune", "--keep-versions", "1"]);
    assert_code(&trim, 1);
    assert!(
        stderr(&trim).contains(&format!("{}", s2.join("f").display())),
        "{}",
        stderr(&trim)
    );
    let out = env.run(&["backup", "src"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("--keep-versions"), "{}", stderr(&out));
    let shown = String::from_utf8_lossy(&env.run(&["status"]).stdout).into_owned();
    assert!(shown.contains("old version trimmed from src/"), "{shown}");
    // Cleared: the next run finishes both, quietly.
    drop(_clear);
    let out = env.run(&["backup", "src"]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("cannot delete"), "{}", stderr(&out));
    assert!(!s2.join("f").exists());
    assert_eq!(
        fs::read_dir(env.root.join(".phlb/trash")).map_or(0, |d| d.count()),
        0
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed_entries WHERE done = 0"),
        0
    );
    assert!(again.join("g").exists());
    let shown = String::from_utf8_lossy(&env.run(&["status"]).stdout).into_owned();
    assert!(!shown.contains("stuck"), "{shown}");
}

/// A fresh env whose backup root is a tmpfs of its own when `tmpfs` (bound as
/// `let (env, _disk)`, so the disk is unmounted before the temp folder goes).
fn env_on(tmpfs: bool) -> (Env, Option<SmallDisk>) {
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
fn assert_freed_exactly(env: &Env, args: &[&str], what: &str) -> serde_json::Value {
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

/// Bytes that do not compress to holes: `n` of them, depending on `seed`.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
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
        "SELECT count(*) FROM entries e JOIN snapshot_runs s ON s.id = e.snapshot_id
         WHERE s.status = 'incomplete' AND e.kind = 'file'",
    );
    assert!(on_disk > rows, "{on_disk} files, {rows} rows");
}

#[test]
#[ignore = "needs root (mounts a tmpfs); slow"]
fn freed_bytes_count_killed_run_leftovers_hand_deleted_snapshots_and_shrinking_manifests_to_the_byte(
) {
    // Found by an attack: a killed run's ~40 MB of new copies (no rows yet) were
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
fn restoring_a_trimmed_snapshot_says_how_many_files_were_trimmed_and_when() {
    // Found by an attack: a whole snapshot that `--keep-versions` trimmed was restored
    // without its trimmed files, exit 0, and no word about them.
    let env = Env::new();
    fs::create_dir(env.src.join("d")).unwrap();
    for i in 1..=3 {
        env.write("f.txt", format!("version {i}").as_bytes());
        env.write("d/g.txt", format!("g version {i}").as_bytes());
        env.write("same.txt", b"never changes");
        backup_at(&env, &format!("2026-05-0{i} 10:00:00"));
    }
    assert_ok(&env.run(&["prune", "--keep-versions", "1"]));
    let when = env
        .db()
        .query_row("SELECT min(trimmed_at) FROM trimmed_entries", [], |r| {
            r.get::<_, String>(0)
        });
    let when = when.unwrap();
    let out = env.restore(&["src/2026-05-01-100000"], &env.dir.path().join("r1"));
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("2 files not restored: removed from the snapshot by `prune --keep-versions`")
            && text.contains(&when),
        "{text}"
    );
    assert!(env.dir.path().join("r1/same.txt").exists());
    let out = env.restore(
        &["src/2026-05-02-100000", "--json"],
        &env.dir.path().join("r2"),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trimmed"]["files"], 2, "{doc}");
    assert_eq!(doc["trimmed"]["at"][0], when.as_str(), "{doc}");
    // A folder restored from it counts what was trimmed inside it only.
    let out = env.restore(
        &["src/2026-05-02-100000", "d", "--json"],
        &env.dir.path().join("r3"),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trimmed"]["files"], 1, "{doc}");
    // The newest snapshot lost nothing: no word.
    let out = env.restore(&["src/2026-05-03-100000"], &env.dir.path().join("r4"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("trimmed"));
    let doc: serde_json::Value = serde_json::from_slice(
        &env.restore(
            &["src/2026-05-03-100000", "--json", "-n"],
            &env.dir.path().join("r5"),
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(doc["trimmed"]["files"], 0, "{doc}");
}

#[test]
fn forget_missing_removes_the_side_files_phlb_made_and_an_emptied_name_folder() {
    // Found by an attack: `forget --missing` left the snapshot's `-backup.log`,
    // `-summary.txt` and `.SHA256SUMS` behind, and forgetting a name's last snapshot
    // left an empty `<name>` folder.
    let env = Env::new();
    env.write("f", b"one");
    let s1 = backup_at(&env, "2026-09-01 10:00:00");
    env.write("f", b"two");
    let s2 = backup_at(&env, "2026-09-02 10:00:00");
    let sides =
        |s: &std::path::Path| ["-backup.log", "-summary.txt", ".SHA256SUMS"].map(|x| beside(s, x));
    assert!(sides(&s1).iter().all(|p| p.is_file()));
    fs::remove_dir_all(&s1).unwrap();
    let theirs = env.root.join("src/notes.txt");
    fs::write(&theirs, b"the user's").unwrap();
    let plan = json(&env.run(&["forget", "--missing", "-n", "--json"]));
    let before = du(&env);
    assert_ok(&env.run(&["forget", "--missing"]));
    assert_eq!(
        before - du(&env),
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    assert!(
        sides(&s1).iter().all(|p| !p.exists()),
        "side files of the forgotten one go"
    );
    assert!(sides(&s2).iter().all(|p| p.is_file()), "the others' stay");
    // The last one goes: the folder stays while it holds a file that is not phlb's...
    fs::remove_dir_all(&s2).unwrap();
    assert_ok(&env.run(&["forget", "--missing"]));
    assert!(sides(&s2).iter().all(|p| !p.exists()));
    assert_eq!(fs::read(&theirs).unwrap(), b"the user's");
    // ...and goes once it is empty, by forget of a named snapshot too.
    fs::create_dir(env.dir.path().join("other")).unwrap();
    fs::write(env.dir.path().join("other/g"), b"g").unwrap();
    assert_ok(&env.run(&["backup", env.dir.path().join("other").to_str().unwrap()]));
    let snap = fs::read_dir(env.root.join("other"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.len() == "2026-09-02-100000".len() && n.starts_with("20"))
        .unwrap();
    let plan = json(&env.run(&["forget", &format!("other/{snap}"), "-n", "--json"]));
    let before = du(&env);
    assert_ok(&env.run(&["forget", &format!("other/{snap}")]));
    assert!(
        !env.root.join("other").exists(),
        "the emptied name folder goes"
    );
    assert_eq!(
        before - du(&env),
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    assert!(env.root.join("src").is_dir());
}
