//! Stored copies that are not what the catalog says: a reused inode number, another filesystem's time range, a mode or owner changed in place, and repair's link limit.

use super::*;

#[test]
fn reused_inode_number_is_never_taken_for_a_known_copy() {
    // ext4 gives a deleted snapshot's inode numbers to new files: a hand-copied file that
    // got one must be read, not recorded with the deleted copy's hash.
    let env = Env::new();
    let src = env.write("a", b"GOOD-DATA\n");
    set_mtime(&src, 1_643_760_000, 0);
    let first = env.backup();
    fs::remove_dir_all(&first).unwrap();
    let hand = env.hand_snapshot("src/2020-01-01-000000", &[("a", b"EVIL-DATA\n")]);
    set_mtime(&hand.join("a"), 1_643_760_000, 0);
    set_mode(&hand.join("a"), mode(&src));
    // The number the deleted copy had is now the hand-made file's.
    env.db()
        .execute("UPDATE copies SET ino = ?1", [ino(&hand.join("a")) as i64])
        .unwrap();
    assert_ok(&env.run(&["add"]));
    let recorded: String = env
        .db()
        .query_row(
            "SELECT hash FROM files WHERE snapshot = 'src/2020-01-01-000000' AND path = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let evil = std::process::Command::new("sha256sum")
        .arg(hand.join("a"))
        .output()
        .unwrap();
    assert_eq!(recorded, String::from_utf8_lossy(&evil.stdout)[..64]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let next = env.backup();
    assert_eq!(fs::read(next.join("a")).unwrap(), b"GOOD-DATA\n");
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn copy_on_a_disk_with_a_shorter_time_range_is_found_again() {
    // The source (tmpfs) keeps a time of the year 2500; the backup disk (ext4) stops at
    // 2446 and clamps it. The catalog must record what the disk stored, or the copy is
    // never linked again and verify fails.
    let env = Env::new();
    // Under `strict` (new roots) no copy can match a source time the disk cannot store:
    // each run copies such a file again. `mode` links by content.
    env.config("DEDUP = mode");
    let disk = SmallDisk::mount(&env.dir.path().join("tmpsrc"), "4m")
        .expect("mounting a tmpfs needs root");
    let src = disk.0.clone();
    fs::write(src.join("far.txt"), b"from 2500").unwrap();
    let t2500 = std::time::UNIX_EPOCH + std::time::Duration::new(16_725_225_600, 5);
    set_mtime_to(&src.join("far.txt"), t2500);
    let run = || {
        let out = env
            .cmd()
            .args(["backup", src.to_str().unwrap(), "--name", "far"])
            .output()
            .unwrap();
        assert_ok(&out);
    };
    run();
    let first = env.snapshots("far").pop().unwrap();
    assert_ok(&env.run(&["verify"]));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run();
    let second = env.snapshots("far").pop().unwrap();
    assert_ne!(first, second);
    assert_eq!(
        ino(&first.join("far.txt")),
        ino(&second.join("far.txt")),
        "linked, not copied again"
    );
    assert_ok(&env.run(&["verify"]));
    let shown: String = env
        .db()
        .query_row(
            "SELECT mtime FROM files WHERE path = 'far.txt' LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        shown.starts_with("2500-"),
        "the path keeps its own time: {shown}"
    );
}

#[test]
#[ignore = "needs root (chown of a stored copy)"]
fn stored_copy_with_mode_or_owner_changed_in_place_is_never_linked() {
    let env = Env::new();
    env.write("f", b"setuid me");
    env.write("g", b"give me away");
    let first = env.backup();
    set_mode(&first.join("f"), 0o4777);
    std::os::unix::fs::chown(first.join("g"), Some(65534), Some(65534)).unwrap();
    let out = env.run(&["verify", "--fast"]);
    assert_code(&out, 1);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("/f: mode changed") && text.contains("/g: owner changed"),
        "{text}"
    );
    let second = env.backup();
    for name in ["f", "g"] {
        assert_ne!(ino(&second.join(name)), ino(&first.join(name)), "{name}");
        let md = fs::metadata(second.join(name)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((md.mode() & 0o7777, md.uid()), (0o644, 0), "{name}");
    }
}

#[test]
fn repair_never_puts_more_links_on_a_copy_than_max_links() {
    let env = Env::new();
    env.config("MAX_LINKS = 2");
    env.write("f", b"precious");
    let first = env.backup();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = env.backup();
    assert_eq!(ino(&first.join("f")), ino(&second.join("f")));
    rot(&first.join("f"));
    assert_code(&env.run(&["verify"]), 1);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let fresh = env.backup();
    // Two damaged paths and a fresh copy with one link: relinking both would make three.
    let out = env.run(&["verify", "--repair"]);
    assert_code(&out, 1);
    assert!(nlink(&fresh.join("f")) <= 2, "MAX_LINKS kept");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("left as is"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
