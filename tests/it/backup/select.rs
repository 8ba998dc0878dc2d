//! Selecting what to back up (`--exclude`, `--exclude-from`, `--include`,
//! `--files-from`, `--exclude-caches`, `INCLUDE_*`) and the `PRE_COMMAND` /
//! `POST_COMMAND` hooks, through the real binary.

use std::collections::BTreeSet;
use std::fs;

use crate::common::*;

/// The tree every selection case starts from.
const TREE: &[&str] = &[
    "top.txt",
    "a/top.txt",
    "a/x.log",
    "a/b/y.log",
    "a/b/keep.log",
    "build/out.o",
    "a/build/out.o",
    "build.txt",
    "[draft].txt",
    "d.txt",
    "ab1.dat",
    "ab12.dat",
    "cache/c/deep.bin",
    "docs/r.pdf",
    "docs/r.txt",
];

/// The files a backup with `args` (and `ini`) holds.
fn selected(args: &[&str], ini: &str) -> BTreeSet<String> {
    let env = Env::new();
    for f in TREE {
        env.write(f, f.as_bytes());
    }
    env.config(ini);
    let src = env.src.to_str().unwrap().to_string();
    let mut all = vec!["backup", src.as_str()];
    all.extend_from_slice(args);
    let out = env.run(&all);
    assert_ok(&out);
    let snap = env.snapshots("src").pop().unwrap();
    tree(&snap)
        .into_iter()
        .filter(|(_, n)| n.kind == "file")
        .map(|(p, _)| String::from_utf8(p).unwrap())
        .collect()
}

fn all_but(gone: &[&str]) -> BTreeSet<String> {
    TREE.iter()
        .filter(|f| !gone.contains(f))
        .map(|f| f.to_string())
        .collect()
}

fn only(kept: &[&str]) -> BTreeSet<String> {
    kept.iter().map(|f| f.to_string()).collect()
}

#[test]
fn exclude_include_and_files_from_follow_the_documented_glob_cases() {
    let cases: Vec<(&str, Vec<&str>, BTreeSet<String>)> = vec![
        (
            "anchored",
            vec!["--exclude", "/top.txt"],
            all_but(&["top.txt"]),
        ),
        (
            "anywhere",
            vec!["--exclude", "top.txt"],
            all_but(&["top.txt", "a/top.txt"]),
        ),
        (
            "star",
            vec!["--exclude", "*.log"],
            all_but(&["a/x.log", "a/b/y.log", "a/b/keep.log"]),
        ),
        (
            "star stays in a name",
            vec!["--exclude", "/a/*.log"],
            all_but(&["a/x.log"]),
        ),
        (
            "double star",
            vec!["--exclude", "/a/**/*.log"],
            all_but(&["a/x.log", "a/b/y.log", "a/b/keep.log"]),
        ),
        (
            "question mark",
            vec!["--exclude", "ab?.dat"],
            all_but(&["ab1.dat"]),
        ),
        (
            "class",
            vec!["--exclude", "ab[0-9][0-9].dat"],
            all_but(&["ab12.dat"]),
        ),
        (
            "folder only",
            vec!["--exclude", "build/"],
            all_but(&["build/out.o", "a/build/out.o"]),
        ),
        (
            "name starting with [, escaped",
            vec!["--exclude", "\\[draft].txt"],
            all_but(&["[draft].txt"]),
        ),
        (
            "name starting with [, as a class",
            vec!["--exclude", "[[]draft].txt"],
            all_but(&["[draft].txt"]),
        ),
        (
            "include inside an excluded folder",
            vec!["--exclude", "/a", "--include", "keep.log"],
            all_but(&["a/top.txt", "a/x.log", "a/b/y.log", "a/build/out.o"]),
        ),
        (
            "include wins over exclude",
            vec!["--exclude", "*.log", "--include", "/a/b/keep.log"],
            all_but(&["a/x.log", "a/b/y.log"]),
        ),
    ];
    for (what, args, want) in cases {
        assert_eq!(selected(&args, ""), want, "{what}: {args:?}");
    }
}

#[test]
fn exclude_from_files_from_and_include_keys() {
    let env = Env::new();
    let list = env.dir.path().join("list");
    fs::write(&list, "# comment\n\n*.log\n/docs\n").unwrap();
    let got = selected(&["--exclude-from", list.to_str().unwrap()], "");
    assert_eq!(
        got,
        all_but(&[
            "a/x.log",
            "a/b/y.log",
            "a/b/keep.log",
            "docs/r.pdf",
            "docs/r.txt"
        ])
    );
    fs::write(&list, "a/b\ndocs/r.pdf\n").unwrap();
    let got = selected(&["--files-from", list.to_str().unwrap()], "");
    assert_eq!(got, only(&["a/b/y.log", "a/b/keep.log", "docs/r.pdf"]));
    let got = selected(
        &[],
        "INCLUDE_DIRS = /docs, /cache\nINCLUDE_PATTERNS = *.pdf",
    );
    assert_eq!(got, only(&["docs/r.pdf"]));
    // The ini's SKIP_PATTERNS stay when the command line adds an exclude.
    let got = selected(&["--exclude", "/top.txt"], "SKIP_PATTERNS = *.txt");
    assert_eq!(got.iter().filter(|p| p.ends_with(".txt")).count(), 0);
}

