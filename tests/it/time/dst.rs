//! Daylight saving time: snapshots made in the hour that repeats or is skipped keep their
//! order for prune and `latest`.

use std::fs;
use std::path::PathBuf;

use super::*;
use crate::common::*;

/// Two backups in the hour Berlin repeats when summer time ends: the second is named
/// earlier than the first.
fn fall_back_pair(env: &Env) -> (PathBuf, PathBuf) {
    env.write("a.txt", b"A");
    let a = backup_at_utc(env, "Europe/Berlin", "2025-10-26T00:30:00Z");
    env.write("a.txt", b"B");
    let b = backup_at_utc(env, "Europe/Berlin", "2025-10-26T01:10:00Z");
    (a, b)
}

#[test]
fn dst_fall_back_hour_prune_keep_last_1_removed_the_snapshot_made_last() {
    let env = Env::new();
    let (a, b) = fall_back_pair(&env);
    assert_eq!(leaf(&a), "2025-10-26-023000");
    assert_eq!(leaf(&b), "2025-10-26-021000");
    assert_eq!(latest(&env), leaf(&b));
    let plan = json(&run_in(
        &env,
        "Europe/Berlin",
        &["prune", "--keep-last", "1", "-n", "--json"],
    ));
    assert_eq!(kept(&plan), vec![leaf(&b)]);
    assert_ok(&run_in(
        &env,
        "Europe/Berlin",
        &["prune", "--keep-last", "1"],
    ));
    assert!(b.is_dir() && !a.exists());
    assert_eq!(latest(&env), leaf(&b));
    let out = env.restore(&["src", "a.txt"], &env.dir.path().join("r"));
    assert_ok(&out);
    assert_eq!(fs::read(env.dir.path().join("r/a.txt")).unwrap(), b"B");
}

#[test]
fn dst_fall_back_hour_backup_prune_deleted_the_snapshot_it_just_made() {
    let env = Env::new();
    env.config("KEEP_LAST = 1");
    env.write("a.txt", b"A");
    let a = backup_at_utc(&env, "Europe/Berlin", "2025-10-26T00:30:00Z");
    env.write("a.txt", b"B");
    let out = run_at(
        &env,
        "Europe/Berlin",
        "2025-10-26T01:10:00Z",
        &["-q", "backup", "--prune", env.src.to_str().unwrap()],
    );
    assert_ok(&out);
    let left = env.snapshots("src");
    assert_eq!(left.len(), 1);
    assert_eq!(
        leaf(&left[0]),
        "2025-10-26-021000",
        "the one just made stays"
    );
    assert!(!a.exists());
}

#[test]
fn dst_fall_back_hour_with_the_offset_in_the_name_the_offset_was_ignored() {
    let env = Env::new();
    env.config("SUB_DIR_FORMATTER = %Y-%m-%dT%H%M%S%z");
    let (a, b) = fall_back_pair(&env);
    assert_eq!(leaf(&a), "2025-10-26T023000+0200");
    assert_eq!(leaf(&b), "2025-10-26T021000+0100");
    let plan = json(&run_in(
        &env,
        "Europe/Berlin",
        &["prune", "--keep-last", "1", "-n", "--json"],
    ));
    assert_eq!(kept(&plan), vec![leaf(&b)]);
    // Copied in by hand (no side files, no catalog): the names' offsets order them.
    for s in [&a, &b] {
        fs::remove_file(beside(s, "-snapshot.json")).unwrap();
    }
    env.remove_catalog();
    assert_ok(&run_in(&env, "America/New_York", &["add", "-q"]));
    let list = json(&run_in(&env, "UTC", &["list", "--json"]));
    let rows = list.as_array().unwrap();
    assert_eq!(rows[1]["snapshot"], format!("src/{}", leaf(&b)));
    assert_eq!(rows[1]["instant"], "2025-10-26T02:10:00+01:00");
    assert_eq!(rows[1]["time_source"], "name");
    let plan = json(&run_in(
        &env,
        "UTC",
        &["prune", "--keep-last", "1", "-n", "--json"],
    ));
    assert_eq!(kept(&plan), vec![leaf(&b)]);
}

#[test]
fn dst_spring_keep_within_1h_removed_a_snapshot_20_minutes_older() {
    let env = Env::new();
    env.write("a.txt", b"A");
    // 01:50 winter time and 03:10 summer time: 20 minutes apart.
    let a = backup_at_utc(&env, "Europe/Berlin", "2025-03-30T00:50:00Z");
    env.write("a.txt", b"B");
    let b = backup_at_utc(&env, "Europe/Berlin", "2025-03-30T01:10:00Z");
    assert_eq!(
        (leaf(&a).as_str(), leaf(&b).as_str()),
        ("2025-03-30-015000", "2025-03-30-031000")
    );
    assert_ok(&run_in(
        &env,
        "Europe/Berlin",
        &["prune", "--keep-within", "1h"],
    ));
    assert!(a.is_dir() && b.is_dir(), "restic keeps both");
}
