//! Test helper: a temp folder with a source tree and a backup root, and the real binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod disk;
mod faults;
mod old_catalog;
pub mod serve;
mod sshd;
mod wait;

pub use disk::*;
pub use faults::*;
pub use old_catalog::*;
pub use sshd::*;
pub use wait::*;

use rusqlite::Connection;

/// A temp folder holding `src/` (a source tree) and `root/` (a backup root).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub src: PathBuf,
    pub root: PathBuf,
}

/// What a test checks of one entry on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: &'static str,
    pub data: Vec<u8>,
    pub mode: u32,
    pub mtime_ns: i64,
}

impl Env {
    /// A temp folder with an empty source and a backup root made with `phlb init`, as
    /// a user makes one (every command but `init` refuses a folder that is not a root).
    pub fn new() -> Env {
        let env = Env::bare();
        env.init(&env.root);
        env
    }

    /// As `new`, without making the backup root.
    pub fn bare() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let root = dir.path().join("root");
        fs::create_dir(&src).unwrap();
        Env { dir, src, root }
    }

    /// True when no backup went into the root: it holds nothing but the `.phlb` that
    /// `init` made (or does not exist) and its catalog records no run.
    pub fn nothing_backed_up(&self) -> bool {
        let Ok(names) = fs::read_dir(&self.root) else {
            return !self.root.exists();
        };
        let only_meta = names
            .flatten()
            .all(|e| e.file_name() == std::ffi::OsStr::new(".phlb"));
        only_meta && self.sql_int("SELECT count(*) FROM snapshot_runs") == 0
    }

    /// Makes `root` a backup root with `phlb init`.
    pub fn init(&self, root: &Path) {
        let out = Command::new(env!("CARGO_BIN_EXE_phlb"))
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("PHLB_BACKUP_ROOT")
            .env_remove("PHLB_CONFIG")
            .args(["-q", "init"])
            .arg(root)
            .output()
            .unwrap();
        assert_ok(&out);
    }

    /// A `Command` for the real binary with this env's backup root and no user config.
    pub fn cmd(&self) -> Command {
        self.cmd_at(&self.root)
    }

    /// A `Command` that runs the real binary (with this root) under `wrapper` and its
    /// `args` (`strace …`, `faketime …`).
    pub fn cmd_via(&self, wrapper: &str, args: &[&str]) -> Command {
        let mut c = Command::new(wrapper);
        c.args(args)
            .arg(env!("CARGO_BIN_EXE_phlb"))
            .arg("--backup-root")
            .arg(&self.root)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("PHLB_BACKUP_ROOT")
            .env_remove("PHLB_CONFIG");
        c
    }

    /// A `Command` for the real binary with another backup root.
    pub fn cmd_at(&self, root: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_phlb"));
        c.current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("PHLB_BACKUP_ROOT")
            .env_remove("PHLB_CONFIG")
            .arg("--backup-root")
            .arg(root);
        c
    }

    /// Runs `phlb backup src` into another backup root `root`.
    pub fn backup_into(&self, root: &Path) -> Output {
        self.cmd_at(root)
            .args(["backup", self.src.to_str().unwrap()])
            .output()
            .unwrap()
    }

    /// Starts `phlb backup src` in the background, output discarded.
    pub fn spawn_backup(&self) -> std::process::Child {
        self.cmd()
            .args(["backup", self.src.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The one integer an SQL query on the catalog returns.
    pub fn sql_int(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// The one text an SQL query on the catalog returns.
    pub fn sql_text(&self, sql: &str) -> String {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Runs `phlb restore ARGS... --to TO`.
    pub fn restore(&self, args: &[&str], to: &Path) -> Output {
        self.cmd()
            .arg("restore")
            .args(args)
            .arg("--to")
            .arg(to)
            .output()
            .unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs `phlb backup src` and asserts success; returns the new snapshot folder.
    pub fn backup(&self) -> PathBuf {
        let out = self.run(&["backup", self.src.to_str().unwrap()]);
        assert_ok(&out);
        self.snapshots("src").pop().unwrap()
    }

    /// Writes the ini `[phlb]` body into `phlb.ini` in the env folder (found by search).
    pub fn config(&self, body: &str) {
        fs::write(
            self.dir.path().join("phlb.ini"),
            format!("[phlb]\n{body}\n"),
        )
        .unwrap();
    }

    pub fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.src.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        p
    }

    /// Complete snapshot folders of `name`, oldest first.
    pub fn snapshots(&self, name: &str) -> Vec<PathBuf> {
        snapshots_at(&self.root, name)
    }

    /// Makes a snapshot folder by hand at `rel` under the backup root (`NAME/TIMESTAMP`),
    /// holding `files` (path, content), as a user who copies a tree in would; phlb has not
    /// seen it yet. Returns its path.
    pub fn hand_snapshot(&self, rel: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let dir = self.root.join(rel);
        fs::create_dir_all(&dir).unwrap();
        for (name, data) in files {
            let path = dir.join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, data).unwrap();
        }
        dir
    }

    /// Deletes the catalog with its `-wal` and `-shm`, as a user who lost it would.
    pub fn remove_catalog(&self) {
        let catalog = self.root.join(".phlb/catalog.sqlite3");
        for f in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{}{f}", catalog.display()));
        }
    }

    pub fn db(&self) -> Connection {
        Connection::open(self.root.join(".phlb/catalog.sqlite3")).unwrap()
    }

    /// Rows of the `files` view for snapshot folder `snap`, as path -> (kind, size, mode, hash).
    pub fn catalog_files(
        &self,
        snap: &Path,
    ) -> BTreeMap<Vec<u8>, (String, i64, String, Option<String>)> {
        let label = label(snap);
        let db = self.db();
        let mut stmt = db
            .prepare(
                "SELECT CAST(path AS BLOB), kind, size, mode, hash FROM files WHERE snapshot = ?1",
            )
            .unwrap();
        let rows = stmt
            .query_map([label], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
                ))
            })
            .unwrap();
        rows.map(|r| r.unwrap()).collect()
    }
}

