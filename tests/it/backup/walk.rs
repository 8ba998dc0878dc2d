//! What a backup must never take from outside its source: the backup root itself, or a
//! name folder, when mounted inside the source.

use std::fs;

use crate::common::*;

#[test]
#[ignore = "needs root"]
fn backup_root_bind_mounted_inside_source_is_skipped() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.backup();
    let inner = env.src.join("inner");
    fs::create_dir(&inner).unwrap();
    let _unmount = bind_mount(&env.root, &inner);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("inner: the backup root is inside the source; skipped"),
        "{}",
        stderr(&out)
    );
    let snap = env.snapshots("src").pop().unwrap();
    assert!(!snap.join("inner").exists(), "the mounted root was entered");
    let all: Vec<_> = walkdir::WalkDir::new(&snap).into_iter().flatten().collect();
    assert_eq!(all.len(), 2, "only the folder and a.txt: {all:?}");
    let rows = env
        .sql_int("SELECT count(*) FROM files WHERE snapshot LIKE 'src/%' AND path LIKE 'inner%'");
    assert_eq!(rows, 0);
}

#[test]
#[ignore = "needs root"]
fn name_folder_bind_mounted_inside_source_is_skipped() {
    let env = Env::new();
    env.write("x", b"x");
    env.backup();
    let inner = env.src.join("inner");
    fs::create_dir(&inner).unwrap();
    let _unmount = bind_mount(&env.root.join("src"), &inner);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let snap = env.snapshots("src").pop().unwrap();
    assert!(
        !snap.join("inner").exists(),
        "the mounted snapshots were entered"
    );
    let all: Vec<_> = walkdir::WalkDir::new(&snap).into_iter().flatten().collect();
    assert_eq!(all.len(), 2, "only the folder and x: {all:?}");
}
