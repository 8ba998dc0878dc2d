//! What a snapshot keeps of each file's metadata: modes, times, owners; and, with
//! `XATTRS = false`, what it does with ACLs and extended attributes it does not keep: a
//! copy's mode is never wider than what the source granted, and what is dropped is said
//! and counted (kept attributes: `xattrs.rs`).

use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::common::*;

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
    env.config("XATTRS = false\n");
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
    env.config("XATTRS = false\n");
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

#[test]
fn snapshot_is_exact_copy_of_source_with_metadata() {
    let env = Env::new();
    let f = env.write("dir/file.txt", b"content");
    set_mode(&f, 0o640);
    set_mtime(&f, 1_500_000_000, 111_222_333);
    fs::create_dir_all(env.src.join("empty/nested")).unwrap();
    symlink("dir/file.txt", env.src.join("rel-link")).unwrap();
    symlink("/nonexistent/target", env.src.join("dangling")).unwrap();
    set_mode(&env.src.join("dir"), 0o750);
    set_mtime_dir(&env.src.join("dir"), 1_400_000_000, 42);
    let snap = env.backup();
    let mut want = tree(&env.src);
    let mut got = tree(&snap);
    // The snapshot root is the source root; compare everything else exactly.
    want.remove(b".".as_slice());
    got.remove(b".".as_slice());
    assert_eq!(got, want);
    assert_eq!(
        fs::read_link(snap.join("dangling")).unwrap(),
        Path::new("/nonexistent/target")
    );
}

fn set_mtime_dir(p: &Path, secs: u64, nsec: u32) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nsec);
    fs::File::open(p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(t))
        .unwrap();
}

#[test]
#[ignore = "needs root: owners are only restored when phlb runs as root"]
fn owner_and_group_are_kept_when_root() {
    let env = Env::new();
    let f = env.write("owned.txt", b"mine");
    std::os::unix::fs::lchown(&f, Some(1234), Some(5678)).unwrap();
    fs::create_dir(env.src.join("dir")).unwrap();
    std::os::unix::fs::lchown(env.src.join("dir"), Some(4321), Some(8765)).unwrap();
    symlink("owned.txt", env.src.join("link")).unwrap();
    std::os::unix::fs::lchown(env.src.join("link"), Some(42), Some(43)).unwrap();
    let snap = env.backup();
    use std::os::unix::fs::MetadataExt;
    let owner = |p: &Path| {
        let md = fs::symlink_metadata(p).unwrap();
        (md.uid(), md.gid())
    };
    assert_eq!(owner(&snap.join("owned.txt")), (1234, 5678));
    assert_eq!(owner(&snap.join("dir")), (4321, 8765));
    assert_eq!(owner(&snap.join("link")), (42, 43));
    let uid = env.sql_int("SELECT uid FROM files WHERE path = 'owned.txt'");
    assert_eq!(uid, 1234);
}

#[test]
fn every_mode_is_exact_whatever_the_umask() {
    // New copies are created with the source's permission bits and only changed where
    // the new file differs: bits a umask drops, setuid/setgid/sticky, and (as root) the
    // owner, whose change clears setuid/setgid, must all still come out exact.
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let env = Env::new();
    let modes = [
        0o777, 0o666, 0o640, 0o600, 0o400, 0o000, 0o4755, 0o2755, 0o6711, 0o1644,
    ];
    for m in modes {
        let f = env.write(&format!("m{m:o}"), format!("mode {m:o}").as_bytes());
        set_mode(&f, m);
        if as_root && m & 0o6000 != 0 {
            std::os::unix::fs::chown(&f, Some(1234), Some(5678)).unwrap();
            set_mode(&f, m);
        }
    }
    let mut cmd = env.cmd();
    cmd.args(["backup", env.src.to_str().unwrap()]);
    // SAFETY: umask is async-signal-safe; the closure only calls it.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    assert_ok(&cmd.output().unwrap());
    let snap = env.snapshots("src").pop().unwrap();
    use std::os::unix::fs::MetadataExt;
    for m in modes {
        let copy = snap.join(format!("m{m:o}"));
        assert_eq!(mode(&copy), m, "mode of m{m:o}");
        if as_root && m & 0o6000 != 0 {
            let md = fs::metadata(&copy).unwrap();
            assert_eq!((md.uid(), md.gid()), (1234, 5678));
        }
    }
}
