//! What a user sees in a real terminal: the real binary runs in a tmux pane of a fixed
//! width, and the tests read the pane as the user would. Slow reads or removals come from
//! strace's delay injection, so a short run lasts long enough to watch.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;

/// What the pane shows once the script is over.
const END: &str = "END-OF-SCRIPT";

/// A detached tmux session of its own (own server socket) running one shell script.
struct Pane {
    socket: String,
}

impl Pane {
    /// Runs `script` in a pane `cols` columns wide; the pane stays after it ends.
    fn run(env: &Env, cols: u16, script: &str) -> Pane {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "phlb-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let file = env.dir.path().join(format!("{socket}.sh"));
        // The shell runs on after a Ctrl-C (a trap, not an ignore, which phlb would
        // inherit), so the pane stays to be read.
        fs::write(
            &file,
            format!("trap 'true' INT\n{script}\necho {END}\nsleep 600\n"),
        )
        .unwrap();
        let ok = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", &cols.to_string(), "-y", "40"])
            .arg(format!("sh {}", file.display()))
            .env_remove("TMUX")
            .status()
            .expect("tmux is installed")
            .success();
        assert!(ok, "tmux did not start");
        Pane { socket }
    }

    /// The pane's text as the user sees it now, one line per screen row.
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ctrl_c(&self) {
        Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "C-c"])
            .status()
            .unwrap();
    }

    /// Waits until the screen satisfies `cond` (which sees every screen read); fails
    /// when the script ends first.
    fn wait(&self, mut cond: impl FnMut(&str) -> bool) -> String {
        let mut last = String::new();
        let mut ended = false;
        let ok = wait_for(|| {
            last = self.screen();
            ended = last.contains(END);
            cond(&last) || ended
        });
        assert!(
            ok && (!ended || cond(&last)),
            "never seen; the screen was:\n{last}"
        );
        last
    }

    /// Waits until the script has ended; returns the screen then.
    fn ended(&self) -> String {
        self.wait(|s| s.contains(END))
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// The shell command that runs phlb for `env` (its root, no user config), quoted.
fn phlb(env: &Env) -> String {
    format!(
        "env -u PHLB_CONFIG -u PHLB_BACKUP_ROOT HOME='{}' '{}' --backup-root '{}'",
        env.dir.path().display(),
        env!("CARGO_BIN_EXE_phlb"),
        env.root.display()
    )
}

/// `phlb` under strace, every `syscall` made `micros` slower.
fn slowed(env: &Env, syscall: &str, micros: u32) -> String {
    format!(
        "strace -f -o /dev/null -e trace={syscall} -e inject={syscall}:delay_exit={micros} {}",
        phlb(env)
    )
}

/// The bar lines on a screen (those with a count of files or names).
fn bar_lines(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| l.contains(" files,") || l.contains(" names,"))
        .collect()
}

/// One file of `mib` MiB of data that does not compress or dedup.
fn big_file(path: &Path, mib: usize) {
    let mut data = Vec::with_capacity(mib << 20);
    let mut x: u32 = 2463534242;
    while data.len() < mib << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(path, data).unwrap();
}

/// True when the bar line shows more than zero bytes done and less than all: with one
/// file to do, the bytes moved within it.
fn bytes_within(line: &str) -> bool {
    let Some((_, bytes)) = line.split_once(" files,") else {
        return false;
    };
    let bytes = bytes.split(", ETA").next().unwrap_or("");
    let (done, total) = bytes.trim().split_once('/').unwrap_or(("", ""));
    done != "0 B" && !done.is_empty() && done != total
}

#[test]
fn progress_bytes_stuck_at_zero_until_a_large_file_ends() {
    // Was `0/1 files, 0 B/1.46 GiB` for the whole run: bytes counted when a file ended.
    let env = Env::new();
    let src = env.dir.path().join("Documents");
    fs::create_dir(&src).unwrap();
    big_file(&src.join("big.bin"), 24);
    let script = format!(
        "{} backup '{}'",
        slowed(&env, "read", 50_000),
        src.display()
    );
    let pane = Pane::run(&env, 80, &script);
    let seen = pane.wait(|s| bar_lines(s).iter().any(|l| bytes_within(l)));
    let line = bar_lines(&seen)[0];
    assert!(line.starts_with("backup Doc"), "{line}");
    assert!(line.chars().count() <= 77, "{line}");
    pane.ended();
}

#[test]
fn restore_progress_bytes_stuck_at_zero_until_a_large_file_ends() {
    let env = Env::new();
    big_file(&env.write("big.bin", b""), 24);
    assert_ok(&env.run(&["-q", "backup", env.src.to_str().unwrap()]));
    let to = env.dir.path().join("out");
    let script = format!(
        "{} restore src --to '{}'",
        slowed(&env, "read", 50_000),
        to.display()
    );
    let pane = Pane::run(&env, 80, &script);
    let seen = pane.wait(|s| bar_lines(s).iter().any(|l| bytes_within(l)));
    let line = bar_lines(&seen)[0];
    assert!(line.starts_with("restore src/"), "{line}");
    pane.ended();
    assert_eq!(
        fs::read(to.join("big.bin")).unwrap(),
        fs::read(env.src.join("big.bin")).unwrap()
    );
}

