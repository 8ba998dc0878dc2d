//! ACLs and extended attributes, which snapshots do not keep (yet): a copy's mode is
//! never wider than what the source granted, and what is dropped is said and counted.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

/// Runs `setfacl ARGS PATH`; false when the filesystem has no ACL support.
fn setfacl(args: &str, path: &Path) -> bool {
    let out = Command::new("setfacl")
        .args(["-m", args])
        .arg(path)
        .output()
        .expect("setfacl is needed (apt-get install -y acl)");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("not supported") {
        return false;
    }
    assert!(out.status.success(), "setfacl {args}: {err}");
    true
}

#[test]
fn acl_mask_never_widens_the_group_permission_of_a_copy() {
    let env = Env::new();
    let file = env.write("shared.txt", b"shared");
    let dir = env.src.join("team");
    fs::create_dir(&dir).unwrap();
    set_mode(&file, 0o644);
    set_mode(&dir, 0o755);
    // The group entry says r--, the mask rw-: st_mode shows the mask as the group bits.
    assert!(
        setfacl("g::r--,m::rw-", &file) && setfacl("g::r-x,m::rwx", &dir),
        "setfacl failed: the test folder's filesystem must support ACLs (ext4 does)"
    );
    assert_eq!(mode(&file), 0o664, "setfacl shows the mask as group bits");
    assert_eq!(mode(&dir), 0o775);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let snap = env.snapshots("src").pop().unwrap();
    assert_eq!(mode(&snap.join("shared.txt")), 0o644, "group gained write");
    assert_eq!(mode(&snap.join("team")), 0o755, "group gained write");
    let files = env.catalog_files(&snap);
    assert_eq!(files[&b"shared.txt"[..]].2, "0644");
    assert_eq!(files[&b"team"[..]].2, "0755");
    assert!(
        stdout_of(&out).contains("not kept: 2 files or folders with ACLs or xattrs"),
        "{}",
        stdout_of(&out)
    );
    // Unchanged next run: linked, and still the narrow mode.
    let again = env.backup();
    assert_eq!(mode(&again.join("shared.txt")), 0o644);
    assert_eq!(
        ino(&again.join("shared.txt")),
        ino(&snap.join("shared.txt"))
    );
}

#[test]
fn xattrs_not_kept_are_said_once_and_counted() {
    let env = Env::new();
    env.write("plain.txt", b"plain");
    let tagged = [env.write("a.txt", b"a"), env.write("b.txt", b"b")];
    for path in &tagged {
        let set = Command::new("setfattr")
            .args(["-n", "user.x", "-v", "y"])
            .arg(path)
            .output()
            .expect("setfattr is needed (apt-get install -y attr)");
        assert!(
            set.status.success(),
            "{}",
            String::from_utf8_lossy(&set.stderr)
        );
    }
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    let err = stderr(&out);
    assert_eq!(
        err.matches("ACLs and extended attributes are not kept")
            .count(),
        1,
        "{err}"
    );
    assert!(
        stdout_of(&out).contains("not kept: 2 files"),
        "{}",
        stdout_of(&out)
    );
    let snap = env.snapshots("src").pop().unwrap();
    let log = fs::read_to_string(snap.with_file_name(format!(
        "{}-backup.log",
        snap.file_name().unwrap().to_str().unwrap()
    )))
    .unwrap();
    assert!(log.contains("are not kept"), "{log}");
    assert_eq!(fs::read(snap.join("a.txt")).unwrap(), b"a");

    // Without xattrs, nothing is said.
    let plain = Env::new();
    plain.write("plain.txt", b"plain");
    let out = plain.run(&["backup", plain.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("not kept") && !stdout_of(&out).contains("not kept"));
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
