//! Races: sources changed or swapped for symlinks under a running backup, runs started
//! together, held locks, readers beside a writer. The walk races run under `strace`, which
//! delays every `getdents64` (folder listing), so the swap lands at a known point.

mod walk;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;

#[test]
fn writer_leaves_an_empty_wal_even_while_a_reader_has_the_catalog_open() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.backup();
    let reader = env.db();
    let n: i64 = reader
        .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    env.write("b.txt", b"b");
    env.backup();
    let wal = env.root.join(".phlb/catalog.sqlite3-wal");
    let len = fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        len,
        0,
        "{} holds changes a full disk would hide",
        wal.display()
    );
    drop(reader);
}

#[test]
fn wait_waits_for_a_lock_held_by_another_process_then_runs() {
    let env = Env::new();
    env.write("a.txt", b"x");
    env.backup();
    // The test holds the writer lock as another run would, until it lets go.
    let lock = fs::File::options()
        .read(true)
        .write(true)
        .open(env.root.join(".phlb/lock"))
        .unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(fd, libc::LOCK_EX) }, 0);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("another phlb run"),
        "{}",
        stderr(&out)
    );
    // A bounded wait gives up (and says so) while the lock is still held.
    let out = env.run(&["backup", env.src.to_str().unwrap(), "--wait=1"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("gave up waiting"), "{}", stderr(&out));
    // An unbounded wait says so once, waits while the lock is held, then runs.
    let mut cmd = env.cmd();
    cmd.args(["backup", env.src.to_str().unwrap(), "--wait"]);
    let mut waiting = Watched::spawn(&env, cmd);
    assert!(
        wait_for(|| waiting.stderr().contains("phlb: waiting:")),
        "{}",
        waiting.stderr()
    );
    assert!(waiting.child.try_wait().unwrap().is_none(), "did not wait");
    drop(lock);
    let (status, err) = waiting.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(err.matches("phlb: waiting:").count(), 1, "{err}");
    assert_eq!(env.snapshots("src").len(), 2);
}

/// Runs `f` in a loop on another thread until the returned guard is dropped.
fn meddle(mut f: impl FnMut(u64) + Send + 'static) -> impl Drop {
    struct Stop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
            if let Some(t) = self.1.take() {
                t.join().unwrap();
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let mut i = 0;
        while !flag.load(Ordering::Relaxed) {
            f(i);
            i += 1;
        }
    });
    Stop(stop, Some(handle))
}

#[test]
#[ignore = "slow: backs up trees while another thread rewrites, deletes and renames"]
fn source_changing_during_backup_never_records_a_wrong_hash() {
    let env = Env::new();
    for i in 0..300 {
        env.write(&format!("data/f{i:03}"), &vec![(i % 251) as u8; 150_000]);
    }
    env.write("moving/inner.txt", b"inner");
    symlink(".", env.src.join("loop")).unwrap();
    symlink("b", env.src.join("a")).unwrap();
    symlink("a", env.src.join("b")).unwrap();
    let src = env.src.clone();
    for _ in 0..3 {
        let src2 = src.clone();
        let _meddler = meddle(move |i| {
            let f = src2.join(format!("data/f{:03}", (i * 7) % 300));
            match i % 4 {
                0 => {
                    let _ = fs::write(&f, vec![(i % 200) as u8; 150_000 + (i as usize % 5000)]);
                }
                1 => {
                    let _ = fs::remove_file(&f);
                }
                2 => {
                    let _ = fs::rename(src2.join("moving"), src2.join("moved"));
                    let _ = fs::rename(src2.join("moved"), src2.join("moving"));
                }
                _ => {
                    let _ = fs::OpenOptions::new().append(true).open(&f).map(|mut h| {
                        use std::io::Write;
                        let _ = h.write_all(b"more");
                    });
                }
            }
        });
        let out = env.run(&["backup", env.src.to_str().unwrap()]);
        assert_no_panic(&out);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    }
    let snap = env.snapshots("src").pop().unwrap();
    assert_eq!(fs::read_link(snap.join("loop")).unwrap(), Path::new("."));
    assert_eq!(fs::read_link(snap.join("a")).unwrap(), Path::new("b"));
    // Every recorded hash matches the stored bytes: nothing recorded with a wrong hash.
    let out = env.run(&["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
#[ignore = "slow: races symlink swaps against several backups"]
fn symlink_swapped_in_is_never_read_through() {
    let env = Env::new();
    let secret = env.dir.path().join("secret.txt");
    fs::write(&secret, b"TOP SECRET CONTENT").unwrap();
    for i in 0..200 {
        env.write(&format!("f{i:03}"), format!("harmless {i}").as_bytes());
    }
    let src = env.src.clone();
    let target = secret.clone();
    let _swapper = meddle(move |i| {
        let victim = src.join(format!("f{:03}", i % 200));
        let tmp = src.join(format!(".swap{}", i % 2));
        let _ = fs::remove_file(&tmp);
        if i % 2 == 0 {
            let _ = symlink(&target, &tmp);
        } else {
            let _ = fs::write(&tmp, format!("harmless again {i}"));
        }
        let _ = fs::rename(&tmp, &victim);
    });
    for _ in 0..5 {
        let out = env.run(&["backup", env.src.to_str().unwrap()]);
        assert_no_panic(&out);
    }
    drop(_swapper);
    for snap in env.snapshots("src") {
        for (path, node) in tree(&snap) {
            if node.kind == "file" {
                assert_ne!(
                    node.data,
                    b"TOP SECRET CONTENT",
                    "{:?} was read through a symlink",
                    String::from_utf8_lossy(&path)
                );
            }
        }
    }
}

#[test]
fn two_backups_started_together_exactly_one_runs() {
    let env = Env::bare();
    for i in 0..3000 {
        env.write(&format!("d{}/f{i}", i % 30), format!("{i}").as_bytes());
    }
    let start = |env: &Env| {
        env.cmd()
            .args(["backup", env.src.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    fs::create_dir_all(env.root.join(".phlb")).unwrap();
    let a = start(&env);
    let b = start(&env);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = vec![a.status.code().unwrap(), b.status.code().unwrap()];
    codes.sort();
    assert_eq!(codes, vec![0, 2], "{}\n{}", stderr(&a), stderr(&b));
    let loser = if a.status.code() == Some(2) { &a } else { &b };
    assert!(
        stderr(loser).contains("another phlb run"),
        "{}",
        stderr(loser)
    );
    assert_eq!(env.snapshots("src").len(), 1);
}

#[test]
fn queries_keep_answering_while_a_backup_writes() {
    let env = Env::new();
    env.write("seed", b"seed");
    env.backup();
    for i in 0..6000 {
        env.write(
            &format!("d{}/f{i}", i % 60),
            format!("content {i}").as_bytes(),
        );
    }
    let mut child = env.spawn_backup();
    let mut answered = 0;
    while child.try_wait().unwrap().is_none() {
        let out = env.run(&["list", "--json"]);
        assert_ok(&out);
        let out = env.run(&["sql", "SELECT count(*) FROM files"]);
        assert_ok(&out);
        answered += 1;
    }
    assert!(child.wait().unwrap().success());
    assert!(answered > 0);
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
