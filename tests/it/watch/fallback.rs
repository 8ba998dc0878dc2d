//! Watch when things go wrong around it: a watch limit too low (polling instead), a source that never stops changing, and a root unmounted under it.

use super::*;

#[test]
fn lowered_watch_limit_falls_back_to_polling_and_still_captures_a_change() {
    let env = backed_up("WATCH_MAX_WAIT = 2");
    fs::create_dir_all(env.src.join("d/e/f")).unwrap();
    env.backup();
    // A user namespace of its own, where the kernel allows 2 watches: the tree has 4
    // folders.
    let script = "echo 2 > /proc/sys/user/max_inotify_watches && exec \"$@\"";
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "sh", "-c", script, "sh"])
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(["watch", env.src.to_str().unwrap()])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path());
    let mut w = Watching::spawn(&env, cmd);
    w.ready();
    let err = w.stderr();
    assert!(
        err.contains("watch limit") && err.contains("polling instead"),
        "{err}"
    );
    // An unchanged tree makes no snapshot per interval.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(complete(&env), 2, "{}", w.stdout());
    // A change deep down, where no watch is, is found by the next comparison.
    env.write("d/e/f/deep.txt", b"deep");
    assert!(wait_for(|| complete(&env) == 3), "{}", w.stderr());
    assert!(newest_paths(&env).contains(&"d/e/f/deep.txt".to_string()));
    w.stop();
}

#[test]
fn source_changing_every_100ms_is_snapshotted_within_max_wait_but_not_more_often_than_min_interval()
{
    // Delays long enough that a descheduled test thread (a loaded machine) never looks
    // like quiet: WATCH_DELAY 2 s, WATCH_MAX_WAIT 5 s, WATCH_MIN_INTERVAL 7 s.
    let env = backed_up("WATCH_DELAY = 2\nWATCH_MAX_WAIT = 5\nWATCH_MIN_INTERVAL = 7");
    let w = Watching::start(&env, &[]);
    let first_change = Instant::now();
    let mut first_seen = None;
    let mut n = 0;
    // Changes every 100 ms until three snapshots exist besides the first.
    while complete(&env) < 4 {
        assert!(first_change.elapsed() < EVENT_DEADLINE, "{}", w.stderr());
        env.write("busy.txt", format!("change {n}").as_bytes());
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
        if first_seen.is_none() && complete(&env) > 1 {
            first_seen = Some(first_change.elapsed());
        }
    }
    // Never quiet for WATCH_DELAY, still snapshotted at WATCH_MAX_WAIT: not before it
    // (seen can only be later than made), and not long after (a loaded run's slack).
    let first_seen = first_seen.unwrap();
    assert!(first_seen >= Duration::from_millis(4900), "{first_seen:?}");
    assert!(first_seen < Duration::from_secs(25), "{first_seen:?}");
    // And never more often than WATCH_MIN_INTERVAL, by the runs' own start times
    // (whole seconds in the catalog), not by when this thread happened to look.
    let starts: Vec<i64> = env
        .db()
        .prepare(
            "SELECT CAST(strftime('%s', started_at) AS INTEGER) FROM snapshot_runs ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(starts.len(), 4, "{starts:?}");
    for pair in starts[1..].windows(2) {
        assert!(pair[1] - pair[0] >= 6, "{starts:?}");
    }
    w.stop();
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn a_root_unmounted_under_a_running_watch_is_never_made_again_on_the_system_disk() {
    // Regression: after `umount`, watch made a fresh .phlb, catalog and snapshot
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
