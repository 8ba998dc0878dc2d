//! The catalog keeps a row per path version (V17, #33): a run writes only what changed or
//! went, and every snapshot still reads back exactly its own tree through `entries` and
//! the documented views, after changes, deletions, returns, kills, prunes and upgrades.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::downgrade_to_v16;
use crate::common::*;

mod duplicates_view;

/// What snapshot folder `snap` holds on disk (`tree`, the top folder left out): path ->
/// (kind, size of a file or -1, mode).
fn on_disk(snap: &Path) -> BTreeMap<Vec<u8>, (String, i64, String)> {
    tree(snap)
        .into_iter()
        .filter(|(p, _)| p.as_slice() != b".")
        .map(|(p, n)| {
            let size = if n.kind == "file" {
                n.data.len() as i64
            } else {
                -1
            };
            (p, (n.kind.to_string(), size, format!("{:04o}", n.mode)))
        })
        .collect()
}

/// The catalog's rows of `snap` in the shape of `on_disk` (the top folder left out).
fn in_catalog(env: &Env, snap: &Path) -> BTreeMap<Vec<u8>, (String, i64, String)> {
    env.catalog_files(snap)
        .into_iter()
        .filter(|(p, _)| p.as_slice() != b".")
        .map(|(p, (kind, size, mode, _))| {
            let size = if kind == "file" { size } else { -1 };
            (p, (kind, size, mode))
        })
        .collect()
}

fn assert_listings_match_disk(env: &Env) {
    for snap in env.snapshots("src") {
        assert_eq!(in_catalog(env, &snap), on_disk(&snap), "{}", snap.display());
    }
}

fn versions(env: &Env) -> i64 {
    env.sql_int("SELECT count(*) FROM versions")
}

#[test]
fn a_run_in_which_nothing_changed_adds_no_catalog_row() {
    let env = Env::new();
    write_tree(&env, 4, 30, "v1");
    settle();
    env.backup();
    let rows = versions(&env);
    let pages = env.sql_int("PRAGMA page_count");
    for _ in 0..3 {
        env.backup();
    }
    assert_eq!(versions(&env), rows, "a no-change run wrote rows");
    assert!(
        env.sql_int("PRAGMA page_count") <= pages + 2,
        "the catalog grew by more than a page or two"
    );
    assert_eq!(env.snapshots("src").len(), 4);
    assert_listings_match_disk(&env);
    // 4 folders, 120 files and the top folder, each one version for all four snapshots.
    assert_eq!(rows, 4 + 120 + 1);
    assert_eq!(env.sql_int("SELECT count(*) FROM entries"), 4 * rows);
}

