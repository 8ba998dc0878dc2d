//! `phlb watch`: snapshots that happen on their own as files change, and never loop on
//! phlb's own output. Each test runs the real binary with short delays through the ini
//! and checks the snapshots on disk and in the catalog.

mod fallback;
mod runs;

use std::fs;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// The ini of every test: a second of quiet, at most 3 s of waiting, a snapshot at most
/// every second; no sync (speed).
const FAST: &str = "WATCH_DELAY = 1\nWATCH_MAX_WAIT = 3\nWATCH_MIN_INTERVAL = 1\nSYNC = false";

/// A running `phlb watch`, its output going to files the test reads while it runs.
struct Watching {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Watching {
    /// Starts `cmd` (a `phlb watch …`) with SIGINT/SIGTERM at their defaults.
    fn spawn(env: &Env, mut cmd: Command) -> Watching {
        let out = env.dir.path().join("watch.out");
        let err = env.dir.path().join("watch.err");
        // SAFETY: signal() is async-signal-safe; the closure only calls it.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        cmd.stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        Watching {
            child: cmd.spawn().unwrap(),
            out,
            err,
        }
    }

    /// Starts `phlb watch src ARGS…` and waits until its watches are placed.
    fn start(env: &Env, args: &[&str]) -> Watching {
        let mut cmd = env.cmd();
        cmd.args(["watch", env.src.to_str().unwrap()]).args(args);
        let mut w = Watching::spawn(env, cmd);
        w.ready();
        w
    }

