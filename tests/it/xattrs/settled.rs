//! A run does not read the attributes of a file whose source inode is the one the
//! previous run saw, with the same change time (recorded per entry when it was over a
//! second old): every change of an attribute moves the ctime, so it takes the recorded
//! set. Everything else is read: a changed inode, a path new to the previous snapshot,
//! another inode at the path (a swapped folder), a ctime too recent to trust, and a
//! previous run that kept other attributes or none.

use std::fs;
use std::time::Duration;

use super::{attrs, setfattr};
use crate::common::*;

/// A source of 20 tagged files whose inodes are over a second older than the first
/// backup, so their ctimes are recorded.
fn settled_source(env: &Env) {
    for i in 0..20 {
        let f = env.write(&format!("d/f{i:02}.txt"), format!("file {i}").as_bytes());
        setfattr(&f, "user.tag", &format!("t{i}"));
    }
    std::thread::sleep(Duration::from_millis(1200));
}

/// Every file of `snap` carries the source's attributes now.
fn same_attrs_as_source(env: &Env, snap: &std::path::Path, rels: &[String]) {
    for rel in rels {
        assert_eq!(attrs(&snap.join(rel)), attrs(&env.src.join(rel)), "{rel}");
        assert!(!attrs(&snap.join(rel)).is_empty(), "{rel}");
    }
}

fn rels(folder: &str) -> Vec<String> {
    (0..20).map(|i| format!("{folder}/f{i:02}.txt")).collect()
}

