//! A backup root copied to another folder of the same filesystem (`cp -a`) keeps working:
//! its catalog's stale inode numbers are found and re-recorded, and the next backup
//! links unchanged files instead of writing them all again.

use crate::common::*;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::process::Command;

const NOTE: &str = "the catalog's inode numbers were stale (the root was copied?)";

/// Backs up a small tree twice, then copies the root with `cp -a` to `root2`.
fn copied_root(env: &Env) -> PathBuf {
    env.write("keep/a.txt", &[b'a'; 5000]);
    env.write("keep/b.txt", &[b'b'; 7000]);
    env.write("c.txt", b"will change");
    env.backup();
    env.backup();
    let root2 = env.dir.path().join("root2");
    let st = Command::new("cp")
        .args(["-a", "--preserve=links"])
        .arg(&env.root)
        .arg(&root2)
        .status()
        .unwrap();
    assert!(st.success());
    root2
}

fn db_at(root: &Path) -> Connection {
    Connection::open(root.join(".phlb/catalog.sqlite3")).unwrap()
}

#[test]
fn copied_root_backup_relinks_instead_of_recopying_everything() {
    let env = Env::new();
    let root2 = copied_root(&env);
    env.write("c.txt", b"changed content!");
    let out = env.backup_into(&root2);
    assert_ok(&out);
    assert_no_panic(&out);
    let err = stderr(&out);
    assert_eq!(err.matches(NOTE).count(), 1, "{err}");
    assert!(err.contains("re-recorded 3 stored copies"), "{err}");
    let snaps = snapshots_at(&root2, "src");
    assert_eq!(snaps.len(), 3);
    let (prev, new) = (&snaps[1], &snaps[2]);
    for rel in ["keep/a.txt", "keep/b.txt"] {
        assert_eq!(
            ino(&prev.join(rel)),
            ino(&new.join(rel)),
            "{rel} not linked"
        );
    }
    assert_ne!(ino(&prev.join("c.txt")), ino(&new.join("c.txt")));
    let new_bytes: i64 = db_at(&root2)
        .query_row(
            "SELECT new_bytes FROM snapshots ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(new_bytes, "changed content!".len() as i64);
    // The original root is untouched by all this.
    assert_eq!(snapshots_at(&env.root, "src").len(), 2);
    let out = env.cmd_at(&root2).args(["verify"]).output().unwrap();
    assert_ok(&out);
    assert!(!stderr(&out).contains(NOTE), "{}", stderr(&out));
}

#[test]
fn copied_root_verify_first_repairs_stale_inode_numbers() {
    let env = Env::new();
    let root2 = copied_root(&env);
    let out = env
        .cmd_at(&root2)
        .args(["verify", "--fast"])
        .output()
        .unwrap();
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(err.matches(NOTE).count(), 1, "{err}");
    let last = snapshots_at(&root2, "src").pop().unwrap();
    let recorded: i64 = db_at(&root2)
        .query_row(
            "SELECT k.ino FROM copies k JOIN entries e ON e.copy_id = k.id
             JOIN paths p ON p.id = e.path_id WHERE CAST(p.path AS TEXT) = 'keep/a.txt' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded as u64, ino(&last.join("keep/a.txt")));
    // Repaired once: the next backup links everything and says nothing about inodes.
    let out = env.backup_into(&root2);
    assert_ok(&out);
    assert!(!stderr(&out).contains(NOTE), "{}", stderr(&out));
    let new = snapshots_at(&root2, "src").pop().unwrap();
    for rel in ["keep/a.txt", "keep/b.txt", "c.txt"] {
        assert_eq!(
            ino(&last.join(rel)),
            ino(&new.join(rel)),
            "{rel} not linked"
        );
    }
}

#[test]
fn copied_root_without_hardlinks_still_relinks_and_verify_says_so() {
    let env = Env::new();
    env.write("keep/a.txt", &[b'a'; 5000]);
    env.write("c.txt", b"will change");
    env.backup();
    env.backup();
    let root2 = env.dir.path().join("root2");
    // Every path becomes a file of its own: the snapshots no longer share inodes.
    let st = Command::new("cp")
        .args(["-r", "--preserve=mode,ownership,timestamps"])
        .arg(&env.root)
        .arg(&root2)
        .status()
        .unwrap();
    assert!(st.success());
    env.write("c.txt", b"changed content!");
    let out = env.backup_into(&root2);
    assert_ok(&out);
    assert_eq!(stderr(&out).matches(NOTE).count(), 1, "{}", stderr(&out));
    let snaps = snapshots_at(&root2, "src");
    assert_eq!(
        ino(&snaps[1].join("keep/a.txt")),
        ino(&snaps[2].join("keep/a.txt"))
    );
    let out = env.cmd_at(&root2).args(["verify"]).output().unwrap();
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("2 file(s) are not hardlinked to their stored copy"),
        "{err}"
    );
}
