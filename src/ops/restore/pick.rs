//! Which entries of a snapshot a restore writes: all of them, or the files, folders and
//! glob matches named on the command line with everything below them, plus the folders
//! on their way (made when missing, so each lands under its path in the snapshot).

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{bail, Result};

use super::target::{in_or_below, split};
use crate::catalog::entries::Recorded;
use crate::scan::Kind;

/// Why an entry is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// It was asked for (or is below something asked for): restored with its metadata.
    Restore,
    /// A folder on the way to something asked for: made when missing (then with its
    /// metadata), otherwise left as it is.
    Parent,
}

/// An entry to restore.
pub struct Picked<'a> {
    pub rec: &'a Recorded,
    pub role: Role,
}

/// How many files `prune --keep-versions` removed from what restoring `paths` covers
/// (the whole snapshot when `paths` is empty, else the folders `picked` restores), and
/// the distinct times it did, oldest first.
pub fn trimmed_within(
    picked: &[Picked],
    paths: &[PathBuf],
    trimmed: &std::collections::HashMap<Vec<u8>, String>,
) -> (u64, Vec<String>) {
    let folders: Vec<&[u8]> = picked
        .iter()
        .filter(|p| p.role == Role::Restore && p.rec.kind == crate::scan::Kind::Dir)
        .map(|p| &p.rec.path[..])
        .collect();
    let covered = |path: &[u8]| {
        paths.is_empty()
            || folders
                .iter()
                .any(|d| *d == b"." || (path.starts_with(d) && path.get(d.len()) == Some(&b'/')))
    };
    let mut at: Vec<String> = Vec::new();
    let mut files = 0;
    for (path, when) in trimmed {
        if covered(path) {
            files += 1;
            at.push(when.clone());
        }
    }
    at.sort();
    at.dedup();
    (files, at)
}

/// The entries (in path order, folders before what they hold) that restoring `paths`
/// of a snapshot with `entries` writes; every entry when `paths` is empty. A path that
/// matches nothing is an error naming it (and, for a path `prune --keep-versions` removed
/// from the snapshot, saying so: `trimmed` maps such paths to when).
pub fn pick<'a>(
    entries: &'a [Recorded],
    paths: &[PathBuf],
    trimmed: &std::collections::HashMap<Vec<u8>, String>,
) -> Result<Vec<Picked<'a>>> {
    if paths.is_empty() {
        return Ok(entries
            .iter()
            .map(|rec| Picked {
                rec,
                role: Role::Restore,
            })
            .collect());
    }
    let mut asked: HashSet<&[u8]> = HashSet::new();
    for path in paths {
        let wanted = normalize(path.as_os_str().as_bytes());
        let before = asked.len();
        let mut any = false;
        for rec in entries {
            if matches(&wanted, &rec.path) {
                asked.insert(&rec.path);
                any = true;
            }
        }
        if !any && asked.len() == before {
            if let Some(when) = trimmed.get(&wanted) {
                bail!(
                    "{}: this version was removed from the snapshot by `prune --keep-versions` \
                     at {when}; `phlb history` lists the versions kept",
                    path.display()
                );
            }
            bail!(
                "{}: not in this snapshot (give a path inside it, like notes/todo.txt, or a glob)",
                path.display()
            );
        }
    }
    let below_asked = |rel: &[u8]| in_or_below(&asked, rel);
    let chosen: Vec<&Recorded> = entries.iter().filter(|r| below_asked(&r.path)).collect();
    let mut on_the_way: HashSet<&[u8]> = HashSet::new();
    for rec in &chosen {
        let mut at = split(&rec.path).0;
        while !at.is_empty() && on_the_way.insert(at) {
            at = split(at).0;
        }
    }
    Ok(entries
        .iter()
        .filter_map(|rec| {
            let role = if below_asked(&rec.path) {
                Role::Restore
            } else if rec.kind == Kind::Dir && on_the_way.contains(&rec.path[..]) {
                Role::Parent
            } else {
                return None;
            };
            Some(Picked { rec, role })
        })
        .collect())
}

/// A path as given, without `./` in front and `/` at the end.
fn normalize(path: &[u8]) -> Vec<u8> {
    let mut p = path;
    while let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    }
    while p.len() > 1 && p.ends_with(b"/") {
        p = &p[..p.len() - 1];
    }
    p.to_vec()
}

/// True when the snapshot path `rel` is `wanted`, or matches it as a shell glob (a glob
/// without `/` also matches the last name alone, as `phlb find` does).
fn matches(wanted: &[u8], rel: &[u8]) -> bool {
    wanted == rel
        || (wanted.iter().any(|b| b"*?[".contains(b))
            && crate::sys::glob::path_matches(wanted, rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Meta;

    fn rec(path: &str, kind: Kind) -> Recorded {
        Recorded {
            path: path.as_bytes().to_vec(),
            kind,
            meta: Meta {
                size: 0,
                mtime_ns: 0,
                mode: 0o755,
                uid: 0,
                gid: 0,
                xattrs: 0,
            },
            target: None,
            copy: None,
        }
    }

    #[test]
    fn paths_pick_what_is_below_them_and_the_folders_on_the_way() {
        let entries = vec![
            rec(".", Kind::Dir),
            rec("a", Kind::Dir),
            rec("a.txt", Kind::File),
            rec("a/b", Kind::Dir),
            rec("a/b/c.pdf", Kind::File),
            rec("a/b/d", Kind::File),
            rec("e.pdf", Kind::File),
        ];
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, Role)]);
        let cases: [Case; 4] = [
            (
                &["a/b/d"],
                &[
                    ("a", Role::Parent),
                    ("a/b", Role::Parent),
                    ("a/b/d", Role::Restore),
                ],
            ),
            (
                &["./a/b/"],
                &[
                    ("a", Role::Parent),
                    ("a/b", Role::Restore),
                    ("a/b/c.pdf", Role::Restore),
                    ("a/b/d", Role::Restore),
                ],
            ),
            (
                &["*.pdf"],
                &[
                    ("a", Role::Parent),
                    ("a/b", Role::Parent),
                    ("a/b/c.pdf", Role::Restore),
                    ("e.pdf", Role::Restore),
                ],
            ),
            (&["a.txt"], &[("a.txt", Role::Restore)]),
        ];
        for (paths, want) in cases {
            let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            let got: Vec<(String, Role)> = pick(&entries, &paths, &Default::default())
                .unwrap()
                .iter()
                .map(|p| (String::from_utf8(p.rec.path.clone()).unwrap(), p.role))
                .collect();
            let want: Vec<(String, Role)> = want.iter().map(|(p, r)| (p.to_string(), *r)).collect();
            assert_eq!(got, want, "{paths:?}");
        }
        assert!(pick(&entries, &[PathBuf::from("nope")], &Default::default()).is_err());
        assert_eq!(
            pick(&entries, &[], &Default::default()).unwrap().len(),
            entries.len()
        );
    }
}
