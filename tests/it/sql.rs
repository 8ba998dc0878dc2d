//! `phlb sql` is read-only by SQLite's own judgement, caps what one query may cost, and
//! streams large results.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::common::*;

/// An env with one snapshot, so there is a catalog to query.
fn with_catalog() -> Env {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("docs/b.txt", b"bee");
    env.backup();
    env
}

/// The catalog file and its WAL, byte for byte.
fn catalog_bytes(env: &Env) -> Vec<Vec<u8>> {
    ["catalog.sqlite3", "catalog.sqlite3-wal"]
        .iter()
        .map(|f| fs::read(env.root.join(".phlb").join(f)).unwrap_or_default())
        .collect()
}

#[test]
fn sql_guard_bypasses_with_comments_and_pragma_calls_are_refused() {
    let env = with_catalog();
    let attached = env.dir.path().join("attached.db");
    let attach = format!("/**/ATTACH '{}' AS x", attached.display());
    let before = catalog_bytes(&env);
    for q in [
        attach.as_str(),
        "/**/PRAGMA writable_schema=1",
        "/**/ PRAGMA writable_schema = ON",
        "PRAGMA query_only(0)",
        "PRAGMA query_only = OFF",
        "SELECT * FROM pragma_query_only",
        "/**/DETACH main",
        "-- note\nDELETE FROM paths",
        "/* x */ VACUUM",
        "/**/BEGIN IMMEDIATE",
        "SELECT load_extension('/tmp/x.so')",
        "SELECT 1; DELETE FROM paths",
    ] {
        // `--` ends the options, so a query may start with a `--` comment.
        let out = env.run(&["sql", "--", q]);
        assert_code(&out, 2);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{q}: {err}");
        assert!(
            err.contains("not allowed") || err.contains("read-only") || err.contains("invalid"),
            "{q}: {err}"
        );
    }
    assert!(!attached.exists(), "ATTACH created {}", attached.display());
    assert_eq!(catalog_bytes(&env), before);
    let db = env.db();
    let query_only: bool = db.query_row("PRAGMA query_only", [], |r| r.get(0)).unwrap();
    let writable: bool = db
        .query_row("PRAGMA writable_schema", [], |r| r.get(0))
        .unwrap();
    assert!(!query_only && !writable);
    // What only reads still works, pragmas that describe the schema included.
    let out = env.run(&[
        "sql",
        "/**/SELECT name FROM pragma_table_info('snapshot_runs') WHERE name = 'status'",
        "--format",
        "csv",
    ]);
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "name\nstatus\n");
}

#[test]
fn sql_huge_value_fails_cleanly_with_one_line() {
    let env = with_catalog();
    let out = env.run(&["sql", "SELECT randomblob(9e8)"]);
    assert_code(&out, 2);
    assert_no_panic(&out);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("64 MiB"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
#[expect(
    clippy::zombie_processes,
    reason = "wait4 reaps the child, for its rusage"
)]
fn sql_million_row_csv_streams_in_bounded_memory() {
    // wait4's peak RSS of a child includes the high-water mark of the process it was
    // spawned from (Linux keeps it across exec), and the one test binary grows large
    // while hundreds of tests run. So the measurement runs in a fresh copy of the test
    // binary that runs this test alone, as small as a test binary of its own.
    if std::env::var_os("PHLB_TEST_ALONE").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sql::sql_million_row_csv_streams_in_bounded_memory",
            ])
            .args(["--include-ignored", "--test-threads=1", "--nocapture"])
            .env("PHLB_TEST_ALONE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        return;
    }
    let env = with_catalog();
    let q = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 1000000) \
             SELECT n, 'row ' || n AS t FROM c";
    let mut child = env
        .cmd()
        .args(["sql", q, "--format", "csv"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut lines = 0u64;
        let mut last = String::new();
        for line in BufReader::new(stdout).lines() {
            last = line.unwrap();
            lines += 1;
        }
        (lines, last)
    });
    // wait4 reports this child's own peak memory.
    let mut status = 0;
    // SAFETY: plain data out-parameters for wait4 on our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let (lines, last) = counter.join().unwrap();
    assert_eq!(std::process::ExitStatus::from_raw(status).code(), Some(0));
    assert_eq!(lines, 1_000_001);
    assert_eq!(last, "1000000,row 1000000");
    // Collecting the rows first took 140 MiB; streaming takes about 10 MiB.
    let peak_kib = usage.ru_maxrss;
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn sql_table_over_row_cap_says_to_use_csv_or_json() {
    let env = with_catalog();
    let q = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c";
    let out = env.run(&["sql", q]);
    assert_code(&out, 2);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("more than 10000 rows") && err.contains("--format csv"),
        "{err}"
    );
    let q = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 10000) \
             SELECT n FROM c";
    let out = env.run(&["sql", q]);
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10_001);
    let out = env.run(&["sql", q, "--format", "json"]);
    assert_ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 10_000);
    assert_eq!(rows[9_999]["n"], 10_000);
}
