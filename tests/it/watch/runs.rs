//! `phlb watch` as a long-running writer: SIGTERM mid-snapshot, a held lock, pruning
//! after each snapshot, a source replaced, failed snapshots recorded, refusing to start.

use std::fs;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use super::*;
use crate::common::*;

#[test]
fn sigterm_during_a_snapshot_leaves_nothing_marked_complete_and_exits_0() {
    let env = Env::new();
    env.config(FAST);
    write_tree(&env, 50, 100, "one");
    // No snapshot yet: the watch makes one at start.
    let mut cmd = env.cmd();
    cmd.args(["watch", env.src.to_str().unwrap()]);
    let mut w = Watching::spawn(&env, cmd);
    let in_progress = || {
        fs::read_dir(env.root.join("src"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".inprogress"))
    };
    assert!(wait_for(in_progress), "{}", w.stderr());
    let status = w.signal(libc::SIGTERM);
    let err = w.stderr();
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?} {:?}: {err}",
        status.signal()
    );
    let stopped: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("phlb: watch stopped"))
        .collect();
    assert_eq!(stopped.len(), 1, "{err}");
    assert!(
        stopped[0].contains("backup of src/") && stopped[0].contains("nothing was marked complete"),
        "{}",
        stopped[0]
    );
    assert_eq!(complete(&env), 0);
    assert!(env.snapshots("src").is_empty(), "a final-named snapshot");
    // The next run succeeds, removes the leftovers, and verify passes.
    let snap = env.backup();
    assert_eq!(tree(&snap), tree(&env.src));
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_held_lock_is_waited_for_and_said_once() {
    let env = backed_up("");
    let w = Watching::start(&env, &[]);
    // Hold the writer lock as another run would.
    let lock = File::options()
        .read(true)
        .write(true)
        .open(env.root.join(".phlb/lock"))
        .unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    env.write("c.txt", b"gamma");
    assert!(wait_for(|| w.stderr().contains("waits")), "{}", w.stderr());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(complete(&env), 1);
    drop(lock);
    assert!(wait_for(|| complete(&env) == 2), "{}", w.stderr());
    assert_eq!(w.stderr().matches("waits").count(), 1, "{}", w.stderr());
    w.stop();
}

#[test]
fn prune_applies_keep_rules_after_each_snapshot() {
    let env = backed_up("KEEP_LAST = 1");
    let w = Watching::start(&env, &["--prune"]);
    env.write("c.txt", b"gamma");
    assert!(
        wait_for(|| {
            env.snapshots("src").len() == 1 && complete(&env) == 1 && !w.stdout().is_empty()
        }),
        "{}",
        w.stderr()
    );
    let snap = env.snapshots("src").pop().unwrap();
    assert_eq!(fs::read(snap.join("c.txt")).unwrap(), b"gamma");
    w.stop();
}

#[test]
fn cannot_start_is_exit_2() {
    let env = Env::new();
    let out = env.run(&["watch", "/nonexistent/folder"]);
    assert_code(&out, 2);
    let env = Env::new();
    env.config("KEEP_LAST =");
    let out = env.run(&["watch", env.src.to_str().unwrap(), "--prune"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--prune needs retention rules"));
}

#[test]
fn a_source_folder_replaced_by_another_is_watched_again() {
    // Regression: after `mv src src.old; mkdir src`, nothing written into the
    // new folder was ever snapshotted.
    let env = backed_up("");
    let w = Watching::start(&env, &[]);
    fs::rename(&env.src, env.dir.path().join("src.old")).unwrap();
    fs::create_dir(&env.src).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    fs::write(env.src.join("important.txt"), b"new data").unwrap();
    assert!(
        wait_for(|| {
            env.snapshots("src")
                .last()
                .is_some_and(|s| s.join("important.txt").exists())
        }),
        "{}",
        w.stderr()
    );
    // The note may come after the snapshot is on disk: wait for it, do not read once.
    assert!(
        wait_for(|| w.stderr().contains("was replaced")),
        "{}",
        w.stderr()
    );
    // A deleted source is said once and leaves no unfinished run behind.
    fs::remove_dir_all(&env.src).unwrap();
    assert!(
        wait_for(|| w.stderr().contains("is gone")),
        "{}",
        w.stderr()
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'incomplete'"),
        0
    );
    w.stop();
}

#[test]
fn watch_snapshots_that_fail_are_recorded_as_attempts() {
    // Regression: a failing PRE_COMMAND left no trace `status` could see;
    // watch's snapshots are attempts too.
    let env = backed_up("");
    env.config(&format!("{FAST}\nPRE_COMMAND = false"));
    let w = Watching::start(&env, &[]);
    env.write("a.txt", b"changed");
    let failed = || {
        let out = env.run(&["status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        out.status.code() == Some(1) && doc["names"][0]["last_attempt"]["exit"] == 2
    };
    assert!(wait_for(failed), "{}", w.stderr());
    w.stop();
    let all = fs::read_to_string(env.root.join(".phlb/attempts")).unwrap();
    assert!(all.contains("PRE_COMMAND"), "{all}");
}
