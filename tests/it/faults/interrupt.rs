//! Ctrl-C (SIGINT) and SIGTERM stop a command as a kill would, with one line saying what
//! was stopped and exit 130 / 143.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Starts `cmd` with SIGINT and SIGTERM at their defaults (a test runner started in the
/// background may pass SIGINT on as ignored, which phlb respects).
fn spawn(mut cmd: Command) -> Child {
    // SAFETY: signal() is async-signal-safe; the closure only calls it.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            Ok(())
        });
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// Sends `sig` to `child` once `ready` says so; returns its output.
fn signal_when(mut child: Child, sig: i32, ready: impl Fn() -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "phlb ended before it could be interrupted"
        );
        assert!(Instant::now() < deadline, "phlb never got ready");
        std::thread::sleep(Duration::from_micros(200));
    }
    // SAFETY: kill with a valid signal number on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    child.wait_with_output().unwrap()
}

/// Asserts the exit code and exactly one `phlb: interrupted:` line on stderr.
fn assert_interrupted(out: &Output, code: i32) -> String {
    assert_code(out, code);
    assert_no_panic(out);
    let err = stderr(out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("phlb: interrupted:"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

fn in_progress(env: &Env) -> bool {
    fs::read_dir(env.root.join("src"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".inprogress"))
}

fn interrupted_backup_is_never_complete(sig: i32, code: i32) {
    let env = Env::new();
    write_tree(&env, 50, 100, "one");
    let mut cmd = env.cmd();
    cmd.args(["backup", env.src.to_str().unwrap()]);
    let out = signal_when(spawn(cmd), sig, || in_progress(&env));
    let line = assert_interrupted(&out, code);
    assert!(
        line.contains("backup of src/") && line.contains("nothing was marked complete"),
        "{line}"
    );
    let db = env.db();
    let mut stmt = db.prepare("SELECT status FROM snapshot_runs").unwrap();
    let statuses: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(!statuses.iter().any(|s| s == "complete"), "{statuses:?}");
    assert!(
        env.snapshots("src").is_empty(),
        "a final-named snapshot exists"
    );
    let snap = env.backup();
    assert_eq!(tree(&snap), tree(&env.src));
    assert!(!in_progress(&env), "the next run left the leftovers");
    assert_ok(&env.run(&["verify"]));
}

#[test]
fn ctrl_c_stops_a_backup_with_one_line_and_exit_130() {
    interrupted_backup_is_never_complete(libc::SIGINT, 130);
}

#[test]
fn a_clean_ctrl_c_leaves_no_stale_lock_for_the_next_run() {
    // Regression: after Ctrl-C the next run said "taking over the stale lock
    // of process N, which is gone", as after a crash.
    let env = Env::new();
    write_tree(&env, 50, 100, "one");
    let mut cmd = env.cmd();
    cmd.args(["backup", env.src.to_str().unwrap()]);
    let out = signal_when(spawn(cmd), libc::SIGINT, || in_progress(&env));
    assert_interrupted(&out, 130);
    assert_eq!(
        fs::read_to_string(env.root.join(".phlb/lock")).unwrap(),
        "",
        "the pid of an interrupted run stayed in the lock file"
    );
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("stale lock"), "{}", stderr(&out));
}

#[test]
fn sigterm_stops_a_backup_with_one_line_and_exit_143() {
    interrupted_backup_is_never_complete(libc::SIGTERM, 143);
}

#[test]
fn ctrl_c_and_sigterm_stop_an_endless_sql_query() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let mut cmd = env.cmd();
        cmd.args([
            "sql",
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c",
            "--format",
            "csv",
        ]);
        let child = spawn(cmd);
        let started = Instant::now();
        let out = signal_when(child, sig, || {
            started.elapsed() > Duration::from_millis(300)
        });
        let line = assert_interrupted(&out, code);
        assert_eq!(line, "phlb: interrupted: sql query stopped");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("n\n1\n2\n"));
    }
}

#[test]
fn interrupted_backup_on_a_terminal_clears_the_progress_bar() {
    // `script` comes with util-linux (Debian's essential bsdutils): always there.
    let env = Env::new();
    // Big enough that the run outlasts the bar's first draws on a fast machine.
    write_tree(&env, 300, 100, "one");
    // `script` runs phlb on a pseudo-terminal, so it draws its bar, and copies the
    // terminal's output to stdout.
    // `exec`: some shells fork for `-c`, others replace themselves; the pid is looked
    // up among all descendants either way.
    let phlb = format!(
        "exec {} --backup-root {} backup {}",
        env!("CARGO_BIN_EXE_phlb"),
        env.root.display(),
        env.src.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &phlb, "/dev/null"])
        .current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .stdin(Stdio::null());
    let script = spawn(cmd);
    let phlb_pid = std::cell::Cell::new(0);
    let out = {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !in_progress(&env) {
            assert!(Instant::now() < deadline, "phlb never got ready");
            std::thread::sleep(Duration::from_micros(200));
        }
        // Let the bar draw (4 times a second) at least once.
        std::thread::sleep(Duration::from_millis(300));
        let pid = descendant_named(script.id() as libc::pid_t, "phlb")
            .expect("no phlb process under script");
        phlb_pid.set(pid);
        // SAFETY: kill with a valid signal number on the pid of our own grandchild.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        script.wait_with_output().unwrap()
    };
    assert_ne!(phlb_pid.get(), 0);
    assert_code(&out, 130);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("src/") && screen.contains(" B/"),
        "no bar was drawn: {screen:?}"
    );
    assert_eq!(
        screen.matches("phlb: interrupted:").count(),
        1,
        "{screen:?}"
    );
    assert!(
        screen.contains("\r\x1b[2Kphlb: interrupted: backup of src/"),
        "the bar was not cleared before the line: {screen:?}"
    );
    assert!(env.snapshots("src").is_empty());
}

/// The first process named `name` among the descendants of `pid` (breadth first).
fn descendant_named(pid: libc::pid_t, name: &str) -> Option<libc::pid_t> {
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let children =
            fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            let comm = fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if comm.trim_end() == name {
                return Some(child);
            }
            todo.insert(0, child);
        }
    }
    None
}

#[test]
fn restore_interrupted_says_so_and_the_next_run_finishes_it() {
    let env = Env::new();
    for i in 0..60 {
        env.write(&format!("d{}/f{i}", i % 4), &vec![i as u8 + 1; 2 << 20]);
    }
    let snap = env.backup();
    let label = format!("src/{}", snap.file_name().unwrap().to_str().unwrap());
    let out = env.dir.path().join("out");
    let mut cmd = env.cmd();
    cmd.args(["restore", &label, "--to"]).arg(&out);
    let child = spawn(cmd);
    let done = signal_when(child, libc::SIGINT, || {
        walkdir::WalkDir::new(&out).into_iter().flatten().count() > 8
    });
    let line = assert_interrupted(&done, 130);
    assert!(line.contains(&format!("restore of {label}")), "{line}");
    assert_ok(&env.restore(&[&label], &out));
    assert_eq!(tree(&out), tree(&env.src));
}
