//! Where `phlb restore` writes: no write through a symlink in the target, no overwrite
//! without `--force`, never into the backup root, hardlinks across filesystems.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};

use crate::common::*;

#[test]
fn refusal_without_force_leaves_the_existing_file_byte_identical() {
    let env = Env::new();
    env.write("a.txt", b"from the backup");
    env.write("b.txt", b"bee");
    let snap = env.backup();
    let out = env.dir.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("a.txt"), b"mine, newer").unwrap();
    let before = fs::metadata(out.join("a.txt")).unwrap();
    let done = env.restore(&[&label(&snap)], &out);
    assert_code(&done, 1);
    assert!(
        stderr(&done).contains("a.txt: exists; not replaced (--force replaces it)"),
        "{}",
        stderr(&done)
    );
    assert_eq!(fs::read(out.join("a.txt")).unwrap(), b"mine, newer");
    let after = fs::metadata(out.join("a.txt")).unwrap();
    assert_eq!(
        (before.ino(), before.mtime(), before.mtime_nsec()),
        (after.ino(), after.mtime(), after.mtime_nsec())
    );
    assert_eq!(
        fs::read(out.join("b.txt")).unwrap(),
        b"bee",
        "the rest is restored"
    );
    // A second run without --force: b.txt is unchanged and left; a.txt still refused.
    let again = env.restore(&[&label(&snap)], &out);
    assert_code(&again, 1);
    assert!(String::from_utf8_lossy(&again.stdout).contains("skipped 1 unchanged"));
    assert_ok(&env.restore(&[&label(&snap), "--force"], &out));
    assert_eq!(fs::read(out.join("a.txt")).unwrap(), b"from the backup");
}

#[test]
fn force_into_the_source_leaves_unchanged_files_untouched() {
    let env = Env::new();
    for i in 0..20 {
        env.write(&format!("d/f{i}"), format!("file {i}").as_bytes());
    }
    let snap = env.backup();
    let kept = ino(&env.src.join("d/f3"));
    env.write("d/f7", b"changed since");
    fs::remove_file(env.src.join("d/f9")).unwrap();
    let done = env.restore(&[&label(&snap), "--force"], &env.src);
    assert_ok(&done);
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("2 files"),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
    assert_eq!(
        ino(&env.src.join("d/f3")),
        kept,
        "an unchanged file is not rewritten"
    );
    assert_eq!(fs::read(env.src.join("d/f7")).unwrap(), b"file 7");
    assert_eq!(fs::read(env.src.join("d/f9")).unwrap(), b"file 9");
}

#[test]
fn symlink_planted_in_the_target_is_not_followed() {
    let env = Env::new();
    env.write("docs/a.txt", b"a");
    env.write("docs/sub/b.txt", b"b");
    let snap = env.backup();
    let out = env.dir.path().join("out");
    let elsewhere = env.dir.path().join("elsewhere");
    fs::create_dir_all(&out).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    symlink(&elsewhere, out.join("docs")).unwrap();
    let done = env.restore(&[&label(&snap)], &out);
    assert_code(&done, 1);
    assert!(stderr(&done).contains("not followed"), "{}", stderr(&done));
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    // By PATH too: the folder on the way is the symlink.
    assert_code(&env.restore(&[&label(&snap), "docs/a.txt"], &out), 1);
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
    // --force replaces the symlink by a real folder, still writing nothing through it.
    assert_ok(&env.restore(&[&label(&snap), "--force"], &out));
    assert!(out.join("docs").symlink_metadata().unwrap().is_dir());
    assert_eq!(fs::read(out.join("docs/sub/b.txt")).unwrap(), b"b");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn restore_to_with_dotdot_never_writes_into_a_snapshot() {
    // Regression: `--to W/missing/../root/src/S2` kept its `..`, the check
    // judged the text (W/missing/.. -> outside), and `create_dir_all` let the kernel
    // resolve it into snapshot S2, overwriting its files.
    let env = Env::new();
    env.write("f", b"first");
    let s1 = env.backup();
    env.write("f", b"second, only here");
    let s2 = env.backup();
    let w = env.dir.path();
    let s2_rel = s2.strip_prefix(w).unwrap();
    let attempts = [
        w.join("missing/..").join(s2_rel),
        w.join("missing/deeper/../..").join(s2_rel).join("new"),
        w.join("a/b/../../root/src"),
        w.join("root/../root/src/x"),
    ];
    for to in &attempts {
        let out = env.restore(&[&label(&s1), "--force"], to);
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("inside the backup root"),
            "{}: {}",
            to.display(),
            stderr(&out)
        );
        let dry = env.restore(&[&label(&s1), "--force", "--dry-run"], to);
        assert_code(&dry, 2);
    }
    // Also through a symlink the user names: the kernel follows it, and so does the check.
    symlink(&s2, w.join("to-s2")).unwrap();
    let out = env.restore(&[&label(&s1), "--force"], &w.join("to-s2/sub/.."));
    assert_code(&out, 2);
    assert_eq!(fs::read(s2.join("f")).unwrap(), b"second, only here");
    assert!(!s2.join("new").exists() && !env.root.join("src/x").exists());
    assert_ok(&env.run(&["verify"]));
    // The same `..` that leads outside still works, as the kernel resolves it.
    let out = env.restore(&[&label(&s1)], &w.join("gone/../elsewhere/r"));
    assert_ok(&out);
    assert_eq!(fs::read(w.join("elsewhere/r/f")).unwrap(), b"first");
}

