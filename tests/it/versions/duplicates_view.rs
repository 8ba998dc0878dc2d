//! The `duplicates` view reads the stored copies in content order (V18): V17's view
//! started from the versions, and SQLite looked every content up from a scan of its own
//! (4.0 s at 1,000 snapshots of a million files, 1.0 s now).

use super::*;

/// Two paths with one content, a third alone, kept over three snapshots.
fn with_duplicates(env: &Env) {
    env.write("a.txt", b"same bytes");
    env.write("sub/b.txt", b"same bytes");
    env.write("c.txt", b"one");
    env.backup();
    env.write("c.txt", b"two, longer");
    env.backup();
    env.write("d.txt", b"same bytes");
    env.backup();
}

fn duplicates(env: &Env) -> Vec<(String, i64, i64, String)> {
    let db = env.db();
    let mut stmt = db
        .prepare("SELECT hash, size, copies, paths FROM duplicates ORDER BY hash")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn plan(env: &Env) -> String {
    let db = env.db();
    let mut stmt = db
        .prepare("EXPLAIN QUERY PLAN SELECT * FROM duplicates")
        .unwrap();
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.join("\n")
}

#[test]
fn duplicates_view_scans_the_copies_in_content_order() {
    let env = Env::new();
    with_duplicates(&env);
    let plan = plan(&env);
    let first_scan = plan.lines().find(|l| l.contains("SCAN")).unwrap_or("");
    assert!(
        first_scan.contains("SCAN k USING COVERING INDEX copies_by_content_meta"),
        "{plan}"
    );
    let rows = duplicates(&env);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].1, 10);
    assert_eq!(rows[0].2, 3);
    let mut paths: Vec<&str> = rows[0].3.split(',').collect();
    paths.sort();
    assert_eq!(paths, vec!["a.txt", "d.txt", "sub/b.txt"]);
}

#[test]
fn a_v17_catalog_gets_the_new_duplicates_view_with_the_same_rows() {
    let env = Env::new();
    with_duplicates(&env);
    let oldest = env.snapshots("src")[0].clone();
    let listing = tree(&oldest);
    downgrade_to_v17(&env);
    let before = duplicates(&env);
    assert!(!plan(&env).contains("SCAN k USING COVERING INDEX copies_by_content_meta"));
    // The first writer upgrades the catalog; nothing changed in the source.
    env.backup();
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        SCHEMA
    );
    assert_eq!(duplicates(&env), before);
    let out = env.run(&["duplicates", "--json"]);
    assert_ok(&out);
    // The root keeps working: LINK and DEDUP written beside the catalog as recorded,
    // verify clean, the oldest snapshot restores as it was, and prune removes it.
    let side = fs::read_to_string(env.root.join(".phlb/linking")).unwrap();
    assert!(side.contains("dedup = strict"), "{side}");
    assert_ok(&env.run(&["verify"]));
    let out_dir = env.dir.path().join("restored");
    assert_ok(&env.restore(&[&label(&oldest)], &out_dir));
    assert_eq!(tree(&out_dir), listing);
    assert_ok(&env.run(&["prune", "--keep-last", "1"]));
    assert!(!oldest.exists());
    assert_ok(&env.run(&["verify"]));
}
