//! A run does not read the attributes of a file whose inode has not changed since the
//! previous run read them (ctime older than that run's start): it takes the recorded
//! set. Everything that changes an inode's attributes moves its ctime, so every change
//! is still seen; a path that is new to the previous snapshot is read.

use std::fs;
use std::time::Duration;

use super::{attrs, setfattr};
use crate::common::*;

/// A source whose files' inodes are older than the first backup by over a second.
fn settled_source(env: &Env) {
    for i in 0..20 {
        let f = env.write(&format!("d/f{i:02}.txt"), format!("file {i}").as_bytes());
        setfattr(&f, "user.tag", &format!("t{i}"));
    }
    std::thread::sleep(Duration::from_millis(1200));
}

#[test]
fn an_attribute_changed_between_runs_is_seen_while_settled_files_keep_theirs() {
    let env = Env::new();
    settled_source(&env);
    let first = env.backup();
    std::thread::sleep(Duration::from_millis(1100));
    setfattr(&env.src.join("d/f03.txt"), "user.tag", "changed");
    let second = env.backup();
    assert_eq!(
        attrs(&second.join("d/f03.txt")),
        attrs(&env.src.join("d/f03.txt"))
    );
    assert_ne!(
        attrs(&second.join("d/f03.txt")),
        attrs(&first.join("d/f03.txt"))
    );
    assert_ne!(
        ino(&first.join("d/f03.txt")),
        ino(&second.join("d/f03.txt"))
    );
    for i in [0, 7, 19] {
        let rel = format!("d/f{i:02}.txt");
        assert_eq!(ino(&first.join(&rel)), ino(&second.join(&rel)), "{rel}");
        assert_eq!(
            attrs(&second.join(&rel)),
            attrs(&env.src.join(&rel)),
            "{rel}"
        );
    }
    // The catalog gives every unchanged file the set it gave it before.
    assert_eq!(
        env.sql_int(
            "SELECT count(*) FROM entries a JOIN entries b ON a.path_id = b.path_id
             WHERE a.snapshot_id = 1 AND b.snapshot_id = 2 AND a.kind = 'file'
               AND a.xattr_set_id IS b.xattr_set_id"
        ),
        19
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn files_of_a_renamed_folder_are_read_since_their_paths_are_new() {
    // Renaming a folder leaves its files' ctimes alone: their paths are new to the
    // previous snapshot, so their attributes are read, not taken from anywhere.
    let env = Env::new();
    settled_source(&env);
    env.backup();
    fs::rename(env.src.join("d"), env.src.join("moved")).unwrap();
    let second = env.backup();
    for i in [0, 11] {
        let rel = format!("moved/f{i:02}.txt");
        assert_eq!(
            attrs(&second.join(&rel)),
            attrs(&env.src.join(&rel)),
            "{rel}"
        );
        assert!(!attrs(&second.join(&rel)).is_empty(), "{rel}");
    }
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_run_after_one_that_did_not_keep_attributes_reads_them_all() {
    // The previous run recorded no sets (XATTRS = false): nothing is taken from it.
    let env = Env::new();
    settled_source(&env);
    env.config("XATTRS = false");
    env.backup();
    env.config("");
    let second = env.backup();
    let rel = "d/f05.txt";
    assert_eq!(attrs(&second.join(rel)), attrs(&env.src.join(rel)));
    assert!(!attrs(&second.join(rel)).is_empty());
    assert_eq!(
        env.sql_int("SELECT count(*) FROM entries WHERE snapshot_id = 2 AND kind = 'file' AND xattr_set_id IS NOT NULL"),
        20
    );
}

#[test]
fn a_v14_root_whose_runs_do_not_say_what_they_read_reads_every_file_once() {
    let env = Env::new();
    settled_source(&env);
    env.backup();
    downgrade_to_v14(&env);
    // Changed by hand with the ctime of the change: still read, as every file is.
    setfattr(&env.src.join("d/f09.txt"), "user.tag", "new");
    let second = env.backup();
    for rel in ["d/f09.txt", "d/f10.txt"] {
        assert_eq!(attrs(&second.join(rel)), attrs(&env.src.join(rel)), "{rel}");
    }
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        15
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE xattrs_read IS NOT NULL"),
        1
    );
}
