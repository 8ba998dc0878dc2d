//! A name is one source: the first backup of a name records its source (host and
//! canonical path); another source under that name is refused unless it moved.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

/// Makes `<env>/<dir>/src` with one file of its own; returns the folder.
fn source(env: &Env, dir: &str, text: &str) -> PathBuf {
    let p = env.dir.path().join(dir).join("src");
    fs::create_dir_all(&p).unwrap();
    fs::write(p.join("notes.txt"), text).unwrap();
    p
}

fn backup(env: &Env, src: &Path, extra: &[&str]) -> Output {
    env.cmd()
        .arg("backup")
        .arg(src)
        .args(extra)
        .output()
        .unwrap()
}

/// `phlb backup SRC` with the clock started at `secs` since 1970 (libfaketime).
fn backup_at_secs(env: &Env, src: &Path, secs: i64) -> Output {
    Command::new("faketime")
        .args(["-f", &format!("@{secs}")])
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(["backup", "-q"])
        .arg(src)
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env("FAKETIME_FMT", "%s")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .expect("faketime must be installed (.ci/run installs it)")
}

fn runs(env: &Env) -> i64 {
    env.sql_int("SELECT count(*) FROM snapshot_runs")
}

fn list_json(env: &Env) -> serde_json::Value {
    let out = env.run(&["list", "--json"]);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts that `out` refused the other source with exit 2, naming both paths and the
/// ways on.
fn assert_refused(out: &Output, owner: &Path, other: &Path) {
    assert_code(out, 2);
    let err = stderr(out);
    for want in [
        owner.to_str().unwrap(),
        other.to_str().unwrap(),
        "--name",
        "--source-moved",
    ] {
        assert!(err.contains(want), "{want} missing in: {err}");
    }
}

#[test]
fn a_second_source_under_a_taken_name_is_refused_in_both_orders_the_same_second_and_a_minute_apart()
{
    for (gap, reverse) in [(0, false), (0, true), (60, false), (60, true)] {
        let env = Env::new();
        let a = source(&env, "a", "a's notes");
        let b = source(&env, "b", "b's notes");
        let (first, second) = if reverse { (&b, &a) } else { (&a, &b) };
        let t = 1_790_000_000;
        assert_ok(&backup_at_secs(&env, first, t));
        let before = fs::read_dir(env.root.join("src")).unwrap().count();
        let out = backup_at_secs(&env, second, t + gap);
        assert_refused(&out, first, second);
        // Nothing was written: no snapshot, no run, no side file.
        assert_eq!(runs(&env), 1, "gap {gap}");
        assert_eq!(fs::read_dir(env.root.join("src")).unwrap().count(), before);
        // So prune and --keep-versions never take one source's files for the other's.
        let out = env.run(&["prune", "--keep-last", "1", "--keep-versions", "1", "-n"]);
        assert_ok(&out);
        assert!(!String::from_utf8_lossy(&out.stdout).contains("last copy"));
        // The dry run refuses what the real run refuses.
        assert_refused(&backup(&env, second, &["-n"]), first, second);
    }
}

#[test]
fn name_gives_the_other_source_a_history_of_its_own() {
    let env = Env::new();
    let a = source(&env, "a", "a");
    let b = source(&env, "b", "b");
    assert_ok(&backup(&env, &a, &[]));
    assert_ok(&backup(&env, &b, &["--name", "src-b"]));
    assert_ok(&backup(&env, &b, &["--name", "src-b"]));
    assert_ok(&backup(&env, &a, &[]));
    assert_eq!(env.snapshots("src").len(), 2);
    assert_eq!(env.snapshots("src-b").len(), 2);
    let out = env.run(&["status", "--json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let host = doc["names"][0]["source"].as_str().unwrap().to_string();
    assert!(
        host.ends_with(&format!(":{}", a.canonicalize().unwrap().display())),
        "{host}"
    );
    assert!(doc["names"][1]["source"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{}", b.canonicalize().unwrap().display())));
    let table = String::from_utf8_lossy(&env.run(&["status"]).stdout).into_owned();
    assert!(
        table.contains("source") && table.contains(a.to_str().unwrap()),
        "{table}"
    );
}

#[test]
fn source_moved_continues_the_history_from_the_new_path() {
    let env = Env::new();
    let a = source(&env, "a", "notes");
    assert_ok(&backup(&env, &a, &[]));
    // The folder moves (a drive remounted at another path, a renamed parent).
    let moved = env.dir.path().join("moved");
    fs::create_dir(&moved).unwrap();
    fs::rename(&a, moved.join("src")).unwrap();
    let new = moved.join("src");
    assert_refused(&backup(&env, &new, &[]), &a, &new);
    let out = backup(&env, &new, &["--source-moved"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("continuing the history"),
        "{}",
        stderr(&out)
    );
    // From then on the new path owns the name, without the option; the old one is refused.
    assert_ok(&backup(&env, &new, &[]));
    let old = source(&env, "a", "other");
    assert_refused(&backup(&env, &old, &[]), &new, &old);
    // One history: prune keeps one, and no note about mixed sources.
    let out = env.run(&["prune", "--keep-last", "1"]);
    assert_ok(&out);
    assert!(
        !stderr(&out).contains("more than one source"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.snapshots("src").len(), 1);
}

#[test]
fn a_symlink_to_the_same_folder_is_the_same_source() {
    let env = Env::new();
    let a = source(&env, "a", "a");
    let link = env.dir.path().join("link");
    std::os::unix::fs::symlink(&a, &link).unwrap();
    assert_ok(&backup(&env, &a, &[]));
    assert_ok(&backup(&env, &link, &[]));
    let list = list_json(&env);
    assert_eq!(list[0]["source"], list[1]["source"]);
}

#[test]
#[ignore = "needs root (bind mount)"]
fn a_bind_mount_of_the_same_folder_is_another_source() {
    let env = Env::new();
    let a = source(&env, "a", "a");
    let mnt = env.dir.path().join("mnt").join("src");
    fs::create_dir_all(&mnt).unwrap();
    let _guard = bind_mount(&a, &mnt);
    assert_ok(&backup(&env, &a, &[]));
    assert_refused(&backup(&env, &mnt, &[]), &a, &mnt);
    assert_ok(&backup(&env, &mnt, &["--source-moved"]));
}

#[test]
fn rm_catalog_and_add_keep_the_rule() {
    let env = Env::new();
    let a = source(&env, "a", "a");
    let b = source(&env, "b", "b");
    assert_ok(&backup(&env, &a, &[]));
    env.remove_catalog();
    assert_ok(&env.run(&["add", "-q"]));
    assert_refused(&backup(&env, &b, &[]), &a, &b);
    assert_ok(&backup(&env, &a, &[]));
}

#[test]
fn a_tree_copied_in_by_hand_takes_the_source_of_the_next_backup() {
    let env = Env::new();
    let a = source(&env, "a", "a");
    let b = source(&env, "b", "b");
    env.hand_snapshot("src/2026-01-01-100000", &[("notes.txt", b"by hand")]);
    assert_ok(&env.run(&["add", "-q"]));
    assert_ok(&backup(&env, &b, &[]));
    assert_refused(&backup(&env, &a, &[]), &b, &a);
}

#[test]
fn a_root_made_by_main_that_mixes_two_sources_opens_warns_once_and_prunes_per_source() {
    let env = Env::new();
    let a = source(&env, "a", "a1");
    let b = source(&env, "b", "b1");
    // What today's main let happen: a/src and b/src both under `src`, interleaved.
    assert_ok(&backup(&env, &a, &[]));
    assert_ok(&backup(&env, &b, &["--source-moved"]));
    fs::write(a.join("notes.txt"), "a2").unwrap();
    assert_ok(&backup(&env, &a, &["--source-moved"]));
    fs::write(b.join("notes.txt"), "b2").unwrap();
    assert_ok(&backup(&env, &b, &["--source-moved"]));
    downgrade_to_v11(&env);
    // The first writer upgrades it; the newest snapshot's source (b) owns the name.
    assert_refused(&backup(&env, &a, &[]), &b, &a);
    let out = backup(&env, &b, &[]);
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(err.matches("more than one source").count(), 1, "{err}");
    assert!(err.contains(a.to_str().unwrap()), "{err}");
    // Readers say it once too.
    let out = env.run(&["list"]);
    assert_ok(&out);
    assert_eq!(stderr(&out).matches("more than one source").count(), 1);
    // Prune plans each source apart: the newest of each stays, and says so.
    let out = env.run(&["prune", "--keep-last", "1", "--json"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("planned per source"),
        "{}",
        stderr(&out)
    );
    let left: Vec<String> = list_json(&env)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left[0].ends_with(a.to_str().unwrap()) && left[1].ends_with(b.to_str().unwrap()));
    let snaps = env.snapshots("src");
    assert_eq!(fs::read(snaps[0].join("notes.txt")).unwrap(), b"a2");
    assert_eq!(fs::read(snaps[1].join("notes.txt")).unwrap(), b"b2");
    // Nothing of a was taken for an old version of b's notes.
    let out = env.run(&["prune", "--keep-versions", "1", "-n", "--json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!doc.to_string().contains("notes.txt"), "{doc}");
}

#[test]
#[ignore = "needs root (a UTS namespace with another host name)"]
fn the_same_path_on_another_host_is_another_source() {
    let env = Env::new();
    let a = source(&env, "a", "a");
    assert_ok(&backup(&env, &a, &[]));
    // Two laptops backing up the same path onto one drive, or a renamed host.
    let other_host = |extra: &[&str]| {
        Command::new("unshare")
            .args([
                "--uts",
                "sh",
                "-c",
                "hostname other-laptop && exec \"$0\" \"$@\"",
            ])
            .arg(env!("CARGO_BIN_EXE_phlb"))
            .arg("--backup-root")
            .arg(&env.root)
            .arg("backup")
            .arg(&a)
            .args(extra)
            .current_dir(env.dir.path())
            .env("HOME", env.dir.path())
            .output()
            .unwrap()
    };
    let out = other_host(&[]);
    assert_refused(&out, &a, &a);
    assert!(stderr(&out).contains("other-laptop:"), "{}", stderr(&out));
    assert_ok(&other_host(&["--source-moved"]));
    let list = list_json(&env);
    assert!(list[1]["source"]
        .as_str()
        .unwrap()
        .starts_with("other-laptop:"));
}

#[test]
fn a_first_backup_killed_before_it_finished_binds_nothing() {
    let env = Env::new();
    env.write("notes.txt", b"the wrong folder");
    // The first backup of `src` is of the wrong folder, and killed: no history yet.
    let src = env.src.to_str().unwrap().to_string();
    // (rename 1 puts the new catalog in place, 2 is the summary beside the snapshot.)
    assert!(killed_at(&env, "rename", 2, &["backup", &src]));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'incomplete'"),
        1
    );
    let b = source(&env, "b", "b");
    assert_ok(&backup(&env, &b, &[]));
    assert_refused(&backup(&env, &env.src, &[]), &b, &env.src);
}
