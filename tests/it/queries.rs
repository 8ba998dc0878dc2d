//! The query commands (`list`, `ls`, `log`, `diff`, `history`, `find`, `duplicates`) on a
//! scripted history: create, modify, rename, move, delete, re-add; odd names and times.

mod edges;
use std::fs;

use crate::common::*;
use serde_json::Value;

/// Builds five snapshots:
/// 1: a.txt=v1, docs/b.txt=b, c.txt=c, big=1000 bytes
/// 2: a.txt=v2 (modified)
/// 3: docs/b.txt renamed to docs/b2.txt; c.txt moved to sub/c.txt
/// 4: a.txt deleted; dup.txt = copy of big; only4.txt (12 bytes) exists only here
/// 5: a.txt re-added with v1, only4.txt deleted
fn scripted() -> (Env, Vec<String>) {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    env.write("a.txt", b"version one");
    env.write("docs/b.txt", b"bee");
    env.write("c.txt", b"sea");
    env.write("big", &vec![5u8; 1000]);
    let mut labels = Vec::new();
    let mut snap = |env: &Env| {
        let s = env.backup();
        labels.push(format!("src/{}", s.file_name().unwrap().to_str().unwrap()));
    };
    snap(&env);
    env.write("a.txt", b"version two!");
    snap(&env);
    fs::rename(env.src.join("docs/b.txt"), env.src.join("docs/b2.txt")).unwrap();
    fs::create_dir(env.src.join("sub")).unwrap();
    fs::rename(env.src.join("c.txt"), env.src.join("sub/c.txt")).unwrap();
    snap(&env);
    fs::remove_file(env.src.join("a.txt")).unwrap();
    env.write("dup.txt", &vec![5u8; 1000]);
    env.write("only4.txt", b"only in four");
    snap(&env);
    fs::remove_file(env.src.join("only4.txt")).unwrap();
    env.write("a.txt", b"version one");
    snap(&env);
    (env, labels)
}

