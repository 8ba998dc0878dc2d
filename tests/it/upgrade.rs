//! A backup root made by an earlier phlb keeps working: its catalog (schema v5, the last
//! shape before the trust fixes), v10, v11 and v13 (before attributes), is upgraded in
//! place by the next writer.

use std::fs;

use crate::common::*;

/// Turns a current catalog back into the v5 shape an earlier phlb wrote (same rows;
/// without the columns, views and settings later migrations add).
fn downgrade_to_v5(env: &Env) {
    downgrade_to_v11(env);
    env.db()
        .execute_batch(
            "DROP TABLE source_links;
             DROP VIEW trimmed;
             DROP TABLE trimmed_entries;
             DROP VIEW damaged;
             DROP INDEX copies_not_ok;
             ALTER TABLE copies DROP COLUMN state;
             ALTER TABLE copies DROP COLUMN damaged_at;
             DROP VIEW snapshots;
             ALTER TABLE snapshot_runs DROP COLUMN trimmed;
             ALTER TABLE snapshot_runs DROP COLUMN time_source;
             CREATE VIEW snapshots AS
             SELECT id, name, timestamp, name || '/' || timestamp AS path, status,
                    started_at, finished_at, files, bytes, new_bytes
             FROM snapshot_runs;
             DROP VIEW files;
             ALTER TABLE entries DROP COLUMN mtime_exact;
             ALTER TABLE copies DROP COLUMN mtime_exact;
             CREATE VIEW files AS
             SELECT e.snapshot_id, s.name || '/' || s.timestamp AS snapshot,
                    CAST(p.path AS TEXT) AS path, e.kind, e.size,
                    strftime('%Y-%m-%d %H:%M:%S', e.mtime_ns / 1000000000, 'unixepoch') AS mtime,
                    printf('%04o', e.mode) AS mode, lower(hex(c.hash)) AS hash,
                    e.mtime_ns, e.uid, e.gid, CAST(e.target AS TEXT) AS target
             FROM entries e
             JOIN snapshot_runs s ON s.id = e.snapshot_id
             JOIN paths p ON p.id = e.path_id
             LEFT JOIN copies k ON k.id = e.copy_id
             LEFT JOIN contents c ON c.id = k.content_id;
             DELETE FROM settings WHERE key = 'hash_algo';
             DELETE FROM refinery_schema_history WHERE version > 5;",
        )
        .unwrap();
}

#[test]
fn root_made_by_an_earlier_phlb_is_upgraded_and_linked_to() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("d/big.bin", &vec![3u8; 50_000]);
    let first = env.backup();
    downgrade_to_v5(&env);
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        5
    );
    // Readers refuse to change it and say how to upgrade.
    let out = env.run(&["list"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("run `phlb backup` once"),
        "{}",
        stderr(&out)
    );
    let second = env.backup();
    assert!(env.sql_int("SELECT max(version) FROM refinery_schema_history") > 5);
    assert_eq!(
        ino(&first.join("d/big.bin")),
        ino(&second.join("d/big.bin")),
        "the upgraded catalog's copies are link sources"
    );
    assert_eq!(
        env.sql_int(
            "SELECT count(*) FROM snapshots WHERE status = 'complete' AND time_source = 'run'"
        ),
        2
    );
    assert_ok(&env.run(&["verify"]));
    assert_ok(&env.run(&["list"]));
    assert!(fs::read_dir(env.root.join(".phlb"))
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().contains("broken")));
}

/// Turns a current catalog back into the v10 shape (before source hardlink groups).
fn downgrade_to_v10(env: &Env) {
    downgrade_to_v11(env);
    env.db()
        .execute_batch(
            "DROP TABLE source_links;
             DELETE FROM refinery_schema_history WHERE version > 10;",
        )
        .unwrap();
}

#[test]
fn catalog_from_before_hardlink_groups_is_upgraded_and_its_snapshots_restore() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    fs::hard_link(env.src.join("a.txt"), env.src.join("b.txt")).unwrap();
    let first = env.backup();
    downgrade_to_v10(&env);
    env.write("c.txt", b"gamma");
    let second = env.backup();
    assert!(env.sql_int("SELECT max(version) FROM refinery_schema_history") > 10);
    let label = |s: &std::path::Path| format!("src/{}", s.file_name().unwrap().to_str().unwrap());
    // The old snapshot has no groups recorded: its files come back as files of their own.
    let out = env.dir.path().join("old");
    let done = env.restore(&[&label(&first)], &out);
    assert_ok(&done);
    assert_eq!(fs::read(out.join("b.txt")).unwrap(), b"alpha");
    assert_eq!(nlink(&out.join("a.txt")), 1);
    // The new one knows them.
    let out = env.dir.path().join("new");
    let done = env.restore(&[&label(&second)], &out);
    assert_ok(&done);
    assert_eq!(ino(&out.join("a.txt")), ino(&out.join("b.txt")));
}