/// `NAME/TIMESTAMP` of snapshot folder `snap`, as commands take it.
pub fn label(snap: &Path) -> String {
    format!(
        "{}/{}",
        snap.parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap(),
        snap.file_name().unwrap().to_str().unwrap()
    )
}

/// Complete snapshot folders of `name` in backup root `root`, oldest first.
pub fn snapshots_at(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root.join(name))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    // Real folders only: `<name>/latest` is a symlink to one of them.
    let real_dir = |p: &PathBuf| p.symlink_metadata().is_ok_and(|m| m.is_dir());
    v.retain(|p| real_dir(p) && !p.to_string_lossy().contains(".inprogress"));
    v.sort();
    v
}

/// The file `<timestamp><suffix>` beside snapshot folder `snap` (its manifest with
/// `.SHA256SUMS`, its summary with `-summary.txt`).
pub fn beside(snap: &Path, suffix: &str) -> PathBuf {
    let name = snap.file_name().unwrap().to_str().unwrap();
    snap.with_file_name(format!("{name}{suffix}"))
}

/// Checks snapshot folder `snap` against the manifest beside it with the coreutils tool
/// (`sha256sum` or `sha512sum`) as a user would, `TOOL -c` inside the folder; asserts it
/// passes and returns what it printed.
pub fn assert_sums_check(snap: &Path, tool: &str) -> String {
    let suffix = format!(".{}SUMS", tool.trim_end_matches("sum").to_uppercase());
    let out = Command::new(tool)
        .arg("-c")
        .arg(beside(snap, &suffix))
        .current_dir(snap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

/// Today's date as `%Y-%m-%d` in local time, as the `date` command gives it.
pub fn today() -> String {
    let out = Command::new("date").arg("+%Y-%m-%d").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "phlb failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the exit code, showing both streams when it differs.
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs phlb without the capabilities that let root read and write any file, so file
/// modes are enforced even when the tests run as root.
pub fn run_without_dac_override(env: &Env, args: &[&str]) -> Output {
    let mut cmd = env.cmd();
    cmd.args(args);
    // SAFETY: prctl is async-signal-safe; the closure only calls it.
    unsafe {
        cmd.pre_exec(|| {
            for cap in [1, 2] {
                // CAP_DAC_OVERRIDE = 1, CAP_DAC_READ_SEARCH = 2
                libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0);
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Asserts that no panic or backtrace reached the user.
pub fn assert_no_panic(out: &Output) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked at") && !err.contains("stack backtrace"),
        "{err}"
    );
}

/// Writes `dirs` x `files` files of growing sizes whose content depends on `tag`, so a
/// new tag changes every file and gives the next backup real work.
pub fn write_tree(env: &Env, dirs: usize, files: usize, tag: &str) {
    for d in 0..dirs {
        for f in 0..files {
            let body = format!("{tag} {d}/{f} {}", "x".repeat(f * 30));
            env.write(&format!("d{d:02}/f{f:03}"), body.as_bytes());
        }
    }
}

/// Waits until every change made so far is over a second old: a backup records a file's
/// ctime only then (a change in the same tick of the kernel's clock could repeat it), and
/// the next run links without reading only a file whose recorded ctime it sees again.
/// Tests that count files linked unread settle their source before the first backup.
pub fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

/// Runs `phlb backup src` with the clock set to `when` (local time, `YYYY-MM-DD
/// HH:MM:SS`) by libfaketime, and asserts success; returns the new snapshot folder.
pub fn backup_at(env: &Env, when: &str) -> PathBuf {
    // `-f` with an absolute time freezes the clock there, however slow the start.
    let out = env
        .cmd_via("faketime", &["-f", when])
        .args(["-q", "backup", env.src.to_str().unwrap()])
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .output()
        .expect("faketime must be installed (.ci/run installs it)");
    assert_ok(&out);
    let (date, time) = when.split_once(' ').unwrap();
    let snap = env
        .root
        .join("src")
        .join(format!("{date}-{}", time.replace(':', "")));
    assert!(snap.is_dir(), "no snapshot {}", snap.display());
    snap
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn two_snapshots(env: &Env) -> (String, String) {
    env.write("notes/todo.txt", b"one");
    env.write("a,b.txt", b"same");
    env.write("copy.txt", b"same");
    let first = backup_at(env, "2026-01-01 10:00:00");
    env.write("notes/todo.txt", b"two");
    let second = backup_at(env, "2026-01-02 10:00:00");
    let label = |p: &Path| format!("src/{}", p.file_name().unwrap().to_str().unwrap());
    (label(&first), label(&second))
}

pub fn latest_target(env: &Env) -> String {
    fs::read_link(env.root.join("src/latest"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}
