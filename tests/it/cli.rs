//! The everyday conventions through the real binary: `--json` everywhere, `-n` as
//! `--dry-run`, `NAME/latest` and the `latest` symlink, `ls`, the environment,
//! completions and the man page.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn has(v: &Value, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "no {f:?} in {v}");
    }
}

/// A time as every JSON output writes it: RFC 3339 with an offset.
fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[test]
fn every_json_output_parses_with_its_documented_fields() {
    let env = Env::new();
    env.write("a.txt", b"hello");
    two_snapshots(&env);
    let out = env.run(&["backup", env.src.to_str().unwrap(), "--json"]);
    assert_ok(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    has(
        &lines[0],
        &[
            "snapshot",
            "files",
            "linked",
            "copied",
            "bytes",
            "new_bytes",
            "failed",
            "dry_run",
            "seconds",
        ],
    );
    assert!(is_rfc3339(&lines[0]["finished_at"]), "{}", lines[0]);
    let dry = json_lines(&env.run(&["backup", env.src.to_str().unwrap(), "-n", "--json"]));
    assert_eq!(dry[0]["dry_run"], true);
    assert_eq!(dry[0]["copied"], 0);

    let verify = env.run(&["verify", "--json"]);
    let lines = json_lines(&verify);
    let summary = lines.last().unwrap();
    assert_eq!(summary["summary"], true);
    has(summary, &["problems", "snapshots", "entries"]);

    has(
        &json(&env.run(&["add", "--json"])),
        &["added", "relinked", "freed_bytes", "problems"],
    );
    has(
        &json(&env.run(&["add", "--dry-run", "--json"])),
        &["would_record", "would_mark_missing", "skipped"],
    );
    let config = json(&env.run(&["config", "--json"]));
    assert_eq!(config["keys"]["BACKUP_PATH"]["origin"], "--backup-root");
    has(&config["keys"]["DEDUP"], &["value", "origin"]);

    let list = json(&env.run(&["list", "--json"]));
    has(&list[0], &["snapshot", "status", "files", "bytes"]);
    let snap = list[0]["snapshot"].as_str().unwrap().to_string();
    let ls = json(&env.run(&["ls", &snap, "--json"]));
    has(&ls[0], &["path", "kind", "mode", "size", "mtime", "target"]);
    assert!(is_rfc3339(&ls[0]["mtime"]), "{}", ls[0]);
    for args in [
        vec!["diff", "src", "--json"],
        vec!["find", "*.txt", "--json"],
        vec!["history", "a.txt", "--json"],
        vec!["duplicates", "--json"],
        vec!["sql", "SELECT name FROM snapshots", "--json"],
    ] {
        let v = json(&env.run(&args));
        assert!(v.is_array() || v.is_object(), "{args:?}: {v}");
    }
    let sql = json(&env.run(&["sql", "SELECT name FROM snapshots", "--json"]));
    assert_eq!(sql[0]["name"], "src");
}

#[test]
fn dry_run_short_n_writes_nothing() {
    let env = Env::new();
    env.write("a.txt", b"hello");
    // No root yet: a dry run does not make one.
    let out = env.run(&["backup", env.src.to_str().unwrap(), "-n"]);
    assert_ok(&out);
    assert!(env.nothing_backed_up());
    env.backup();
    env.write("b.txt", b"new");
    fs::remove_file(env.src.join("a.txt")).unwrap();
    let before = tree(&env.root);
    let out = env.run(&["-v", "backup", env.src.to_str().unwrap(), "-n"]);
    assert_ok(&out);
    assert!(stderr(&out).contains("would copy"), "{}", stderr(&out));
    assert!(stderr(&out).contains("b.txt"), "{}", stderr(&out));
    assert_eq!(tree(&env.root), before, "backup -n changed the root");
    // A snapshot folder copied in by hand: `add -n` names it and records nothing.
    env.hand_snapshot("src/2020-01-01-000000", &[("x", b"x")]);
    let before_add = tree(&env.root);
    let out = env.run(&["add", "-n"]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("would record src/2020-01-01-000000"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(tree(&env.root), before_add, "add -n changed the root");
    let out = env.run(&["restore", "src", "--to", "out", "-n"]);
    assert_ok(&out);
    assert!(!env.dir.path().join("out").exists());
}

#[test]
fn name_is_long_only_and_n_is_dry_run() {
    let env = Env::new();
    env.write("a.txt", b"x");
    env.backup();
    let out = env.run(&["find", "*", "-n", "src"]);
    assert_code(&out, 2);
    // clap's errors in phlb's one style too.
    assert!(
        stderr(&out).starts_with("phlb: error: "),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["find", "*", "--name", "src", "--json"]);
    assert_ok(&out);
}

#[test]
fn latest_symlink_points_at_the_newest_complete_snapshot() {
    let env = Env::new();
    write_tree(&env, 20, 20, "a");
    let first = env.backup();
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(latest_target(&env), name(&first));
    // Relative, so the root can move.
    assert!(Path::new(&latest_target(&env)).is_relative());
    std::thread::sleep(Duration::from_millis(1100));
    let second = env.backup();
    assert_eq!(latest_target(&env), name(&second));
    assert_eq!(
        fs::read(env.root.join("src/latest/d00/f000")).unwrap(),
        fs::read(second.join("d00/f000")).unwrap()
    );
    // A killed run leaves it as it was.
    write_tree(&env, 20, 40, "b");
    if kill_backup_part_way(&env, 50) {
        assert_eq!(latest_target(&env), name(&second));
    }
    // add and verify take no notice of it.
    assert_ok(&env.run(&["verify", "--fast"]));
    let out = env.run(&["add"]);
    assert_ok(&out);
    assert!(!stderr(&out).contains("latest"), "{}", stderr(&out));
    // NAME/latest names the newest snapshot on the command line too.
    let ls = json(&env.run(&["ls", "src/latest", "--json"]));
    assert!(ls.as_array().unwrap().iter().any(|e| e["path"] == "d00"));
    // Removing the snapshot it points at moves it back; removing all removes it.
    let label = format!("src/{}", name(&second));
    assert_ok(&env.run(&["forget", &label]));
    let now = env.snapshots("src").pop().unwrap();
    assert_eq!(latest_target(&env), name(&now));
    for s in env.snapshots("src") {
        assert_ok(&env.run(&["forget", &format!("src/{}", name(&s))]));
    }
    assert!(env.root.join("src/latest").symlink_metadata().is_err());
}

#[test]
fn ls_lists_a_folder_from_the_catalog() {
    let env = Env::new();
    env.write("notes/todo.txt", b"todo");
    env.write("notes/deep/x.txt", b"x");
    env.write("top.txt", b"t");
    std::os::unix::fs::symlink("top.txt", env.src.join("link")).unwrap();
    env.backup();
    let out = env.run(&["ls", "src", "notes"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, "path\nnotes/deep\nnotes/todo.txt\n");
    let out = env.run(&["ls", "src/latest", "notes", "--recursive"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("notes/deep/x.txt"));
    let out = env.run(&["ls", "src", "--long"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("kind"), "{text}");
    assert!(text.contains("mtime (local)"), "{text}");
    assert!(text.contains("link -> top.txt"), "{text}");
    assert_code(&env.run(&["ls", "src", "nowhere"]), 2);
}

fn bare(env: &Env) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_phlb"));
    c.current_dir(env.dir.path())
        .env("HOME", env.dir.path())
        .env_remove("PHLB_BACKUP_ROOT")
        .env_remove("PHLB_CONFIG");
    c
}

#[test]
fn backup_root_from_the_environment_and_the_command_line_beats_it() {
    let env = Env::new();
    env.write("a.txt", b"x");
    let from_env = env.dir.path().join("env-root");
    env.init(&from_env);
    let out = bare(&env)
        .env("PHLB_BACKUP_ROOT", &from_env)
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert!(from_env.join(".phlb/catalog.sqlite3").exists());
    let out = bare(&env)
        .env("PHLB_BACKUP_ROOT", &from_env)
        .args(["config"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("# PHLB_BACKUP_ROOT"));
    let out = bare(&env)
        .env("PHLB_BACKUP_ROOT", &from_env)
        .arg("--backup-root")
        .arg(&env.root)
        .args(["backup", env.src.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(env.snapshots("src").len(), 1);
    assert_eq!(fs::read_dir(from_env.join("src")).unwrap().count(), 6);
}

#[test]
fn phlb_config_and_a_relative_backup_path_in_it() {
    let env = Env::new();
    let dir = env.dir.path().join("profiles");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("work.ini"), "[phlb]\nBACKUP_PATH = backups\n").unwrap();
    let out = bare(&env)
        .env("PHLB_CONFIG", dir.join("work.ini"))
        .args(["config", "--json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(
        v["keys"]["BACKUP_PATH"]["value"],
        dir.join("backups").to_str().unwrap()
    );
    // --config beats PHLB_CONFIG; a folder is refused with a message saying so.
    let out = bare(&env)
        .env("PHLB_CONFIG", dir.join("work.ini"))
        .arg("--config")
        .arg(&dir)
        .arg("config")
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("is a folder, not a config file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_load_in_bash_and_man_renders() {
    let env = Env::new();
    let out = bare(&env).args(["completions", "bash"]).output().unwrap();
    assert_ok(&out);
    let script = env.dir.path().join("phlb.bash");
    fs::write(&script, &out.stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    for shell in ["zsh", "fish"] {
        assert_ok(&bare(&env).args(["completions", shell]).output().unwrap());
    }
    let man = bare(&env).arg("man").output().unwrap();
    assert_ok(&man);
    let text = String::from_utf8_lossy(&man.stdout);
    assert!(text.contains(".TH phlb 1"), "{text}");
    assert!(text.contains("PHLB BACKUP"), "{text}");
}

#[test]
fn every_command_help_has_examples_and_global_options_apart() {
    let env = Env::new();
    for cmd in [
        "backup",
        "verify",
        "add",
        "list",
        "ls",
        "diff",
        "find",
        "history",
        "duplicates",
        "sql",
        "prune",
        "forget",
        "watch",
        "restore",
        "config",
        "completions",
        "man",
    ] {
        let out = bare(&env).args([cmd, "--help"]).output().unwrap();
        assert_ok(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:\n  phlb"), "{cmd}: {text}");
        assert!(text.contains("Global options:"), "{cmd}: {text}");
    }
    // -v and -q are accepted after the command name too.
    assert_ok(&bare(&env).args(["config", "-q"]).output().unwrap());
}