/// A tree of `dirs` folders of `files` small files each under `top`.
fn many_files(top: &Path, dirs: usize, files: usize) {
    for d in 0..dirs {
        let dir = top.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..files {
            fs::write(dir.join(format!("f{f}")), format!("{d} {f}")).unwrap();
        }
    }
}

#[test]
fn progress_line_wraps_and_name_cut_to_one_character() {
    // At 160 columns the line was 162 characters (it wrapped) and the name was cut to
    // `…s/2026-12-07-022634`; at 80 it was cut the same way.
    for cols in [80usize, 160] {
        let env = Env::new();
        let src = env.dir.path().join("Documents");
        many_files(&src, 20, 50);
        let script = format!("{} backup '{}'", slowed(&env, "read", 2_000), src.display());
        let pane = Pane::run(&env, cols as u16, &script);
        let seen = pane.wait(|s| !bar_lines(s).is_empty());
        // Only the bar is on screen while the run goes on: every line is it, whole.
        for line in seen.lines().filter(|l| !l.trim().is_empty()) {
            assert!(line.chars().count() <= cols - 3, "{cols}: {line}");
            if cols == 160 {
                assert!(line.starts_with("backup Documents/20"), "{cols}: {line}");
            } else {
                assert!(line.starts_with("backup Doc"), "{cols}: {line}");
            }
            assert!(line.contains("ETA"), "{cols}: {line}");
        }
        pane.ended();
    }
}

#[test]
fn progress_bar_stays_on_screen_after_ctrl_c() {
    // The bar filled the whole line; the `^C` the terminal echoes wrapped to a line of
    // its own, and the clear at exit cleared that one instead of the bar.
    let env = Env::new();
    let src = env.dir.path().join("Documents");
    many_files(&src, 40, 200);
    // Slowed so the run is surely still going when Ctrl-C comes (strace itself blocks
    // SIGINT while it runs a program with `-o`, so only phlb gets it).
    let script = format!("{} backup '{}'", slowed(&env, "read", 2_000), src.display());
    let pane = Pane::run(&env, 80, &script);
    pane.wait(|s| !bar_lines(s).is_empty());
    pane.ctrl_c();
    let seen = pane.ended();
    assert!(seen.contains("phlb: interrupted"), "{seen}");
    assert!(bar_lines(&seen).is_empty(), "the bar stayed:\n{seen}");
}

#[test]
fn forget_progress_says_prune_and_passes_its_total() {
    // `forget` showed `phlb: prune: 59916/53590 files`: folders and the files beside a
    // snapshot are removed and counted too, against a total of its files.
    let env = Env::new();
    for d in 0..150 {
        env.write(&format!("d{d}/f"), format!("{d}").as_bytes());
    }
    let snap = env.backup();
    let label = format!("src/{}", snap.file_name().unwrap().to_str().unwrap());
    let script = format!("{} forget {label}", slowed(&env, "unlinkat", 10_000));
    let pane = Pane::run(&env, 120, &script);
    assert_removal_frames(&pane, "forget [");
    assert!(!snap.exists());
}

#[test]
fn backup_prune_progress_passes_its_total() {
    // `backup --prune` showed `21653/21403`, under the name `prune`.
    let env = Env::new();
    env.config("KEEP_LAST = 1");
    for d in 0..150 {
        env.write(&format!("d{d}/f"), format!("{d}").as_bytes());
    }
    let snap = env.backup();
    env.write("new.txt", b"new");
    let script = format!(
        "{} backup --prune '{}'",
        slowed(&env, "unlinkat", 10_000),
        env.src.display()
    );
    let pane = Pane::run(&env, 120, &script);
    assert_removal_frames(&pane, "backup --prune [");
    assert!(!snap.exists());
}

/// Reads the pane until its script ends and checks every removal bar seen: it starts
/// with `start`, and its count never passes its total, which counts every name.
fn assert_removal_frames(pane: &Pane, start: &str) {
    let mut frames = Vec::new();
    pane.wait(|s| {
        frames.extend(
            bar_lines(s)
                .iter()
                .filter(|l| l.contains(" names,") || !l.starts_with("backup src/"))
                .map(|l| l.to_string()),
        );
        s.contains(END)
    });
    assert!(!frames.is_empty(), "no bar was seen");
    for line in &frames {
        assert!(line.starts_with(start), "{line}");
        let counts = line
            .split_whitespace()
            .find(|w| w.contains('/') && w.chars().next().unwrap().is_ascii_digit())
            .unwrap_or_else(|| panic!("no count in {line}"));
        let (done, total) = counts.split_once('/').unwrap();
        let (done, total): (u64, u64) = (done.parse().unwrap(), total.parse().unwrap());
        assert!(done <= total, "{line}");
        // 150 files, 151 folders and the files beside the snapshot.
        assert!(total > 300, "{line}");
    }
}