#[test]
#[ignore = "needs root (mount --bind)"]
fn restore_into_a_bind_mount_of_any_folder_of_the_backup_root_is_refused() {
    // Regression: first a bind mount of the root, then of a snapshot
    // folder, let `restore --force` overwrite an older snapshot's only copy.
    let env = Env::new();
    env.write("f", b"old content, only here");
    let old = env.backup();
    env.write("f", b"NEW");
    env.backup();
    let root_name = env.root.join("src");
    let meta = env.root.join(".phlb");
    for (i, inside) in [env.root.clone(), old.clone(), root_name, meta]
        .iter()
        .enumerate()
    {
        let bind = env.dir.path().join(format!("bind{i}"));
        std::fs::create_dir(&bind).unwrap();
        let _guard = bind_mount(inside, &bind);
        let dotdot = env.dir.path().join("nope/../").join(format!("bind{i}/z"));
        for to in [bind.clone(), bind.join("sub"), dotdot] {
            let out = env.restore(&["src/latest", "--force"], &to);
            assert_code(&out, 2);
            assert!(
                stderr(&out).contains("inside the backup root"),
                "{}",
                stderr(&out)
            );
        }
    }
    assert_eq!(
        std::fs::read(old.join("f")).unwrap(),
        b"old content, only here"
    );
    assert_ok(&env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn a_source_hardlink_pair_split_across_filesystems_in_the_target_is_copied_and_said_once() {
    // Regression: `a` and `x/b` one inode in the source, `DIR/x` another
    // filesystem at restore time: `x/b` was not restored at all (EXDEV), exit 1.
    let env = Env::new();
    env.write("a", b"pair one");
    env.write("c", b"pair two");
    fs::create_dir(env.src.join("x")).unwrap();
    fs::hard_link(env.src.join("a"), env.src.join("x/b")).unwrap();
    fs::hard_link(env.src.join("c"), env.src.join("x/d")).unwrap();
    let snap = env.backup();
    let to = env.dir.path().join("out");
    let _disk = SmallDisk::mount(&to.join("x"), "10m").expect("mounting a tmpfs needs root");
    let out = env.restore(&[&label(&snap)], &to);
    assert_ok(&out);
    let said = stderr(&out);
    assert_eq!(said.matches("separate copies").count(), 1, "{said}");
    assert_eq!(fs::read(to.join("x/b")).unwrap(), b"pair one");
    assert_eq!(fs::read(to.join("x/d")).unwrap(), b"pair two");
    assert_eq!(fs::read(to.join("a")).unwrap(), b"pair one");
    assert_eq!(
        mtime_ns(&to.join("x/b")),
        mtime_ns(&env.src.join("x/b")),
        "the copy has its recorded metadata"
    );
    // Run again: everything is there as recorded.
    let again = env.restore(&[&label(&snap)], &to);
    assert_ok(&again);
}
