//! Faults: kills at many moments, full disks, unusable setups, closed pipes, leftovers of
//! killed runs. Nothing may be lost and every failure is one clear line.

mod catalog;
mod catalog_access;
mod interrupt;
mod io;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Kills `phlb backup src` at the `n`th rename (a few files finished under their final
/// names in the in-progress folder); returns that folder.
fn killed_backup(env: &Env, n: u32) -> std::path::PathBuf {
    for i in 1..=6u8 {
        env.write(&format!("f{i}"), &vec![i; 4 << 20]);
    }
    assert!(
        killed_at(env, "rename", n, &["backup", env.src.to_str().unwrap()])
            || killed_at(env, "renameat2", n, &["backup", env.src.to_str().unwrap()])
    );
    fs::read_dir(env.root.join("src"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".inprogress"))
        .expect("no in-progress folder")
}

#[test]
#[ignore = "slow: a killed run under strace"]
fn a_leftover_hardlinked_from_outside_is_never_linked_into_a_snapshot() {
    // Regression: a finished leftover replaced by a hard link to a file outside
    // the root was linked in; writing to the outside file changed the snapshot.
    let env = Env::new();
    let inprogress = killed_backup(&env, 4);
    let target = fs::read_dir(&inprogress)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .expect("no finished leftover");
    let rel = target.file_name().unwrap().to_owned();
    let outside = env.dir.path().join("outside");
    fs::copy(env.src.join(&rel), &outside).unwrap();
    let md = fs::metadata(env.src.join(&rel)).unwrap();
    set_mtime(&outside, md.mtime() as u64, md.mtime_nsec() as u32);
    fs::remove_file(&target).unwrap();
    fs::hard_link(&outside, &target).unwrap();
    let snap = env.backup();
    assert_ne!(
        ino(&snap.join(&rel)),
        ino(&outside),
        "linked the outside file"
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (chattr) and strace"]
fn an_immutable_leftover_of_a_killed_run_never_fails_the_next_backup() {
    // Regression: a leftover in-progress folder holding an immutable file made
    // every backup exit 2, although its snapshot was complete.
    let env = Env::new();
    let inprogress = killed_backup(&env, 3);
    let stuck = fs::read_dir(&inprogress)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file())
        .expect("no leftover file");
    chattr("+i", &stuck);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    chattr("-i", &stuck);
    assert_ok(&out);
    assert!(stderr(&out).contains("chattr -R -ia"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("os error"), "{}", stderr(&out));
    // Once it can be deleted, the next run removes it.
    assert_ok(&env.run(&["backup", env.src.to_str().unwrap()]));
    assert!(!inprogress.exists());
}

fn statuses(env: &Env) -> Vec<(String, String)> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT timestamp, status FROM snapshots ORDER BY id")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn leftovers(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .flatten()
        .map(|e| e.path().to_path_buf())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.contains(".inprogress") || n.starts_with(".phlb-tmp-")
        })
        .collect()
}

fn count_entries(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir).into_iter().count()
}

