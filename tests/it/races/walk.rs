//! Walk races: a folder swapped for a symlink while a backup reads it is never followed.

use super::*;

/// Runs `phlb backup src` under strace with each folder listing delayed by 500 ms; calls
/// `swap` once `ready` (given the in-progress snapshot folder) says the walk got there.
fn backup_racing(env: &Env, ready: impl Fn(&Path) -> bool, swap: impl FnOnce()) -> Output {
    assert!(
        Command::new("strace").arg("-V").output().is_ok(),
        "strace is needed (apt-get install -y strace)"
    );
    let child = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e"])
        .arg("inject=getdents64:delay_exit=500000")
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(["backup", env.src.to_str().unwrap()])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let partial = fs::read_dir(env.root.join("src"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".inprogress"));
        if partial.is_some_and(|p| ready(&p.path())) {
            break;
        }
        assert!(Instant::now() < deadline, "the walk never got there");
        std::thread::sleep(Duration::from_millis(2));
    }
    swap();
    child.wait_with_output().unwrap()
}

/// Every regular file under `dir` (not following symlinks) whose content is `bytes`,
/// or whose name is `name`.
fn files_like(dir: &Path, name: &str, bytes: &[u8]) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter(|e| e.file_name() == name || fs::read(e.path()).is_ok_and(|b| b == bytes))
        .map(|e| e.path().to_path_buf())
        .collect()
}

#[test]
fn folder_swapped_for_a_symlink_during_backup_is_not_followed() {
    // Targets: a root-only folder, and the folder above the backup root (which made a
    // run back up its own in-progress snapshot).
    for target in ["secret", "."] {
        let env = Env::new();
        env.write("d/a.txt", b"a");
        env.write("d/b.txt", b"b");
        env.write("victim/mine.txt", b"mine");
        let secret = env.dir.path().join("secret");
        fs::create_dir(&secret).unwrap();
        fs::write(secret.join("secret.txt"), b"SECRET").unwrap();
        set_mode(&secret, 0o700);
        let target = env.dir.path().join(target);
        let victim = env.src.join("victim");
        // Both were listed with the source root; `d` is made in the snapshot as it is
        // entered, and `victim` is entered after `d` is listed (two delayed calls).
        let out = backup_racing(
            &env,
            |partial| partial.join("d").is_dir(),
            || {
                fs::rename(&victim, env.dir.path().join("moved")).unwrap();
                std::os::unix::fs::symlink(&target, &victim).unwrap();
            },
        );
        let leaked = files_like(&env.root, "secret.txt", b"SECRET");
        assert!(leaked.is_empty(), "read through the symlink: {leaked:?}");
        assert_code(&out, 1);
        assert!(
            stderr(&out).contains("victim: changed during the backup"),
            "{}",
            stderr(&out)
        );
        assert_eq!(env.sql_int("SELECT failed FROM snapshot_runs"), 1);
        let snap = env.snapshots("src").pop().expect("the run finished");
        assert!(fs::symlink_metadata(snap.join("victim")).unwrap().is_dir());
        assert_eq!(fs::read_dir(snap.join("victim")).unwrap().count(), 0);
        assert!(!snap.join("victim/src").exists() && !snap.join("victim/root").exists());

        // The next run finds the symlink when listing, and stores it as a symlink.
        let snap = env.backup();
        let md = fs::symlink_metadata(snap.join("victim")).unwrap();
        assert!(md.file_type().is_symlink());
        assert_eq!(fs::read_link(snap.join("victim")).unwrap(), target);
        assert!(files_like(&env.root, "secret.txt", b"SECRET").is_empty());
    }
}

#[test]
fn folder_on_a_file_path_swapped_for_a_symlink_is_not_read_through() {
    let env = Env::new();
    env.write("a/b/f", b"mine");
    // Listed after `a/b`; files are read only once the walk has handed them on.
    env.write("c/x", b"x");
    env.write("d/y", b"y");
    let other = env.dir.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("f"), b"SECRET").unwrap();
    set_mode(&other, 0o700);
    let b = env.src.join("a/b");
    // `a/b` is made in the snapshot as it is entered; it is listed (and `f` stat'ed)
    // 1 s later, then `c` and `d` take 2 s more before `f` is read.
    let out = backup_racing(
        &env,
        |partial| partial.join("a/b").is_dir(),
        || {
            std::thread::sleep(Duration::from_millis(1500));
            fs::rename(&b, env.dir.path().join("moved")).unwrap();
            std::os::unix::fs::symlink(&other, &b).unwrap();
        },
    );
    let leaked = files_like(&env.root, "-", b"SECRET");
    assert!(leaked.is_empty(), "read through the symlink: {leaked:?}");
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("a/b/f: replaced by a symlink during the backup"),
        "{}",
        stderr(&out)
    );
    let snap = env.snapshots("src").pop().expect("the run finished");
    assert!(!snap.join("a/b/f").exists());
    assert_eq!(fs::read(snap.join("c/x")).unwrap(), b"x");
}
