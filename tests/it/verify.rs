//! `phlb verify` on real snapshots: damage found and repaired, unknown files and folders
//! reported, leftovers of killed runs shown as notes.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::symlink;

use crate::common::*;

#[test]
fn flipped_byte_in_shared_file_names_all_three_snapshots() {
    let env = Env::new();
    env.write("shared.bin", &vec![1u8; 10_000]);
    env.write("other", b"o");
    let snaps: Vec<_> = (0..3).map(|_| env.backup()).collect();
    let victim = snaps[1].join("shared.bin");
    let mtime = mtime_ns(&victim);
    {
        let mut f = fs::OpenOptions::new().write(true).open(&victim).unwrap();
        f.seek(SeekFrom::Start(5000)).unwrap();
        f.write_all(&[2u8]).unwrap();
    }
    set_mtime(
        &victim,
        (mtime / 1_000_000_000) as u64,
        (mtime % 1_000_000_000) as u32,
    );
    let out = env.run(&["verify", "--fast"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "fast verify does not read content"
    );
    let out = env.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let damaged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("content damaged"))
        .collect();
    assert_eq!(damaged.len(), 1, "one report per damaged inode: {text}");
    for s in &snaps {
        let label = format!(
            "src/{}/shared.bin",
            s.file_name().unwrap().to_str().unwrap()
        );
        assert!(damaged[0].contains(&label), "{label} not in {}", damaged[0]);
    }
}

