//! phlb's own names and files beside a snapshot cannot be turned against it (by a
//! snapshot name format or a symlink planted where phlb writes), and roots and name
//! folders other users own or can write are refused.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use crate::common::*;

#[test]
fn formatter_yielding_inprogress_is_refused_and_finished_snapshots_stay() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let first = env.backup();
    env.config("SUB_DIR_FORMATTER = %Y-%m-%d-%H%M%S.inprogress");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("SUB_DIR_FORMATTER"),
        "{}",
        stderr(&out)
    );
    assert!(
        first.join("a.txt").is_file(),
        "the finished snapshot is kept"
    );
    for own in [
        "%Y%m%d-%H%M%S-summary",
        "latest",
        "%Y-%m-%d-%H%M%S.SHA256SUMS",
    ] {
        env.config(&format!("SUB_DIR_FORMATTER = {own}"));
        assert_code(&env.run(&["backup", env.src.to_str().unwrap()]), 2);
    }
}

#[test]
fn folder_that_only_looks_like_a_leftover_is_not_deleted() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    // Not a name a run gives its in-progress folder: never removed by a name pattern.
    let mine = env.root.join("src/keep.inprogress.old");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("x"), b"mine").unwrap();
    env.backup();
    assert_eq!(fs::read(mine.join("x")).unwrap(), b"mine");
}

#[test]
fn files_beside_the_snapshot_are_never_written_through_a_symlink() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.config("SUB_DIR_FORMATTER = %Y-%m-%d");
    let victim = env.dir.path().join("victim");
    fs::write(&victim, b"do not touch").unwrap();
    let name_dir = env.root.join("src");
    fs::create_dir_all(&name_dir).unwrap();
    let day = today();
    for ts in [day.clone(), format!("{day}-1"), format!("{day}-2")] {
        for side in [
            format!("{ts}-summary.txt"),
            format!("{ts}.inprogress-backup.log"),
            format!("{ts}.inprogress.SHA256SUMS"),
        ] {
            std::os::unix::fs::symlink(&victim, name_dir.join(side)).unwrap();
        }
    }
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert_eq!(fs::read(&victim).unwrap(), b"do not touch");
    let snap = env.snapshots("src").pop().unwrap();
    let summary = beside(&snap, "-summary.txt");
    assert!(!summary.symlink_metadata().unwrap().file_type().is_symlink());
}

#[test]
fn name_folder_open_to_others_is_made_private() {
    let env = Env::bare();
    env.write("a.txt", b"alpha");
    fs::create_dir_all(env.root.join("src")).unwrap();
    fs::create_dir_all(env.root.join(".phlb")).unwrap();
    set_mode(&env.root.join("src"), 0o755);
    set_mode(&env.root.join(".phlb"), 0o755);
    env.backup();
    assert_eq!(mode(&env.root.join("src")), 0o700);
    assert_eq!(mode(&env.root.join(".phlb")), 0o700);
}

#[test]
#[ignore = "needs root (chown to another user)"]
fn name_folder_owned_by_another_user_is_refused() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let name_dir = env.root.join("src");
    fs::create_dir_all(&name_dir).unwrap();
    std::os::unix::fs::chown(&name_dir, Some(65534), Some(65534)).unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("owned by another user") && stderr(&out).contains("/src"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fs::read_dir(&name_dir).unwrap().count(),
        0,
        "nothing written"
    );
    assert_eq!(fs::metadata(&name_dir).unwrap().uid(), 65534);
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs"),
        0,
        "refused before a run began"
    );
}

#[test]
#[ignore = "needs root (chown to another user)"]
fn root_below_a_folder_another_user_owns_is_refused() {
    // Whoever owns a folder above the root can rename the root away mid-run and put
    // symlinks where the snapshot is being written.
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let home = env.dir.path().join("home-of-mallory");
    fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
    let root = home.join("backups");
    fs::create_dir(&root).unwrap();
    let out = env.cmd_at(&root).args(["init"]).output().unwrap();
    assert_code(&out, 2);
    assert!(
        stderr(&out)
            .contains("home-of-mallory: folder above the backup root is owned by another user"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "nothing written");
}

#[test]
fn backup_root_writable_by_others_is_refused() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    fs::create_dir_all(&env.root).unwrap();
    fs::set_permissions(&env.root, fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("writable by other users"),
        "{}",
        stderr(&out)
    );
    // Sticky (as /tmp) is not enough for the root itself: others could still create
    // its `<name>` folders first.
    fs::set_permissions(&env.root, fs::Permissions::from_mode(0o1777)).unwrap();
    assert_code(&env.run(&["backup", env.src.to_str().unwrap()]), 2);
    // A sticky folder above the root is fine: nobody else can rename the root in it.
    let sticky = env.dir.path().join("shared");
    fs::create_dir(&sticky).unwrap();
    fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
    env.init(&sticky.join("root"));
    let out = env.backup_into(&sticky.join("root"));
    assert_ok(&out);
}

#[test]
#[ignore = "needs root (chown to another user)"]
fn root_reached_through_another_users_symlink_is_refused() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let real = env.dir.path().join("real-root");
    fs::create_dir(&real).unwrap();
    let shared = env.dir.path().join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let link = shared.join("bk");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let out = env.cmd_at(&link).args(["init"]).output().unwrap();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("symlink on the way to the backup root is owned by another user"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_dir(&real).unwrap().count(), 0, "nothing written");
}

#[test]
#[ignore = "needs root (chown to another user)"]
fn missing_root_below_another_users_folder_is_refused_before_anything_is_made() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let theirs = env.dir.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = env
        .cmd_at(&theirs.join("a/b/root"))
        .args(["init"])
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert_eq!(fs::read_dir(&theirs).unwrap().count(), 0, "no folder made");
}
