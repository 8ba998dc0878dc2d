//! A backup filesystem that cannot hold extended attributes: the catalog records them,
//! the run says so once and counts them, verify has nothing to compare on disk, and a
//! restore puts them back from the catalog. (The kernel here has no vfat; ramfs refuses
//! every attribute namespace as vfat does, and the test first proves that it does.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{attrs, setfattr, tool};
use crate::common::*;

/// A ramfs mounted for the test, unmounted when dropped.
struct Ramfs(PathBuf);

impl Ramfs {
    fn mount(at: &Path) -> Ramfs {
        fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "ramfs", "-o", "mode=0700", "ramfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(out.status.success(), "mount: {}", stderr(&out));
        Ramfs(at.to_path_buf())
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root (mounts a ramfs)"]
fn a_backup_filesystem_without_xattrs_records_them_and_restore_puts_them_back() {
    let env = Env::new();
    let disk = Ramfs::mount(&env.dir.path().join("ramroot"));
    let probe = disk.0.join("probe");
    fs::write(&probe, b"p").unwrap();
    let refused = Command::new("setfattr")
        .args(["-n", "user.k", "-v", "v"])
        .arg(&probe)
        .output()
        .unwrap();
    assert!(
        !refused.status.success() && stderr(&refused).contains("not supported"),
        "the filesystem must refuse user.* for this test: {}",
        stderr(&refused)
    );
    fs::remove_file(&probe).unwrap();

    let a = env.write("d/a.txt", b"alpha");
    let b = env.write("b.txt", b"beta");
    env.write("plain.txt", b"plain");
    setfattr(&a, "user.k", "v");
    setfattr(&env.src.join("d"), "user.folder", "yes");
    // A named user with more than the group: the mask (the group bits of the mode)
    // widens to rwx, which the snapshot's narrowed mode does not show.
    tool("setfacl", &["-m", "u:65534:rwx"], &b);
    std::os::unix::fs::symlink("b.txt", env.src.join("link")).unwrap();
    setfattr(&env.src.join("link"), "trusted.t", "on the link");
    let root = disk.0.join("backups");
    env.init(&root);
    let out = env.backup_into(&root);
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(
        err.matches("cannot hold ACLs or extended attributes")
            .count(),
        1,
        "said once: {err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not kept: 4 files or folders"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let snap = snapshots_at(&root, "src").pop().unwrap();
    assert_eq!(fs::read(snap.join("d/a.txt")).unwrap(), b"alpha");
    let db = rusqlite::Connection::open(root.join(".phlb/catalog.sqlite3")).unwrap();
    let recorded: i64 = db
        .query_row(
            "SELECT count(*) FROM entries WHERE xattr_set_id IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(recorded, 4, "a.txt, b.txt, d and link");
    assert_ok(&env.cmd_at(&root).arg("verify").output().unwrap());

    let to = env.dir.path().join("restored");
    let out = env
        .cmd_at(&root)
        .args(["restore", &label(&snap), "--to"])
        .arg(&to)
        .output()
        .unwrap();
    assert_ok(&out);
    for rel in ["d/a.txt", "d", "b.txt", "plain.txt", "link"] {
        assert_eq!(attrs(&to.join(rel)), attrs(&env.src.join(rel)), "{rel}");
    }
    assert_eq!(mode(&to.join("b.txt")), mode(&b));
    assert_eq!(mode(&b), 0o674, "the ACL's mask is the group bits");

    // A restore onto a filesystem without them restores everything else, says so once
    // and counts the paths.
    let onto = disk.0.join("restored-here");
    let out = env
        .cmd_at(&root)
        .args(["restore", &label(&snap), "--to"])
        .arg(&onto)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(fs::read(onto.join("d/a.txt")).unwrap(), b"alpha");
    let err = stderr(&out);
    assert_eq!(err.matches("were not all put back").count(), 1, "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("extended attributes of 4 not put back"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
