//! Runs stopped with copies in flight: a resumed run killed in turn, a full disk,
//! SIGTERM, and a SIGKILL among large files.

use super::*;

#[test]
fn a_resumed_run_killed_itself_then_a_third_run_completes() {
    let env = Env::new();
    write_files(&env, 90, 1 << 20);
    stop_part_way(&env, &env.root, libc::SIGKILL, 10);
    let first: BTreeSet<PathBuf> = recorded_in_dead_runs(&env.root).into_keys().collect();
    let first_left = leftovers(&env.root);
    // The resumed run links those, copies more, and is killed too.
    stop_part_way(&env, &env.root, libc::SIGKILL, first.len() + 10);
    assert_verify_clean(&env, &env.root);
    let both = recorded_in_dead_runs(&env.root);
    let left = leftovers(&env.root);
    assert!(both.len() > first.len(), "{both:?}");
    let report = next_backup_json(&env, &env.root);
    let snap = newest_snapshot(&env.root);
    for rel in &first {
        assert_eq!(ino(&snap.join(rel)), first_left[rel].1, "{}", rel.display());
    }
    for rel in both.keys() {
        assert_eq!(ino(&snap.join(rel)), left[rel].1, "{}", rel.display());
    }
    assert!(
        report["resumed"].as_u64().unwrap() >= both.len() as u64,
        "{report}"
    );
    assert_eq!(tree(&snap), tree(&env.src));
    assert!(!any_in_progress(&env.root));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status != 'complete'"),
        0
    );
    assert_verify_clean(&env, &env.root);
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn a_backup_that_died_on_a_full_disk_is_resumed_after_room_is_made() {
    let env = Env::new();
    let disk = SmallDisk::mount(&env.dir.path().join("small"), "24m")
        .expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    write_files(&env, 40, 1 << 20);
    let out = backup_cmd(&env, &root).output().unwrap();
    assert_code(&out, 2);
    let recorded = recorded_in_dead_runs(&root);
    let left = leftovers(&root);
    assert!(recorded.len() >= 5, "{recorded:?}\n{}", stderr(&out));
    disk.grow("200m");
    let report = next_backup_json(&env, &root);
    let snap = newest_snapshot(&root);
    for rel in recorded.keys() {
        assert!(
            left.contains_key(rel),
            "{}: recorded but not left",
            rel.display()
        );
    }
    for (rel, (_, was)) in &left {
        assert_eq!(ino(&snap.join(rel)), *was, "{}", rel.display());
    }
    assert_eq!(
        report["resumed"].as_u64().unwrap(),
        left.len() as u64,
        "{report}"
    );
    assert_eq!(tree(&snap), tree(&env.src));
    assert!(!any_in_progress(&root));
    assert_verify_clean(&env, &root);
}

/// Half-written files at `root`: temp-named ones anywhere in it, and unnamed ones
/// (`O_TMPFILE`, shown as "… (deleted)") that the live process `pid` holds open there.
fn copies_in_hand(root: &Path, pid: Option<u32>) -> usize {
    let named = walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".phlb-tmp"))
        .count();
    named + pid.map_or(0, |pid| unnamed_in_hand(root, pid))
}

/// Unnamed files (`O_TMPFILE`: new stored copies being written) the live process `pid`
/// holds open under `root`.
fn unnamed_in_hand(root: &Path, pid: u32) -> usize {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter(|t| t.starts_with(root) && t.to_string_lossy().ends_with(" (deleted)"))
        .count()
}

#[test]
fn a_kill_mid_copy_leaves_no_half_written_file_anywhere_in_the_root() {
    // A SIGKILL left the copies in flight under temp names in the in-progress folder,
    // where they held disk until the next run of that name. New copies are now unnamed
    // files until they are complete: the kernel frees them with the process.
    let env = Env::new();
    write_files(&env, 12, 24 << 20);
    // Killed while a new copy is being written (not while a side file's temp name is
    // briefly there at the start of the run: the next run removes those; flaky under
    // load when the test killed on one).
    let mut child = running_until(plain_backup_cmd(&env, &env.root), |pid| {
        unnamed_in_hand(&env.root, pid) > 0
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        copies_in_hand(&env.root, None),
        0,
        "a half-written file was left"
    );
    let report = next_backup_json(&env, &env.root);
    assert_eq!(
        tree(&newest_snapshot(&env.root)),
        tree(&env.src),
        "{report}"
    );
    assert_verify_clean(&env, &env.root);
}

#[test]
fn sigterm_finishes_the_copies_in_hand_and_records_them() {
    // A stop that lost the large files being copied when it came made the next run
    // write them again from the start.
    let env = Env::new();
    write_files(&env, 12, 24 << 20);
    let mut child = running_until(plain_backup_cmd(&env, &env.root), |pid| {
        unnamed_in_hand(&env.root, pid) > 0
    });
    // SAFETY: kill with a valid signal number on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(
        copies_in_hand(&env.root, None),
        0,
        "a copy in hand was left half-written"
    );
    let left = leftovers(&env.root);
    let recorded = recorded_in_dead_runs(&env.root);
    assert!(!left.is_empty());
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        recorded.keys().collect::<Vec<_>>(),
        "every file finished is recorded"
    );
    let report = next_backup_json(&env, &env.root);
    let snap = newest_snapshot(&env.root);
    for (rel, (_, was)) in &left {
        assert_eq!(
            ino(&snap.join(rel)),
            *was,
            "{} was copied again",
            rel.display()
        );
    }
    assert_eq!(
        report["resumed"].as_u64().unwrap(),
        left.len() as u64,
        "{report}"
    );
    assert_eq!(tree(&snap), tree(&env.src));
    assert_verify_clean(&env, &env.root);
}

#[test]
fn a_killed_run_of_large_files_has_committed_the_files_it_finished() {
    // The bug behind "linked 0, copied 12": a run's rows waited for 512 of them (or 10 s)
    // before the writer got them, so a run of a few large files committed nothing until
    // its end. Now every 64 MiB of new copies is committed at once. Default settings.
    let env = Env::new();
    write_files(&env, 6, 70 << 20);
    let mut child = plain_backup_cmd(&env, &env.root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ended = false;
    let seen = wait_for(|| {
        ended = child.try_wait().unwrap().is_some();
        ended || recorded_in_dead_runs(&env.root).len() >= 2
    });
    let finished_then = leftovers(&env.root).len();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen && !ended, "the backup ended before it could be killed");
    assert!(
        finished_then < 6,
        "nothing was committed before every file was done"
    );
    let recorded = recorded_in_dead_runs(&env.root);
    let left = leftovers(&env.root);
    let report = next_backup_json(&env, &env.root);
    let snap = newest_snapshot(&env.root);
    for rel in recorded.keys() {
        assert_eq!(ino(&snap.join(rel)), left[rel].1, "{}", rel.display());
    }
    assert!(
        report["resumed"].as_u64().unwrap() >= recorded.len() as u64,
        "{report}"
    );
    assert_verify_clean(&env, &env.root);
}
