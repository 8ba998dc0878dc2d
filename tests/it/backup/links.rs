//! How `phlb backup` shares content: unchanged, renamed and duplicate files are hardlinked
//! to one stored copy per the link policy, and a damaged copy is never linked.

use std::fs;

use crate::common::*;

#[test]
fn unchanged_second_run_links_every_file() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("deep/er/b.bin", &vec![7u8; 100_000]);
    env.write("empty.txt", b"");
    let s1 = env.backup();
    let s2 = env.backup();
    assert_ne!(s1, s2);
    for rel in ["a.txt", "deep/er/b.bin", "empty.txt"] {
        assert_eq!(ino(&s1.join(rel)), ino(&s2.join(rel)), "{rel}");
    }
    let new_bytes = env.sql_int("SELECT new_bytes FROM snapshots ORDER BY id DESC LIMIT 1");
    assert_eq!(new_bytes, 0);
}

#[test]
fn renamed_moved_duplicate_and_second_source_share_one_inode() {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    let content = b"the same content everywhere".to_vec();
    env.write("orig.txt", &content);
    env.write("keep.txt", b"other");
    let s1 = env.backup();
    fs::rename(env.src.join("orig.txt"), env.src.join("renamed.txt")).unwrap();
    fs::create_dir(env.src.join("moved")).unwrap();
    fs::rename(env.src.join("keep.txt"), env.src.join("moved/keep.txt")).unwrap();
    env.write("dup1.txt", &content);
    env.write("sub/dup2.txt", &content);
    let second = env.dir.path().join("second");
    fs::create_dir(&second).unwrap();
    fs::write(second.join("copy.txt"), &content).unwrap();
    let out = env.run(&[
        "backup",
        env.src.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    assert_ok(&out);
    let s2 = env.snapshots("src").pop().unwrap();
    let other = env.snapshots("second").pop().unwrap();
    let want = ino(&s1.join("orig.txt"));
    for p in [
        s2.join("renamed.txt"),
        s2.join("dup1.txt"),
        s2.join("sub/dup2.txt"),
        other.join("copy.txt"),
    ] {
        assert_eq!(ino(&p), want, "{}", p.display());
    }
    assert_eq!(ino(&s2.join("moved/keep.txt")), ino(&s1.join("keep.txt")));
    let stored = env.sql_int("SELECT count(*) FROM copies");
    assert_eq!(stored, 2, "one stored copy per distinct content");
}

#[test]
fn chmod_gives_new_inode_and_old_snapshot_keeps_mode() {
    let env = Env::new();
    let f = env.write("script.sh", b"echo hi");
    set_mode(&f, 0o644);
    let s1 = env.backup();
    let before = tree(&s1);
    set_mode(&f, 0o755);
    let s2 = env.backup();
    assert_eq!(mode(&s1.join("script.sh")), 0o644);
    assert_eq!(mode(&s2.join("script.sh")), 0o755);
    assert_ne!(ino(&s1.join("script.sh")), ino(&s2.join("script.sh")));
    assert_eq!(tree(&s1), before, "the older snapshot never changes");
}

#[test]
fn touch_under_strict_makes_new_inode_with_new_mtime() {
    let env = Env::new();
    env.config("DEDUP = strict");
    let f = env.write("t.txt", b"same bytes");
    set_mtime(&f, 1_600_000_000, 123_456_789);
    let s1 = env.backup();
    let before = tree(&s1);
    set_mtime(&f, 1_700_000_000, 987_654_321);
    let s2 = env.backup();
    assert_ne!(ino(&s1.join("t.txt")), ino(&s2.join("t.txt")));
    assert_eq!(mtime_ns(&s2.join("t.txt")), 1_700_000_000_987_654_321);
    assert_eq!(mtime_ns(&s1.join("t.txt")), 1_600_000_000_123_456_789);
    assert_eq!(tree(&s1), before);
}

#[test]
fn touch_under_mode_keeps_link_and_catalog_records_new_mtime() {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    let f = env.write("t.txt", b"same bytes");
    set_mtime(&f, 1_600_000_000, 5);
    let s1 = env.backup();
    let before = tree(&s1);
    set_mtime(&f, 1_700_000_000, 7);
    let s2 = env.backup();
    assert_eq!(ino(&s1.join("t.txt")), ino(&s2.join("t.txt")));
    let recorded = env.sql_int(
        "SELECT mtime_ns FROM files WHERE path = 't.txt' ORDER BY snapshot_id DESC LIMIT 1",
    );
    assert_eq!(recorded, 1_700_000_000_000_000_007);
    assert_eq!(tree(&s1), before);
}

#[test]
fn content_policy_shares_inode_across_modes_and_records_each_mode() {
    let env = Env::new();
    env.config("DEDUP = content");
    let a = env.write("a", b"identical");
    let b = env.write("b", b"identical");
    set_mode(&a, 0o600);
    set_mode(&b, 0o755);
    let s1 = env.backup();
    assert_eq!(ino(&s1.join("a")), ino(&s1.join("b")));
    let rows = env.catalog_files(&s1);
    assert_eq!(rows[&b"a".to_vec()].2, "0600");
    assert_eq!(rows[&b"b".to_vec()].2, "0755");
}

#[test]
fn max_links_three_still_stores_all_ten_files() {
    let env = Env::new();
    env.config("MAX_LINKS = 3");
    for i in 0..10 {
        env.write(&format!("f{i}"), b"ten times the same");
    }
    let snap = env.backup();
    for i in 0..10 {
        let p = snap.join(format!("f{i}"));
        assert_eq!(fs::read(&p).unwrap(), b"ten times the same");
        assert!(nlink(&p) <= 3, "{} has {} links", p.display(), nlink(&p));
    }
    let snap2 = env.backup();
    for i in 0..10 {
        let p = snap2.join(format!("f{i}"));
        assert_eq!(fs::read(&p).unwrap(), b"ten times the same");
        assert!(nlink(&p) <= 3);
    }
}

#[test]
fn large_file_streams_and_links() {
    let env = Env::new();
    env.config("DEDUP = mode"); // shares copies across mtimes (new roots: strict)
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    env.write("big.bin", &big);
    env.write("big-copy.bin", &big);
    let snap = env.backup();
    assert_eq!(fs::read(snap.join("big.bin")).unwrap(), big);
    assert_eq!(ino(&snap.join("big.bin")), ino(&snap.join("big-copy.bin")));
}

#[test]
fn damaged_stored_copy_is_never_used_as_link_source() {
    let env = Env::new();
    env.write("keep.txt", b"original content");
    let s1 = env.backup();
    // Someone appends to the stored copy inside the old snapshot.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(s1.join("keep.txt"))
        .unwrap();
    std::io::Write::write_all(&mut f, b" + damage").unwrap();
    drop(f);
    let s2 = env.backup();
    assert_ne!(ino(&s2.join("keep.txt")), ino(&s1.join("keep.txt")));
    assert_eq!(fs::read(s2.join("keep.txt")).unwrap(), b"original content");
}

#[test]
fn new_content_read_by_many_workers_at_once_is_stored_once() {
    // Workers write new content themselves; many files with one new content, read side
    // by side, must still end as one stored copy per (content, mode).
    let env = Env::new();
    env.config("WORKERS = 4\nDEDUP = mode"); // shares copies across mtimes (new roots: strict)
    let big = vec![3u8; (1 << 20) + 17];
    for d in 0..6 {
        for f in 0..50 {
            env.write(&format!("d{d}/f{f}"), b"one new content");
        }
        env.write(&format!("d{d}/big"), &big);
        let exec = env.write(&format!("d{d}/exec"), b"one new content");
        set_mode(&exec, 0o755);
    }
    let snap = env.backup();
    let small = ino(&snap.join("d0/f0"));
    let exec = ino(&snap.join("d0/exec"));
    assert_ne!(small, exec, "another mode needs another copy");
    for d in 0..6 {
        for f in 0..50 {
            assert_eq!(ino(&snap.join(format!("d{d}/f{f}"))), small);
        }
        assert_eq!(ino(&snap.join(format!("d{d}/exec"))), exec);
        assert_eq!(
            ino(&snap.join(format!("d{d}/big"))),
            ino(&snap.join("d0/big"))
        );
        assert_eq!(mode(&snap.join(format!("d{d}/exec"))) & 0o7777, 0o755);
    }
    assert_eq!(nlink(&snap.join("d0/f0")), 300);
    assert_eq!(env.sql_int("SELECT count(*) FROM copies"), 3);
    assert_eq!(tree(&snap).len(), tree(&env.src).len(), "nothing left over");
}

#[test]
fn duplicates_after_part_way_commits_still_share_one_copy() {
    // A run forgets the copies it made once the catalog has committed them, and finds
    // them there instead. With a commit every 3 rows (a debug-build knob), new content
    // keeps coming while every odd file from f51 on repeats the content of the file 51
    // before it, whose copy is committed and forgotten by then (or, racing the workers,
    // just about to be): still one stored copy per content.
    let env = Env::new();
    env.config("WORKERS = 4\nDEDUP = mode"); // shares copies across mtimes (new roots: strict)
    let key = |i: usize| if i % 2 == 1 && i >= 51 { i - 51 } else { i };
    for i in 0..400 {
        let body = format!("content {} ", key(i)).repeat(300);
        env.write(&format!("d{}/f{i}", i % 9), body.as_bytes());
    }
    let out = env
        .cmd()
        .env("PHLB_DEBUG_BATCH_ROWS", "3")
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    let snap = env.snapshots("src").pop().unwrap();
    let distinct = (0..400).filter(|&i| key(i) == i).count() as i64;
    assert_eq!(env.sql_int("SELECT count(*) FROM copies"), distinct);
    for i in 0..400 {
        let first = snap.join(format!("d{}/f{}", key(i) % 9, key(i)));
        let path = snap.join(format!("d{}/f{i}", i % 9));
        assert_eq!(ino(&path), ino(&first), "f{i} shares its content's copy");
    }
    let names = |t: std::collections::BTreeMap<Vec<u8>, Node>| t.into_keys().collect::<Vec<_>>();
    assert!(
        names(tree(&snap)) == names(tree(&env.src)),
        "the snapshot holds exactly the source's names, nothing left over"
    );
    assert_ok(&env.run(&["verify"]));
}
