//! Content is never lost or spread by trusting what it should not: a manifest's hashes, a
//! stored copy damaged or changed on disk, an inode number reused.

mod copies;
use std::fs;
use std::path::Path;

use crate::common::*;

/// Replaces the hash of `rel` in a manifest by the hash listed for `like`.
fn forge_manifest(manifest: &Path, rel: &str, like: &str) {
    let text = fs::read_to_string(manifest).unwrap();
    let hash_of = |name: &str| {
        text.lines()
            .find(|l| l.ends_with(&format!("  {name}")))
            .unwrap()
            .split("  ")
            .next()
            .unwrap()
            .to_string()
    };
    let (bad, good) = (hash_of(rel), hash_of(like));
    let forged: String = text
        .lines()
        .map(|l| {
            if l.ends_with(&format!("  {rel}")) {
                l.replace(&bad, &good)
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    fs::write(manifest, forged).unwrap();
}

#[test]
fn trust_manifest_never_links_different_content() {
    // Different sizes, and the same size with other bytes.
    for (a, b) in [
        (&b"first content"[..], &b"the second file, longer"[..]),
        (&b"same size AAAA"[..], &b"same size BBBB"[..]),
    ] {
        let env = Env::new();
        // One mtime: under the root's DEDUP (strict) b.txt could share a.txt's copy, so
        // add tries to link it and must compare the bytes first.
        set_mtime(&env.write("a.txt", a), 1_600_000_000, 0);
        set_mtime(&env.write("b.txt", b), 1_600_000_000, 0);
        let snap = env.backup();
        let manifest = beside(&snap, ".SHA256SUMS");
        forge_manifest(&manifest, "b.txt", "a.txt");
        env.remove_catalog();
        let out = env.run(&["add", "--trust-manifests"]);
        assert_code(&out, 1);
        assert!(stderr(&out).contains("b.txt"), "{}", stderr(&out));
        assert_eq!(
            fs::read(snap.join("b.txt")).unwrap(),
            b,
            "b.txt keeps its bytes"
        );
        assert_eq!(fs::read(snap.join("a.txt")).unwrap(), a);
        assert_ne!(ino(&snap.join("a.txt")), ino(&snap.join("b.txt")));
        // The forged hash is never a link source: a new backup stores b's content anew.
        let next = env.backup();
        assert_eq!(fs::read(next.join("b.txt")).unwrap(), b);
        assert_eq!(fs::read(next.join("a.txt")).unwrap(), a);
    }
}

#[test]
fn trust_manifest_still_links_equal_content() {
    let env = Env::new();
    env.write("a.txt", b"twin content");
    env.write("b.txt", b"twin content");
    env.backup();
    let snap = env.snapshots("src").pop().unwrap();
    // Break the link by hand (as a copy with cp would), then let add find it again.
    fs::remove_file(snap.join("b.txt")).unwrap();
    fs::copy(snap.join("a.txt"), snap.join("b.txt")).unwrap();
    let m = fs::metadata(snap.join("a.txt")).unwrap();
    fs::File::options()
        .write(true)
        .open(snap.join("b.txt"))
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(m.modified().unwrap()))
        .unwrap();
    env.remove_catalog();
    assert_ok(&env.run(&["add", "--trust-manifests"]));
    assert_eq!(ino(&snap.join("a.txt")), ino(&snap.join("b.txt")));
}

/// Changes a stored copy's bytes in place and puts its mtime back, as bit rot would.
fn rot(path: &Path) {
    let m = fs::metadata(path).unwrap();
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0x20;
    use std::os::unix::fs::PermissionsExt;
    let mode = m.permissions().mode();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(path, bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(m.modified().unwrap()))
        .unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn damaged_copy_found_by_verify_is_never_linked_again_and_repair_heals_it() {
    let env = Env::new();
    env.write("notes/note1.txt", b"precious words");
    env.write("other.txt", b"unchanged");
    let first = env.backup();
    rot(&first.join("notes/note1.txt"));
    let out = env.run(&["verify"]);
    assert_code(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("damaged"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(env.sql_int("SELECT count(*) FROM damaged"), 1);
    let second = env.backup();
    let healed = second.join("notes/note1.txt");
    assert_eq!(fs::read(&healed).unwrap(), b"precious words");
    assert_ne!(ino(&healed), ino(&first.join("notes/note1.txt")));
    assert_eq!(
        ino(&second.join("other.txt")),
        ino(&first.join("other.txt"))
    );
    // Recorded damage keeps verify failing, even a fast one, until repaired.
    assert_code(&env.run(&["verify", "--fast"]), 1);
    let out = env.run(&["verify", "--repair"]);
    assert_code(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("repaired"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        fs::read(first.join("notes/note1.txt")).unwrap(),
        b"precious words"
    );
    assert_eq!(ino(&first.join("notes/note1.txt")), ino(&healed));
    assert_ok(&env.run(&["verify"]));
    assert_eq!(env.sql_int("SELECT count(*) FROM damaged"), 0);
}

#[test]
fn changed_stored_copy_is_not_linked_by_the_fast_path() {
    let env = Env::new();
    env.write("notes/note1.txt", b"precious words");
    let first = env.backup();
    // Changed in place (same size); its mtime moves, which the fast path checks.
    let p = first.join("notes/note1.txt");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&p, b"PRECIOUS WORDS").unwrap();
    let second = env.backup();
    assert_eq!(
        fs::read(second.join("notes/note1.txt")).unwrap(),
        b"precious words"
    );
    assert_ne!(ino(&second.join("notes/note1.txt")), ino(&p));
}

/// The mtime of `p` as (seconds, nanoseconds), read without any 64-bit nanosecond sum.
fn stat_time(p: &Path) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let md = fs::symlink_metadata(p).unwrap();
    (md.mtime(), md.mtime_nsec())
}

#[test]
fn times_after_2262_are_kept_exactly() {
    let env = Env::new();
    let f = env.write("future.txt", b"from the year 2400");
    let old = env.write("old.txt", b"from 1901");
    // 2400-01-01 00:00:00.123456789 UTC, and 1901-12-14 (before 1970, still in range).
    let future = std::time::UNIX_EPOCH + std::time::Duration::new(13_569_465_600, 123_456_789);
    let past = std::time::UNIX_EPOCH - std::time::Duration::new(2_147_483_000, 0);
    for (p, t) in [(&f, future), (&old, past)] {
        set_mtime_to(p, t);
    }
    let first = env.backup();
    assert_eq!(stat_time(&first.join("future.txt")), stat_time(&f));
    assert_eq!(stat_time(&first.join("old.txt")), stat_time(&old));
    let db = env.db();
    let (mtime, ns): (String, Option<i64>) = db
        .query_row(
            "SELECT mtime, mtime_ns FROM files WHERE path = 'future.txt'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(mtime, "2400-01-01 00:00:00");
    assert_eq!(
        ns, None,
        "documented: no 64-bit nanosecond value for this time"
    );
    assert_ok(&env.run(&["verify"]));
    let second = env.backup();
    assert_eq!(
        ino(&second.join("future.txt")),
        ino(&first.join("future.txt")),
        "the unchanged file is linked, not read again"
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn trusted_manifest_hash_is_checked_against_the_bytes_before_a_backup_links_it() {
    let env = Env::new();
    env.write("a", b"GOOD-DATA\n");
    let first = env.backup();
    // The catalog is lost, and the stored copy rots (its mtime put back): the manifest
    // still lists the good hash, which --trust-manifests takes without reading.
    env.remove_catalog();
    rot(&first.join("a"));
    assert_ok(&env.run(&["add", "--trust-manifests"]));
    let second = env.backup();
    assert_eq!(fs::read(second.join("a")).unwrap(), b"GOOD-DATA\n");
    assert_ne!(ino(&second.join("a")), ino(&first.join("a")));
    // The read that refused it recorded the damage.
    assert_eq!(env.sql_int("SELECT count(*) FROM damaged"), 1);
}

#[test]
fn trusted_manifest_hash_that_proves_true_is_linked() {
    let env = Env::new();
    env.write("a", b"GOOD-DATA\n");
    let first = env.backup();
    env.remove_catalog();
    assert_ok(&env.run(&["add", "--trust-manifests"]));
    let second = env.backup();
    assert_eq!(ino(&second.join("a")), ino(&first.join("a")));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM copies WHERE state = 'unverified'"),
        0,
        "the copy read while linking is verified from then on"
    );
}

#[test]
fn file_that_disagrees_with_its_manifest_is_never_linked_by_the_next_backup() {
    for trust in [true, false] {
        let env = Env::new();
        let src = env.write("a", b"GOOD-DATA\n");
        set_mtime(&src, 1_643_760_000, 0);
        let real = env.backup();
        // A snapshot copied in by hand: same size and mtime, other bytes, and a manifest
        // that lists the good hash.
        let hand = env.hand_snapshot("src/2020-01-01-000000", &[("a", b"EVIL-DATA\n")]);
        set_mtime(&hand.join("a"), 1_643_760_000, 0);
        fs::copy(beside(&real, ".SHA256SUMS"), beside(&hand, ".SHA256SUMS")).unwrap();
        let args: &[&str] = if trust {
            &["add", "--trust-manifests"]
        } else {
            &["add"]
        };
        let out = env.run(args);
        assert_code(&out, 1);
        assert!(stderr(&out).contains("a"), "{}", stderr(&out));
        // The hand-made snapshot is now the newest run of the name: its `a` must not
        // serve the next backup's fast path.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let next = env.backup();
        assert_eq!(
            fs::read(next.join("a")).unwrap(),
            b"GOOD-DATA\n",
            "trust={trust}"
        );
        assert_ne!(ino(&next.join("a")), ino(&hand.join("a")));
    }
}

#[test]
fn files_swapped_with_equal_size_and_mtime_are_read_not_linked() {
    // Attack round: two folders whose files have equal names, sizes and mtimes but
    // other bytes swap names. The fast path took each path for unchanged and linked the
    // other folder's old content; the recorded source inode (V15) tells them apart.
    let env = Env::new();
    for (folder, body) in [("a", b"AAAA"), ("b", b"BBBB")] {
        let f = env.write(&format!("{folder}/f"), body);
        set_mtime(&f, 1_700_000_000, 0);
    }
    env.backup();
    fs::rename(env.src.join("a"), env.src.join("t")).unwrap();
    fs::rename(env.src.join("b"), env.src.join("a")).unwrap();
    fs::rename(env.src.join("t"), env.src.join("b")).unwrap();
    let second = env.backup();
    assert_eq!(fs::read(second.join("a/f")).unwrap(), b"BBBB");
    assert_eq!(fs::read(second.join("b/f")).unwrap(), b"AAAA");
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn a_rewrite_in_place_that_puts_the_mtime_back_is_read_not_linked() {
    // Attack round: the same inode rewritten with bytes of the same size and its mtime
    // put back (`rsync --inplace -t`, or by hand) looked unchanged by size, mtime and
    // inode. The ctime moved, and the fast path compares it too.
    let env = Env::new();
    let f = env.write("z/g", b"EEEE");
    set_mtime(&f, 1_700_000_000, 0);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    env.backup();
    let before = ino(&f);
    fs::write(&f, b"WWWW").unwrap();
    set_mtime(&f, 1_700_000_000, 0);
    assert_eq!(ino(&f), before, "rewritten in place");
    let second = env.backup();
    assert_eq!(fs::read(second.join("z/g")).unwrap(), b"WWWW");
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (a loop-mounted ext4 with 1-second times)"]
fn a_change_in_the_same_second_as_a_run_is_read_by_the_next_on_a_one_second_filesystem() {
    // Attack round: on a filesystem that keeps times to the second, a file rewritten
    // with bytes of the same size in the same second as the run that read it keeps its
    // size, mtime and inode. Its ctime was too recent to record, so the next run reads it.
    let env = Env::new();
    let disk = LoopDisk::mount(env.dir.path(), "ext4-seconds").expect("root and mkfs.ext4");
    let src = disk.mnt.join("src");
    fs::create_dir(&src).unwrap();
    let g = src.join("g");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_nanos(
        1_020_000_000 - u64::from(now.subsec_nanos()),
    ));
    fs::write(&g, b"AAAA").unwrap();
    assert_ok(&env.run(&["backup", src.to_str().unwrap()]));
    fs::write(&g, b"BBBB").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_ok(&env.run(&["backup", src.to_str().unwrap()]));
    let latest = env.root.join("src/latest");
    assert_eq!(fs::read(latest.join("g")).unwrap(), b"BBBB");
}
