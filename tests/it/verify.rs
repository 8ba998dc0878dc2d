//! `phlb verify` and `phlb add` on real snapshots: damage found, catalogs rebuilt.

mod common;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

fn views(env: &Env) -> (Vec<String>, Vec<String>) {
    let db = env.db();
    let rows = |sql: &str| -> Vec<String> {
        let mut stmt = db.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |r| {
            Ok((0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
    };
    (
        rows("SELECT name, timestamp, path, status, files, bytes, new_bytes FROM snapshots ORDER BY name, timestamp"),
        rows("SELECT snapshot, path, kind, size, mtime, mode, hash, mtime_ns, uid, gid, target FROM files ORDER BY snapshot, path"),
    )
}

/// Bytes on disk of the snapshots under `dir` (the catalog, whose WAL grows as add
/// records, is left out).
fn disk_usage(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".phlb")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file() && seen.insert(m.ino()))
        .map(|m| m.blocks() * 512)
        .sum()
}

#[test]
fn rebuilt_catalog_equals_the_original_and_next_backup_links_everything() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("d/b.txt", b"beta");
    env.write("d/dup.txt", b"alpha");
    // Same content and mtime: a rebuilt catalog can only know the shared inode's mtime
    // (see README, `phlb add`).
    set_mtime(&env.src.join("a.txt"), 1_600_000_000, 0);
    set_mtime(&env.src.join("d/dup.txt"), 1_600_000_000, 0);
    std::os::unix::fs::symlink("a.txt", env.src.join("link")).unwrap();
    fs::create_dir(env.src.join("empty")).unwrap();
    env.backup();
    env.write("c.txt", b"gamma");
    fs::rename(env.src.join("d/b.txt"), env.src.join("b-moved.txt")).unwrap();
    let s2 = env.backup();
    let before = views(&env);
    fs::remove_file(env.root.join(".phlb/catalog.sqlite3")).unwrap();
    let out = env.run(&["add"]);
    assert_ok(&out);
    assert_eq!(views(&env), before);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let s3 = env.snapshots("src").pop().unwrap();
    for rel in ["a.txt", "b-moved.txt", "c.txt", "d/dup.txt"] {
        assert_eq!(ino(&s3.join(rel)), ino(&s2.join(rel)), "{rel}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied 0"));
}

#[test]
fn two_trees_copied_in_by_hand_get_linked_and_space_shrinks() {
    let env = Env::new();
    env.write("x", b"y");
    env.backup(); // creates the root and catalog
    for ts in ["2020-01-01-000000", "2020-01-02-000000"] {
        let dir = env.root.join("photos").join(ts);
        fs::create_dir_all(dir.join("album")).unwrap();
        fs::write(dir.join("album/big.jpg"), vec![9u8; 200_000]).unwrap();
        fs::write(dir.join("notes.txt"), b"same notes").unwrap();
    }
    let before = disk_usage(&env.root);
    let out = env.run(&["add"]);
    assert_ok(&out);
    let a = env.root.join("photos/2020-01-01-000000");
    let b = env.root.join("photos/2020-01-02-000000");
    assert_eq!(ino(&a.join("album/big.jpg")), ino(&b.join("album/big.jpg")));
    assert_eq!(ino(&a.join("notes.txt")), ino(&b.join("notes.txt")));
    assert!(disk_usage(&env.root) < before - 150_000);
    assert!(String::from_utf8_lossy(&out.stdout).contains("linked 2 files"));
    // Manifests were written for both, and they check out.
    for dir in [&a, &b] {
        let name = dir.file_name().unwrap().to_str().unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg("-c")
            .arg(dir.parent().unwrap().join(format!("{name}.SHA256SUMS")))
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    let out = env.run(&["verify"]);
    assert_ok(&out);
}

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
fn add_marks_gone_snapshots_and_second_add_has_nothing_to_do() {
    let env = Env::new();
    env.write("a", b"a");
    let s1 = env.backup();
    env.backup();
    fs::remove_dir_all(&s1).unwrap();
    let out = env.run(&["add"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("folder is gone; marked missing"));
    let out = env.run(&["add"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
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
fn add_refuses_a_tree_without_a_timestamp_name_and_says_how() {
    let env = Env::new();
    env.write("a", b"a");
    env.backup();
    let tree = env.root.join("stuff/my-tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("f"), b"f").unwrap();
    let out = env.run(&["add", tree.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("rename it, e.g. to stuff/"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["verify", "nosuch/2020-01-01-000000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no such snapshot"));
}

#[test]
fn add_never_links_a_file_that_disagrees_with_its_manifest() {
    let env = Env::new();
    env.write("x", b"x");
    env.backup();
    for ts in ["2020-01-01-000000", "2020-01-02-000000"] {
        let dir = env.root.join("hand").join(ts);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("f"), b"same").unwrap();
    }
    // The second tree's manifest claims other content for f.
    fs::write(
        env.root.join("hand/2020-01-02-000000.SHA256SUMS"),
        format!("{}  f\n", "1".repeat(64)),
    )
    .unwrap();
    let out = env.run(&["add"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("content differs from the manifest"));
    let a = env.root.join("hand/2020-01-01-000000/f");
    let b = env.root.join("hand/2020-01-02-000000/f");
    assert_ne!(ino(&a), ino(&b));
}

#[test]
fn a_snapshot_without_regular_files_gets_no_manifest_that_sha256sum_would_reject() {
    // Found by an attack: an empty source (or a snapshot trimmed of every file) got an
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
