//! `add` names every folder it does not record and exits 1; snapshot and name folders
//! replaced by symlinks are refused, never followed, by `add` and `verify` (issue #13
//! items 18 and 19).

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;

fn snapshot_rows(env: &Env) -> i64 {
    env.sql_int("SELECT count(*) FROM snapshot_runs")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr lines naming `path` (as `path: reason`).
fn lines_naming(out: &std::process::Output, path: &Path) -> usize {
    let path = format!("{}: ", path.to_str().unwrap());
    stderr(out).lines().filter(|l| l.contains(&path)).count()
}

#[test]
fn add_named_folder_with_non_timestamp_folder_is_not_nothing_to_do() {
    let env = Env::new();
    env.write("a", b"a");
    env.backup();
    let stray = env.root.join("src/my-tree");
    fs::create_dir(&stray).unwrap();
    fs::write(stray.join("f"), b"f").unwrap();
    // An interrupted run's folder is not a skipped snapshot.
    fs::create_dir(env.root.join("src/2020-01-01-000000.inprogress")).unwrap();
    let out = env.run(&["add", env.root.join("src").to_str().unwrap()]);
    assert_code(&out, 1);
    assert_eq!(lines_naming(&out, &stray), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a snapshot timestamp"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(".inprogress"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("nothing to do"), "{}", stdout(&out));
    assert_eq!(snapshot_rows(&env), 1);
    // The same from a full discovery.
    let out = env.run(&["add"]);
    assert_code(&out, 1);
    assert_eq!(lines_naming(&out, &stray), 1, "{}", stderr(&out));
    assert!(!stdout(&out).contains("nothing to do"));
}

#[test]
fn add_under_another_sub_dir_formatter_names_each_folder_and_exits_1() {
    let env = Env::new();
    env.write("a", b"a");
    let s1 = env.backup();
    let s2 = env.backup();
    fs::remove_file(env.root.join(".phlb/catalog.sqlite3")).unwrap();
    env.config("SUB_DIR_FORMATTER = %Y%m%d");
    let out = env.run(&["add"]);
    assert_code(&out, 1);
    for s in [&s1, &s2] {
        assert_eq!(lines_naming(&out, s), 1, "{}", stderr(&out));
    }
    assert!(!stderr(&out).contains(".phlb"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("nothing to do"), "{}", stdout(&out));
    assert_eq!(snapshot_rows(&env), 0);
}

#[test]
fn add_refuses_snapshot_folder_replaced_by_symlink() {
    let env = Env::new();
    env.write("a", b"a");
    let s1 = env.backup();
    env.write("b", b"b");
    let s2 = env.backup();
    fs::remove_file(env.root.join(".phlb/catalog.sqlite3")).unwrap();
    let outside = env.dir.path().join("elsewhere");
    fs::rename(&s2, &outside).unwrap();
    symlink(&outside, &s2).unwrap();
    let out = env.run(&["add"]);
    assert_code(&out, 1);
    assert_eq!(lines_naming(&out, &s2), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("symlink"), "{}", stderr(&out));
    let ts2 = s2.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        env.sql_int(&format!(
            "SELECT count(*) FROM snapshot_runs WHERE timestamp = '{ts2}'"
        )),
        0
    );
    assert_eq!(snapshot_rows(&env), 1);
    assert!(env.catalog_files(&s1).contains_key(b"a".as_slice()));
    // Named on the command line, it is refused the same way, not resolved.
    let out = env.run(&["add", s2.to_str().unwrap()]);
    assert_code(&out, 1);
    assert_eq!(lines_naming(&out, &s2), 1, "{}", stderr(&out));
    assert_eq!(snapshot_rows(&env), 1);
}

#[test]
fn add_does_not_follow_a_name_folder_symlink() {
    let env = Env::new();
    env.write("a", b"a");
    env.backup();
    // A tree outside the root that looks like a name folder with one snapshot.
    let outside = env.dir.path().join("outside");
    fs::create_dir_all(outside.join("2020-01-01-000000")).unwrap();
    fs::write(outside.join("2020-01-01-000000/secret"), b"secret").unwrap();
    let linked = env.root.join("linked");
    symlink(&outside, &linked).unwrap();
    for args in [vec!["add"], vec!["add", linked.to_str().unwrap()]] {
        let out = env.run(&args);
        assert_code(&out, 1);
        assert_eq!(lines_naming(&out, &linked), 1, "{}", stderr(&out));
        assert_eq!(
            env.sql_int("SELECT count(*) FROM snapshot_runs WHERE name = 'linked'"),
            0
        );
    }
}

#[test]
fn verify_reports_symlinked_snapshot_folder_once_and_never_reads_through() {
    let env = Env::new();
    env.write("a", b"alpha");
    env.write("d/b", b"bee");
    let snap = env.backup();
    // The target is a copy with one damaged and one extra file: reading through the
    // link would report those too.
    let copy = env.dir.path().join("copy");
    fs::create_dir_all(copy.join("d")).unwrap();
    fs::write(copy.join("a"), b"ALPHA").unwrap();
    fs::write(copy.join("d/b"), b"bee").unwrap();
    fs::write(copy.join("extra"), b"x").unwrap();
    fs::remove_dir_all(&snap).unwrap();
    symlink(&copy, &snap).unwrap();
    let out = env.run(&["verify"]);
    assert_code(&out, 1);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("symlink") && text.contains("not followed"),
        "{text}"
    );
    assert!(!text.contains("extra") && !text.contains("/a"), "{text}");
}
