//! Resuming an interrupted backup: the files a killed, interrupted or disk-full run
//! finished are linked by the next run of the same name, never copied again; a leftover
//! changed since, or a source file changed since, is copied; `verify` is clean after each.

mod in_flight;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;
use rusqlite::{Connection, OpenFlags};

/// Files of `size` bytes, each its own content, enough that a run can be stopped part-way
/// (settled: see `settle`).
fn write_files(env: &Env, n: usize, size: usize) {
    for i in 0..n {
        env.write(&format!("d{}/f{i:03}.bin", i % 3), &noise(size, i as u64));
    }
    settle();
}

/// `phlb backup src` with SIGINT/SIGTERM at their defaults and every row committed at
/// once (`PHLB_DEBUG_BATCH_ROWS=1`), so what the run finished is known the moment the
/// test sees it in the catalog.
fn backup_cmd(env: &Env, root: &Path) -> Command {
    let mut cmd = plain_backup_cmd(env, root);
    cmd.env("PHLB_DEBUG_BATCH_ROWS", "1");
    cmd
}

/// `phlb backup src` with SIGINT/SIGTERM at their defaults.
fn plain_backup_cmd(env: &Env, root: &Path) -> Command {
    let mut cmd = env.cmd_at(root);
    cmd.args(["backup", env.src.to_str().unwrap()]);
    // SAFETY: signal() is async-signal-safe; the closure only calls it.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd
}

/// File entries the catalog at `root` holds for runs that never finished, and the run
/// they belong to; empty while there is no catalog.
fn recorded_in_dead_runs(root: &Path) -> BTreeMap<PathBuf, i64> {
    let path = root.join(".phlb/catalog.sqlite3");
    let Ok(db) = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return BTreeMap::new();
    };
    let rows = db
        .prepare(
            "SELECT p.path, s.id FROM entries e JOIN snapshot_runs s ON s.id = e.snapshot_id
             JOIN paths p ON p.id = e.path_id
             WHERE s.status = 'incomplete' AND e.kind = 'file'",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |r| {
                let path: Vec<u8> = r.get(0)?;
                Ok((PathBuf::from(String::from_utf8(path).unwrap()), r.get(1)?))
            })?
            .collect::<rusqlite::Result<BTreeMap<_, _>>>()
        });
    rows.unwrap_or_default()
}

/// Files of the newest run that never finished, as the catalog has them.
fn recorded_in_newest_dead_run(root: &Path) -> usize {
    let all = recorded_in_dead_runs(root);
    let newest = all.values().max().copied();
    all.values().filter(|&&id| Some(id) == newest).count()
}

/// Starts `cmd` (output dropped) and returns it once `until(its pid)` holds; panics
/// when the run ends first.
fn running_until(mut cmd: Command, mut until: impl FnMut(u32) -> bool) -> std::process::Child {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ended = false;
    let reached = wait_for(|| {
        ended = child.try_wait().unwrap().is_some();
        ended || until(child.id())
    });
    assert!(
        reached && !ended,
        "the backup ended before it could be stopped"
    );
    child
}

/// Starts a backup into `root` and sends `sig` once the newest unfinished run has
/// recorded `files` files; panics if the run ends first.
fn stop_part_way(env: &Env, root: &Path, sig: i32, files: usize) {
    let mut child = running_until(backup_cmd(env, root), |_| {
        recorded_in_newest_dead_run(root) >= files
    });
    // SAFETY: kill with a valid signal number on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    child.wait().unwrap();
}

/// The files under their final names in the in-progress folders at `root`, with their
/// inode numbers (temp names are half-written files, never reused).
fn leftovers(root: &Path) -> BTreeMap<PathBuf, (PathBuf, u64)> {
    let mut out = BTreeMap::new();
    for dir in fs::read_dir(root.join("src")).unwrap().flatten() {
        if !dir.file_name().to_string_lossy().ends_with(".inprogress") || !dir.path().is_dir() {
            continue;
        }
        for e in walkdir::WalkDir::new(dir.path()).into_iter().flatten() {
            let temp = e.file_name().to_string_lossy().starts_with(".phlb-tmp");
            if e.file_type().is_file() && !temp {
                let rel = e.path().strip_prefix(dir.path()).unwrap().to_path_buf();
                out.entry(rel)
                    .or_insert((e.path().to_path_buf(), ino(e.path())));
            }
        }
    }
    out
}

