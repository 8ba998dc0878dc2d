//! What stops a remote backup (exit 2, one line, no snapshot) and what only marks it
//! (rsync's exit 23 and 24), and rsync's rule for a local folder named `a:b`.

use super::{fill, Remote, NAME};
use crate::common::*;
use std::fs;

/// Exit 2, one `phlb: error:` line that says `says`, and nothing backed up.
fn refused(r: &Remote, out: &std::process::Output, says: &str) {
    assert_code(out, 2);
    let err = stderr(out);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("phlb: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains(says), "{err}");
    assert!(errors[0].contains("no snapshot made"), "{err}");
    assert!(r.env.nothing_backed_up(), "{err}");
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn unreachable_host_wrong_key_missing_folder_and_missing_rsync_are_exit_2() {
    let r = Remote::new();
    fill(&r.env);
    // Nothing listens on 127.0.0.2.
    let spec = format!("127.0.0.2:{}", r.env.src.display());
    let out = r.env.run(&["backup", &spec]);
    refused(&r, &out, "Connection refused");
    // A key the server does not know.
    let wrong = r.env.dir.path().join("wrong_key");
    ssh_keygen(&wrong);
    r.env.config(&format!("SSH = {}", r.sshd.ssh_with(&wrong)));
    refused(&r, &r.backup(&[]), "Permission denied");
    r.env.config(&format!("SSH = {}", r.sshd.ssh()));
    // The folder is not there on the client.
    let gone = format!("127.0.0.1:{}/nope", r.env.src.display());
    refused(
        &r,
        &r.env.run(&["backup", &gone]),
        "No such file or directory",
    );
    // No rsync here, and none on the client.
    r.env.config(&format!(
        "SSH = {}\nRSYNC = /nonexistent/rsync",
        r.sshd.ssh()
    ));
    refused(&r, &r.backup(&[]), "/nonexistent/rsync");
    r.env.config(&format!("SSH = {}", r.sshd.ssh()));
    let out = r.backup(&["--rsync-opt=--rsync-path=/nonexistent/rsync"]);
    refused(&r, &out, "/nonexistent/rsync");
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn a_file_rsync_cannot_transfer_is_exit_1_with_its_path_and_vanished_files_are_counted() {
    let r = Remote::new();
    fill(&r.env);
    assert_ok(&r.backup(&[]));
    // The mirror's copy cannot be replaced: rsync exits 23 naming it. (Not one of a
    // hardlink pair: rsync 3.5.0 then waits forever.)
    r.env.write("docs/b.txt", b"beta, changed and longer");
    let stuck = r.mirror(NAME).join("docs/b.txt");
    chattr("+i", &stuck);
    let out = r.backup(&["--json"]);
    chattr("-i", &stuck);
    assert_code(&out, 1);
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["failed"], 1, "{report}");
    let failed = report["failures"][0]["path"].as_str().unwrap();
    assert!(failed.ends_with("/src/docs/b.txt"), "{report}");
    assert!(failed.starts_with("root@127.0.0.1:"), "{report}");
    // rsync's own words are in the run's log.
    let snap = r.env.snapshots(NAME).pop().unwrap();
    let log = fs::read_to_string(beside(&snap, "-backup.log")).unwrap();
    assert!(log.contains("Operation not permitted"), "{log}");

    // Exit 24 (a file vanished while rsync sent it): counted, not a failure. An rsync
    // that says so stands in for the race.
    let wrap = r.env.dir.path().join("rsync-vanished");
    fs::write(
        &wrap,
        format!(
            "#!/bin/sh\nrsync \"$@\" || exit $?\necho 'file has vanished: \"{}/gone.txt\"' >&2\nexit 24\n",
            r.env.src.display()
        ),
    )
    .unwrap();
    set_mode(&wrap, 0o755);
    r.env.config(&format!(
        "SSH = {}\nRSYNC = {}",
        r.sshd.ssh(),
        wrap.display()
    ));
    let report = r.backup_json(&[]);
    assert_eq!(report["vanished"], 1, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
}

#[test]
fn a_local_folder_named_a_colon_b_is_local_written_with_a_slash() {
    let env = Env::new();
    let local = env.dir.path().join("a:b");
    fs::create_dir(&local).unwrap();
    fs::write(local.join("f"), b"local").unwrap();
    // `a:b` is remote by rsync's rule (host `a`, relative path `b`): refused with the
    // way to say the local folder.
    let out = env.run(&["backup", "a:b"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("./a:b"), "{}", stderr(&out));
    assert!(env.nothing_backed_up());
    let out = env.run(&["backup", "./a:b"]);
    assert_ok(&out);
    let snap = env.snapshots("a:b").pop().unwrap();
    assert_eq!(fs::read(snap.join("f")).unwrap(), b"local");
    // Home-relative and relative remote paths are refused, in SOURCES too.
    let out = env.run(&["backup", "host:~/x"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("`~`"), "{}", stderr(&out));
    env.config("SOURCES = host:docs");
    let out = env.run(&["backup"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("absolute"), "{}", stderr(&out));
}

#[test]
fn watch_and_dry_runs_refuse_a_remote_source() {
    let env = Env::new();
    let out = env.run(&["watch", "host:/srv"]);
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("cannot be watched"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["backup", "-n", "me@host:/srv"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("dry run"), "{}", stderr(&out));
}
