//! `add` takes a snapshot's entries a run at a time (`PHLB_DEBUG_ENTRY_RUN` makes the
//! runs tiny): what it records, links and writes must not depend on where a run ends.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use walkdir::WalkDir;

use crate::common::*;

/// A file seen by `shape`: its name (`N/path`, N the tree), content's digest, link
/// count, and the first file before it (in path order, across the trees) that shares
/// its inode.
type Seen = (String, String, u64, Option<String>);

/// Every regular file under `dirs`, as `Seen`.
fn shape(dirs: &[&Path]) -> Vec<Seen> {
    let mut first_of: BTreeMap<u64, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (n, dir) in dirs.iter().enumerate() {
        let mut files: Vec<_> = WalkDir::new(dir)
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .filter(|p| p.symlink_metadata().unwrap().is_file())
            .collect();
        files.sort();
        for p in files {
            let md = p.symlink_metadata().unwrap();
            let name = format!("{n}/{}", p.strip_prefix(dir).unwrap().display());
            let shares = first_of.get(&md.ino()).cloned();
            first_of.entry(md.ino()).or_insert_with(|| name.clone());
            out.push((name, sha256_hex(&fs::read(&p).unwrap()), md.nlink(), shares));
        }
    }
    out
}

type Listing = BTreeMap<Vec<u8>, (String, i64, String, Option<String>)>;

/// What `add` left: the files on disk, the catalog's listing of each tree, its counts
/// (`--json`) and its lines (sorted).
type Recorded = (Vec<Seen>, Vec<Listing>, String, Vec<String>);

/// Runs `phlb add ARGS` taking `run` entries at a time.
fn add_in_runs(env: &Env, run: &str, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("PHLB_DEBUG_ENTRY_RUN", run)
        .arg("add")
        .args(args)
        .output()
        .unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two trees copied in by hand (equal content in other inodes, an inode with paths far
/// apart, a temp file an old run left, a manifest line that disagrees) recorded by `add`
/// taking `run` entries at a time.
fn add_in_runs_of(run: &str) -> Recorded {
    let env = Env::new();
    env.config("DEDUP = mode");
    env.write("x", b"y");
    env.backup();
    let big = [7u8; 50_000];
    let files: &[(&str, &[u8])] = &[
        ("a/1", b"same"),
        ("a/2", b"other"),
        ("b/1", b"same"),
        ("b/2/deep", b"other"),
        ("c", &big),
        ("m/k", b"unique"),
        ("z/9", b"same"),
    ];
    let a = env.hand_snapshot("p/2020-01-01-000000", files);
    // One inode, two paths in runs far apart, equal to content stored before it.
    fs::remove_file(a.join("z/9")).unwrap();
    fs::hard_link(a.join("b/1"), a.join("z/9")).unwrap();
    let b = env.hand_snapshot("p/2020-01-02-000000", files);
    fs::write(b.join(".phlb-tmp-1-1"), b"half a copy").unwrap();
    let manifest: String = files
        .iter()
        .map(|(p, d)| {
            let hash = match *p {
                "m/k" => "0".repeat(64),
                _ => sha256_hex(d),
            };
            format!("{hash}  {p}\n")
        })
        .collect();
    fs::write(beside(&b, ".SHA256SUMS"), manifest).unwrap();
    let out = add_in_runs(&env, run, &["--json"]);
    assert_code(&out, 1);
    assert!(!b.join(".phlb-tmp-1-1").exists());
    assert_sums_check(&a, "sha256sum");
    let root = env.root.to_str().unwrap();
    let mut lines: Vec<String> = stderr(&out)
        .lines()
        .map(|l| l.replace(root, "ROOT"))
        .collect();
    lines.sort();
    (
        shape(&[&a, &b]),
        vec![env.catalog_files(&a), env.catalog_files(&b)],
        stdout(&out)
            .lines()
            .filter(|l| !l.contains("\"config\"") && !l.contains("\"root\""))
            .collect::<Vec<_>>()
            .join("\n"),
        lines,
    )
}

#[test]
fn add_taking_two_entries_at_a_time_records_and_links_as_one_run_does() {
    let whole = add_in_runs_of("100000");
    let (shape, listings, counts, lines) = &whole;
    // What one run does: equal content linked to one inode (the far apart pair too),
    // except the file whose manifest line disagrees, which stays its own copy.
    let of = |name: &str| shape.iter().find(|(n, ..)| n == name).unwrap();
    assert_eq!(of("0/z/9").3.as_deref(), Some("0/a/1"), "{shape:#?}");
    assert_eq!(of("0/b/1").3.as_deref(), Some("0/a/1"));
    assert_eq!(of("1/a/1").3.as_deref(), Some("0/a/1"));
    assert_eq!(of("1/b/2/deep").3.as_deref(), Some("0/a/2"));
    assert_eq!(of("1/m/k").3, None);
    assert_eq!(of("0/a/1").2, 6);
    assert!(listings[1].contains_key(b"m/k".as_slice()));
    assert!(!listings[1].contains_key(b".phlb-tmp-1-1".as_slice()));
    assert!(counts.contains("\"added\": 2"), "{counts}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("m/k: content differs from the manifest")),
        "{lines:?}"
    );
    for run in ["2", "1"] {
        let (shape_n, listings_n, counts_n, lines_n) = add_in_runs_of(run);
        assert_eq!(&shape_n, shape, "runs of {run}");
        assert_eq!(&listings_n, listings, "runs of {run}");
        assert_eq!(&counts_n, counts, "runs of {run}");
        assert_eq!(&lines_n, lines, "runs of {run}");
    }
}

#[test]
fn a_later_path_of_an_inode_that_disagrees_with_the_manifest_marks_its_copy_damaged() {
    // Found by the attack round: `a` and its hardlink `z` fall in different runs, and only
    // `z`'s manifest line is wrong; the copy recorded for `a` was kept as good.
    let env = Env::new();
    env.write("x", b"y");
    env.backup();
    let snap = env.hand_snapshot(
        "n/2025-01-01-000000",
        &[("a", b"same\n"), ("b", b"same\n"), ("c", b"c\n")],
    );
    fs::hard_link(snap.join("a"), snap.join("z")).unwrap();
    let line = |p: &str, d: &[u8]| format!("{}  {p}\n", sha256_hex(d));
    let manifest = [
        line("a", b"same\n"),
        line("b", b"same\n"),
        line("c", b"c\n"),
        line("z", b"wrong\n"),
    ]
    .concat();
    fs::write(beside(&snap, ".SHA256SUMS"), manifest).unwrap();
    let out = add_in_runs(&env, "1", &[]);
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains("/z: content differs from the manifest"),
        "{}",
        stderr(&out)
    );
    let damaged = env
        .sql_text("SELECT group_concat(path, ' ') FROM (SELECT path FROM damaged ORDER BY path)");
    assert!(damaged.contains('a') && damaged.contains('z'), "{damaged}");
}

#[test]
fn one_add_of_two_snapshots_links_content_held_by_four_paths_across_them() {
    // Found by the attack round: the snapshot being recorded inherits the paths of the
    // one before it, and the lookup of a copy's places tried those four first (none on
    // disk), so content with four paths was never linked across snapshots.
    let env = Env::new();
    env.write("x", b"y");
    env.backup();
    let files: Vec<(String, &[u8])> = (1..=4)
        .map(|i| (format!("x{i}"), b"same\n".as_slice()))
        .collect();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), *d)).collect();
    let snaps: Vec<_> = ["2025-01-01-000000", "2025-01-02-000000"]
        .iter()
        .map(|ts| env.hand_snapshot(&format!("n/{ts}"), &files))
        .collect();
    for f in ["x1", "x2", "x3", "x4"] {
        for s in &snaps {
            set_mtime(&s.join(f), 1_700_000_000, 0);
        }
    }
    assert_ok(&env.run(&["add"]));
    assert_eq!(nlink(&snaps[0].join("x1")), 8);
    assert_eq!(ino(&snaps[0].join("x1")), ino(&snaps[1].join("x4")));
}