fn json(env: &Env, args: &[&str]) -> Value {
    let out = env.run(args);
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn query_commands_on_a_scripted_history() {
    let (env, l) = scripted();

    // list: exact bytes, and what only each snapshot holds.
    let list = json(&env, &["list", "--json"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["snapshot"], l[0].as_str());
    assert_eq!(rows[0]["files"], 4);
    assert_eq!(rows[0]["bytes"], 11 + 3 + 3 + 1000);
    assert_eq!(rows[1]["new_bytes"], 12);
    // "version two!" lives in snapshots 2 and 3, "version one" in 1 and 5 (re-added
    // content links to the old copy): only only4.txt is held by a single snapshot.
    let only: Vec<i64> = rows
        .iter()
        .map(|r| r["only_here"].as_i64().unwrap())
        .collect();
    assert_eq!(only, vec![0, 0, 0, 12, 0]);

    // diff 2 -> 3: a rename in place and a move.
    let d = json(&env, &["diff", &l[1], &l[2], "--json"]);
    let changes: Vec<(String, String, String)> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["change"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
                c["from"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("renamed".into(), "docs/b2.txt".into(), "docs/b.txt".into()),
            ("added".into(), "sub".into(), "".into()),
            ("moved".into(), "sub/c.txt".into(), "c.txt".into()),
        ]
    );
    // diff 1 -> 2: one modification; diff NAME compares the two newest (4 -> 5).
    let d = json(&env, &["diff", &l[0], &l[1], "--json"]);
    assert_eq!(d["totals"]["modified"], 1);
    assert_eq!(d["changes"][0]["path"], "a.txt");
    let d = json(&env, &["diff", "src", "--json"]);
    assert_eq!(d["from"], l[3].as_str());
    assert_eq!(d["to"], l[4].as_str());
    assert_eq!(d["totals"]["added"], 1);
    assert_eq!(d["totals"]["removed"], 1);

    // find: a file long gone from the source, newest first, one row per snapshot with
    // --each-snapshot.
    let f = json(&env, &["find", "b.txt", "--each-snapshot", "--json"]);
    let snaps: Vec<&str> = f
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["snapshot"].as_str().unwrap())
        .collect();
    assert_eq!(snaps, vec![l[1].as_str(), l[0].as_str()]);
    let f = json(&env, &["find", "*c.txt", "--each-snapshot", "--json"]);
    assert_eq!(f.as_array().unwrap().len(), 5);
    assert_eq!(f[0]["path"], "sub/c.txt");
    // By default each version once: first and last snapshot and how many hold it,
    // newest last snapshot first.
    let f = json(&env, &["find", "*c.txt", "--json"]);
    let rows: Vec<(&str, &str, &str, i64)> = f
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap(),
                r["first"].as_str().unwrap(),
                r["last"].as_str().unwrap(),
                r["snapshots"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("sub/c.txt", l[2].as_str(), l[4].as_str(), 3),
            ("c.txt", l[0].as_str(), l[1].as_str(), 2),
        ]
    );
    // a.txt: v1 in 1, v2 in 2-3, gone in 4, v1 again in 5 (as history shows it).
    let f = json(&env, &["find", "a.txt", "--json"]);
    let rows: Vec<(&str, &str, i64, i64)> = f
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["first"].as_str().unwrap(),
                r["last"].as_str().unwrap(),
                r["snapshots"].as_i64().unwrap(),
                r["size"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (l[4].as_str(), l[4].as_str(), 1, 11),
            (l[1].as_str(), l[2].as_str(), 2, 12),
            (l[0].as_str(), l[0].as_str(), 1, 11),
        ]
    );

    // history: v1 in 1, v2 in 2-3, (gone in 4), v1 again in 5.
    let h = json(&env, &["history", "a.txt", "--json"]);
    let versions: Vec<(String, String, i64)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["first"].as_str().unwrap().to_string(),
                v["last"].as_str().unwrap().to_string(),
                v["size"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![
            (l[0].clone(), l[0].clone(), 11),
            (l[1].clone(), l[2].clone(), 12),
            (l[4].clone(), l[4].clone(), 11),
        ]
    );
    // history by absolute source path works too.
    let abs = env.src.join("a.txt");
    let h2 = json(&env, &["history", abs.to_str().unwrap(), "--json"]);
    assert_eq!(h2, h);

    // duplicates: big and dup.txt in the newest snapshot.
    let dups = json(&env, &["duplicates", "--json"]);
    assert_eq!(dups.as_array().unwrap().len(), 1);
    // Hardlinked to one stored copy: one inode, nothing called wasted.
    assert_eq!(dups[0]["inodes"], 1);
    assert_eq!(dups[0]["stored_bytes"], 1000);
    assert_eq!(
        dups[0]["paths"],
        serde_json::json!([format!("{}/big", l[4]), format!("{}/dup.txt", l[4])])
    );
    let none = json(&env, &["duplicates", &l[0], "--json"]);
    assert_eq!(none.as_array().unwrap().len(), 0);

    // Human output: sizes in units, --bytes exact.
    let out = env.run(&["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("1017 B"));
    let out = env.run(&["list", "--bytes"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" 1017 "));
}

#[test]
fn unknown_snapshot_or_path_is_exit_2() {
    let (env, _) = scripted();
    for args in [
        vec!["diff", "src/nope", "src"],
        vec!["history", "never/existed.txt"],
        vec!["duplicates", "other/2020-01-01-000000"],
        vec!["list", "nosuchname"],
        vec!["diff", "nosuchname"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn sql_is_read_only_and_formats() {
    let (env, _) = scripted();
    let before = fs::read(env.root.join(".phlb/catalog.sqlite3")).unwrap();
    for q in [
        "DELETE FROM paths",
        "DROP VIEW files",
        "ATTACH DATABASE ':memory:' AS x",
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = DELETE",
        "UPDATE snapshot_runs SET status = 'missing'",
        "CREATE TABLE t (x)",
    ] {
        let out = env.run(&["sql", q]);
        assert_eq!(out.status.code(), Some(2), "{q}");
        assert!(
            stderr(&out).contains("not allowed") || stderr(&out).contains("read-only"),
            "{q}: {}",
            stderr(&out)
        );
    }
    assert_eq!(
        fs::read(env.root.join(".phlb/catalog.sqlite3")).unwrap(),
        before
    );
    let out = env.run(&[
        "sql",
        "SELECT path, size FROM files WHERE path = 'big' LIMIT 1",
        "--format",
        "csv",
    ]);
    assert_ok(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "path,size\nbig,1000\n"
    );
    let out = env.run(&[
        "sql",
        "SELECT count(*) AS n FROM snapshots",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["n"], 5);
    let out = env.run(&["sql", "SELECT name, status FROM snapshots LIMIT 1"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("name  status\nsrc   complete\n"));
}

#[test]
fn non_utf8_names_do_not_break_queries() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let odd = std::ffi::OsStr::from_bytes(b"bad\xffname.txt");
    fs::write(env.src.join(odd), b"same").unwrap();
    fs::write(env.src.join("good.txt"), b"same").unwrap();
    env.backup();
    fs::remove_file(env.src.join(odd)).unwrap();
    env.backup();
    for args in [
        vec!["find", "*name.txt"],
        vec!["diff", "src"],
        vec!["duplicates", "--json"],
        vec!["list"],
        vec!["sql", "SELECT path FROM files"],
    ] {
        let out = env.run(&args);
        assert_ok(&out);
        assert_no_panic(&out);
    }
    let out = env.run(&["find", "*name.txt"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad\u{fffd}name.txt"));
}

#[test]
fn find_lists_two_names_that_read_the_same_once_each() {
    // Found by the attack round: find removed duplicates by the names' text, where
    // bytes that are not UTF-8 both read U+FFFD: `caf\xe9` and `caf\xfe` gave one row.
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    fs::write(env.src.join(std::ffi::OsStr::from_bytes(b"caf\xe9")), b"1").unwrap();
    fs::write(env.src.join(std::ffi::OsStr::from_bytes(b"caf\xfe")), b"22").unwrap();
    env.backup();
    let out = env.run(&["find", "caf*", "--json"]);
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
}

#[test]
fn diff_shows_chmod_symlink_retarget_and_file_to_folder_swap() {
    let env = Env::new();
    env.write("f.txt", b"f");
    env.write("swap", b"was a file");
    std::fs::create_dir(env.src.join("d")).unwrap();
    std::os::unix::fs::symlink("f.txt", env.src.join("link")).unwrap();
    env.backup();
    set_mode(&env.src.join("f.txt"), 0o600);
    set_mode(&env.src.join("d"), 0o700);
    std::fs::remove_file(env.src.join("link")).unwrap();
    std::os::unix::fs::symlink("elsewhere", env.src.join("link")).unwrap();
    std::fs::remove_file(env.src.join("swap")).unwrap();
    std::fs::create_dir(env.src.join("swap")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.backup();
    let d = json(&env, &["diff", "src", "--json"]);
    let detail = |path: &str| -> String {
        d["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == path && c["change"] == "modified")
            .map(|c| c["detail"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{path} not modified: {d}"))
    };
    assert_eq!(detail("f.txt"), "mode 0644 -> 0600");
    assert!(detail("d").contains("-> 0700"), "{}", detail("d"));
    assert_eq!(detail("link"), "target f.txt -> elsewhere");
    assert_eq!(detail("swap"), "file -> dir");
}

#[test]
fn duplicates_across_snapshots_with_commas_in_names() {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    env.write("a, b.txt", b"same content");
    env.backup();
    env.write("c,d.txt", b"same content");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.backup();
    let l = env.snapshots("src");
    // Both snapshots: one path in each name counted once, the newest shown.
    let first = l[0].file_name().unwrap().to_str().unwrap().to_string();
    let dups = json(&env, &["duplicates", "--json"]);
    assert_eq!(dups.as_array().unwrap().len(), 1, "{dups}");
    let paths: Vec<&str> = dups[0]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].ends_with("/a, b.txt") && paths[1].ends_with("/c,d.txt"));
    assert_eq!(dups[0]["inodes"], 1);
    // The older snapshot alone holds one path: no duplicate.
    let none = json(&env, &["duplicates", &format!("src/{first}"), "--json"]);
    assert_eq!(none.as_array().unwrap().len(), 0);
}

#[test]
fn find_refuses_an_unknown_name_and_an_invalid_glob() {
    let env = Env::new();
    env.write("x.txt", b"x");
    env.backup();
    assert_code(&env.run(&["find", "*.txt", "--name", "nope"]), 2);
    assert_code(&env.run(&["find", "a[b"]), 2);
    let f = json(
        &env,
        &["find", "*.txt", "--name", "src", "--name", "src", "--json"],
    );
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert!(!f.as_array().unwrap().is_empty());
    let abs = env.src.join("x.txt");
    let f = json(&env, &["find", abs.to_str().unwrap(), "--json"]);
    assert_eq!(f[0]["path"], "x.txt");
}
