//! backup --dry-run: writes nothing, and says what the real run would do, deciding as it does.

use super::*;

/// Every entry under `dir` with its bytes, mode and mtime, for "nothing changed" checks.
fn listing(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>, u32, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .map(|e| {
            let md = e.path().symlink_metadata().unwrap();
            let bytes = if md.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (
                e.path().to_path_buf(),
                bytes,
                md.mode(),
                md.mtime_nsec() + md.mtime() * 1_000_000_000,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn dry_run_writes_nothing_and_says_what_the_real_run_would() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let first = env.backup();
    let src = env.src.to_str().unwrap().to_string();
    let before = listing(&env.root);
    assert_ok(&env.run(&["backup", "--dry-run", &src]));
    assert_eq!(
        listing(&env.root),
        before,
        "not even the catalog's -shm or -wal"
    );
    // A HASH the real run would refuse is refused by the dry run too.
    env.config("HASH = sha512");
    assert_code(&env.run(&["backup", "--dry-run", &src]), 2);
    assert_code(&env.run(&["backup", &src]), 2);
    fs::remove_file(env.dir.path().join("phlb.ini")).unwrap();
    // With the snapshot deleted by hand, nothing is left to link: both copy.
    fs::remove_dir_all(&first).unwrap();
    let out = env.run(&["backup", "--dry-run", &src]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would copy 1"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn dry_run_on_a_half_made_catalog_predicts_like_the_real_run() {
    let env = Env::bare();
    env.write("a.txt", b"alpha");
    fs::create_dir_all(env.root.join(".phlb")).unwrap();
    rusqlite::Connection::open(env.root.join(".phlb/catalog.sqlite3"))
        .unwrap()
        .execute_batch("CREATE TABLE refinery_schema_history (version INT4 PRIMARY KEY);")
        .unwrap();
    fs::set_permissions(
        env.root.join(".phlb"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let before = listing(&env.root);
    let src = env.src.to_str().unwrap().to_string();
    let out = env.run(&["backup", "--dry-run", &src]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would copy 1"));
    assert_eq!(listing(&env.root), before);
    assert_ok(&env.run(&["backup", &src]));
}

#[test]
fn a_dry_run_stops_on_a_catalog_error_as_the_real_run_does() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    // New content: the dry run hashes it and asks the catalog for a stored copy.
    env.write("b.txt", b"bravo, never stored");
    env.db()
        .execute_batch("ALTER TABLE copies RENAME TO copies_lost;")
        .unwrap();
    let src = env.src.to_str().unwrap().to_string();
    let out = env.run(&["backup", "--dry-run", &src]);
    // Before: the catalog's error was counted as one failed file (exit 1) and the dry
    // run went on to predict a summary a real run would never reach.
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("no such table"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("would copy"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_dry_run_counts_a_damaged_stored_copy_as_the_real_run_finds_it() {
    // A stored copy whose hash came from a manifest (`add --trust-manifests`) is read
    // before it serves other content; its bytes were changed in place (size and mtime
    // kept), so the real run stores the content anew. The dry run decided with its own
    // copy of the decision and counted it as linked.
    let env = Env::new();
    env.write("a.txt", b"alpha content 1234");
    let snap = env.backup();
    let stored = snap.join("a.txt");
    let (secs, nsec) = {
        let ns = mtime_ns(&stored);
        ((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
    };
    set_mode(&stored, 0o644);
    fs::write(&stored, b"ALPHA content 1234").unwrap();
    set_mtime(&stored, secs, nsec);
    env.remove_catalog();
    assert_ok(&env.run(&["add", "--trust-manifests"]));
    env.write("b.txt", b"alpha content 1234");
    let src = env.src.to_str().unwrap().to_string();
    let counts = |args: &[&str]| -> (u64, u64) {
        let out = env.run(args);
        assert_ok(&out);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let doc: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        (
            doc["linked"].as_u64().unwrap(),
            doc["copied"].as_u64().unwrap(),
        )
    };
    let planned = counts(&["backup", "--dry-run", "--json", &src]);
    let made = counts(&["backup", "--json", &src]);
    assert_eq!(planned, made, "dry run (linked, copied) vs the real run's");
    assert!(made.1 >= 1, "the damaged copy served: {made:?}");
}