#[test]
fn max_links_running_out_between_runs_keeps_an_inodes_paths_together() {
    // Found by the attack round: with MAX_LINKS = 3 an inode's paths in one run were
    // relinked, and its paths in a later run found no room, splitting one inode in two.
    let env = Env::new();
    env.config("MAX_LINKS = 3");
    env.write("x", b"y");
    env.backup();
    let mut snaps = Vec::new();
    for ts in ["2025-01-01-000000", "2025-01-02-000000"] {
        let names: Vec<String> = (1..=10).map(|i| format!("f{i}")).collect();
        let mut files: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), b"same\n".as_slice()))
            .collect();
        files.push(("d/g", b"same\n"));
        files.push(("o1", b"other\n"));
        let s = env.hand_snapshot(&format!("n/{ts}"), &files);
        fs::hard_link(s.join("f1"), s.join("zz1")).unwrap();
        fs::hard_link(s.join("f2"), s.join("d/zz2")).unwrap();
        fs::hard_link(s.join("o1"), s.join("zo")).unwrap();
        for e in walkdir::WalkDir::new(&s) {
            let e = e.unwrap();
            if e.file_type().is_file() {
                set_mtime(e.path(), 1_700_000_000, 0);
            }
        }
        snaps.push(s);
    }
    let out = add_in_runs(&env, "1", &[]);
    assert_ok(&out);
    for s in &snaps {
        assert_eq!(ino(&s.join("f1")), ino(&s.join("zz1")), "{}", s.display());
        assert_eq!(ino(&s.join("f2")), ino(&s.join("d/zz2")), "{}", s.display());
        assert_eq!(ino(&s.join("o1")), ino(&s.join("zo")), "{}", s.display());
    }
    for e in walkdir::WalkDir::new(env.root.join("n")) {
        let e = e.unwrap();
        assert!(
            nlink(e.path()) <= 3 || e.file_type().is_dir(),
            "{}",
            e.path().display()
        );
    }
    assert_ok(&env.run(&["verify"]));
}