#[test]
#[ignore = "slow: 20 killed runs; .ci/run includes it"]
fn kill_at_twenty_moments_then_recover() {
    let env = Env::new();
    write_tree(&env, 30, 100, "first");
    env.backup();
    let total = count_entries(&env.src);
    for round in 0..20usize {
        // Give each run real work, then kill it at its own moment, from the very start
        // (round 0) to nearly done (round 19).
        write_tree(&env, 30, 100, &format!("round {round}"));
        kill_backup_part_way(&env, round * total / 20);
        // Whatever is marked complete really is: its folder exists and verifies.
        for (ts, status) in statuses(&env) {
            if status == "complete" {
                let out = env.run(&["verify", "--fast", &format!("src/{ts}")]);
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "round {round}: {}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
        // The next run succeeds and leaves a correct tree and a clean root.
        let snap = env.backup();
        let (got, want) = (tree(&snap), tree(&env.src));
        assert_eq!(got.len(), want.len(), "round {round}");
        for (path, node) in &want {
            assert_eq!(got[path].data, node.data, "round {round}");
        }
        assert!(
            leftovers(&env.root).is_empty(),
            "round {round}: {:?}",
            leftovers(&env.root)
        );
        let out = env.run(&["verify"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            statuses(&env).iter().all(|(_, s)| s == "complete"),
            "round {round}"
        );
    }
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn disk_full_is_a_clear_error_and_loses_nothing() {
    let env = Env::new();
    let disk =
        SmallDisk::mount(&env.dir.path().join("small"), "3m").expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    let phlb = |args: &[&str]| env.cmd_at(&root).args(args).output().unwrap();
    let src = env.src.to_str().unwrap().to_string();
    env.write("small.txt", b"fits");
    assert_ok(&phlb(&["backup", &src]));
    let first: Vec<PathBuf> = fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    let before = tree(&first[0]);
    let big: Vec<u8> = (0..6_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    env.write("big.bin", &big);
    let out = phlb(&["backup", &src]);
    assert_code(&out, 2);
    assert_no_panic(&out);
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("phlb: error")).count(),
        1,
        "{err}"
    );
    assert_eq!(tree(&first[0]), before, "the earlier snapshot is intact");
    let first_label = format!("src/{}", first[0].file_name().unwrap().to_str().unwrap());
    assert_code(&phlb(&["verify", &first_label]), 0);
    disk.grow("32m");
    assert_ok(&phlb(&["backup", &src]));
    assert_code(&phlb(&["verify"]), 0);
}

#[test]
fn unreadable_source_or_read_only_root_or_locked_catalog_is_exit_2() {
    let env = Env::new();
    env.write("a", b"a");
    set_mode(&env.src, 0o000);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    set_mode(&env.src, 0o755);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot back up: Permission denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(env.nothing_backed_up());

    set_mode(&env.root, 0o555);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    set_mode(&env.root, 0o755);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert!(env.nothing_backed_up(), "nothing touched");

    env.backup();
    let holder = env.db();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("catalog is locked by another program"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.snapshots("src").len(), 1);
    holder.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn io_errors_name_their_path_and_show_no_raw_os_error_codes() {
    // Regression: `…/secret.txt: cannot open: Permission denied (os error 13)`,
    // and a full disk said `cannot write manifest: No space left on device` with no path.
    let env = Env::new();
    env.write("secret.txt", b"secret");
    env.write("ok.txt", b"ok");
    set_mode(&env.src.join("secret.txt"), 0o000);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("secret.txt: "), "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    let log = fs::read_to_string(beside(&env.snapshots("src")[0], "-backup.log")).unwrap();
    assert!(
        log.contains("secret.txt") && !log.contains("os error"),
        "{log}"
    );
    // A full disk: every line that says so names the path it could not write.
    let disk =
        SmallDisk::mount(&env.dir.path().join("small"), "2m").expect("mounting a tmpfs needs root");
    let root = disk.0.join("root");
    env.init(&root);
    for i in 0..400 {
        let body = format!("{i:08}").repeat(1000);
        env.write(
            &format!("many/f{i:04}-{}", "x".repeat(100)),
            body.as_bytes(),
        );
    }
    let out = env.backup_into(&root);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(!err.contains("os error"), "{err}");
    for line in err.lines().filter(|l| l.contains("No space left")) {
        let cause = line.find("No space left").unwrap();
        assert!(line[..cause].contains('/'), "no path in {line:?}");
    }
}

fn status_of(env: &Env, sql: &str) -> Vec<String> {
    let db = env.db();
    let mut stmt = db.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn killed_run_is_never_complete_and_next_run_succeeds() {
    let env = Env::new();
    write_tree(&env, 20, 150, "first");
    env.backup();
    // Change everything so the second run has real work, then kill it part-way.
    write_tree(&env, 20, 150, "changed");
    assert!(
        kill_backup_part_way(&env, 200),
        "the run ended before it could be killed"
    );
    let statuses = status_of(&env, "SELECT status FROM snapshots ORDER BY id");
    assert_eq!(statuses, vec!["complete", "incomplete"]);
    assert_eq!(
        env.snapshots("src").len(),
        1,
        "no killed snapshot has a final name"
    );
    let snap = env.backup();
    let (got, want) = (tree(&snap), tree(&env.src));
    assert_eq!(got.len(), want.len());
    for (path, node) in want {
        if node.kind == "file" {
            assert_eq!(got[&path].data, node.data);
        }
    }
    let statuses = status_of(&env, "SELECT status FROM snapshots ORDER BY id");
    assert_eq!(
        statuses,
        vec!["complete", "complete"],
        "the dead run's rows are gone"
    );
    let leftovers: Vec<_> = fs::read_dir(env.root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".inprogress"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let dangling = env.sql_int("SELECT count(*) FROM copies k WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.copy_id = k.id)");
    assert_eq!(dangling, 0);
}
