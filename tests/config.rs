//! `phlb config` and the config search: what a user sees.

mod common;

use std::fs;

use common::*;

#[test]
fn config_shows_defaults_and_origins() {
    let env = Env::new();
    let out = env.run(&["config"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("config file: none found, built-in defaults"));
    assert!(text.contains("DEDUP = mode    # default"));
    assert!(text.contains("MAX_LINKS = 65000    # default"));
    assert!(text.contains("BACKUP_PATH"), "{text}");
    assert!(text.contains("# --backup-root"), "{text}");
}

#[test]
fn config_is_found_in_a_parent_folder() {
    let env = Env::new();
    env.config("\nMAX_LINKS = 7");
    let deeper = env.dir.path().join("a/b");
    fs::create_dir_all(&deeper).unwrap();
    let out = env
        .cmd()
        .current_dir(&deeper)
        .arg("config")
        .output()
        .unwrap();
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MAX_LINKS = 7    # "), "{text}");
    assert!(text.contains("phlb.ini:3"), "{text}");
}

#[test]
fn config_write_creates_example_once() {
    let env = Env::new();
    let out = env.run(&["config", "--write"]);
    assert_ok(&out);
    let written = fs::read_to_string(env.dir.path().join("phlb.ini")).unwrap();
    assert_eq!(written, include_str!("../phlb.example.ini"));
    let out = env.run(&["config", "--write"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"));
    // The written file parses and gives the defaults.
    let out = env.run(&["config"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("DEDUP = mode    # "));
}

#[test]
fn bad_config_names_file_and_line() {
    let env = Env::new();
    env.config("HASH = sha256\nDEDUP = sometimes");
    env.write("a", b"a");
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("phlb.ini:3: DEDUP: expected mode, strict or content"),
        "{err}"
    );
    assert!(!env.root.exists());
}