#[test]
fn fast_verify_catches_changed_size_and_mtime() {
    let env = Env::new();
    env.write("a", b"aaaa");
    env.write("b", b"bbbb");
    let snap = env.backup();
    fs::write(snap.join("a"), b"aaaaaa").unwrap();
    set_mtime(&snap.join("b"), 1_000_000, 0);
    let out = env.run(&["verify", "--fast"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/a: size 6 bytes, the catalog says 4"),
        "{text}"
    );
    assert!(text.contains("/b: mtime changed"), "{text}");
}

#[test]
fn removed_snapshot_fails_verify_once_then_is_only_counted() {
    let env = Env::new();
    env.write("a", b"a");
    let s1 = env.backup();
    env.backup();
    fs::remove_dir_all(&s1).unwrap();
    let out = env.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("snapshot folder is gone"));
    // `rm -rf` is a documented way to delete a snapshot: once known, it is only counted.
    let out = env.run(&["verify"]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("marked missing"), "{}", stderr(&out));
    let statuses: Vec<String> = {
        let db = env.db();
        let mut st = db
            .prepare("SELECT status FROM snapshots ORDER BY id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert_eq!(statuses, vec!["missing", "complete"]);
}

#[test]
fn verify_finds_unknown_files_and_manifest_disagreement() {
    let env = Env::new();
    env.write("a", b"a");
    env.write("b", b"b");
    let snap = env.backup();
    fs::write(snap.join("intruder"), b"x").unwrap();
    let name = snap.file_name().unwrap().to_str().unwrap().to_string();
    let manifest = snap.parent().unwrap().join(format!("{name}.SHA256SUMS"));
    // a: wrong hash; b: left out; ghost: a line for a file the catalog does not know.
    let zeros = "0".repeat(64);
    fs::write(
        &manifest,
        format!("{zeros}  a\n{zeros}  ghost\nnot a manifest line\n"),
    )
    .unwrap();
    let out = env.run(&["verify", "--fast", &format!("src/{name}")]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "intruder: on disk but not in the catalog",
        "/a: manifest hash differs from the catalog",
        "/b: not in the manifest",
        "/ghost: in the manifest but not in the catalog",
        "1 unreadable line(s)",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(!text.contains("/a: not in the manifest"), "{text}");
}

#[test]
fn a_snapshot_without_regular_files_gets_no_manifest_that_sha256sum_would_reject() {
    // Regression: an empty source (or a snapshot trimmed of every file) got an
    // empty manifest that `sha256sum -c` rejects ("no properly formatted checksum
    // lines"; coreutils 9.1 rejects a comment-only one too).
    let env = Env::new();
    fs::create_dir(env.src.join("empty-folder")).unwrap();
    std::os::unix::fs::symlink("nowhere", env.src.join("link")).unwrap();
    let snap = backup_at(&env, "2026-07-31 10:00:00");
    assert!(snap.join("empty-folder").is_dir());
    assert!(
        !beside(&snap, ".SHA256SUMS").exists(),
        "no manifest without files"
    );
    assert!(beside(&snap, "-summary.txt").exists());
    assert_ok(&env.run(&["verify"]));
    // add (and add --trust-manifests) take the missing manifest as empty, write none.
    for args in [vec!["add"], vec!["add", "--trust-manifests"]] {
        env.remove_catalog();
        let out = env.run(&args);
        assert_ok(&out);
        assert!(!beside(&snap, ".SHA256SUMS").exists(), "{args:?}");
        assert_ok(&env.run(&["verify"]));
    }
    // A snapshot whose every file `--keep-versions` trimmed loses its manifest too.
    env.write("only.txt", b"v1");
    let first = backup_at(&env, "2026-08-01 10:00:00");
    env.write("only.txt", b"v2");
    backup_at(&env, "2026-08-02 10:00:00");
    assert!(beside(&first, ".SHA256SUMS").exists());
    assert_ok(&env.run(&["prune", "--keep-versions", "1"]));
    assert!(!first.join("only.txt").exists());
    assert!(
        !beside(&first, ".SHA256SUMS").exists(),
        "trimmed of every file"
    );
    assert_ok(&env.run(&["verify"]));
    // A snapshot with files whose manifest was deleted is still a problem, said once.
    let newest = env.backup();
    fs::remove_file(beside(&newest, ".SHA256SUMS")).unwrap();
    let out = env.run(&["verify", "--fast"]);
    assert_code(&out, 1);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("SHA256SUMS")
            .count(),
        1
    );
}

/// Two files in two snapshots, both stored copies damaged in place; the source keeps
/// one of them (a third backup stores a fresh copy of it) and lost the other.
fn two_damaged_copies_one_repairable() -> Env {
    let env = Env::new();
    env.write("keep.txt", b"kept in the source");
    env.write("gone.txt", b"gone from the source");
    let first = env.backup();
    env.backup();
    for name in ["keep.txt", "gone.txt"] {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(first.join(name))
            .unwrap();
        f.write_all(b"X").unwrap();
    }
    fs::remove_file(env.src.join("gone.txt")).unwrap();
    env.backup();
    env
}

#[test]
fn verify_repair_counts_do_not_add_up() {
    // One damaged copy ended with "6 problem(s)": lines, not paths, and the repaired
    // ones counted again. Now paths: found = repaired + left, in text and in JSON.
    let env = two_damaged_copies_one_repairable();
    let out = env.run(&["verify", "--repair"]);
    assert_eq!(out.status.code(), Some(1), "damage found is a problem");
    let err = stderr(&out);
    assert!(
        err.contains("4 path(s) with problems: 2 repaired, 2 left as they are"),
        "{err}"
    );

    let env = two_damaged_copies_one_repairable();
    let out = env.run(&["verify", "--repair", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["summary"] == true)
        .unwrap();
    assert_eq!(summary["problems"], 4, "{summary}");
    assert_eq!(summary["repaired"], 2, "{summary}");
    assert_eq!(summary["left"], 2, "{summary}");
    // One line per path, each under what became of it (a path left was a "repaired").
    let count = |key: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{{\"{key}\"")))
            .count()
    };
    assert_eq!(count("repaired"), 2, "{text}");
    assert_eq!(count("left"), 2, "{text}");
    // Once repaired and with the rest still damaged, the next verify counts what is left.
    let out = env.run(&["verify"]);
    assert!(
        stderr(&out).contains("2 path(s) with problems"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verify_reports_symlinked_snapshot_folder_once_and_never_reads_through() {
    let env = Env::new();
    env.write("a", b"alpha");
    env.write("d/b", b"bee");
    let snap = env.backup();
    // The target is a copy with one damaged and one extra file: reading through the
    // link would report those too.
    let copy = env.dir.path().join("copy");
    fs::create_dir_all(copy.join("d")).unwrap();
    fs::write(copy.join("a"), b"ALPHA").unwrap();
    fs::write(copy.join("d/b"), b"bee").unwrap();
    fs::write(copy.join("extra"), b"x").unwrap();
    fs::remove_dir_all(&snap).unwrap();
    symlink(&copy, &snap).unwrap();
    let out = env.run(&["verify"]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("symlink") && text.contains("not followed"),
        "{text}"
    );
    assert!(!text.contains("extra") && !text.contains("/a"), "{text}");
}

#[test]
fn verify_reports_snapshot_folders_the_catalog_does_not_know() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    env.hand_snapshot("src/2020-01-01-000000", &[("a.txt", b"alpha")]);
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
fn verify_reading_entries_two_at_a_time_finds_what_it_finds_in_one_run() {
    // verify streams a snapshot's entries from the catalog a run at a time and keeps
    // digests for the listing checks. In runs of two it must report exactly what one
    // run reports: unknown files, manifest lines wrong, missing and extra, a file gone,
    // a changed mode, a damaged byte, and in a clean snapshot nothing.
    let env = Env::new();
    for i in 0..9 {
        env.write(&format!("d{}/f{i}", i % 3), format!("file {i}").as_bytes());
    }
    symlink("d0/f0", env.src.join("link")).unwrap();
    let clean = env.backup();
    env.write("d1/new", b"new in the second");
    let snap = env.backup();
    fs::write(snap.join("d2/intruder"), b"x").unwrap();
    fs::remove_file(snap.join("d0/f3")).unwrap();
    set_mode(&snap.join("d1/new"), 0o600); // its own inode: the first snapshot stays clean
    let name = snap.file_name().unwrap().to_str().unwrap().to_string();
    let manifest = snap.parent().unwrap().join(format!("{name}.SHA256SUMS"));
    let text = fs::read_to_string(&manifest).unwrap();
    let zeros = "0".repeat(64);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.ends_with("  d2/f5"))
        .map(|l| {
            if l.ends_with("  d0/f6") {
                format!("{zeros}  d0/f6")
            } else {
                l.to_string()
            }
        })
        .collect();
    lines.push(format!("{zeros}  ghost"));
    // A line given twice is said as such (it was "not in the catalog").
    let twice = lines
        .iter()
        .find(|l| l.ends_with("  d1/f1"))
        .unwrap()
        .clone();
    lines.push(twice);
    fs::write(&manifest, lines.join("\n") + "\n").unwrap();
    let verify = |run: Option<&str>, args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.arg("verify").args(args);
        if let Some(n) = run {
            cmd.env("PHLB_DEBUG_ENTRY_RUN", n);
        }
        let out = cmd.output().unwrap();
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        (out.status.code(), lines)
    };
    for args in [&["--fast"][..], &[]] {
        let (code, one) = verify(None, args);
        let (code_runs, runs) = verify(Some("2"), args);
        assert_eq!(code, Some(1));
        assert_eq!((code_runs, &runs), (code, &one), "{args:?}");
        let all = one.join("\n");
        for want in [
            "d2/intruder: on disk but not in the catalog",
            "d0/f3: missing",
            "d1/new: mode changed since the backup",
            "d0/f6: manifest hash differs from the catalog",
            "d2/f5: not in the manifest",
            "ghost: in the manifest but not in the catalog",
            "d1/f1: listed more than once in the manifest",
        ] {
            assert!(all.contains(want), "{want}: {all}");
        }
        assert!(!all.contains("d1/f1: in the manifest but not"), "{all}");
        assert!(!all.contains(&format!("{}/", label(&clean))), "{all}");
    }
    let clean_label = label(&clean);
    let (code, lines) = verify(Some("2"), &["--fast", clean_label.as_str()]);
    assert_eq!((code, lines), (Some(0), vec![]));
}

#[test]
fn a_damaged_copy_names_only_the_paths_holding_it_and_a_file_copied_apart_reads_on_its_own() {
    // Two snapshots hold `x` through one inode, and each a second path `y` of it (equal
    // content, linked); then snapshot 2's `x` is replaced by a copy of its own (as a root
    // copied without hardlinks has) and the shared inode gets a flipped byte.
    let env = Env::new();
    let data = vec![5u8; 20_000];
    for f in ["x", "y"] {
        set_mtime(&env.write(f, &data), 1_700_000_000, 0);
    }
    let snaps: Vec<_> = (0..2).map(|_| env.backup()).collect();
    assert_eq!(ino(&snaps[0].join("x")), ino(&snaps[1].join("y")));
    let apart = snaps[1].join("x");
    let mtime = mtime_ns(&apart);
    fs::remove_file(&apart).unwrap();
    fs::write(&apart, &data).unwrap();
    set_mode(&apart, mode(&snaps[0].join("x")));
    set_mtime(
        &apart,
        (mtime / 1_000_000_000) as u64,
        (mtime % 1_000_000_000) as u32,
    );
    let victim = snaps[0].join("x");
    {
        let mut f = fs::OpenOptions::new().write(true).open(&victim).unwrap();
        f.seek(SeekFrom::Start(10)).unwrap();
        f.write_all(&[6u8]).unwrap();
    }
    set_mtime(
        &victim,
        (mtime / 1_000_000_000) as u64,
        (mtime % 1_000_000_000) as u32,
    );
    let out = env
        .cmd()
        .env("PHLB_DEBUG_ENTRY_RUN", "1")
        .arg("verify")
        .output()
        .unwrap();
    assert_code(&out, 1);
    let text = stdout(&out);
    let damaged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("content damaged"))
        .collect();
    assert_eq!(damaged.len(), 1, "{text}");
    let name = |s: &std::path::Path, f: &str| {
        format!("src/{}/{f}", s.file_name().unwrap().to_str().unwrap())
    };
    for holder in [
        name(&snaps[0], "x"),
        name(&snaps[0], "y"),
        name(&snaps[1], "y"),
    ] {
        assert!(
            damaged[0].contains(&holder),
            "{holder} not in {}",
            damaged[0]
        );
    }
    assert!(damaged[0].contains("3 path(s)"), "{}", damaged[0]);
    assert!(
        !damaged[0].contains(&name(&snaps[1], "x")),
        "{}",
        damaged[0]
    );
    assert!(
        stderr(&out).contains("1 file(s) are not hardlinked to their stored copy"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unverified_copy_is_not_proven_by_a_good_read_of_a_file_copied_apart_from_it() {
    // Found by the attack round on verify: a copy recorded from a manifest's hash
    // (`add --trust-manifests`) became a link source after a good read of a separate file
    // with its content, while its own inode held flipped bytes.
    let env = Env::new();
    let data = vec![3u8; 30_000];
    set_mtime(&env.write("x", &data), 1_700_000_000, 0);
    let snaps: Vec<_> = (0..2).map(|_| env.backup()).collect();
    env.remove_catalog();
    assert_ok(&env.run(&["add", "--trust-manifests"]));
    assert_eq!(
        env.sql_text("SELECT group_concat(DISTINCT state) FROM copies"),
        "unverified"
    );
    // The first snapshot's `x` becomes a file of its own (good bytes); the copy's own
    // inode, which the newest snapshot still holds, gets a flipped byte (mtime kept).
    let apart = snaps[0].join("x");
    fs::remove_file(&apart).unwrap();
    fs::write(&apart, &data).unwrap();
    set_mode(&apart, mode(&snaps[1].join("x")));
    set_mtime(&apart, 1_700_000_000, 0);
    let own = snaps[1].join("x");
    {
        let mut f = fs::OpenOptions::new().write(true).open(&own).unwrap();
        f.write_all(&[4u8]).unwrap();
    }
    set_mtime(&own, 1_700_000_000, 0);
    let out = env.run(&["verify", &label(&snaps[0])]);
    assert!(stderr(&out).contains("not hardlinked"), "{}", stderr(&out));
    assert_no_panic(&out);
    assert_eq!(
        env.sql_text("SELECT state FROM copies WHERE ino = (SELECT ino FROM copies LIMIT 1)"),
        "unverified",
        "{}",
        stdout(&out)
    );
}
