//! Queries at the edges: history's path forms (nested sources, the current folder, symlinked folders) and times before 1970 or after 9999.

use super::*;

#[test]
fn history_finds_every_nested_source_and_paths_relative_to_the_current_folder() {
    let env = Env::new();
    env.write("inner/notes.txt", b"v1");
    std::os::unix::fs::symlink("notes.txt", env.src.join("inner/link")).unwrap();
    env.backup();
    let inner = env.src.join("inner");
    let out = env.run(&["backup", inner.to_str().unwrap()]);
    assert_ok(&out);
    set_mode(&inner.join("notes.txt"), 0o600);
    std::fs::remove_file(inner.join("link")).unwrap();
    std::os::unix::fs::symlink("other", inner.join("link")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.backup();
    // Absolute: both names hold it.
    let abs = inner.join("notes.txt");
    let h = json(&env, &["history", abs.to_str().unwrap(), "--json"]);
    let firsts: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["first"].as_str().unwrap())
        .collect();
    assert!(firsts.iter().any(|f| f.starts_with("src/")), "{h}");
    assert!(firsts.iter().any(|f| f.starts_with("inner/")), "{h}");
    // The mode change is a version of its own, with the mode column.
    let modes: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["first"].as_str().unwrap().starts_with("src/"))
        .map(|v| v["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, vec!["0644", "0600"]);
    // ./x from inside the source, and the symlink's targets.
    let out = env
        .cmd()
        .current_dir(&inner)
        .args(["history", "./link", "--name", "src", "--json"])
        .output()
        .unwrap();
    assert_ok(&out);
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["notes.txt", "other"]);
}

#[test]
fn mtime_before_1970_shows_its_own_second() {
    let env = Env::new();
    let f = env.write("old", b"x");
    let t = std::time::UNIX_EPOCH - std::time::Duration::new(1, 500_000_000);
    set_mtime_to(&f, t);
    env.backup();
    let mtime: String = env
        .db()
        .query_row("SELECT mtime FROM files WHERE path = 'old'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(mtime, "1969-12-31 23:59:58");
}

#[test]
#[ignore = "needs root (mounts a tmpfs, which keeps times past the year 9999)"]
fn a_file_from_the_year_10000_does_not_break_the_queries() {
    let env = Env::new();
    let disk =
        SmallDisk::mount(&env.dir.path().join("t"), "8m").expect("mounting a tmpfs needs root");
    let src = disk.0.join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("y10000"), b"far").unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(253_402_300_800 + 86_400, 0);
    set_mtime_to(&src.join("y10000"), t);
    let root = disk.0.join("root");
    env.init(&root);
    let phlb = |args: &[&str]| env.cmd_at(&root).args(args).output().unwrap();
    assert_ok(&phlb(&["backup", src.to_str().unwrap()]));
    for args in [&["find", "*"][..], &["history", "y10000"], &["list"]] {
        let out = phlb(args);
        assert_ok(&out);
        assert_no_panic(&out);
    }
    let shown: String = rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3"))
        .unwrap()
        .query_row("SELECT mtime FROM files WHERE path = 'y10000'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(shown.ends_with("seconds after 1970"), "{shown}");
}

#[test]
fn history_of_a_deleted_file_named_through_a_symlinked_folder() {
    let env = Env::new();
    env.write("gone.txt", b"was here");
    env.backup();
    fs::remove_file(env.src.join("gone.txt")).unwrap();
    let link = env.dir.path().join("via-link");
    std::os::unix::fs::symlink(&env.src, &link).unwrap();
    let out = env.run(&["history", link.join("gone.txt").to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("src/"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn find_shows_a_version_split_by_a_forgotten_snapshot_once() {
    // Forgetting the middle of three snapshots that hold one version of a file leaves
    // the catalog two parts of it; find shows one version held by the two left.
    let env = Env::new();
    env.write("keep.txt", b"unchanged");
    let s: Vec<String> = (0..3)
        .map(|_| {
            let p = env.backup();
            format!("src/{}", p.file_name().unwrap().to_str().unwrap())
        })
        .collect();
    assert_ok(&env.run(&["forget", &s[1]]));
    let out = env.run(&["find", "keep.txt", "--json"]);
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["first"], s[0].as_str());
    assert_eq!(rows[0]["last"], s[2].as_str());
    assert_eq!(rows[0]["snapshots"], 2);
    // A version that comes back after a snapshot without the file is a new row.
    std::fs::remove_file(env.src.join("keep.txt")).unwrap();
    env.backup();
    env.write("keep.txt", b"unchanged");
    let back = env.backup();
    let out = env.run(&["find", "keep.txt", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert_eq!(
        rows[0]["first"],
        format!("src/{}", back.file_name().unwrap().to_str().unwrap())
    );
}

#[test]
fn find_leaves_out_a_killed_backup() {
    // Found by the attack round: find counted a killed run's snapshot (it cannot be
    // restored, and the `file_versions` view leaves it out) as holding the file.
    let env = Env::new();
    for i in 0..30 {
        env.write(&format!("f{i}"), format!("{i}").as_bytes());
    }
    let done = env.backup();
    env.write("f3", b"changed");
    let mut stopped = false;
    for n in 1..40 {
        if killed_at(&env, "write", n, &["backup", env.src.to_str().unwrap()])
            && env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'incomplete'") > 0
        {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "a run was killed part-way");
    for args in [
        &["find", "f3", "--json"][..],
        &["find", "f3", "--each-snapshot", "--json"],
    ] {
        let out = env.run(args);
        assert_ok(&out);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 1, "{args:?}: {rows:?}");
        let shown = rows[0].get("snapshot").or(rows[0].get("last")).unwrap();
        assert_eq!(shown, &serde_json::json!(label(&done)), "{args:?}");
    }
}

#[test]
fn find_matches_bracket_classes_and_escapes_as_restore_does() {
    // Found by the attack round: find matched with SQLite's GLOB, where `[!a-z]` is a
    // class of `!` and a-z (the opposite of the shell's) and `\*` is two characters;
    // restore matched the same glob as fnmatch(3). Both take it as the shell does now.
    let env = Env::new();
    for name in ["Zeta", "alpha", "*", "x!"] {
        env.write(name, name.as_bytes());
    }
    let snap = env.backup();
    let found = |glob: &str| -> Vec<String> {
        let out = env.run(&["find", glob, "--json"]);
        assert_ok(&out);
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut paths: Vec<String> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect();
        paths.sort();
        paths
    };
    assert_eq!(found("[!a-z]*"), vec!["*", "Zeta"]);
    assert_eq!(found("\\*"), vec!["*"]);
    assert_eq!(found("*a"), vec!["Zeta", "alpha"]);
    // restore picks the same paths for the same glob.
    let out = env.dir.path().join("out");
    assert_ok(&env.restore(&[&label(&snap), "[!a-z]*"], &out));
    let mut restored: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    restored.sort();
    assert_eq!(restored, vec!["*", "Zeta"]);
}
