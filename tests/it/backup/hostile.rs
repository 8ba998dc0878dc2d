//! `phlb backup` on hostile and awkward sources: odd names, special files, paths deeper
//! than PATH_MAX, unreadable files and folders, other mounts, the root inside the source.

use crate::common::*;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

#[test]
fn odd_file_names_survive_and_manifest_checks() {
    let env = Env::new();
    let names: Vec<&[u8]> = vec![
        b"with space.txt",
        b"new\nline",
        b"back\\slash",
        b"bad\xff\xfebytes",
        b"-leading-dash",
        // Regression: a name ending in `\r` broke `sha256sum -c` (coreutils 9.1
        // escapes it as `\r`); other control bytes are written as they are.
        b"ends in cr\r",
        b"\rstarts with cr",
        b"tab\there",
        b"ctl\x01\x02\x1f",
        b"del\x7f",
        b"high\x80\xc3\xa9\xfe",
        b"all\r\n\\\t",
    ];
    for (i, n) in names.iter().enumerate() {
        let p = env.src.join(std::ffi::OsStr::from_bytes(n));
        fs::write(&p, format!("file {i}")).unwrap();
    }
    let snap = env.backup();
    for (i, n) in names.iter().enumerate() {
        let p = snap.join(std::ffi::OsStr::from_bytes(n));
        assert_eq!(fs::read(&p).unwrap(), format!("file {i}").as_bytes());
    }
    let text = assert_sums_check(&snap, "sha256sum");
    assert_eq!(text.matches(": OK").count(), names.len(), "{text}");
    let files = env.catalog_files(&snap);
    for n in &names {
        assert!(
            files.contains_key(*n),
            "{:?} not in catalog",
            String::from_utf8_lossy(n)
        );
    }
    let verify = env.run(&["verify"]);
    assert_ok(&verify);
}

#[test]
fn special_files_are_skipped_with_a_warning_and_counted() {
    let env = Env::new();
    env.write("a", b"a");
    let fifo = env.src.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(stderr(&out).contains("pipe: not a file, folder or symlink; skipped"));
    let snap = env.snapshots("src").pop().unwrap();
    assert!(!snap.join("pipe").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("special files: 1"));
}

#[test]
fn hostile_names_and_shapes() {
    let env = Env::new();
    let long = "n".repeat(255);
    env.write(&long, b"long name");
    env.write("-rf", b"leading dash");
    env.write("zero", b"");
    env.write("crowd/keep", b"k");
    for i in 0..10_000 {
        fs::write(env.src.join(format!("crowd/{i}")), b"").unwrap();
    }
    let sparse = env.src.join("sparse.img");
    {
        let f = fs::File::create(&sparse).unwrap();
        f.set_len(64 << 20).unwrap();
        use std::io::{Seek, SeekFrom, Write};
        let mut f = f;
        f.seek(SeekFrom::Start((64 << 20) - 3)).unwrap();
        f.write_all(b"end").unwrap();
    }
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert_no_panic(&out);
    let snap = env.snapshots("src").pop().unwrap();
    assert_eq!(fs::read(snap.join(&long)).unwrap(), b"long name");
    assert_eq!(fs::read(snap.join("-rf")).unwrap(), b"leading dash");
    assert_eq!(fs::metadata(snap.join("zero")).unwrap().len(), 0);
    assert_eq!(fs::read_dir(snap.join("crowd")).unwrap().count(), 10_001);
    let copy = snap.join("sparse.img");
    let md = fs::metadata(&copy).unwrap();
    assert_eq!(md.len(), 64 << 20);
    assert!(
        md.blocks() * 512 < 4 << 20,
        "the copy stays sparse: {} bytes used",
        md.blocks() * 512
    );
    let data = fs::read(&copy).unwrap();
    assert!(data[..(64 << 20) - 3].iter().all(|&b| b == 0));
    assert_eq!(&data[(64 << 20) - 3..], b"end");
}