#[test]
fn an_attribute_changed_between_runs_is_seen_while_settled_files_keep_theirs() {
    let env = Env::new();
    settled_source(&env);
    let first = env.backup();
    // The catalog holds what the run saw of each source inode.
    let f05 = env.src.join("d/f05.txt");
    assert_eq!(
        env.sql_int(
            "SELECT e.src_ino FROM entries e JOIN paths p ON p.id = e.path_id
             WHERE e.snapshot_id = 1 AND p.path = CAST('d/f05.txt' AS BLOB)"
        ) as u64,
        ino(&f05)
    );
    assert_eq!(
        env.sql_int(
            "SELECT count(*) FROM entries WHERE snapshot_id = 1 AND src_ctime_ns IS NOT NULL"
        ),
        20
    );
    setfattr(&env.src.join("d/f03.txt"), "user.tag", "changed");
    let second = env.backup();
    same_attrs_as_source(&env, &second, &rels("d"));
    assert_ne!(
        attrs(&second.join("d/f03.txt")),
        attrs(&first.join("d/f03.txt"))
    );
    assert_ne!(
        ino(&first.join("d/f03.txt")),
        ino(&second.join("d/f03.txt"))
    );
    for rel in rels("d").iter().filter(|r| !r.ends_with("f03.txt")) {
        assert_eq!(ino(&first.join(rel)), ino(&second.join(rel)), "{rel}");
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
    same_attrs_as_source(&env, &second, &rels("moved"));
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn swapped_folders_give_each_file_its_own_attributes() {
    // Attack: two folders of files with equal names, sizes and mtimes but other tags
    // swap names. Each path now has the other folder's inode (with its old ctime): the
    // recorded inode number differs, so every file is read.
    let env = Env::new();
    for folder in ["a", "b"] {
        for i in 0..20 {
            let f = env.write(&format!("{folder}/f{i:02}.txt"), b"same size");
            setfattr(&f, "user.tag", &format!("{folder}{i}"));
            set_mtime(&f, 1_700_000_000, 0);
        }
    }
    std::thread::sleep(Duration::from_millis(1200));
    env.backup();
    fs::rename(env.src.join("a"), env.src.join("t")).unwrap();
    fs::rename(env.src.join("b"), env.src.join("a")).unwrap();
    fs::rename(env.src.join("t"), env.src.join("b")).unwrap();
    let second = env.backup();
    same_attrs_as_source(&env, &second, &rels("a"));
    same_attrs_as_source(&env, &second, &rels("b"));
    assert_eq!(
        attrs(&second.join("a/f04.txt")),
        vec!["user.tag=0x6234".to_string()]
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_run_with_the_clock_ahead_still_sees_an_attribute_changed_right_after_it() {
    // Attack (the clock that lies): a run made with the clock a day ahead takes every
    // ctime for settled. An attribute changed right after it gets a new ctime from the
    // real clock, which is not the one recorded: the next runs, with the clock still
    // ahead or back to real time, read it.
    let env = Env::new();
    settled_source(&env);
    let ahead = |h: u32| {
        let t =
            chrono::Local::now() + chrono::Duration::days(1) + chrono::Duration::hours(h.into());
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    };
    backup_at(&env, &ahead(0));
    setfattr(
        &env.src.join("d/f07.txt"),
        "user.tag",
        "after the run ahead",
    );
    let second = backup_at(&env, &ahead(1));
    same_attrs_as_source(&env, &second, &rels("d"));
    setfattr(
        &env.src.join("d/f08.txt"),
        "user.tag",
        "after the clock came back",
    );
    let before = env.snapshots("src");
    env.backup();
    // Named by the real clock, so not the last by name: the one folder that is new.
    let third = env
        .snapshots("src")
        .into_iter()
        .find(|s| !before.contains(s))
        .unwrap();
    same_attrs_as_source(&env, &third, &rels("d"));
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_file_changed_just_before_a_run_is_read_again_by_the_next() {
    // A ctime under a second old when the run listed its folder is not recorded: a
    // change in the same tick of the kernel's coarse clock could give the same ctime.
    let env = Env::new();
    let f = env.write("fresh.txt", b"fresh");
    setfattr(&f, "user.tag", "one");
    env.backup();
    assert_eq!(
        env.sql_int("SELECT count(*) FROM entries WHERE kind = 'file' AND src_ctime_ns IS NULL AND src_ino IS NOT NULL"),
        1
    );
    setfattr(&f, "user.tag", "two");
    let second = env.backup();
    assert_eq!(attrs(&second.join("fresh.txt")), attrs(&f));
    assert_eq!(attrs(&f), vec!["user.tag=0x74776f".to_string()]);
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
    same_attrs_as_source(&env, &second, &rels("d"));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM entries WHERE snapshot_id = 2 AND kind = 'file' AND xattr_set_id IS NOT NULL"),
        20
    );
}

#[test]
fn a_v14_root_whose_entries_say_nothing_of_source_inodes_reads_every_file_once() {
    // A root as main made it before V15 (the v14 shape), with its snapshot kept.
    let env = Env::new();
    settled_source(&env);
    let first = env.backup();
    downgrade_to_v14(&env);
    setfattr(&env.src.join("d/f09.txt"), "user.tag", "new");
    let second = env.backup();
    same_attrs_as_source(&env, &second, &rels("d"));
    // Unchanged files link to the old snapshot's copies (size and mtime decide, as
    // before), the root verifies, and the old snapshot restores with its attributes.
    assert_eq!(
        ino(&first.join("d/f03.txt")),
        ino(&second.join("d/f03.txt"))
    );
    assert_ok(&env.run(&["verify"]));
    let to = env.dir.path().join("restored");
    assert_ok(&env.run(&[
        "restore",
        "--to",
        to.to_str().unwrap(),
        first.to_str().unwrap(),
    ]));
    assert_eq!(fs::read(to.join("d/f03.txt")).unwrap(), b"file 3");
    assert_eq!(
        attrs(&to.join("d/f09.txt")),
        vec!["user.tag=0x7439".to_string()]
    );
    assert_eq!(
        env.sql_int("SELECT max(version) FROM refinery_schema_history"),
        crate::common::SCHEMA
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE xattrs_read IS NOT NULL"),
        1
    );
    assert_eq!(
        env.sql_int("SELECT count(*) FROM entries WHERE src_ino IS NOT NULL"),
        20
    );
    setfattr(&env.src.join("d/f10.txt"), "user.tag", "newer");
    let third = env.backup();
    same_attrs_as_source(&env, &third, &rels("d"));
    // Prune removes the snapshot the old phlb made; what is left verifies.
    assert_ok(&env.run(&["prune", "--keep-last", "2"]));
    assert!(!first.exists());
    assert_eq!(env.snapshots("src").len(), 2);
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (a loop-mounted ext4 with 1-second times)"]
fn a_run_with_a_faked_fast_clock_records_no_ctime_that_a_same_second_change_repeats() {
    // Attack round: with the process clock 2 s fast (libfaketime), a ctime of the current
    // second looked over a second old and was recorded; on a filesystem with 1-second
    // times a change in that same second kept the ctime, and every later run took the
    // old attributes (verify passed). The walk now reads the kernel's clock itself.
    let env = Env::new();
    let disk = LoopDisk::mount(env.dir.path(), "ext4-seconds").expect("root and mkfs.ext4");
    let src = disk.mnt.join("src");
    fs::create_dir(&src).unwrap();
    let f = src.join("f");
    fs::write(&f, b"d").unwrap();
    setfattr(&f, "user.a", "1");
    std::thread::sleep(Duration::from_millis(1200));
    let backup = |fake: Option<&str>| {
        let mut cmd = match fake {
            Some(offset) => {
                let mut c = std::process::Command::new("faketime");
                c.args(["-f", offset]).arg(env!("CARGO_BIN_EXE_phlb"));
                c
            }
            None => std::process::Command::new(env!("CARGO_BIN_EXE_phlb")),
        };
        let out = cmd
            .arg("--backup-root")
            .arg(&env.root)
            .args(["-q", "backup"])
            .arg(&src)
            .current_dir(env.dir.path())
            .env("HOME", env.dir.path())
            .output()
            .expect("faketime must be installed (.ci/run installs it)");
        assert_ok(&out);
    };
    backup(None);
    // Just after a second starts: the change, the fast run and the next change all
    // fall in that second (1-second times: one ctime for all of them).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_nanos(
        1_020_000_000 - u64::from(now.subsec_nanos()),
    ));
    setfattr(&f, "user.a", "2");
    backup(Some("+2s"));
    setfattr(&f, "user.a", "3");
    std::thread::sleep(Duration::from_millis(1200));
    backup(None);
    let newest = fs::read_link(env.root.join("src/latest")).unwrap();
    let snap = env.root.join("src").join(newest);
    assert_eq!(attrs(&snap.join("f")), vec!["user.a=0x33".to_string()]);
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs strace (installed by .ci/run)"]
fn a_no_change_run_reads_no_attribute_of_a_settled_file() {
    // Regression: the recorded and the walked inode compared unequal for a field the
    // catalog does not keep, so every file's attributes were read again (correct, but
    // S2 on a tagged tree went from 1.05 x to 1.19 x of a plain one).
    let env = Env::new();
    settled_source(&env);
    // Attribute calls of one backup: by name where strace knows them, and the
    // getxattrat/listxattrat numbers (464, 465) of an strace older than those calls.
    let attribute_calls = |n: u32| {
        let trace = env.dir.path().join(format!("trace{n}"));
        let out = std::process::Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_phlb"))
            .arg("--backup-root")
            .arg(&env.root)
            .args(["-q", "backup"])
            .arg(&env.src)
            .current_dir(env.dir.path())
            .env("HOME", env.dir.path())
            .output()
            .expect("strace must be installed (.ci/run installs it)");
        assert_ok(&out);
        let calls = fs::read_to_string(&trace).unwrap();
        calls
            .lines()
            .filter(|l| {
                l.contains("xattr") || l.contains("syscall_0x1d0(") || l.contains("syscall_0x1d1(")
            })
            .count()
    };
    let first = attribute_calls(1);
    let second = attribute_calls(2);
    // The first run reads the 20 files' attributes (a listing and a value each); the
    // second only the two folders'.
    assert!(first >= 40, "first run: {first} attribute calls");
    assert!(
        second <= 8,
        "second run: {second} attribute calls (first: {first})"
    );
}