fn any_in_progress(root: &Path) -> bool {
    fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains(".inprogress"))
}

/// Runs the next backup with `--json`; its report.
fn next_backup_json(env: &Env, root: &Path) -> serde_json::Value {
    let out = env
        .cmd_at(root)
        .args(["backup", "--json", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn newest_snapshot(root: &Path) -> PathBuf {
    fs::canonicalize(root.join("src/latest")).unwrap()
}

fn assert_verify_clean(env: &Env, root: &Path) {
    let out: Output = env.cmd_at(root).arg("verify").output().unwrap();
    assert_ok(&out);
}

/// After a run stopped with `sig`, the next run links every file the stopped run
/// recorded: same inode in the new snapshot, counted as resumed, nothing left over.
fn finished_files_are_linked_after(sig: i32) {
    let env = Env::new();
    write_files(&env, 60, 1 << 20);
    let root = env.root.clone();
    stop_part_way(&env, &root, sig, 10);
    // A root holding an interrupted run's leftovers verifies clean (they are noted).
    assert_verify_clean(&env, &root);
    let recorded = recorded_in_dead_runs(&root);
    let left = leftovers(&root);
    assert!(recorded.len() >= 10, "{recorded:?}");
    let report = next_backup_json(&env, &root);
    let snap = newest_snapshot(&root);
    for rel in recorded.keys() {
        assert!(
            left.contains_key(rel),
            "{}: recorded but not left",
            rel.display()
        );
    }
    // Recorded or not (killed before its rows were committed), every file the run
    // finished under its final name is linked.
    for (rel, (_, was)) in &left {
        assert_eq!(
            ino(&snap.join(rel)),
            *was,
            "{} was copied again",
            rel.display()
        );
    }
    let resumed = report["resumed"].as_u64().unwrap();
    assert_eq!(resumed, left.len() as u64, "{report}");
    assert_eq!(
        report["resumed_bytes"].as_u64().unwrap(),
        resumed << 20,
        "{report}"
    );
    assert_eq!(
        report["copied"].as_u64().unwrap() + resumed,
        60,
        "every file is either resumed or copied: {report}"
    );
    assert_eq!(tree(&snap), tree(&env.src));
    assert!(!any_in_progress(&root), "the leftovers were not removed");
    assert_verify_clean(&env, &root);
}

#[test]
fn finished_files_of_a_killed_backup_are_not_copied_again() {
    // The bug: the next run reported `linked 0, copied 12` and wrote every byte again.
    // Default settings: a run of small files commits no rows before the kill, so the
    // next run proves each leftover by its bytes.
    let env = Env::new();
    write_files(&env, 60, 1 << 20);
    let mut child = running_until(plain_backup_cmd(&env, &env.root), |_| {
        env.root.join("src").is_dir() && leftovers(&env.root).len() >= 10
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let left = leftovers(&env.root);
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
    assert_eq!(
        report["new_bytes"].as_u64().unwrap(),
        (60 - left.len() as u64) << 20,
        "{report}"
    );
    assert_eq!(tree(&snap), tree(&env.src));
    assert!(!any_in_progress(&env.root));
    assert_verify_clean(&env, &env.root);
}

#[test]
fn files_a_sigkilled_backup_finished_are_linked_not_copied_by_the_next_run() {
    finished_files_are_linked_after(libc::SIGKILL);
}

#[test]
fn files_a_sigterm_stopped_backup_finished_are_linked_not_copied_by_the_next_run() {
    finished_files_are_linked_after(libc::SIGTERM);
}

#[test]
fn files_a_ctrl_c_stopped_backup_finished_are_linked_not_copied_by_the_next_run() {
    finished_files_are_linked_after(libc::SIGINT);
}

#[test]
fn the_summary_says_how_much_was_resumed() {
    let env = Env::new();
    write_files(&env, 60, 1 << 20);
    stop_part_way(&env, &env.root, libc::SIGKILL, 10);
    let out = env
        .cmd()
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("from an interrupted run"))
        .unwrap_or_else(|| panic!("no resumed line in:\n{text}"));
    let n: u64 = line
        .trim()
        .strip_prefix("resumed ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(n >= 10, "{line}");
    assert!(
        line.contains(&format!(
            "resumed {n} files, {} bytes from an interrupted run",
            n << 20
        )),
        "{line}"
    );
    let log = fs::read_to_string(beside(&newest_snapshot(&env.root), "-backup.log")).unwrap();
    assert!(log.contains("resumed "), "{log}");
}

#[test]
fn a_leftover_changed_by_hand_is_copied_not_linked() {
    let env = Env::new();
    write_files(&env, 60, 1 << 20);
    stop_part_way(&env, &env.root, libc::SIGKILL, 10);
    let recorded: Vec<PathBuf> = recorded_in_dead_runs(&env.root).into_keys().collect();
    let left = leftovers(&env.root);
    // One overwritten in place (same size, same inode), one replaced by a file with
    // other bytes of the same size, mtime and mode (written by someone else).
    let (in_place, replaced) = (&recorded[0], &recorded[1]);
    let (path, old_ino) = &left[in_place];
    {
        use std::io::{Seek, Write};
        let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
        f.seek(std::io::SeekFrom::Start(4096)).unwrap();
        f.write_all(b"changed by hand").unwrap();
    }
    assert_eq!(ino(path), *old_ino);
    let (path2, old_ino2) = &left[replaced];
    let mtime = fs::metadata(path2).unwrap().modified().unwrap();
    let other = path2.with_extension("other");
    let mut body = fs::read(path2).unwrap();
    body[0] ^= 1;
    fs::write(&other, &body).unwrap();
    set_mtime_to(&other, mtime);
    fs::set_permissions(&other, fs::metadata(path2).unwrap().permissions()).unwrap();
    fs::rename(&other, path2).unwrap();
    let replaced_ino = ino(path2);
    assert_ne!(replaced_ino, *old_ino2);
    let report = next_backup_json(&env, &env.root);
    let snap = newest_snapshot(&env.root);
    assert_ne!(
        ino(&snap.join(in_place)),
        *old_ino,
        "a changed leftover was linked"
    );
    assert_ne!(
        ino(&snap.join(replaced)),
        replaced_ino,
        "a replaced leftover was linked"
    );
    assert_ne!(ino(&snap.join(replaced)), *old_ino2);
    assert_eq!(tree(&snap), tree(&env.src), "{report}");
    assert!(report["resumed"].as_u64().unwrap() >= 8, "{report}");
    assert_verify_clean(&env, &env.root);
}

#[test]
fn a_source_file_changed_between_the_runs_is_copied() {
    let env = Env::new();
    write_files(&env, 60, 1 << 20);
    stop_part_way(&env, &env.root, libc::SIGKILL, 10);
    let recorded: Vec<PathBuf> = recorded_in_dead_runs(&env.root).into_keys().collect();
    let left = leftovers(&env.root);
    // New bytes of the same size (the mtime moves), and the same bytes with a new mode.
    let (rewritten, chmodded) = (&recorded[0], &recorded[1]);
    let mut body = fs::read(env.src.join(rewritten)).unwrap();
    body[100] ^= 0xff;
    fs::write(env.src.join(rewritten), &body).unwrap();
    set_mode(&env.src.join(chmodded), 0o600);
    let report = next_backup_json(&env, &env.root);
    let snap = newest_snapshot(&env.root);
    assert_ne!(ino(&snap.join(rewritten)), left[rewritten].1);
    assert_eq!(fs::read(snap.join(rewritten)).unwrap(), body);
    assert_ne!(ino(&snap.join(chmodded)), left[chmodded].1);
    assert_eq!(mode(&snap.join(chmodded)) & 0o7777, 0o600);
    assert_eq!(tree(&snap), tree(&env.src), "{report}");
    assert_verify_clean(&env, &env.root);
}
