//! What changed between two snapshots: added, removed and changed paths (renames and
//! moves found by content), and the paths whose metadata alone changed. The entries each
//! snapshot holds and the other does not are read in path-id order and merged
//! (`catalog::diff::rows_apart`); only those have their content and path looked up, so
//! two adjacent snapshots cost what changed between them.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use crate::catalog::diff::{self as catalog, Row};
use crate::catalog::Db;
use crate::scan::Kind;

/// One difference between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// added, removed, modified, renamed or moved.
    pub what: &'static str,
    pub path: String,
    /// The id of `path` (for removed: in the older snapshot, else in the newer one).
    pub path_id: i64,
    /// The path in the older snapshot, for renamed and moved files.
    pub from: Option<String>,
    pub kind: String,
    pub size: i64,
    /// For `modified`: what changed (content, kind, mode, symlink target, extended
    /// attributes).
    pub detail: Option<String>,
}

/// A path in both snapshots with the same kind and content but another mode, mtime or
/// attribute set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaChange {
    pub path: Vec<u8>,
    pub path_id: i64,
    pub old_mode: u32,
    pub new_mode: u32,
    pub old_mtime_ns: i64,
    pub new_mtime_ns: i64,
    /// Whether its extended attributes changed.
    pub xattrs_changed: bool,
}

/// The whole difference of two snapshots.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    /// By path (then by what), as text.
    pub changes: Vec<Change>,
    /// By path, raw bytes.
    pub meta: Vec<MetaChange>,
}

/// Compares snapshot `old` with snapshot `new` (in one read transaction).
pub fn between(db: &Db, old: i64, new: i64) -> Result<Diff> {
    db.reading(|db| compare(db, old, new))
}

fn compare(db: &Db, old: i64, new: i64) -> Result<Diff> {
    let (old, new) = (
        catalog::rows_apart(db, old, new)?,
        catalog::rows_apart(db, new, old)?,
    );
    let split = split(&old, &new);
    let contents = catalog::contents(db, split.copies())?;
    let (drafts, meta) = classify(&split, &contents);
    let ids = drafts
        .iter()
        .flat_map(|d| std::iter::once(d.path_id).chain(d.from))
        .chain(meta.iter().map(|(o, _)| o.path_id));
    let mut paths = catalog::paths(db, ids)?;
    let text = |id: i64, paths: &HashMap<i64, Vec<u8>>| {
        String::from_utf8_lossy(paths.get(&id).map(Vec::as_slice).unwrap_or_default()).into_owned()
    };
    let mut changes: Vec<Change> = drafts
        .into_iter()
        .map(|d| {
            let path = text(d.path_id, &paths);
            let from = d.from.map(|f| text(f, &paths));
            let what = match &from {
                Some(f) if Path::new(f).parent() == Path::new(&path).parent() => "renamed",
                _ => d.what,
            };
            Change {
                what,
                path,
                path_id: d.path_id,
                from,
                kind: d.kind.as_str().to_string(),
                size: d.size,
                detail: d.detail,
            }
        })
        .collect();
    changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.what.cmp(b.what)));
    let mut meta: Vec<MetaChange> = meta
        .into_iter()
        .map(|(o, n)| MetaChange {
            path: paths.remove(&o.path_id).unwrap_or_default(),
            path_id: o.path_id,
            old_mode: o.mode,
            new_mode: n.mode,
            old_mtime_ns: o.mtime_ns,
            new_mtime_ns: n.mtime_ns,
            xattrs_changed: o.xattrs != n.xattrs,
        })
        .collect();
    meta.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Diff { changes, meta })
}

/// The entries two snapshots do not share unchanged, each list in path-id order.
#[derive(Default)]
struct Split<'a> {
    /// In both, with something recorded different.
    pairs: Vec<(&'a Row, &'a Row)>,
    added: Vec<&'a Row>,
    removed: Vec<&'a Row>,
}

/// Merges two snapshots' entries (each in path-id order).
fn split<'a>(old: &'a [Row], new: &'a [Row]) -> Split<'a> {
    let mut s = Split::default();
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        let (x, y) = (&old[i], &new[j]);
        match x.path_id.cmp(&y.path_id) {
            std::cmp::Ordering::Equal => {
                if x != y {
                    s.pairs.push((x, y));
                }
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                s.removed.push(x);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                s.added.push(y);
                j += 1;
            }
        }
    }
    s.removed.extend(&old[i..]);
    s.added.extend(&new[j..]);
    s
}

