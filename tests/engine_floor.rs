//! The two behaviour changes of the engine reshaping (#30): a dry run stops on a catalog
//! error as the real run does, and `-q` silences every note.

mod common;

use std::fs;

use common::*;

#[test]
fn a_dry_run_stops_on_a_catalog_error_as_the_real_run_does() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.backup();
    // New content: the dry run hashes it and asks the catalog for a stored copy.
    env.write("b.txt", b"bravo, never stored");
    env.db()
        .execute_batch("ALTER TABLE copies RENAME TO copies_lost;")
        .unwrap();
    let src = env.src.to_str().unwrap().to_string();
    let out = env.run(&["backup", "--dry-run", &src]);
    // Before: the catalog's error was counted as one failed file (exit 1) and the dry
    // run went on to predict a summary a real run would never reach.
    assert_code(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("no such table"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("would copy"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn quiet_silences_every_note() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    let snap = env.backup();
    // A temp file an older phlb's killed run left in a snapshot (not in its manifest):
    // `add` removes it and says so in a note, which `-q` printed all the same.
    let temp = snap.join(".phlb-tmp-4242-7");
    fs::write(&temp, b"half a copy").unwrap();
    env.remove_catalog();
    let out = env.run(&["-q", "add"]);
    assert_ok(&out);
    assert_eq!(stderr(&out), "", "-q printed a note");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The note's work is still done: the temp file is gone, the snapshot recorded.
    assert!(temp.symlink_metadata().is_err());
    assert_eq!(
        env.sql_int("SELECT count(*) FROM snapshot_runs WHERE status = 'complete'"),
        1
    );
    // Without -q the same kind of note is shown.
    fs::write(&temp, b"half a copy").unwrap();
    env.remove_catalog();
    let out = env.run(&["add"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("removed the temp file of an interrupted run"),
        "{}",
        stderr(&out)
    );
}
