//! `phlb prune` on real snapshots made at chosen times (libfaketime): what the policy
//! keeps, dry runs, the config policy, the reader lock.

mod forget;
mod hostile;
mod reflink;
mod shared_manifests;
mod space;
mod versions;

use std::fs;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

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
fn prune_keeps_latest_on_the_newest() {
    let env = Env::new();
    let (_, second) = two_snapshots(&env);
    assert_ok(&env.run(&["prune", "--keep-last", "1"]));
    assert_eq!(env.snapshots("src").len(), 1);
    assert_eq!(format!("src/{}", latest_target(&env)), second);
    assert!(env.root.join("src/latest/notes/todo.txt").is_file());
}