#[test]
fn invalid_glob_is_exit_2_and_writes_nothing() {
    let env = Env::new();
    env.write("f", b"f");
    let out = env.run(&["backup", env.src.to_str().unwrap(), "--exclude", "a[b"]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("a[b"), "{}", stderr(&out));
    assert!(env.nothing_backed_up());
}

#[test]
fn exclude_caches_skips_a_tagged_folder_and_not_a_wrong_signature() {
    let env = Env::new();
    env.write("keep.txt", b"k");
    env.write(
        "tagged/CACHEDIR.TAG",
        b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n",
    );
    env.write("tagged/big.bin", b"cache");
    env.write(
        "wrong/CACHEDIR.TAG",
        b"Signature: not the right one at all......\n",
    );
    env.write("wrong/data.bin", b"data");
    let src = env.src.to_str().unwrap();
    let out = env.run(&["backup", src, "--exclude-caches"]);
    assert_ok(&out);
    let snap = env.snapshots("src").pop().unwrap();
    assert!(snap.join("keep.txt").exists());
    assert!(!snap.join("tagged").exists());
    assert!(snap.join("wrong/data.bin").exists());
    // -v in a dry run names the rule.
    let out = env.run(&["backup", src, "--exclude-caches", "--dry-run", "-v"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("tagged (CACHEDIR.TAG"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["backup", src, "--exclude", "*.bin", "--dry-run", "-v"]);
    assert!(
        stderr(&out).contains("wrong/data.bin (exclude *.bin (--exclude))"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failing_pre_command_stops_the_run_and_hooks_get_the_facts() {
    let env = Env::new();
    env.write("f", b"f");
    let src = env.src.to_str().unwrap();
    env.config("PRE_COMMAND = echo pre-ran; exit 3");
    let out = env.run(&["backup", src]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("pre-ran"), "{}", stderr(&out));
    assert!(env.snapshots("src").is_empty());
    let facts = env.dir.path().join("facts");
    env.config(&format!(
        "PRE_COMMAND = echo \"pre $PHLB_HOOK $PHLB_NAME $PHLB_SOURCE\" >> {f}\n\
         POST_COMMAND = echo \"post $PHLB_EXIT $PHLB_SNAPSHOT\"; echo \"post $PHLB_EXIT $PHLB_SNAPSHOT\" >> {f}",
        f = facts.display()
    ));
    let out = env.run(&["backup", src]);
    assert_ok(&out);
    let snap = env.snapshots("src").pop().unwrap();
    let got = fs::read_to_string(&facts).unwrap();
    assert_eq!(
        got,
        format!(
            "pre pre src {}\npost 0 {}\n",
            env.src.canonicalize().unwrap().display(),
            snap.display()
        )
    );
    let log = fs::read_to_string(beside(&snap, "-backup.log")).unwrap();
    assert!(log.contains("post-command: post 0"), "{log}");
}

#[test]
fn an_empty_pattern_and_a_listed_path_with_dotdot_are_refused() {
    // Regression: `--exclude ''` (an unset variable) backed up nothing with exit
    // 0, and `--files-from` took `a/b/../x.log` as a/b/x.log.
    let env = Env::new();
    env.write("a/x.log", b"x");
    env.write("a/b/x.log", b"other");
    let src = env.src.to_str().unwrap();
    for flag in ["--exclude", "--include"] {
        let out = env.run(&["backup", src, flag, ""]);
        assert_code(&out, 2);
        assert!(stderr(&out).contains("empty pattern"), "{}", stderr(&out));
    }
    let list = env.dir.path().join("list");
    fs::write(&list, "a/b/../x.log\n").unwrap();
    let out = env.run(&["backup", src, "--files-from", list.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(stderr(&out).contains("list:1"), "{}", stderr(&out));
    assert!(env.nothing_backed_up());
}

#[test]
fn post_command_runs_after_a_failed_pre_command_and_background_children_are_not_waited_for() {
    // Regression: a failing PRE_COMMAND skipped the POST_COMMAND docs/reference.md
    // promises after every attempt, and `PRE_COMMAND = sleep 20 &` held the run 20 s.
    let env = Env::new();
    env.write("f", b"f");
    let told = env.dir.path().join("told");
    env.config(&format!(
        "PRE_COMMAND = exit 3\nPOST_COMMAND = echo post $PHLB_EXIT > {}",
        told.display()
    ));
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_code(&out, 2);
    assert_eq!(fs::read_to_string(&told).unwrap(), "post 2\n");
    // A child far longer-lived than the run takes even on a loaded machine.
    env.config("PRE_COMMAND = sleep 60 &");
    let started = std::time::Instant::now();
    let out = env.run(&["backup", env.src.to_str().unwrap()]);
    assert_ok(&out);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
}