impl Split<'_> {
    /// The stored copies whose content decides something: of files added or removed
    /// (renames) and of paths whose copy changed (equal copies are equal content).
    fn copies(&self) -> Vec<i64> {
        let files = self
            .added
            .iter()
            .chain(&self.removed)
            .copied()
            .filter(|r| r.kind == Kind::File);
        let changed = self
            .pairs
            .iter()
            .filter(|(o, n)| o.kind == n.kind && o.copy_id != n.copy_id)
            .flat_map(|(o, n)| [*o, *n]);
        files.chain(changed).filter_map(|r| r.copy_id).collect()
    }
}

/// A change before its paths are looked up.
#[derive(Debug, PartialEq, Eq)]
struct Draft {
    what: &'static str,
    path_id: i64,
    from: Option<i64>,
    kind: Kind,
    size: i64,
    detail: Option<String>,
}

/// What changed in one path between two snapshots (None: nothing recorded did): its
/// kind (`file -> dir`), content, symlink target (`-> new`), mode (`0644 -> 0600`),
/// extended attributes.
fn difference(o: &Row, n: &Row, content: impl Fn(&Row) -> Option<i64>) -> Option<String> {
    let mut what = Vec::new();
    if o.kind != n.kind {
        what.push(format!("{} -> {}", o.kind.as_str(), n.kind.as_str()));
    } else {
        if o.kind == Kind::File && content(o) != content(n) {
            what.push("content".to_string());
        }
        if o.target != n.target {
            let shown = |t: &Option<Vec<u8>>| {
                String::from_utf8_lossy(t.as_deref().unwrap_or_default()).into_owned()
            };
            what.push(format!(
                "target {} -> {}",
                shown(&o.target),
                shown(&n.target)
            ));
        }
        if o.mode != n.mode && o.kind != Kind::Symlink {
            what.push(format!("mode {:04o} -> {:04o}", o.mode, n.mode));
        }
        if o.xattrs != n.xattrs {
            what.push("extended attributes".to_string());
        }
    }
    (!what.is_empty()).then(|| what.join(", "))
}

