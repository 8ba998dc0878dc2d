//! The selection sent to rsync as filter rules: for every glob form the README
//! documents, a remote snapshot holds the same tree as a local one of the same folder,
//! and what rsync can leave out never crosses the network (the mirror holds no more
//! than the snapshot).

use super::Remote;
use crate::common::*;
use std::collections::BTreeSet;

/// The paths under `dir`.
fn paths(dir: &std::path::Path) -> BTreeSet<Vec<u8>> {
    tree(dir).into_keys().collect()
}

#[test]
#[ignore = "needs root (runs sshd)"]
fn every_documented_glob_gives_the_local_tree_and_excluded_files_never_cross() {
    let r = Remote::new();
    for rel in [
        "top.txt",
        "a/top.txt",
        "x.log",
        "a/x.log",
        "a/b/x.log",
        "a/b/c/x.log",
        "ab1.dat",
        "ab12.dat",
        "[draft].txt",
        "d/[draft].txt",
        "build/obj.o",
        "d/build",
        "keep.txt",
        // The default SKIP_* rules: the folder and the file go, a folder whose name
        // matches a files-only SKIP_PATTERNS glob stays.
        ".cache/c",
        "x.tmp",
        "d.tmp/inner.txt",
        "__pycache__/m.pyc",
    ] {
        r.env.write(rel, rel.as_bytes());
    }
    // (options, paths that cross although the snapshot leaves them out)
    let rows: &[(&[&str], &[&str])] = &[
        (&[], &[]),
        (&["--exclude", "*.log"], &[]),
        (&["--exclude", "/top.txt"], &[]),
        (&["--exclude", "/a/*.log"], &[]),
        // rsync's `/a/**/` needs a folder between: `a/x.log` crosses, then is left out.
        (&["--exclude", "/a/**/*.log"], &["a/x.log"]),
        (&["--exclude", "ab?.dat"], &[]),
        (&["--exclude", "ab[0-9][0-9].dat"], &[]),
        (&["--exclude", "build/"], &[]),
        (&["--exclude", "\\[draft].txt"], &[]),
        (&["--exclude", "[[]draft].txt"], &[]),
        // With --include nothing is sent to rsync: every log crosses, and so does what
        // the default SKIP_* leave out.
        (
            &["--exclude", "*.log", "--include", "/a/x.log"],
            &[
                "x.log",
                "a/b/x.log",
                "a/b/c/x.log",
                ".cache",
                ".cache/c",
                "__pycache__",
                "__pycache__/m.pyc",
                "x.tmp",
            ],
        ),
    ];
    for (i, (args, crossing)) in rows.iter().enumerate() {
        let (remote, local) = (format!("r{i}"), format!("l{i}"));
        let out = r
            .env
            .cmd()
            .args(["backup", "--name", &remote])
            .args(*args)
            .arg(r.spec())
            .output()
            .unwrap();
        assert_ok(&out);
        let out = r
            .env
            .cmd()
            .args(["backup", "--name", &local])
            .args(*args)
            .arg(&r.env.src)
            .output()
            .unwrap();
        assert_ok(&out);
        let snap = r.env.snapshots(&remote).pop().unwrap();
        let local_snap = r.env.snapshots(&local).pop().unwrap();
        assert_eq!(tree(&snap), tree(&local_snap), "{args:?}");
        let mirror = paths(&r.mirror(&remote));
        let kept = paths(&snap);
        let crossed: BTreeSet<Vec<u8>> = mirror.difference(&kept).cloned().collect();
        let expected: BTreeSet<Vec<u8>> = crossing.iter().map(|p| p.as_bytes().to_vec()).collect();
        assert_eq!(
            crossed,
            expected,
            "{args:?}: crossed {:?}",
            crossed
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
        );
    }
}
