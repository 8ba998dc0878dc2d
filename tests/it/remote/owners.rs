//! Owners of a remote source when phlb does not run as root: rsync's `--fake-super`
//! keeps each file's owner, group and mode in a `user.rsync.%stat` attribute, which
//! phlb keeps on the snapshot and in the catalog.

use super::Remote;
use crate::common::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const NOBODY: u32 = 65534;

fn chown_r(path: &Path, id: u32) {
    let ok = Command::new("chown")
        .args(["-R", &format!("{id}:{id}")])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn xattr(path: &Path, name: &str) -> Option<String> {
    let out = Command::new("getfattr")
        .args(["--only-values", "-n", name])
        .arg(path)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[ignore = "needs root (runs sshd, then phlb as nobody)"]
fn as_another_user_owners_travel_in_fake_super_attributes() {
    let r = Remote::new();
    let owned = r.env.write("owned.txt", b"owned by 1234");
    std::os::unix::fs::chown(&owned, Some(1234), Some(5678)).unwrap();
    // phlb runs as nobody: its root, its ini and a copy of the key are nobody's.
    let dir = r.env.dir.path();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(r.sshd.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let key = dir.join("nobody_key");
    fs::copy(&r.sshd.key, &key).unwrap();
    std::os::unix::fs::chown(&key, Some(NOBODY), Some(NOBODY)).unwrap();
    r.env.config(&format!("SSH = {}", r.sshd.ssh_with(&key)));
    chown_r(&r.env.root, NOBODY);
    // The login stays root on the client: written out, since nobody's default is nobody.
    let spec = format!("root@127.0.0.1:{}", r.env.src.display());
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_phlb"),
            "--backup-root",
        ])
        .arg(&r.env.root)
        .args(["backup", "--name", "client", &spec])
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("PHLB_BACKUP_ROOT")
        .env_remove("PHLB_CONFIG")
        .output()
        .unwrap();
    assert_ok(&out);
    let mirror = r.mirror("client").join("owned.txt");
    assert_eq!(fs::metadata(&mirror).unwrap().uid(), NOBODY);
    let stat = xattr(&mirror, "user.rsync.%stat").expect("rsync --fake-super wrote it");
    assert!(stat.contains("1234:5678"), "{stat:?}");
    // The snapshot keeps it, and so does the catalog (restore puts it back).
    let snap = r.env.snapshots("client").pop().unwrap();
    let kept = xattr(&snap.join("owned.txt"), "user.rsync.%stat");
    assert_eq!(kept.as_deref(), Some(stat.as_str()));
    assert!(r.env.sql_int("SELECT count(*) FROM xattr_sets") > 0);
}
