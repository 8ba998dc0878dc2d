//! `--keep-versions`: trimming old versions of a file, a trim killed part way, and what a
//! restore of a trimmed snapshot says.

use std::fs;

use super::*;
use crate::common::*;

/// A file with five versions over five snapshots (and one unchanged file).
fn five_versions(env: &Env) {
    for i in 1..=5 {
        env.write(
            "f.txt",
            format!("version {i} {}", "v".repeat(5000 * i)).as_bytes(),
        );
        env.write("same.txt", b"never changes");
        backup_at(env, &format!("2026-05-0{i} 10:00:00"));
    }
}

#[test]
fn keep_versions_2_on_a_file_with_five_versions_leaves_exactly_two_and_verify_passes() {
    let env = Env::new();
    five_versions(&env);
    let plan = json(&env.run(&["prune", "--keep-versions", "2", "-n", "--json"]));
    assert_eq!(plan["lost_files"], 3);
    let before = du(&env);
    let out = env.run(&["prune", "--keep-versions", "2"]);
    assert_ok(&out);
    assert_eq!(
        before - du(&env),
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    // On disk: f.txt only in the two newest snapshots; same.txt everywhere.
    let snaps = env.snapshots("src");
    assert_eq!(snaps.len(), 5);
    let holding: Vec<bool> = snaps.iter().map(|s| s.join("f.txt").exists()).collect();
    assert_eq!(holding, vec![false, false, false, true, true]);
    assert!(snaps.iter().all(|s| s.join("same.txt").exists()));
    // In the catalog: two versions left, three listed as trimmed.
    assert_eq!(
        env.sql_int("SELECT count(DISTINCT hash) FROM files WHERE path = 'f.txt'"),
        2
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed WHERE path = 'f.txt'"),
        3
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE trimmed = 1"),
        3
    );
    // verify passes, and so does sha256sum -c on every rewritten manifest.
    assert_ok(&env.run(&["verify"]));
    for s in &snaps {
        assert_sums_check(s, "sha256sum");
    }
    // history says where the versions went; list marks the trimmed snapshots.
    let h = json(&env.run(&["history", "f.txt", "--json"]));
    let trimmed: Vec<bool> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| !v["trimmed"].is_null())
        .collect();
    assert_eq!(trimmed, vec![true, true, true, false, false]);
    let list = String::from_utf8_lossy(&env.run(&["list"]).stdout).into_owned();
    assert_eq!(list.matches("1 trimmed").count(), 3, "{list}");
    // restore says where a trimmed version went, and restores a kept one.
    let out = env.restore(
        &["src/2026-05-01-100000", "f.txt"],
        &env.dir.path().join("r1"),
    );
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("removed from the snapshot by `prune --keep-versions`"),
        "{}",
        stderr(&out)
    );
    let out = env.restore(
        &["src/2026-05-04-100000", "f.txt"],
        &env.dir.path().join("r2"),
    );
    assert_ok(&out);
    assert_eq!(
        fs::read(env.dir.path().join("r2/f.txt")).unwrap(),
        fs::read(snaps[3].join("f.txt")).unwrap()
    );
    // A second run has nothing left to trim, and the next backup still links.
    let again = json(&env.run(&["prune", "--keep-versions", "2", "--json"]));
    assert_eq!(again["freed"]["copies"], 0);
    let next = backup_at(&env, "2026-05-06 10:00:00");
    assert_eq!(ino(&next.join("f.txt")), ino(&snaps[4].join("f.txt")));
}

#[test]
fn a_trim_killed_before_its_files_went_is_finished_by_the_next_writer() {
    let env = Env::new();
    five_versions(&env);
    let killed = killed_at(&env, "unlinkat", 1, &["prune", "--keep-versions", "1"]);
    assert!(killed, "the prune made no unlinkat call");
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed_entries WHERE done = 0"),
        4
    );
    // verify is a writer: it finishes the trim first, then finds everything in order.
    let out = env.run(&["verify"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("finished trimming 4 old versions"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM trimmed_entries WHERE done = 0"),
        0
    );
    let holding: Vec<bool> = env
        .snapshots("src")
        .iter()
        .map(|s| s.join("f.txt").exists())
        .collect();
    assert_eq!(holding, vec![false, false, false, false, true]);
}

#[test]
fn restoring_a_trimmed_snapshot_says_how_many_files_were_trimmed_and_when() {
    // Regression: a whole snapshot that `--keep-versions` trimmed was restored
    // without its trimmed files, exit 0, and no word about them.
    let env = Env::new();
    fs::create_dir(env.src.join("d")).unwrap();
    for i in 1..=3 {
        env.write("f.txt", format!("version {i}").as_bytes());
        env.write("d/g.txt", format!("g version {i}").as_bytes());
        env.write("same.txt", b"never changes");
        backup_at(&env, &format!("2026-05-0{i} 10:00:00"));
    }
    assert_ok(&env.run(&["prune", "--keep-versions", "1"]));
    let when = env
        .db()
        .query_row("SELECT min(trimmed_at) FROM trimmed_entries", [], |r| {
            r.get::<_, String>(0)
        });
    let when = when.unwrap();
    let out = env.restore(&["src/2026-05-01-100000"], &env.dir.path().join("r1"));
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("2 files not restored: removed from the snapshot by `prune --keep-versions`")
            && text.contains(&when),
        "{text}"
    );
    assert!(env.dir.path().join("r1/same.txt").exists());
    let out = env.restore(
        &["src/2026-05-02-100000", "--json"],
        &env.dir.path().join("r2"),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trimmed"]["files"], 2, "{doc}");
    assert_eq!(doc["trimmed"]["at"][0], when.as_str(), "{doc}");
    // A folder restored from it counts what was trimmed inside it only.
    let out = env.restore(
        &["src/2026-05-02-100000", "d", "--json"],
        &env.dir.path().join("r3"),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trimmed"]["files"], 1, "{doc}");
    // The newest snapshot lost nothing: no word.
    let out = env.restore(&["src/2026-05-03-100000"], &env.dir.path().join("r4"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("trimmed"));
    let doc: serde_json::Value = serde_json::from_slice(
        &env.restore(
            &["src/2026-05-03-100000", "--json", "-n"],
            &env.dir.path().join("r5"),
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(doc["trimmed"]["files"], 0, "{doc}");
}