/// Classifies what `split` found: the changes (an added file whose content a removed
/// file had is that file renamed or moved, the first such removed path by path id
/// taken first) and the pairs whose metadata alone changed.
fn classify<'a>(
    split: &Split<'a>,
    contents: &HashMap<i64, i64>,
) -> (Vec<Draft>, Vec<(&'a Row, &'a Row)>) {
    let content = |r: &Row| r.copy_id.and_then(|c| contents.get(&c).copied());
    let mut drafts = Vec::new();
    let mut meta = Vec::new();
    for &(o, n) in &split.pairs {
        if let Some(detail) = difference(o, n, content) {
            drafts.push(Draft {
                what: "modified",
                path_id: n.path_id,
                from: None,
                kind: n.kind,
                size: n.size,
                detail: Some(detail),
            });
        }
        if o.kind == n.kind
            && content(o) == content(n)
            && (o.mode != n.mode || o.mtime_ns != n.mtime_ns || o.xattrs != n.xattrs)
        {
            meta.push((o, n));
        }
    }
    let mut removed_by_content: HashMap<i64, Vec<&Row>> = HashMap::new();
    let mut removed: Vec<&Row> = Vec::new();
    for &o in &split.removed {
        match (o.kind, content(o)) {
            (Kind::File, Some(c)) => removed_by_content.entry(c).or_default().push(o),
            _ => removed.push(o),
        }
    }
    for list in removed_by_content.values_mut() {
        list.reverse();
    }
    for &n in &split.added {
        let source = content(n)
            .filter(|_| n.kind == Kind::File)
            .and_then(|c| removed_by_content.get_mut(&c))
            .and_then(|list| list.pop());
        drafts.push(Draft {
            // Moved, or renamed when both paths sit in one folder (`between` decides,
            // with the paths).
            what: if source.is_some() { "moved" } else { "added" },
            path_id: n.path_id,
            from: source.map(|o| o.path_id),
            kind: n.kind,
            size: n.size,
            detail: None,
        });
    }
    removed.extend(removed_by_content.into_values().flatten());
    drafts.extend(removed.into_iter().map(|o| Draft {
        what: "removed",
        path_id: o.path_id,
        from: None,
        kind: o.kind,
        size: o.size,
        detail: None,
    }));
    (drafts, meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path_id: i64, kind: Kind, copy: Option<i64>) -> Row {
        Row {
            path_id,
            kind,
            size: 1,
            mtime_ns: 0,
            mode: 0o644,
            copy_id: copy,
            target: None,
            xattrs: 0,
        }
    }

    fn file(path_id: i64, copy: i64) -> Row {
        row(path_id, Kind::File, Some(copy))
    }

    /// (what, path id, from) of each change, by path id then what.
    fn drafts(
        old: &[Row],
        new: &[Row],
        contents: &[(i64, i64)],
    ) -> Vec<(&'static str, i64, Option<i64>)> {
        let contents: HashMap<i64, i64> = contents.iter().copied().collect();
        let (drafts, _) = classify(&split(old, new), &contents);
        let mut got: Vec<_> = drafts.iter().map(|d| (d.what, d.path_id, d.from)).collect();
        got.sort_by_key(|&(what, id, _)| (id, what));
        got
    }

    #[test]
    fn classifies_changes() {
        // Copies 10.. hold contents 10..; copy 21 holds content 20 too (d/b moved
        // to e/b as a new copy of the same content).
        let contents = [
            (10, 10),
            (11, 11),
            (20, 20),
            (21, 20),
            (30, 30),
            (40, 40),
            (50, 50),
        ];
        let old = [file(1, 10), file(2, 20), file(3, 30), file(4, 40)];
        let new = [file(1, 11), file(5, 21), file(6, 30), file(7, 50)];
        assert_eq!(
            drafts(&old, &new, &contents),
            vec![
                ("modified", 1, None),
                ("removed", 4, None),
                ("moved", 5, Some(2)),
                ("moved", 6, Some(3)),
                ("added", 7, None),
            ]
        );
    }

    #[test]
    fn an_added_file_takes_the_first_removed_path_of_its_content() {
        // Copies 1 and 2 hold content 1; paths 1 and 2 go, 4 and 5 come with it.
        let contents = [(1, 1), (2, 1), (3, 3), (4, 4)];
        let old = [file(1, 1), file(2, 2), file(3, 3)];
        let new = [file(4, 2), file(5, 1), file(6, 4)];
        assert_eq!(
            drafts(&old, &new, &contents),
            vec![
                ("removed", 3, None),
                ("moved", 4, Some(1)),
                ("moved", 5, Some(2)),
                ("added", 6, None),
            ]
        );
    }

    #[test]
    fn metadata_changes_are_same_kind_and_content_with_another_mode_mtime_or_set() {
        let contents = [(1, 1), (2, 1), (3, 3)];
        let mut chmod = file(1, 1);
        chmod.mode = 0o600;
        let mut touched = file(2, 1);
        touched.mtime_ns = 5;
        let mut new_copy_same_content = file(3, 2);
        new_copy_same_content.xattrs = 7;
        let mut rewritten = file(4, 3);
        rewritten.mtime_ns = 9;
        let mut link = row(6, Kind::Symlink, None);
        link.target = Some(b"b".to_vec());
        link.mode = 0o777;
        let old = [
            file(1, 1),
            file(2, 1),
            file(3, 1),
            file(4, 1),
            row(5, Kind::File, Some(1)),
            row(6, Kind::Symlink, None),
        ];
        let new = [
            chmod,
            touched,
            new_copy_same_content,
            rewritten,
            row(5, Kind::Dir, None),
            link,
        ];
        let (drafts, meta) = classify(&split(&old, &new), &contents.into_iter().collect());
        let details: Vec<(i64, Option<&str>)> = drafts
            .iter()
            .map(|d| (d.path_id, d.detail.as_deref()))
            .collect();
        assert_eq!(
            details,
            vec![
                (1, Some("mode 0644 -> 0600")),
                (3, Some("extended attributes")),
                (4, Some("content")),
                (5, Some("file -> dir")),
                (6, Some("target  -> b")),
            ]
        );
        let meta: Vec<i64> = meta.iter().map(|(o, _)| o.path_id).collect();
        assert_eq!(meta, vec![1, 2, 3, 6]);
    }
}