#[test]
fn changed_gone_and_returning_paths_leave_every_snapshot_its_own_listing() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("b.txt", b"bravo");
    env.write("keep/c.txt", b"charlie");
    settle();
    env.backup();
    let before = versions(&env);
    env.write("a.txt", b"alpha, longer now");
    fs::remove_file(env.src.join("b.txt")).unwrap();
    env.write("d.txt", b"delta");
    env.backup();
    // a.txt's new version, d.txt, and the top folder's (its mtime changed); b.txt's
    // version ends; nothing else is written.
    assert_eq!(versions(&env), before + 3);
    env.write("a.txt", b"alpha");
    env.write("b.txt", b"bravo");
    fs::remove_dir_all(env.src.join("keep")).unwrap();
    env.backup();
    let snaps = env.snapshots("src");
    assert_eq!(snaps.len(), 3);
    assert_listings_match_disk(&env);
    assert!(!snaps[1].join("b.txt").exists());
    assert_eq!(fs::read(snaps[2].join("a.txt")).unwrap(), b"alpha");
    let sql = "SELECT count(*) FROM files WHERE snapshot = ?1 AND path = 'b.txt'";
    let count = |snap: &Path| -> i64 {
        env.db()
            .query_row(sql, [label(snap)], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        (count(&snaps[0]), count(&snaps[1]), count(&snaps[2])),
        (1, 0, 1)
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn two_names_keep_their_own_versions() {
    let env = Env::new();
    env.write("a.txt", b"one");
    let other = env.dir.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("a.txt"), b"two, other name").unwrap();
    env.backup();
    assert_ok(&env.run(&["backup", other.to_str().unwrap()]));
    fs::remove_file(other.join("a.txt")).unwrap();
    assert_ok(&env.run(&["backup", other.to_str().unwrap()]));
    env.backup();
    assert_listings_match_disk(&env);
    for snap in env.snapshots("other") {
        assert_eq!(in_catalog(&env, &snap), on_disk(&snap));
    }
    assert_eq!(env.sql_int("SELECT count(*) FROM lines"), 2);
}

/// Starts a backup with SIGTERM at its default and stops it once its in-progress folder
/// holds `entries` entries; true when it was stopped before it finished.
fn stop_backup_part_way(env: &Env, entries: usize) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phlb"));
    cmd.arg("--backup-root")
        .arg(&env.root)
        .args(["backup", env.src.to_str().unwrap()])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: signal() is async-signal-safe; the closure only calls it.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stopped = loop {
        let partial = fs::read_dir(env.root.join("src"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".inprogress"));
        let done = partial.map_or(0, |p| walkdir::WalkDir::new(p.path()).into_iter().count());
        if done >= entries {
            let running = child.try_wait().unwrap().is_none();
            if running {
                // SAFETY: kill with a valid signal number on our own child's pid.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            }
            break running;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_micros(300));
    };
    child.wait().unwrap();
    stopped
}

#[test]
fn a_run_stopped_after_changing_versions_leaves_every_complete_snapshot_as_it_was() {
    let env = Env::new();
    write_tree(&env, 6, 120, "v1");
    let first = env.backup();
    let listing = in_catalog(&env, &first);
    write_tree(&env, 6, 120, "v2");
    fs::remove_dir_all(env.src.join("d05")).unwrap();
    // Stopped part-way, the run has ended versions and started new ones it never finished.
    let mut tries = 0;
    while !stop_backup_part_way(&env, 200) {
        tries += 1;
        assert!(
            tries < 5,
            "the run always finished before it could be stopped"
        );
        write_tree(&env, 6, 120, &format!("v2-{tries}"));
    }
    assert_eq!(env.snapshots("src").len(), 1);
    assert_eq!(in_catalog(&env, &first), listing);
    assert!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'incomplete'") >= 1,
        "no interrupted run recorded"
    );
    let second = env.backup();
    assert_eq!(in_catalog(&env, &first), listing);
    assert_eq!(in_catalog(&env, &second), on_disk(&second));
    assert!(!second.join("d05").exists());
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn pruning_a_middle_snapshot_keeps_its_neighbours_listings_and_drops_what_only_it_held() {
    let env = Env::new();
    env.write("a.txt", b"one");
    env.write("b.txt", b"stays");
    let s1 = env.backup();
    env.write("a.txt", b"two, only in the middle");
    let s2 = env.backup();
    env.write("a.txt", b"three");
    let s3 = env.backup();
    let (l1, l3) = (in_catalog(&env, &s1), in_catalog(&env, &s3));
    let middle = env.sql_int(
        "SELECT count(*) FROM versions v JOIN copies k ON k.id = v.copy_id
         JOIN contents c ON c.id = k.content_id WHERE c.size = 23",
    );
    assert_eq!(middle, 1);
    assert_ok(&env.run(&["forget", &label(&s2)]));
    assert!(!s2.exists());
    assert_eq!(in_catalog(&env, &s1), l1);
    assert_eq!(in_catalog(&env, &s3), l3);
    assert_eq!(
        env.sql_int("SELECT count(*) FROM contents WHERE size = 23"),
        0,
        "the content only the pruned snapshot held is still recorded"
    );
    // b.txt's one version still holds both neighbours.
    assert_eq!(
        env.sql_int(
            "SELECT count(*) FROM versions v JOIN paths p ON p.id = v.path_id
             WHERE CAST(p.path AS TEXT) = 'b.txt'"
        ),
        1
    );
    assert_ok(&env.run(&["verify"]));
}

/// Three snapshots: a.txt, b.txt and sub/c.txt; then a.txt changed and b.txt gone; then
/// b.txt back as it was.
fn changed_gone_and_back(env: &Env) -> Vec<std::path::PathBuf> {
    env.write("a.txt", b"alpha");
    env.write("b.txt", b"bravo");
    env.write("sub/c.txt", b"charlie");
    env.backup();
    env.write("a.txt", b"alpha two");
    fs::remove_file(env.src.join("b.txt")).unwrap();
    env.backup();
    env.write("b.txt", b"bravo");
    env.backup();
    env.snapshots("src")
}

#[test]
fn a_v16_catalog_becomes_path_versions_with_every_snapshot_listing_kept() {
    let env = Env::new();
    let snaps = changed_gone_and_back(&env);
    let before: Vec<_> = snaps.iter().map(|s| env.catalog_files(s)).collect();
    downgrade_to_v16(&env);
    let rows = env.sql_int("SELECT count(*) FROM entries");
    assert_eq!(
        env.sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'versions'"),
        0
    );
    // The first writer upgrades the catalog; this one adds a file.
    env.write("d.txt", b"delta");
    let fourth = env.backup();
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        crate::common::SCHEMA
    );
    let after: Vec<_> = snaps.iter().map(|s| env.catalog_files(s)).collect();
    assert_eq!(before, after);
    let old_rows = env.sql_int(&format!(
        "SELECT count(*) FROM entries WHERE snapshot_id IN (SELECT id FROM snapshot_runs ORDER BY id LIMIT {})",
        snaps.len()
    ));
    assert_eq!(old_rows, rows);
    assert!(versions(&env) < rows, "no two rows became one version");
    // The new run linked the unchanged files and wrote only what changed.
    assert_eq!(
        fs::metadata(snaps[2].join("sub/c.txt")).unwrap().ino(),
        fs::metadata(fourth.join("sub/c.txt")).unwrap().ino()
    );
    // Once every file's ctime is settled and recorded, a no-change run writes nothing.
    settle();
    env.backup();
    let kept = versions(&env);
    env.backup();
    assert_eq!(
        versions(&env),
        kept,
        "a no-change run after the upgrade wrote rows"
    );
    assert_listings_match_disk(&env);
    assert_ok(&env.run(&["verify"]));
    // The oldest snapshot, made before the upgrade, restores as it is on disk, and a
    // prune of the middle one keeps the others' listings.
    let to = env.dir.path().join("restored");
    assert_ok(&env.restore(&[&label(&snaps[0])], &to));
    let files = |t: std::collections::BTreeMap<Vec<u8>, Node>| -> Vec<(Vec<u8>, Vec<u8>)> {
        t.into_iter()
            .filter(|(_, n)| n.kind == "file")
            .map(|(p, n)| (p, n.data))
            .collect()
    };
    assert_eq!(files(tree(&to)), files(tree(&snaps[0])));
    assert_ok(&env.run(&["forget", &label(&snaps[1])]));
    assert_listings_match_disk(&env);
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn add_rebuilds_the_same_listings_from_the_snapshots_on_disk() {
    let env = Env::new();
    let snaps = changed_gone_and_back(&env);
    let before: Vec<_> = snaps.iter().map(|s| in_catalog(&env, s)).collect();
    env.remove_catalog();
    assert_ok(&env.run(&["add"]));
    let after: Vec<_> = snaps.iter().map(|s| in_catalog(&env, s)).collect();
    assert_eq!(before, after);
    assert_listings_match_disk(&env);
}

#[test]
fn the_views_over_versions_answer_as_the_rows_of_every_snapshot_would() {
    let env = Env::new();
    env.write("a.txt", b"same bytes");
    env.write("b.txt", b"same bytes");
    env.write("c.txt", b"one");
    let s1 = env.backup();
    env.write("c.txt", b"two, longer");
    let s2 = env.backup();
    env.write("d.txt", b"three");
    let s3 = env.backup();
    let db = env.db();
    // duplicates: one content under a.txt and b.txt, counted once however many
    // snapshots hold them; c.txt's two versions are two contents of one path.
    let dups: Vec<(i64, String)> = db
        .prepare("SELECT copies, paths FROM duplicates")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(dups.len(), 1, "{dups:?}");
    assert_eq!(dups[0].0, 2);
    let mut paths: Vec<&str> = dups[0].1.split(',').collect();
    paths.sort();
    assert_eq!(paths, ["a.txt", "b.txt"]);
    // file_versions: c.txt once per version, with the snapshots that hold it.
    let versions: Vec<(i64, String, String, i64)> = db
        .prepare(
            "SELECT size, first_snapshot, last_snapshot, snapshots FROM file_versions
             WHERE path = 'c.txt' ORDER BY first_snapshot",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        versions,
        [
            (3, label(&s1), label(&s1), 1),
            (11, label(&s2), label(&s3), 2)
        ]
    );
    let a: i64 = db
        .query_row(
            "SELECT snapshots FROM file_versions WHERE path = 'a.txt'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(a, 3);
}

#[test]
fn every_example_query_of_the_catalog_docs_runs() {
    let env = Env::new();
    env.write("notes/todo.txt", b"buy milk");
    env.write("dup1", b"same");
    env.write("dup2", b"same");
    env.backup();
    env.write("notes/todo.txt", b"buy milk and bread");
    env.backup();
    let doc = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/catalog.md")).unwrap();
    let block = doc
        .split("```sql")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let text: String = block
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let queries: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .collect();
    assert_eq!(queries.len(), 7);
    for q in queries {
        let q = q.replace("'Documents'", "'src'");
        let out = env.run(&["sql", "--format", "csv", &q]);
        assert_ok(&out);
        if q.contains("notes/todo.txt") {
            // Both versions of the file, first seen in order.
            assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
        }
    }
}

#[test]
fn keep_versions_after_a_forgotten_snapshot_trims_catalog_and_disk_together() {
    // Regression (attack round): taking an old version out of a snapshot split its
    // version around the snapshot's place and kept the part between it and the next
    // snapshot even when no snapshot held that part (a forgotten one had): that part
    // kept the old copy's row alive, the trim's delete of it failed on the foreign key
    // (exit 2), and the snapshot had lost its row while its folder kept the file.
    let env = Env::new();
    env.write("a", b"1\n");
    for _ in 0..3 {
        env.backup();
    }
    env.write("a", b"22\n");
    env.backup();
    let snaps = env.snapshots("src");
    assert_ok(&env.run(&["forget", &label(&snaps[1])]));
    assert_ok(&env.run(&["prune", "--keep-versions", "1", "--keep-last", "100"]));
    let left = env.snapshots("src");
    assert_eq!(left.len(), 3);
    assert_listings_match_disk(&env);
    assert!(
        !left[0].join("a").exists(),
        "the old version is still on disk"
    );
    assert_eq!(fs::read(left[2].join("a")).unwrap(), b"22\n");
    assert_eq!(
        env.sql_int(
            "SELECT count(*) FROM versions v WHERE NOT EXISTS (SELECT 1 FROM snapshot_runs s
             WHERE s.line = v.line AND s.pos BETWEEN v.lo AND v.hi)"
        ),
        0,
        "a version no snapshot holds"
    );
    // And again: nothing left over makes the next trim fail.
    env.write("a", b"333\n");
    env.backup();
    assert_ok(&env.run(&["prune", "--keep-versions", "1", "--keep-last", "100"]));
    assert_listings_match_disk(&env);
    assert_ok(&env.run(&["verify"]));
}
