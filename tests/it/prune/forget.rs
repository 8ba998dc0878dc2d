//! `phlb forget` and snapshots deleted by hand: named snapshots removed, `--missing` drops
//! the rows (and side files) of deleted folders only.

use std::fs;

use super::*;
use crate::common::*;

#[test]
fn forget_missing_keeps_the_rows_of_snapshots_whose_folders_are_there() {
    // Regression: a verify run while the drive was unmounted
    // marked present snapshots missing, and `forget --missing` dropped their rows.
    let env = Env::new();
    env.write("a", b"a");
    let snap = env.backup();
    env.db()
        .execute("UPDATE snapshot_runs SET status = 'missing'", [])
        .unwrap();
    assert_ok(&env.run(&["forget", "--missing"]));
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 1);
    assert!(snap.is_dir());
}

#[test]
fn forget_removes_named_snapshots_and_missing_drops_rows_of_deleted_folders() {
    let env = Env::new();
    six_snapshots(&env);
    let out = env.run(&["forget", "src/2026-01-02-100000", "-n"]);
    assert_ok(&out);
    assert_eq!(leaves(&env).len(), 6);
    assert_ok(&env.run(&["forget", "src/2026-01-02-100000"]));
    assert!(!leaves(&env).contains(&"2026-01-02-100000".to_string()));
    // A folder deleted by hand: verify complains until forget --missing.
    fs::remove_dir_all(env.root.join("src/2026-01-05-100000")).unwrap();
    assert_code(&env.run(&["verify"]), 1);
    let out = env.run(&["forget", "--missing"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("src/2026-01-05-100000"));
    assert_ok(&env.run(&["verify"]));
    assert_eq!(env.sql_int("SELECT count(*) FROM snapshot_runs"), 4);
    // Unknown snapshots are an error naming them.
    let out = env.run(&["forget", "src/1999-01-01-000000"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("src/1999-01-01-000000"));
}

#[test]
fn prune_keeps_the_last_snapshot_on_disk_when_the_newest_was_deleted_by_hand() {
    let env = Env::new();
    env.write("a.txt", b"v1");
    let first = backup_at(&env, "2026-06-01 10:00:00");
    env.write("a.txt", b"v2");
    let second = backup_at(&env, "2026-06-02 10:00:00");
    fs::remove_dir_all(&second).unwrap();
    for args in [
        vec!["prune", "--keep-last", "1"],
        vec!["prune", "--keep-versions", "1"],
    ] {
        let out = env.run(&args);
        assert_ok(&out);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("gone"),
            "{args:?}"
        );
        assert_eq!(fs::read(first.join("a.txt")).unwrap(), b"v1", "{args:?}");
    }
    assert_eq!(env.sql_int("SELECT count(*) FROM trimmed_entries"), 0);
    // `latest` points at the snapshot left on disk (it was removed).
    assert_eq!(
        fs::read_link(env.root.join("src/latest")).unwrap(),
        first.file_name().unwrap()
    );
}

#[test]
fn forget_refuses_a_bare_name() {
    let env = Env::new();
    six_snapshots(&env);
    for spec in ["src", "src/latest"] {
        let out = env.run(&["forget", spec]);
        assert_code(&out, 2);
        assert!(
            stderr(&out).contains("name one snapshot exactly"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(leaves(&env).len(), 6);
}

#[test]
fn forget_missing_removes_the_side_files_phlb_made_and_an_emptied_name_folder() {
    // Regression: `forget --missing` left the snapshot's `-backup.log`,
    // `-summary.txt` and `.SHA256SUMS` behind, and forgetting a name's last snapshot
    // left an empty `<name>` folder.
    let env = Env::new();
    env.write("f", b"one");
    let s1 = backup_at(&env, "2026-09-01 10:00:00");
    env.write("f", b"two");
    let s2 = backup_at(&env, "2026-09-02 10:00:00");
    let sides =
        |s: &std::path::Path| ["-backup.log", "-summary.txt", ".SHA256SUMS"].map(|x| beside(s, x));
    assert!(sides(&s1).iter().all(|p| p.is_file()));
    fs::remove_dir_all(&s1).unwrap();
    let theirs = env.root.join("src/notes.txt");
    fs::write(&theirs, b"the user's").unwrap();
    let plan = json(&env.run(&["forget", "--missing", "-n", "--json"]));
    let before = du(&env);
    assert_ok(&env.run(&["forget", "--missing"]));
    assert_eq!(
        before - du(&env),
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    assert!(
        sides(&s1).iter().all(|p| !p.exists()),
        "side files of the forgotten one go"
    );
    assert!(sides(&s2).iter().all(|p| p.is_file()), "the others' stay");
    // The last one goes: the folder stays while it holds a file that is not phlb's...
    fs::remove_dir_all(&s2).unwrap();
    assert_ok(&env.run(&["forget", "--missing"]));
    assert!(sides(&s2).iter().all(|p| !p.exists()));
    assert_eq!(fs::read(&theirs).unwrap(), b"the user's");
    // ...and goes once it is empty, by forget of a named snapshot too.
    fs::create_dir(env.dir.path().join("other")).unwrap();
    fs::write(env.dir.path().join("other/g"), b"g").unwrap();
    assert_ok(&env.run(&["backup", env.dir.path().join("other").to_str().unwrap()]));
    let snap = fs::read_dir(env.root.join("other"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.len() == "2026-09-02-100000".len() && n.starts_with("20"))
        .unwrap();
    let plan = json(&env.run(&["forget", &format!("other/{snap}"), "-n", "--json"]));
    let before = du(&env);
    assert_ok(&env.run(&["forget", &format!("other/{snap}")]));
    assert!(
        !env.root.join("other").exists(),
        "the emptied name folder goes"
    );
    assert_eq!(
        before - du(&env),
        plan["freed"]["disk_bytes"].as_u64().unwrap()
    );
    assert!(env.root.join("src").is_dir());
}
