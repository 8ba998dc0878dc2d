//! Attacks on kept attributes that once lost data: a non-root user's read-only files and
//! folders (user.* needs write permission, so it must go on before the mode), and an
//! attribute too large for the backup filesystem (any user can set one on their own
//! files: it must fail that file only, never the whole run).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use super::{attrs, setfattr};
use crate::common::*;

/// Runs the real binary as user `nobody` (uid and gid 65534) with the env's home.
fn as_nobody(env: &Env, root: &Path, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(root)
        .args(args)
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env_remove("PHLB_BACKUP_ROOT")
        .env_remove("PHLB_CONFIG")
        .output()
        .expect("setpriv (util-linux) is needed")
}

#[test]
#[ignore = "needs root (runs phlb as user nobody)"]
fn a_non_root_backup_keeps_read_only_files_and_folders_with_user_attributes() {
    let env = Env::bare();
    let ro = env.write("ro.txt", b"read only");
    env.write("rodir/f.txt", b"inside");
    let rodir = env.src.join("rodir");
    let locked = env.src.join("locked");
    fs::create_dir(&locked).unwrap();
    setfattr(&ro, "user.tag", "keep");
    setfattr(&rodir, "user.dtag", "keep");
    setfattr(&locked, "user.ltag", "x");
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(env.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    set_mode(&ro, 0o444);
    set_mode(&rodir, 0o555);
    set_mode(&locked, 0o000);
    let root = env.dir.path().join("root");
    assert_ok(&as_nobody(&env, &root, &["init"]));
    let out = as_nobody(&env, &root, &["backup", env.src.to_str().unwrap()]);
    // The folder of mode 000 cannot be listed: that, and only that, is a problem.
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        !err.contains("ro.txt") && !err.contains("extended attribute"),
        "{err}"
    );
    let snap = snapshots_at(&root, "src").pop().unwrap();
    assert_eq!(fs::read(snap.join("ro.txt")).unwrap(), b"read only");
    assert_eq!(attrs(&snap.join("ro.txt")), attrs(&ro));
    assert_eq!(attrs(&snap.join("rodir")), attrs(&rodir));
    assert_eq!(mode(&snap.join("ro.txt")), 0o444);
    assert_eq!(mode(&snap.join("rodir")), 0o555);
    assert!(
        snap.join("locked").is_dir(),
        "a folder it cannot list is still kept"
    );
    assert_eq!(mode(&snap.join("locked")), 0o000);
    let verify = as_nobody(&env, &root, &["verify"]);
    assert!(
        !String::from_utf8_lossy(&verify.stdout).contains("extended attributes differ"),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let to = env.dir.path().join("out");
    let out = as_nobody(
        &env,
        &root,
        &["restore", &label(&snap), "--to", to.to_str().unwrap()],
    );
    assert_ok(&out);
    assert!(
        !stderr(&out).contains("not all put back"),
        "{}",
        stderr(&out)
    );
    assert_eq!(attrs(&to.join("ro.txt")), attrs(&ro));
    assert_eq!(attrs(&to.join("rodir")), attrs(&rodir));
    assert_eq!(mode(&to.join("rodir")), 0o555);
}

#[test]
#[ignore = "needs root (mounts a tmpfs source)"]
fn an_attribute_too_large_for_the_backup_disk_fails_that_file_only() {
    let env = Env::new();
    // The backup root's filesystem (ext4) takes at most about one block of attributes
    // per file; a tmpfs source takes far larger ones.
    let probe = env.root.join("probe");
    fs::write(&probe, b"p").unwrap();
    let huge = "A".repeat(6000);
    let refused = Command::new("setfattr")
        .args(["-n", "user.huge", "-v", &huge])
        .arg(&probe)
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "this test needs a backup filesystem that refuses a 6000-byte attribute (ext4 does)"
    );
    fs::remove_file(&probe).unwrap();
    let src = env.dir.path().join("tsrc");
    let disk = SmallDisk::mount(&src, "20m").expect("mounting a tmpfs needs root");
    let big = src.join("big.txt");
    fs::write(&big, b"has a huge attribute").unwrap();
    fs::write(src.join("ok.txt"), b"fine").unwrap();
    setfattr(&big, "user.huge", &huge);
    let out = env.run(&["backup", src.to_str().unwrap()]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("big.txt")
            && err.contains("cannot keep extended attribute user.huge (6000 bytes)"),
        "{err}"
    );
    assert!(!err.contains("No space left"), "{err}");
    let snap = snapshots_at(&env.root, "tsrc").pop().unwrap();
    assert_eq!(fs::read(snap.join("ok.txt")).unwrap(), b"fine");
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'complete'"),
        1
    );
    drop(disk);
}
