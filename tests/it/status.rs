//! `phlb status` through the real binary: stale names, killed runs (immune to pid reuse
//! and to other writers), and backups that failed before a snapshot started.

use crate::common::serve::*;
use crate::common::*;

#[test]
fn status_is_clean_when_fresh_and_exit_1_when_stale() {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.backup();
    env.config("MAX_AGE = 26h");
    let out = env.run(&["status", "--json"]);
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = &doc["names"][0];
    assert_eq!(n["name"], "src");
    assert_eq!(n["stale"], false);
    assert_eq!(n["failed"], false);
    assert!(n["age_secs"].as_i64().unwrap() < 60);
    assert!(n["newest"].as_str().unwrap().starts_with("src/"));
    assert_eq!(doc["max_age"], "1d2h");
    assert_eq!(doc["ok"], true);

    let old = Env::new();
    old.write("a.txt", b"a");
    backup_at(&old, "2020-01-01 12:00:00");
    old.config("MAX_AGE = 26h");
    let out = old.run(&["status"]);
    assert_code(&out, 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("STALE"));
    let quiet = old.run(&["status", "-q"]);
    assert_code(&quiet, 1);
    assert!(quiet.stdout.is_empty());
    let json = old.run(&["status", "--json"]);
    assert_code(&json, 1);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["names"][0]["stale"], true);
    assert_eq!(doc["names"][0]["taken_at"].as_str().unwrap()[..4], *"2020");
    // Without MAX_AGE nothing is stale.
    old.config("");
    assert_ok(&old.run(&["status"]));
}

/// A root whose first backup is complete and whose second was killed (SIGKILL at its
/// first hardlink, so after its catalog row was made): the newest run is incomplete.
fn killed_second_run() -> Env {
    let env = Env::new();
    env.write("a.txt", b"a");
    env.write("b.txt", b"b");
    env.backup();
    assert!(killed_at(
        &env,
        "linkat",
        1,
        &["backup", env.src.to_str().unwrap()]
    ));
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshots WHERE status = 'incomplete'"),
        1
    );
    env
}

/// `phlb status --json`: its exit code and whether the one name's last run failed.
fn status_failed(out: &std::process::Output) -> (i32, bool) {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        out.status.code().unwrap(),
        doc["names"][0]["failed"].as_bool().unwrap(),
    )
}

#[test]
fn killed_run_reads_as_failed_beside_another_writer_and_after_pid_reuse() {
    // Regression: status judged a killed run alive by kill(pid, 0) on the pid in
    // the root's lock file, so it read as ok while any other backup or verify held the
    // root, and once pids wrapped and another process got the dead run's pid.
    use std::os::fd::AsRawFd;
    let env = killed_second_run();
    // Another writer (a long verify) holds the root's lock and wrote its pid.
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(env.root.join(".phlb/lock"))
        .unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    std::fs::write(
        env.root.join(".phlb/lock"),
        format!("{}\n", std::process::id()),
    )
    .unwrap();
    let out = env.run(&["status", "--json"]);
    drop(lock);
    assert_eq!(status_failed(&out), (1, true), "{}", stderr(&out));

    // The dead run's pid handed to a `sleep` (ns_last_pid), inside a pid namespace of
    // its own so no parallel test races for pids.
    let env = killed_second_run();
    let phlb = env!("CARGO_BIN_EXE_phlb");
    let root = env.root.display();
    let src = env.src.display();
    let dir = env.dir.path().display();
    let script = format!(
        "strace -f -o /dev/null -e inject=linkat:signal=SIGKILL:when=1 {phlb} --backup-root {root} \
           backup {src} >/dev/null 2>&1\n\
         pid=$(cat {root}/.phlb/lock)\n\
         echo $((pid - 1)) > /proc/sys/kernel/ns_last_pid\n\
         sleep 60 & s=$!\n\
         if [ \"$s\" != \"$pid\" ]; then echo \"sleep got $s, not $pid\" >&2; kill $s; exit 99; fi\n\
         {phlb} --backup-root {root} status --json > {dir}/status.json\n\
         echo $? > {dir}/status.code\n\
         kill $s\n"
    );
    let out = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "sh", "-c", &script])
        .env("HOME", env.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let code: i32 = std::fs::read_to_string(env.dir.path().join("status.code"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.dir.path().join("status.json")).unwrap())
            .unwrap();
    assert_eq!(
        (code, doc["names"][0]["failed"].as_bool().unwrap()),
        (1, true),
        "{doc}"
    );
}

