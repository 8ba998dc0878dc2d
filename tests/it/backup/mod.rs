//! `phlb backup` on real temp trees: what lands on disk and in the catalog, private
//! folders, the hash, dry runs, the log and the report.

mod data;
mod dry_run;
mod hostile;
mod links;
mod metadata;
mod names;
mod reflink;
mod reflink_verify;
mod resume;
mod select;
mod side_files;
mod source;
mod walk;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::common::*;

#[test]
fn deleting_one_snapshot_leaves_the_others_intact() {
    let env = Env::new();
    env.write("a", b"one");
    env.write("b", b"two");
    let s1 = env.backup();
    env.write("c", b"three");
    let s2 = env.backup();
    env.write("a", b"one changed");
    let s3 = env.backup();
    let t1 = tree(&s1);
    let t3 = tree(&s3);
    fs::remove_dir_all(&s2).unwrap();
    assert_eq!(tree(&s1), t1);
    assert_eq!(tree(&s3), t3);
    assert_eq!(fs::read(s3.join("c")).unwrap(), b"three");
    // The next run still works and notices the gap.
    let s4 = env.backup();
    assert_eq!(ino(&s4.join("c")), ino(&s3.join("c")));
}

#[test]
fn files_view_lists_exactly_what_is_on_disk() {
    let env = Env::new();
    env.write("a/b/c.txt", b"c");
    env.write("a/d.txt", b"d");
    fs::create_dir_all(env.src.join("e/f")).unwrap();
    symlink("a/d.txt", env.src.join("l")).unwrap();
    let snap = env.backup();
    let disk = tree(&snap);
    let cat = env.catalog_files(&snap);
    let disk_paths: Vec<&Vec<u8>> = disk.keys().collect();
    let cat_paths: Vec<&Vec<u8>> = cat.keys().collect();
    assert_eq!(disk_paths, cat_paths);
    for (path, node) in &disk {
        let (kind, size, mode, hash) = &cat[path];
        assert_eq!(kind, node.kind);
        assert_eq!(mode, &format!("{:04o}", node.mode));
        if node.kind == "file" {
            assert_eq!(*size as usize, node.data.len());
            let want = sha256_hex(&node.data);
            assert_eq!(hash.as_deref(), Some(want.as_str()));
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn sha512_writes_sha512sums_manifest() {
    let env = Env::new();
    env.config("HASH = sha512");
    env.write("x", b"x");
    let snap = env.backup();
    assert_sums_check(&snap, "sha512sum");
}

#[test]
fn skip_dirs_and_patterns_are_left_out() {
    let env = Env::new();
    env.write("keep.txt", b"k");
    env.write("x.pyc", b"p");
    env.write("__pycache__/y", b"y");
    env.write("sub/.cache/z", b"z");
    let snap = env.backup();
    assert!(snap.join("keep.txt").exists());
    assert!(!snap.join("x.pyc").exists());
    assert!(!snap.join("__pycache__").exists());
    assert!(!snap.join("sub/.cache").exists());
    assert!(snap.join("sub").is_dir());
}

#[test]
fn dry_run_writes_nothing() {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    env.write("a", b"a");
    let out = env.run(&["backup", "--dry-run", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(env.nothing_backed_up());
    assert!(String::from_utf8_lossy(&out.stdout).contains("would copy 1"));
    env.backup();
    env.write("b", b"a");
    let out = env.run(&["backup", "--dry-run", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would link 2, would copy 0"));
    assert_eq!(env.snapshots("src").len(), 1);
}

#[test]
fn backup_root_and_name_folders_are_private() {
    let env = Env::new();
    env.write("a", b"a");
    env.backup();
    assert_eq!(mode(&env.root.join(".phlb")), 0o700);
    assert_eq!(mode(&env.root.join("src")), 0o700);
    assert_eq!(mode(&env.root.join(".phlb/catalog.sqlite3")), 0o600);
}

#[test]
fn changing_hash_on_an_existing_root_is_refused_naming_both() {
    let env = Env::new();
    env.write("a", b"alpha");
    let first = env.backup();
    env.config("HASH = sha512");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("sha256") && err.contains("sha512"), "{err}");
    assert_eq!(env.snapshots("src"), vec![first]);
    assert_ok(&env.run(&["verify"]));
    // A new root takes the new hash, and its manifests are true.
    let other = env.dir.path().join("root512");
    env.init(&other);
    let out = env.backup_into(&other);
    assert_ok(&out);
    let snap = fs::read_dir(other.join("src"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && !p.is_symlink())
        .unwrap();
    assert_sums_check(&snap, "sha512sum");
    assert_ok(&env.cmd_at(&other).arg("verify").output().unwrap());
}

/// The backup log of snapshot folder `snap` (`<timestamp>-backup.log` beside it).
fn log_of(snap: &Path) -> String {
    let name = format!("{}-backup.log", snap.file_name().unwrap().to_str().unwrap());
    fs::read_to_string(snap.parent().unwrap().join(name)).unwrap()
}

#[test]
fn log_tells_unchanged_files_from_linked_and_copied_ones() {
    let env = Env::new();
    env.write("kept.txt", b"kept");
    env.write("moved.txt", b"moved content");
    env.write("edited.txt", b"v1");
    settle();
    env.backup();
    fs::rename(env.src.join("moved.txt"), env.src.join("moved-to.txt")).unwrap();
    env.write("edited.txt", b"version 2");
    let s2 = env.backup();
    let log = log_of(&s2);
    // Unchanged files are debug lines (a no-change run keeps a short log).
    assert!(!log.contains("kept.txt"), "{log}");
    assert!(log.contains("linked  moved-to.txt"), "{log}");
    assert!(log.contains("copied  edited.txt"), "{log}");

    env.config("LOG_LEVEL = debug");
    env.write("edited.txt", b"version 3");
    let s3 = env.backup();
    let log = log_of(&s3);
    assert!(log.contains("debug   same    kept.txt"), "{log}");

    env.config("LOG_LEVEL = warning");
    env.write("edited.txt", b"version 4");
    let s4 = env.backup();
    let log = log_of(&s4);
    assert!(
        !log.contains("edited.txt"),
        "per-file lines are info: {log}"
    );
}

#[test]
fn sync_off_still_makes_a_complete_snapshot() {
    let env = Env::new();
    env.config("SYNC = false");
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    assert_eq!(fs::read(snap.join("a.txt")).unwrap(), b"alpha");
    let status: String = env
        .db()
        .query_row("SELECT status FROM snapshots", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "complete");
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn backup_json_prune_refused() {
    // `backup --json --prune` was refused: now the prune's report follows the snapshot's
    // line as one more JSON line.
    let env = Env::new();
    env.config("KEEP_LAST = 1");
    env.write("a.txt", b"a");
    let first = env.backup();
    let out = env.run(&["backup", "--json", "--prune", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0]["snapshot"].as_str().unwrap().starts_with("src/"));
    let prune = &lines[1]["prune"];
    assert_eq!(prune["removed"], 1, "{prune}");
    assert!(!first.exists(), "the older snapshot was pruned");
}

#[test]
fn backup_report_does_not_list_failed_paths() {
    // The JSON report only counted failures; now it names each path with its cause, as
    // the text summary does.
    let env = Env::new();
    env.write("ok.txt", b"fine");
    let secret = env.write("secret.txt", b"hidden");
    set_mode(&secret, 0o000);
    let src = env.src.to_str().unwrap();
    let out = run_without_dac_override(&env, &["backup", "--json", src]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["failed"], 1, "{line}");
    let failures = line["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{line}");
    assert!(
        failures[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/secret.txt"),
        "{line}"
    );
    let error = failures[0]["error"].as_str().unwrap();
    assert!(error.contains("Permission denied"), "{line}");
    assert!(!error.contains("os error"), "{line}");
    let out = run_without_dac_override(&env, &["backup", src]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("failed files:"), "{text}");
    assert!(
        text.contains("secret.txt: cannot open: Permission denied"),
        "{text}"
    );
}

#[test]
fn bad_setups_get_one_line_and_exit_2() {
    let env = Env::new();
    env.write("a", b"a");
    let file_source = env.write("plain-file", b"x");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["backup".into(), "/no/such/folder".into()],
            "/no/such/folder: cannot back up",
        ),
        (
            vec!["backup".into(), file_source.display().to_string()],
            "not a folder",
        ),
        (
            vec!["--config".into(), "/no/such.ini".into(), "config".into()],
            "/no/such.ini: config file not found",
        ),
    ];
    for (args, want) in cases {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"));
    }
    assert!(env.nothing_backed_up(), "nothing was created");
}