#[test]
fn snapshots_an_earlier_add_recorded_get_the_time_in_their_name() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    // What an earlier `add` left: no source, the time of the import as started_at.
    env.hand_snapshot("src/2020-03-04-050607", &[("a.txt", b"alpha")]);
    assert_ok(&env.run(&["add"]));
    downgrade_to_v5(&env);
    env.db()
        .execute_batch(
            "UPDATE snapshot_runs SET started_at = '2026-11-30T00:00:00Z', finished_at = started_at
             WHERE timestamp = '2020-03-04-050607'",
        )
        .unwrap();
    env.backup();
    let (started, source): (String, String) = env
        .db()
        .query_row(
            "SELECT started_at, time_source FROM snapshots WHERE timestamp = '2020-03-04-050607'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(source, "name");
    assert!(started.starts_with("2020-03-0"), "{started}");
}

#[test]
fn root_made_by_todays_main_gets_instants_sequence_and_side_files_from_the_first_writer() {
    let env = Env::new();
    // Three runs; the first with a clock 5 h fast: the catalog's order of runs (id) is
    // the creation order, not started_at's.
    for (i, t) in [
        "2026-01-01 15:00:00",
        "2026-01-01 10:05:00",
        "2026-01-01 10:10:00",
    ]
    .iter()
    .enumerate()
    {
        env.write("a.txt", format!("v{i}").as_bytes());
        backup_at(&env, t);
    }
    let before: serde_json::Value =
        serde_json::from_slice(&env.run(&["list", "--json"]).stdout).unwrap();
    downgrade_to_v11(&env);
    let side_files = |env: &Env| {
        fs::read_dir(env.root.join("src"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with("-snapshot.json"))
            .count()
    };
    // Readers and dry runs write nothing.
    assert_code(&env.run(&["list"]), 2);
    assert_code(&env.run(&["prune", "--keep-last", "1", "-n"]), 2);
    assert_eq!(side_files(&env), 0);
    // The first writer upgrades: instants from started_at, the sequence from the order
    // of the runs, the offset of the time zone in effect, all written beside them.
    env.write("a.txt", b"v3");
    let out = env
        .cmd()
        .env("TZ", "Europe/Berlin")
        .args(["-q", "backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(side_files(&env), 4);
    let after: serde_json::Value =
        serde_json::from_slice(&env.run(&["list", "--json"]).stdout).unwrap();
    let secs = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    for i in 0..3 {
        assert_eq!(after[i]["snapshot"], before[i]["snapshot"]);
        assert_eq!(after[i]["sequence"], i as i64 + 1);
        assert_eq!(secs(&after[i]["instant"]), secs(&before[i]["instant"]));
        assert!(
            after[i]["instant"].as_str().unwrap().ends_with("+01:00"),
            "Berlin's offset in January: {}",
            after[i]
        );
        assert_eq!(after[i]["source"], before[i]["source"]);
    }
    assert_eq!(after[3]["sequence"], 4);
    // Newest is the one made last; the first run's wrong clock is told, not obeyed.
    let newest = after[3]["snapshot"].as_str().unwrap();
    let link = fs::read_link(env.root.join("src/latest")).unwrap();
    assert_eq!(format!("src/{}", link.display()), newest);
    let out = env.run(&["prune", "--keep-last", "1", "-n"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("the clock was wrong"),
        "{}",
        stderr(&out)
    );
    // And a rebuild keeps exactly what the upgrade wrote.
    env.remove_catalog();
    assert_ok(&env.run(&["add", "-q"]));
    let rebuilt: serde_json::Value =
        serde_json::from_slice(&env.run(&["list", "--json"]).stdout).unwrap();
    assert_eq!(rebuilt, after);
}

#[test]
fn a_v11_root_upgrades_then_verifies_restores_and_prunes() {
    // A root in the catalog shape of the main before instants and sources (v11), with
    // a steady clock: after the first writer it keeps every snapshot, verifies clean,
    // restores an old one and prunes to the one made last.
    let env = Env::new();
    let mut snaps = Vec::new();
    for (i, t) in ["2026-02-01 10:00:00", "2026-02-02 10:00:00"]
        .iter()
        .enumerate()
    {
        env.write("a.txt", format!("v{i}").as_bytes());
        snaps.push(backup_at(&env, t));
    }
    downgrade_to_v11(&env);
    env.write("a.txt", b"v2");
    let newest = env.backup();
    assert_eq!(env.snapshots("src").len(), 3);
    assert_ok(&env.run(&["verify"]));
    let out = env.dir.path().join("out");
    let label = format!("src/{}", snaps[0].file_name().unwrap().to_str().unwrap());
    assert_ok(&env.restore(&[&label], &out));
    assert_eq!(fs::read(out.join("a.txt")).unwrap(), b"v0");
    assert_ok(&env.run(&["prune", "--keep-last", "1"]));
    assert_eq!(env.snapshots("src"), vec![newest]);
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_v13_root_from_before_attributes_stores_a_new_copy_of_each_file_that_has_some() {
    // The main before #31 (catalog v13) kept no attributes: its stored copies carry none.
    // The first run of the new phlb stores one new copy of each file that has some, says
    // how many in its summary, links the rest, and the old snapshot still restores.
    let env = Env::new();
    let tagged = env.write("tagged.txt", b"has an attribute");
    env.write("plain.txt", b"has none");
    crate::xattrs::setfattr(&tagged, "user.k", "v");
    env.config("XATTRS = false");
    let old = env.backup();
    downgrade_to_v13(&env);
    assert!(crate::xattrs::attrs(&old.join("tagged.txt")).is_empty());
    env.config("");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("attributes: 1 files stored anew"), "{text}");
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        SCHEMA
    );
    let new = env.snapshots("src").pop().unwrap();
    assert_ne!(ino(&old.join("tagged.txt")), ino(&new.join("tagged.txt")));
    assert_eq!(ino(&old.join("plain.txt")), ino(&new.join("plain.txt")));
    assert_eq!(
        crate::xattrs::attrs(&new.join("tagged.txt")),
        crate::xattrs::attrs(&tagged)
    );
    assert_ok(&env.run(&["verify"]));
    let out = env.dir.path().join("old");
    let label = format!("src/{}", old.file_name().unwrap().to_str().unwrap());
    assert_ok(&env.restore(&[&label], &out));
    assert_eq!(
        fs::read(out.join("tagged.txt")).unwrap(),
        b"has an attribute"
    );
    // The next run links everything.
    let third = env.backup();
    assert_eq!(ino(&new.join("tagged.txt")), ino(&third.join("tagged.txt")));
}

/// The catalog's recorded LINK and DEDUP (#32).
fn recorded_linking(env: &Env) -> (String, String) {
    let get = |key: &str| -> String {
        env.db()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .unwrap()
    };
    (get("link"), get("dedup"))
}

#[test]
fn a_root_made_before_link_was_recorded_keeps_hardlinks_and_its_dedup() {
    // A root today's main made: snapshots, and no recorded LINK or DEDUP (the settings
    // table is the same; the rows are what phlb adds on first open).
    let env = Env::new();
    env.write("a", b"same");
    env.backup();
    env.db()
        .execute(
            "DELETE FROM settings WHERE key IN ('link', 'dedup', 'cloned')",
            [],
        )
        .unwrap();
    // Nor had it the copy of them beside the catalog.
    fs::remove_file(env.root.join(".phlb/linking")).unwrap();
    // Same content, another mtime: under the old default (mode) it shares the copy.
    let b = env.write("b", b"same");
    set_mtime(&b, 1_000_000_000, 0);
    let snap = env.backup();
    assert_eq!(recorded_linking(&env), ("hardlink".into(), "mode".into()));
    assert_eq!(
        ino(&snap.join("a")),
        ino(&snap.join("b")),
        "DEDUP = mode kept"
    );
}

#[test]
fn a_new_root_records_auto_and_strict_and_keeps_every_mtime() {
    let env = Env::new();
    env.write("a", b"same");
    let b = env.write("b", b"same");
    set_mtime(&b, 1_000_000_000, 0);
    let snap = env.backup();
    assert_eq!(recorded_linking(&env), ("auto".into(), "strict".into()));
    // Auto falls back to hardlinks on the test disk, under strict: own mtimes.
    assert_ne!(ino(&snap.join("a")), ino(&snap.join("b")));
    assert_eq!(mtime_ns(&snap.join("b")), mtime_ns(&b));
    // An ini value overrides the root's for a run, and the run says so.
    env.config("DEDUP = mode");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("DEDUP = mode for this run"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        recorded_linking(&env).1,
        "strict",
        "the override is not recorded"
    );
}

#[test]
fn a_v15_catalog_gets_the_copy_index_by_content_and_metadata_and_links_as_before() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("empty1", b"");
    let first = env.backup();
    downgrade_to_v15(&env);
    assert_eq!(
        env.sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'copies_by_content_meta'"),
        0
    );
    env.write("empty2", b"");
    let second = env.backup();
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        SCHEMA
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM sqlite_master WHERE name = 'copies_by_content_meta'"),
        1
    );
    assert_eq!(ino(&first.join("a.txt")), ino(&second.join("a.txt")));
    assert_eq!(ino(&first.join("empty1")), ino(&second.join("empty1")));
    assert_ok(&env.run(&["verify"]));
}
