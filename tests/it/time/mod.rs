//! One truth for a snapshot's time and order: snapshots made at chosen UTC instants
//! (libfaketime) in chosen time zones; each test is named after what was seen.

mod dst;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

/// Seconds since 1970 of an RFC 3339 time.
fn epoch(utc: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(utc)
        .unwrap()
        .timestamp()
}

/// `phlb ARGS` with the clock at the instant `utc` (RFC 3339) and `TZ=tz`.
fn run_at(env: &Env, tz: &str, utc: &str, args: &[&str]) -> Output {
    Command::new("faketime")
        .args(["-f", &format!("@{}", epoch(utc))])
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(args)
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env("TZ", tz)
        .env("FAKETIME_FMT", "%s")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .env_remove("PHLB_BACKUP_ROOT")
        .env_remove("PHLB_CONFIG")
        .output()
        .expect("faketime must be installed (.ci/run installs it)")
}

/// `phlb ARGS` now with `TZ=tz`.
fn run_in(env: &Env, tz: &str, args: &[&str]) -> Output {
    env.cmd().env("TZ", tz).args(args).output().unwrap()
}

/// Backs up `src` at the instant `utc` in zone `tz`; returns the new snapshot folder.
fn backup_at_utc(env: &Env, tz: &str, utc: &str) -> PathBuf {
    let before = env.snapshots("src");
    let out = run_at(env, tz, utc, &["-q", "backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let after = env.snapshots("src");
    after
        .into_iter()
        .find(|s| !before.contains(s))
        .expect("a new snapshot")
}

fn leaf(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What `latest` points at.
fn latest(env: &Env) -> String {
    fs::read_link(env.root.join("src/latest"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The timestamps prune's JSON plan keeps.
fn kept(plan: &serde_json::Value) -> Vec<String> {
    plan["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "keep")
        .map(|s| s["timestamp"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn clock_corrected_after_running_fast_latest_name_and_restore_gave_the_first_made() {
    let env = Env::new();
    env.write("a.txt", b"v1");
    // The clock is 5 h fast for the first run, right for the next two.
    let fast = backup_at_utc(&env, "UTC", "2026-01-01T15:00:00Z");
    env.write("a.txt", b"v2");
    backup_at_utc(&env, "UTC", "2026-01-01T10:05:00Z");
    env.write("a.txt", b"v3");
    let last = backup_at_utc(&env, "UTC", "2026-01-01T10:10:00Z");
    assert_eq!(latest(&env), leaf(&last));
    for spec in ["src", "src/latest"] {
        let out = run_in(&env, "UTC", &["ls", spec, "--json"]);
        assert_ok(&out);
        // Every reader says once that the clock was wrong.
        let err = stderr(&out);
        assert_eq!(err.matches("the clock was wrong").count(), 1, "{err}");
    }
    let to = env.dir.path().join("r");
    assert_ok(&env.restore(&["src", "a.txt"], &to));
    assert_eq!(fs::read(to.join("a.txt")).unwrap(), b"v3");
    let out = env.run(&["diff", "src", "--json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc.to_string().contains(&leaf(&last)),
        "diff compares the two made last: {doc}"
    );
    // Prune refuses, status fails.
    let out = env.run(&["prune", "--keep-last", "1"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("the clock was wrong"),
        "{}",
        stderr(&out)
    );
    assert!(fast.is_dir());
    let out = env.run(&["status", "--json"]);
    assert_code(&out, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["names"][0]["clock"].is_string(), "{doc}");
}

#[test]
fn status_age_depended_on_the_readers_tz() {
    let env = Env::new();
    env.write("a.txt", b"a");
    backup_at_utc(&env, "UTC", "2026-06-01T12:00:00Z");
    env.config("MAX_AGE = 1h");
    let la = run_at(
        &env,
        "America/Los_Angeles",
        "2026-06-01T14:00:00Z",
        &["status", "--json"],
    );
    assert_code(&la, 1);
    let doc: serde_json::Value = serde_json::from_slice(&la.stdout).unwrap();
    // The clock runs on from the instant faked: allow a few seconds.
    let age = doc["names"][0]["age_secs"].as_i64().unwrap();
    assert!((7195..=7200).contains(&age), "{age}");
    assert_eq!(doc["names"][0]["stale"], true);
    let tokyo = run_at(
        &env,
        "Asia/Tokyo",
        "2026-06-01T12:01:00Z",
        &["status", "--json"],
    );
    let doc = json(&tokyo);
    let age = doc["names"][0]["age_secs"].as_i64().unwrap();
    assert!((55..=60).contains(&age), "{age}");
    assert_eq!(doc["names"][0]["stale"], false);
    let taken = doc["names"][0]["taken_at"].as_str().unwrap();
    assert!(
        taken.starts_with("2026-06-01T12:00:0") && taken.ends_with('Z'),
        "{taken}"
    );
}

#[test]
fn zero_durations_were_rules_and_removed_all_but_the_newest() {
    let env = Env::new();
    for (i, t) in ["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"]
        .iter()
        .enumerate()
    {
        env.write("a.txt", format!("v{i}").as_bytes());
        backup_at_utc(&env, "UTC", t);
    }
    env.config("KEEP_LAST = 0\nKEEP_WITHIN = 0");
    let out = env.run(&["prune"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("no retention rule"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["prune", "--keep-last", "0", "--keep-within", "0"]);
    assert_code(&out, 2);
    let out = env.run(&["backup", "--prune", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert_eq!(env.snapshots("src").len(), 2);
    // A zero beside a real rule is no rule: --keep-within 0 keeps nothing extra.
    assert_ok(&env.run(&["prune", "--keep-last", "1", "--keep-within", "0"]));
    assert_eq!(env.snapshots("src").len(), 1);
}

#[test]
fn keep_within_1mo_at_month_end_kept_two_where_restic_keeps_one() {
    let env = Env::new();
    env.write("a.txt", b"feb");
    let feb = backup_at_utc(&env, "UTC", "2026-02-28T12:00:00Z");
    env.write("a.txt", b"mar");
    let mar = backup_at_utc(&env, "UTC", "2026-03-29T10:00:00Z");
    // Mar 29 − 1 month = "Feb 29" = Mar 1 (Go's AddDate), so Feb 28 is outside.
    assert_ok(&env.run(&["prune", "--keep-within", "1mo"]));
    assert!(!feb.exists());
    assert!(mar.is_dir());
}

#[test]
fn times_disagreed_across_commands() {
    let env = Env::new();
    let f = env.write("a.txt", b"a");
    set_mtime(&f, epoch("2026-12-07T02:15:50Z") as u64, 0);
    backup_at_utc(&env, "UTC", "2026-12-07T03:00:00Z");
    let tokyo = "Asia/Tokyo";
    // Tables: local time, and the header says so (as `ls -l`).
    let out = run_in(&env, tokyo, &["find", "a.txt"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mtime (local)"), "{text}");
    assert!(text.contains("2026-12-07 11:15:50"), "{text}");
    let out = run_in(&env, tokyo, &["ls", "-l", "src"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("2026-12-07 11:15:50"));
    let out = run_in(&env, tokyo, &["history", f.to_str().unwrap()]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mtime (local)") && text.contains("2026-12-07 11:15:50"),
        "{text}"
    );
    // JSON: RFC 3339 with the offset.
    let doc = json(&run_in(&env, tokyo, &["find", "a.txt", "--json"]));
    assert_eq!(doc[0]["mtime"], "2026-12-07T11:15:50.000000000+09:00");
    let doc = json(&run_in(
        &env,
        tokyo,
        &["history", f.to_str().unwrap(), "--json"],
    ));
    assert_eq!(doc[0]["mtime"], "2026-12-07T11:15:50.000000000+09:00");
    // list --json carries the instant (in the offset recorded when it was made), the
    // sequence and the source.
    let doc = json(&run_in(&env, tokyo, &["list", "--json"]));
    let instant = doc[0]["instant"].as_str().unwrap();
    assert!(
        instant.starts_with("2026-12-07T03:00:0") && instant.ends_with('Z'),
        "{instant}"
    );
    assert_eq!(doc[0]["sequence"], 1);
    assert_eq!(doc[0]["time_source"], "run");
    let src = env.src.canonicalize().unwrap();
    assert!(
        doc[0]["source"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", src.display())),
        "{doc}"
    );
}

#[test]
fn rm_catalog_and_add_keep_instants_sequence_and_source_exactly() {
    let env = Env::new();
    env.write("a.txt", b"A");
    backup_at_utc(&env, "Europe/Berlin", "2025-10-26T00:30:00Z");
    env.write("a.txt", b"B");
    backup_at_utc(&env, "Europe/Berlin", "2025-10-26T01:10:00Z");
    env.write("a.txt", b"C");
    env.backup();
    let before = json(&env.run(&["list", "--json"]));
    env.remove_catalog();
    // Another zone in effect: the side files, not the names, give the times.
    assert_ok(&run_in(&env, "Asia/Tokyo", &["add", "-q"]));
    let after = json(&env.run(&["list", "--json"]));
    assert_eq!(before, after);
    let instant = after[1]["instant"].as_str().unwrap();
    assert!(
        instant.starts_with("2025-10-26T02:10:0") && instant.ends_with("+01:00"),
        "{instant}"
    );
    assert_eq!(latest(&env), leaf(&env.snapshots("src")[2]));
    let plan = json(&env.run(&["prune", "--keep-last", "2", "-n", "--json"]));
    assert_eq!(kept(&plan).len(), 2);
    assert!(!kept(&plan).contains(&"2025-10-26-023000".to_string()));
}

#[test]
fn a_tree_copied_in_by_hand_takes_its_place_by_its_instant_and_never_becomes_the_newest() {
    let env = Env::new();
    env.write("a.txt", b"A");
    backup_at_utc(&env, "UTC", "2026-01-01T10:00:00Z");
    env.write("a.txt", b"B");
    let newest = backup_at_utc(&env, "UTC", "2026-01-03T10:00:00Z");
    // An old tree, copied in by hand after both.
    let old = env.hand_snapshot("src/2026-01-02-100000", &[("a.txt", b"old")]);
    assert_ok(&run_in(&env, "UTC", &["add", "-q"]));
    assert_eq!(latest(&env), leaf(&newest));
    let list = json(&env.run(&["list", "--json"]));
    let order: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["snapshot"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![
            "src/2026-01-01-100000",
            "src/2026-01-02-100000",
            "src/2026-01-03-100000"
        ]
    );
    assert_eq!(list[1]["time_source"], "name");
    assert_eq!(list[1]["source"], serde_json::Value::Null);
    // It got a side file, so the next rebuild keeps its place.
    assert!(beside(&old, "-snapshot.json").exists());
    let to = env.dir.path().join("r");
    assert_ok(&env.restore(&["src", "a.txt"], &to));
    assert_eq!(fs::read(to.join("a.txt")).unwrap(), b"B");
}

#[test]
fn a_side_file_planted_as_a_symlink_is_not_followed() {
    let env = Env::new();
    env.write("a.txt", b"A");
    let snap = backup_at_utc(&env, "UTC", "2026-01-01T10:00:00Z");
    let side = beside(&snap, "-snapshot.json");
    let elsewhere = env.dir.path().join("forged.json");
    fs::write(
        &elsewhere,
        r#"{"instant":"2030-01-01T00:00:00Z","sequence":99,"time_source":"run","source":null}"#,
    )
    .unwrap();
    fs::remove_file(&side).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &side).unwrap();
    env.remove_catalog();
    let out = run_in(&env, "UTC", &["add"]);
    // The planted symlink is named (exit 1) and never read through.
    assert_code(&out, 1);
    assert!(stderr(&out).contains("timing src/"), "{}", stderr(&out));
    let list = json(&env.run(&["list", "--json"]));
    assert_eq!(list[0]["time_source"], "name");
    assert_eq!(list[0]["sequence"], 0);
    assert!(list[0]["instant"]
        .as_str()
        .unwrap()
        .starts_with("2026-01-01T10:00:00"));
}