/// `phlb status --json` as a document, with its exit code.
fn status_doc(env: &Env) -> (i32, serde_json::Value) {
    let out = env.run(&["status", "--json"]);
    (
        out.status.code().unwrap(),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
    )
}

#[test]
fn backups_failing_before_a_snapshot_starts_show_in_status_list_and_web() {
    // Regression: with PRE_COMMAND = false two backups exited 2 and status said
    // `{"names": [], "ok": true}`; a backup of a known name whose source was missing
    // exited 2 and status stayed ok.
    use std::os::fd::AsRawFd;
    let env = Env::new();
    env.write("a.txt", b"a");
    let src = env.src.to_str().unwrap().to_string();
    env.config("PRE_COMMAND = false");
    assert_code(&env.run(&["backup", &src]), 2);
    assert_code(&env.run(&["backup", &src]), 2);
    let (code, doc) = status_doc(&env);
    assert_eq!(code, 1, "{doc}");
    let n = &doc["names"][0];
    assert_eq!(
        (n["name"].as_str(), n["failed"].as_bool()),
        (Some("src"), Some(true)),
        "{doc}"
    );
    assert_eq!(n["last_attempt"]["exit"], 2);
    assert!(
        n["last_attempt"]["reason"]
            .as_str()
            .unwrap()
            .contains("PRE_COMMAND"),
        "{doc}"
    );
    assert_eq!(n["last_attempt"]["source"].as_str(), Some(src.as_str()));

    // A clean backup is the last attempt now.
    env.config("");
    env.backup();
    let (code, doc) = status_doc(&env);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["names"][0]["last_attempt"]["exit"], 0);

    // A known name whose source is missing.
    let gone = env.dir.path().join("gone").display().to_string();
    assert_code(&env.run(&["backup", &gone, "--name", "src"]), 2);
    let (code, doc) = status_doc(&env);
    assert_eq!(code, 1, "{doc}");
    assert!(
        doc["names"][0]["last_attempt"]["reason"]
            .as_str()
            .unwrap()
            .contains("gone"),
        "{doc}"
    );
    let text = String::from_utf8_lossy(&env.run(&["status"]).stdout).into_owned();
    assert!(text.contains("src: last backup attempt failed:"), "{text}");
    let list = env.run(&["list"]);
    assert!(
        stderr(&list).contains("last backup attempt of src failed"),
        "{}",
        stderr(&list)
    );
    {
        let srv = Server::start(&env);
        let home = srv.get("/").text();
        assert!(
            home.contains("class=\"attempt bad\"") && home.contains("gone"),
            "{home}"
        );
    }

    // Not attempts: a dry run, a usage error, a run that gave up waiting for the lock.
    env.backup();
    let before = std::fs::read(env.root.join(".phlb/attempts")).unwrap();
    assert_code(&env.run(&["backup", &gone, "-n"]), 2);
    assert_code(&env.run(&["backup", &src, &src, "--name", "x"]), 2);
    let lock = std::fs::File::open(env.root.join(".phlb/lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    assert_code(&env.run(&["backup", &src, "--wait=1"]), 2);
    drop(lock);
    assert_eq!(
        std::fs::read(env.root.join(".phlb/attempts")).unwrap(),
        before
    );
    assert_eq!(status_doc(&env).0, 0);

    // A catalog that cannot be opened: the attempt is still recorded.
    let catalog = env.root.join(".phlb/catalog.sqlite3");
    std::fs::write(
        &catalog,
        b"this is not an SQLite file at all, not even close....",
    )
    .unwrap();
    let _ = std::fs::remove_file(env.root.join(".phlb/catalog.sqlite3-wal"));
    let _ = std::fs::remove_file(env.root.join(".phlb/catalog.sqlite3-shm"));
    assert_code(&env.run(&["backup", &src]), 2);
    let all = std::fs::read_to_string(env.root.join(".phlb/attempts")).unwrap();
    let last: serde_json::Value = serde_json::from_str(all.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["name"].as_str(), last["exit"].as_i64()),
        (Some("src"), Some(2)),
        "{all}"
    );
}
