//! Test helper: a temp folder with a source tree and a backup root, and the real binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod serve;

use rusqlite::Connection;
use walkdir::WalkDir;

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
        let label = format!(
            "{}/{}",
            snap.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap(),
            snap.file_name().unwrap().to_str().unwrap()
        );
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

/// A tmpfs mounted for one test, unmounted when dropped (mounting needs root).
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) at `dir`; None when it
    /// cannot be mounted.
    pub fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }

    /// Fills the disk to the last byte.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0x5au8; 64 << 10];
        while f.write_all(&block).is_ok() {}
        for size in [4096, 512, 1] {
            while f.write_all(&block[..size]).is_ok() {}
        }
    }

    /// Gives the disk a new size.
    pub fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Sets a file's mtime to `t`, before 1970 or after 2262 as well.
pub fn set_mtime_to(p: &Path, t: std::time::SystemTime) {
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_modified(t))
        .unwrap();
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

pub fn ino(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().ino()
}

pub fn nlink(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().nlink()
}

pub fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

pub fn mtime_ns(p: &Path) -> i64 {
    let md = fs::symlink_metadata(p).unwrap();
    md.mtime() * 1_000_000_000 + md.mtime_nsec()
}

pub fn set_mode(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets a file's mtime to `secs` seconds plus `nsec` nanoseconds.
pub fn set_mtime(p: &Path, secs: u64, nsec: u32) {
    set_mtime_to(
        p,
        std::time::UNIX_EPOCH + std::time::Duration::new(secs, nsec),
    );
}

/// Every entry under `dir` (not following symlinks) with what a test compares.
pub fn tree(dir: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    for e in WalkDir::new(dir).follow_links(false) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap();
        let rel: &OsStr = if rel.as_os_str().is_empty() {
            OsStr::new(".")
        } else {
            rel.as_os_str()
        };
        let md = e.path().symlink_metadata().unwrap();
        let (kind, data) = if md.is_dir() {
            ("dir", Vec::new())
        } else if md.file_type().is_symlink() {
            (
                "symlink",
                fs::read_link(e.path())
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            ("file", fs::read(e.path()).unwrap())
        };
        let node = Node {
            kind,
            data,
            mode: md.mode() & 0o7777,
            mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        };
        out.insert(rel.as_bytes().to_vec(), node);
    }
    out
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

/// Starts `phlb backup src` and SIGKILLs it once its in-progress snapshot folder holds
/// at least `entries` entries (0: as soon as possible). Returns true when the run was
/// killed, false when it finished first.
pub fn kill_backup_part_way(env: &Env, entries: usize) -> bool {
    let mut child = env.spawn_backup();
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        let partial = fs::read_dir(env.root.join("src"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".inprogress"));
        let done = partial.map_or(0, |p| WalkDir::new(p.path()).into_iter().count());
        if done >= entries {
            let running = child.try_wait().unwrap().is_none();
            if running {
                child.kill().unwrap();
            }
            break running;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    child.wait().unwrap();
    killed
}

/// Runs phlb under strace, killed (SIGKILL) at the `n`-th call of `syscall`; true when
/// the kill came (the run made fewer such calls otherwise).
pub fn killed_at(env: &Env, syscall: &str, n: u32, args: &[&str]) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let out = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "-e"])
        .arg(format!("inject={syscall}:signal=SIGKILL:when={n}"))
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(args)
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .output()
        .expect("strace must be installed (.ci/run installs it)");
    out.status.signal() == Some(libc::SIGKILL)
}

/// Runs `phlb backup src` with the clock set to `when` (local time, `YYYY-MM-DD
/// HH:MM:SS`) by libfaketime, and asserts success; returns the new snapshot folder.
pub fn backup_at(env: &Env, when: &str) -> PathBuf {
    // `-f` with an absolute time freezes the clock there, however slow the start.
    let out = Command::new("faketime")
        .args(["-f", when])
        .arg(env!("CARGO_BIN_EXE_phlb"))
        .arg("--backup-root")
        .arg(&env.root)
        .args(["-q", "backup", env.src.to_str().unwrap()])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
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

/// Unmounts a mount when a test ends, passed or not.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Bind-mounts `from` on the existing folder `on` (root only); unmounted when the
/// returned guard goes.
pub fn bind_mount(from: &Path, on: &Path) -> Unmount {
    let ok = Command::new("mount")
        .arg("--bind")
        .arg(from)
        .arg(on)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount --bind needs root");
    Unmount(on.to_path_buf())
}

/// How long a test waits for an event it asserts (a snapshot made, a line printed, a
/// server up). Generous on purpose: on a loaded 2-core machine a step that takes
/// milliseconds alone can take many seconds. A test that passes waits only as long as
/// the event takes; the deadline matters only when something is really wrong.
pub const EVENT_DEADLINE: Duration = Duration::from_secs(60);

/// The one polling helper of the suite: calls `cond` every 20 ms until it holds (true)
/// or `EVENT_DEADLINE` passes (false). Tests wait on what they assert, never on a
/// proxy and never on a bare sleep.
pub fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + EVENT_DEADLINE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child whose stderr goes to a file, so a test can wait for a line it prints while
/// it runs (`wait_for(|| c.stderr().contains(…))`).
pub struct Watched {
    pub child: std::process::Child,
    err: PathBuf,
}

impl Watched {
    /// Spawns `cmd` with stdout discarded and stderr into a file of `env`'s temp folder.
    pub fn spawn(env: &Env, mut cmd: Command) -> Watched {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let err = env.dir.path().join(format!("stderr-{n}"));
        cmd.stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap());
        Watched {
            child: cmd.spawn().unwrap(),
            err,
        }
    }

    /// What the child printed on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits for the child to end; its exit status and everything it printed on stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.stderr())
    }
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn chattr(flag: &str, p: &std::path::Path) {
    let ok = Command::new("chattr")
        .arg(flag)
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "chattr {flag} needs root and a filesystem with the flag"
    );
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

/// Undoes V12 (instant, offset, sequence, source host) and V13 (source moved): the v11
/// shape of today's main.
pub const UNDO_V12: &str = "DROP INDEX snapshot_runs_by_order;
     DROP VIEW snapshots;
     ALTER TABLE snapshot_runs DROP COLUMN source_moved;
     ALTER TABLE snapshot_runs DROP COLUMN instant_ns;
     ALTER TABLE snapshot_runs DROP COLUMN utc_offset;
     ALTER TABLE snapshot_runs DROP COLUMN sequence;
     ALTER TABLE snapshot_runs DROP COLUMN source_host;
     CREATE VIEW snapshots AS
     SELECT id, name, timestamp, name || '/' || timestamp AS path, status, started_at,
            finished_at, files, bytes, new_bytes, time_source, trimmed
     FROM snapshot_runs;";

/// Turns a current catalog back into the v11 shape of today's main, and removes the side
/// files it does not write.
pub fn downgrade_to_v11(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V12} DELETE FROM refinery_schema_history WHERE version > 11;"
        ))
        .unwrap();
    for name in fs::read_dir(&env.root).unwrap().flatten() {
        for item in fs::read_dir(name.path()).into_iter().flatten().flatten() {
            if item
                .file_name()
                .to_string_lossy()
                .ends_with("-snapshot.json")
            {
                fs::remove_file(item.path()).unwrap();
            }
        }
    }
}