#[test]
fn path_deeper_than_path_max_is_reported_not_fatal() {
    let env = Env::new();
    env.write("ok.txt", b"fine");
    // Build a chain of folders longer than PATH_MAX with mkdirat/openat steps.
    let level = std::ffi::CString::new("d".repeat(200)).unwrap();
    let top = std::ffi::CString::new(env.src.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: plain libc calls on valid C strings and descriptors this test owns.
    unsafe {
        let mut fd = libc::open(top.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        assert!(fd >= 0);
        for _ in 0..25 {
            assert_eq!(libc::mkdirat(fd, level.as_ptr(), 0o755), 0);
            let next = libc::openat(fd, level.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            assert!(next >= 0);
            libc::close(fd);
            fd = next;
        }
        let name = std::ffi::CString::new("deep.txt").unwrap();
        let f = libc::openat(fd, name.as_ptr(), libc::O_WRONLY | libc::O_CREAT, 0o644);
        assert!(f >= 0);
        libc::close(f);
        libc::close(fd);
    }
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("File name too long"), "{err}");
    assert!(err.lines().all(|l| l.starts_with("phlb: ")), "{err}");
    let snap = env.snapshots("src").pop().unwrap();
    assert_eq!(fs::read(snap.join("ok.txt")).unwrap(), b"fine");
    // GNU rm walks trees deeper than PATH_MAX; the temp dir's own cleanup may not.
    Command::new("rm")
        .arg("-rf")
        .arg(&env.src)
        .status()
        .unwrap();
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn one_file_system_keeps_other_mounts_out() {
    let env = Env::new();
    env.write("here.txt", b"here");
    let _mount = SmallDisk::mount(&env.src.join("mnt"), "1m").expect("mounting a tmpfs needs root");
    fs::write(env.src.join("mnt/elsewhere.txt"), b"other fs").unwrap();
    let snap = env.backup();
    assert!(snap.join("here.txt").exists());
    assert!(
        snap.join("mnt").is_dir(),
        "the mount point folder itself is kept"
    );
    assert!(!snap.join("mnt/elsewhere.txt").exists());
    env.config("ONE_FILE_SYSTEM = false");
    let snap = env.backup();
    assert_eq!(
        fs::read(snap.join("mnt/elsewhere.txt")).unwrap(),
        b"other fs"
    );
}

#[test]
fn unreadable_file_is_named_counted_and_exits_1() {
    let env = Env::new();
    env.write("ok.txt", b"fine");
    let bad = env.write("secret.txt", b"hidden");
    set_mode(&bad, 0o000);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    set_mode(&bad, 0o644);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("secret.txt: cannot open"),
        "{}",
        stderr(&out)
    );
    let snap = env.snapshots("src").pop().expect("the run finished");
    assert_eq!(fs::read(snap.join("ok.txt")).unwrap(), b"fine");
    assert!(!snap.join("secret.txt").exists());
    let failed = env.sql_int("SELECT failed FROM snapshot_runs");
    assert_eq!(failed, 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("failed:  1"));
    // The summary names the file, and list says the run is not clean.
    let summary = fs::read_to_string(beside(&snap, "-summary.txt")).unwrap();
    assert!(
        summary.contains("failed files:") && summary.contains("secret.txt: cannot open"),
        "{summary}"
    );
    let list = env.run(&["list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("complete, 1 failed"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
}

#[test]
fn unreadable_folder_is_kept_empty_named_and_exits_1() {
    let env = Env::new();
    env.write("ok/a.txt", b"fine");
    env.write("locked/inner.txt", b"hidden");
    let locked = env.src.join("locked");
    set_mode(&locked, 0o000);
    let out = run_without_dac_override(&env, &["backup", env.src.to_str().unwrap()]);
    set_mode(&locked, 0o755);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("locked: "), "{}", stderr(&out));
    let snap = env.snapshots("src").pop().expect("the run finished");
    assert_eq!(fs::read(snap.join("ok/a.txt")).unwrap(), b"fine");
    assert!(snap.join("locked").is_dir(), "the folder itself is kept");
    assert!(!snap.join("locked/inner.txt").exists());
    assert_eq!(env.sql_int("SELECT failed FROM snapshot_runs"), 1);
}

#[test]
fn backup_root_inside_source_is_not_copied_into_itself() {
    let env = Env::new();
    env.write("a.txt", b"a");
    let root = env.src.join("backups");
    env.init(&root);
    let run = |env: &Env| env.backup_into(&root);
    assert_ok(&run(&env));
    assert_ok(&run(&env));
    let snaps: Vec<_> = fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir() && !e.path().is_symlink())
        .collect();
    assert_eq!(snaps.len(), 2);
    for s in snaps {
        assert!(s.path().join("a.txt").exists());
        assert!(!s.path().join("backups").exists());
    }
}
