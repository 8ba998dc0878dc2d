//! A pull killed with SIGKILL midway: rsync dies with phlb, nothing looks complete, the
//! mirror keeps what it finished, and the next run sends only the rest.

use super::{Remote, NAME};
use crate::common::*;
use std::time::{Duration, Instant};

/// Processes whose command line mentions `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn sigkill_during_the_pull_leaves_nothing_complete_and_the_next_run_sends_the_rest() {
    let r = Remote::new();
    let files = 24;
    let size = 256 * 1024;
    for i in 0..files {
        let data: Vec<u8> = (0..size).map(|b| ((b * 31 + i * 7) % 251) as u8).collect();
        r.env.write(&format!("f{i:02}.bin"), &data);
    }
    // Slowed to ~1.5 MB/s, the transfer takes about four seconds.
    let mut child = r
        .env
        .cmd()
        .args(["-q", "backup", "--rsync-opt=--bwlimit=1500"])
        .arg(r.spec())
        .spawn()
        .unwrap();
    let mirror = r.mirror(NAME);
    let done = |min: usize| {
        std::fs::read_dir(&mirror)
            .map(|it| {
                it.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
                    >= min
            })
            .unwrap_or(false)
    };
    until_pulling(&mut child, || done(6));
    child.kill().unwrap();
    child.wait().unwrap();
    // rsync dies with phlb (it never writes on after the writer lock is free).
    let needle = mirror.to_str().unwrap().to_string();
    let start = Instant::now();
    while !processes_naming(&needle).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "rsync outlived phlb: {:?}",
            processes_naming(&needle)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing looks complete: no snapshot folder, no run in the catalog.
    assert!(r.env.nothing_backed_up());
    assert!(r.env.snapshots(NAME).is_empty());
    // The next run sends only the rest and makes the whole snapshot.
    let report = r.backup_json(&[]);
    let sent = report["pulled_bytes"].as_u64().unwrap();
    let total = (files * size) as u64;
    assert!(
        sent < total - 4 * size as u64,
        "sent {sent} of {total}: {report}"
    );
    let snap = r.env.snapshots(NAME).pop().unwrap();
    assert_eq!(tree(&snap), tree(&r.env.src));
    assert_eq!(tree(&mirror), tree(&r.env.src));
    assert_ok(&r.env.run(&["verify"]));
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn a_pull_waits_for_the_rsync_a_killed_run_left_writing_into_the_mirror() {
    // Found by the attack round: rsync's forked receiver outlived a phlb killed with
    // SIGKILL and wrote on into the mirror while the next run's rsync pulled into it too.
    let r = Remote::new();
    let size = 24 << 20;
    let data: Vec<u8> = (0..size as u64)
        .map(|b| ((b * 131 + 7) % 251) as u8)
        .collect();
    r.env.write("big.bin", &data);
    // ~8 MB/s: the file takes about three seconds.
    let mut child = r
        .env
        .cmd()
        .args(["-q", "backup", "--rsync-opt=--bwlimit=8000"])
        .arg(r.spec())
        .spawn()
        .unwrap();
    let mirror = r.mirror(NAME);
    let needle = mirror.to_str().unwrap().to_string();
    until_pulling(&mut child, || processes_naming(&needle).len() >= 2);
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !processes_naming(&needle).is_empty(),
        "no rsync outlived phlb: nothing left to wait for"
    );
    let out = r.backup(&[]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("waiting for the rsync of an interrupted pull"),
        "{}",
        stderr(&out)
    );
    let snap = r.env.snapshots(NAME).pop().unwrap();
    assert_eq!(tree(&snap), tree(&r.env.src));
    assert_ok(&r.env.run(&["verify"]));
}

/// Waits until `ready` holds while the pull goes on; fails when phlb ends first or
/// nothing happens within 20 s.
fn until_pulling(child: &mut std::process::Child, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the pull did not start"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "phlb ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