    /// Waits until the watch said it watches (or polls).
    fn ready(&mut self) {
        let ok = wait_for(|| {
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "watch ended: {}",
                self.stderr()
            );
            let err = self.stderr();
            err.contains("phlb: watching") || err.contains("polling instead")
        });
        assert!(ok, "watch never got ready: {}", self.stderr());
    }

    fn stdout(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Sends SIGTERM and asserts the watch ends within 10 s, exit 0, with one line
    /// saying it stopped; returns that line.
    fn stop(mut self) -> String {
        let status = self.signal(libc::SIGTERM);
        let err = self.stderr();
        assert_eq!(status.code(), Some(0), "{status:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("phlb: watch stopped"))
            .collect();
        assert_eq!(lines.len(), 1, "{err}");
        lines[0].to_string()
    }

    /// Sends `sig` and waits (10 s at most) for the process to end.
    fn signal(&mut self, sig: i32) -> ExitStatus {
        // SAFETY: kill with a valid signal number on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) },
            0
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.child.kill().unwrap();
                panic!("watch did not end within 10 s of the signal");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Complete snapshots in the catalog.
fn complete(env: &Env) -> i64 {
    env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'complete'")
}

/// The paths of the newest complete snapshot of `src`, from the catalog.
fn newest_paths(env: &Env) -> Vec<String> {
    let snap = env.snapshots("src").pop().unwrap();
    env.catalog_files(&snap)
        .into_keys()
        .map(|p| String::from_utf8(p).unwrap())
        .collect()
}

/// An env whose `src` was just backed up, with the fast ini.
fn backed_up(extra: &str) -> Env {
    backed_up_with(extra, false)
}

/// `backed_up` with its files settled before the backup (see `settle`), so the next
/// run links them unread and counts only real changes.
fn backed_up_settled(extra: &str) -> Env {
    backed_up_with(extra, true)
}

fn backed_up_with(extra: &str, settled: bool) -> Env {
    let env = Env::new();
    env.config(&format!("{FAST}\n{extra}"));
    env.write("a.txt", b"alpha");
    env.write("d/b.txt", b"beta");
    if settled {
        settle();
    }
    env.backup();
    env
}

#[test]
fn unchanged_tree_makes_no_snapshot() {
    let env = backed_up("");
    let w = Watching::start(&env, &[]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(complete(&env), 1, "{}", w.stderr());
    assert_eq!(env.snapshots("src").len(), 1);
    assert_eq!(w.stdout(), "");
    assert_eq!(w.stop(), "phlb: watch stopped");
}

#[test]
fn change_made_before_start_is_snapshotted_at_start() {
    // Delays far longer than any start on a loaded machine: a snapshot seen well before
    // them was made at start, not after a delay or an event.
    let env = backed_up_settled("WATCH_DELAY = 60\nWATCH_MAX_WAIT = 120");
    env.write("d/new.txt", b"made while no watch ran");
    let started = Instant::now();
    let w = Watching::start(&env, &[]);
    assert!(wait_for(|| !w.stdout().is_empty()), "{}", w.stderr());
    assert!(started.elapsed() < Duration::from_secs(50));
    assert_eq!(complete(&env), 2, "{}", w.stderr());
    let snap = env.snapshots("src").pop().unwrap();
    assert_eq!(
        fs::read(snap.join("d/new.txt")).unwrap(),
        b"made while no watch ran"
    );
    assert!(newest_paths(&env).contains(&"d/new.txt".to_string()));
    let line = w.stdout();
    assert!(line.starts_with("20") && line.contains("src/"), "{line}");
    assert!(line.contains("1 changed, 2 linked, 1 copied"), "{line}");
    w.stop();
}

#[test]
fn burst_of_200_writes_makes_one_snapshot_holding_all() {
    // Two seconds of quiet, and no forced snapshot mid-burst: the test thread writing
    // the burst may be descheduled for a while on a loaded machine.
    let env = backed_up("WATCH_DELAY = 2\nWATCH_MAX_WAIT = 120");
    let w = Watching::start(&env, &[]);
    for i in 0..200 {
        // Half in a folder made after the start: it gets a watch of its own.
        let rel = if i % 2 == 0 {
            format!("burst/f{i:03}")
        } else {
            format!("f{i:03}")
        };
        env.write(&rel, format!("file {i}").as_bytes());
    }
    assert!(wait_for(|| complete(&env) == 2), "{}", w.stderr());
    // Quiet for longer than WATCH_DELAY and WATCH_MIN_INTERVAL: no second snapshot.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(complete(&env), 2, "{}", w.stdout());
    let snap = env.snapshots("src").pop().unwrap();
    let paths = newest_paths(&env);
    for i in 0..200 {
        let rel = if i % 2 == 0 {
            format!("burst/f{i:03}")
        } else {
            format!("f{i:03}")
        };
        assert_eq!(
            fs::read(snap.join(&rel)).unwrap(),
            format!("file {i}").as_bytes()
        );
        assert!(paths.contains(&rel), "{rel} not in the catalog");
    }
    // A file written into the new folder later is seen through its new watch.
    env.write("burst/later.txt", b"later");
    // Waits for the line watch prints after the snapshot (it comes after the catalog
    // says complete: leftover clean-up and `latest` come between).
    assert!(
        wait_for(|| w.stdout().lines().count() >= 2),
        "{}",
        w.stderr()
    );
    assert_eq!(complete(&env), 3, "{}", w.stdout());
    assert!(newest_paths(&env).contains(&"burst/later.txt".to_string()));
    assert_eq!(w.stdout().lines().count(), 2, "{}", w.stdout());
    w.stop();
}

#[test]
fn delete_and_rename_show_up_in_the_next_snapshot() {
    let env = backed_up("");
    let w = Watching::start(&env, &[]);
    fs::remove_file(env.src.join("a.txt")).unwrap();
    fs::rename(env.src.join("d/b.txt"), env.src.join("d/c.txt")).unwrap();
    assert!(wait_for(|| complete(&env) == 2), "{}", w.stderr());
    let snap = env.snapshots("src").pop().unwrap();
    assert!(!snap.join("a.txt").exists());
    assert!(!snap.join("d/b.txt").exists());
    assert_eq!(fs::read(snap.join("d/c.txt")).unwrap(), b"beta");
    let paths = newest_paths(&env);
    assert_eq!(paths, [".", "d", "d/c.txt"], "{paths:?}");
    w.stop();
}

#[test]
fn changes_inside_a_backup_root_within_the_source_trigger_nothing() {
    let env = Env::new();
    env.config(FAST);
    env.write("a.txt", b"alpha");
    let root = env.src.join("backups");
    env.init(&root);
    assert_ok(&env.backup_into(&root));
    let mut cmd = env.cmd_at(&root);
    cmd.args(["watch", env.src.to_str().unwrap()]);
    let mut w = Watching::spawn(&env, cmd);
    w.ready();
    let count = || {
        rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3"))
            .unwrap()
            .query_row(
                "SELECT count(*) FROM snapshots WHERE status = 'complete'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
    };
    // Writes in the root, a folder made there, and a reader of the catalog.
    fs::write(root.join("notes.txt"), b"x").unwrap();
    fs::create_dir(root.join("extra")).unwrap();
    fs::write(root.join("extra/f"), b"y").unwrap();
    assert_ok(&env.cmd_at(&root).args(["list"]).output().unwrap());
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(), 1, "{}", w.stdout());
    // One real change makes one snapshot, written into the root inside the source,
    // and that writing makes no other.
    env.write("b.txt", b"beta");
    assert!(wait_for(|| count() == 2), "{}", w.stderr());
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(), 2, "{}", w.stdout());
    w.stop();
}
