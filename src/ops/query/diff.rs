//! What changed between two snapshots: added, removed and changed paths.

use crate::catalog::queries::Item;
use std::collections::HashMap;
use std::path::Path;

/// One difference between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// added, removed, modified, renamed or moved.
    pub what: &'static str,
    pub path: String,
    /// The path in the older snapshot, for renamed and moved files.
    pub from: Option<String>,
    pub kind: String,
    pub size: i64,
    /// For `modified`: what changed (content, kind, mode, symlink target, extended
    /// attributes).
    pub detail: Option<String>,
}

/// What changed in one path between two snapshots (None: nothing recorded did): its
/// kind (`file -> dir`), content, symlink target (`-> new`), mode (`0644 -> 0600`),
/// extended attributes.
fn difference(o: &Item, n: &Item) -> Option<String> {
    let mut what = Vec::new();
    if o.kind != n.kind {
        what.push(format!("{} -> {}", o.kind, n.kind));
    } else {
        if o.kind == "file" && o.content_id != n.content_id {
            what.push("content".to_string());
        }
        if o.target != n.target {
            what.push(format!(
                "target {} -> {}",
                o.target.as_deref().unwrap_or(""),
                n.target.as_deref().unwrap_or("")
            ));
        }
        if o.mode != n.mode && o.kind != "symlink" {
            what.push(format!("mode {:04o} -> {:04o}", o.mode, n.mode));
        }
        if o.xattrs != n.xattrs {
            what.push("extended attributes".to_string());
        }
    }
    (!what.is_empty()).then(|| what.join(", "))
}

/// Compares two snapshots' entries (each in path-id order).
pub fn compare(old: &[Item], new: &[Item]) -> Vec<Change> {
    let old_by_id: HashMap<i64, &Item> = old.iter().map(|i| (i.path_id, i)).collect();
    let new_by_id: HashMap<i64, &Item> = new.iter().map(|i| (i.path_id, i)).collect();
    let mut changes = Vec::new();
    let mut added: Vec<&Item> = Vec::new();
    for n in new {
        match old_by_id.get(&n.path_id) {
            None => added.push(n),
            Some(o) => {
                if let Some(detail) = difference(o, n) {
                    changes.push(Change {
                        what: "modified",
                        path: n.path.clone(),
                        from: None,
                        kind: n.kind.clone(),
                        size: n.size,
                        detail: Some(detail),
                    });
                }
            }
        }
    }
    let mut removed_by_content: HashMap<i64, Vec<&Item>> = HashMap::new();
    let mut removed: Vec<&Item> = Vec::new();
    for o in old.iter().filter(|o| !new_by_id.contains_key(&o.path_id)) {
        match (o.kind.as_str(), o.content_id) {
            ("file", Some(c)) => removed_by_content.entry(c).or_default().push(o),
            _ => removed.push(o),
        }
    }
    for list in removed_by_content.values_mut() {
        list.reverse();
    }
    for n in added {
        let source = n
            .content_id
            .filter(|_| n.kind == "file")
            .and_then(|c| removed_by_content.get_mut(&c))
            .and_then(|list| list.pop());
        let (what, from) = match source {
            Some(o) => {
                let same_dir = Path::new(&o.path).parent() == Path::new(&n.path).parent();
                (
                    if same_dir { "renamed" } else { "moved" },
                    Some(o.path.clone()),
                )
            }
            None => ("added", None),
        };
        changes.push(Change {
            what,
            path: n.path.clone(),
            from,
            kind: n.kind.clone(),
            size: n.size,
            detail: None,
        });
    }
    removed.extend(removed_by_content.into_values().flatten());
    for o in removed {
        changes.push(Change {
            what: "removed",
            path: o.path.clone(),
            from: None,
            kind: o.kind.clone(),
            size: o.size,
            detail: None,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path).then(a.what.cmp(b.what)));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, path: &str, content: i64) -> Item {
        Item {
            path_id: id,
            path: path.into(),
            kind: "file".into(),
            size: 1,
            content_id: Some(content),
            hash: None,
            mode: 0o644,
            target: None,
            xattrs: 0,
        }
    }

    #[test]
    fn classifies_changes() {
        let old = vec![
            item(1, "a", 10),
            item(2, "d/b", 20),
            item(3, "c", 30),
            item(4, "gone", 40),
        ];
        let new = vec![
            item(1, "a", 11),
            item(5, "e/b", 20),
            item(6, "c2", 30),
            item(7, "new", 50),
        ];
        let got: Vec<(&str, String, Option<String>)> = compare(&old, &new)
            .into_iter()
            .map(|c| (c.what, c.path, c.from))
            .collect();
        assert_eq!(
            got,
            vec![
                ("modified", "a".to_string(), None),
                ("renamed", "c2".to_string(), Some("c".to_string())),
                ("moved", "e/b".to_string(), Some("d/b".to_string())),
                ("removed", "gone".to_string(), None),
                ("added", "new".to_string(), None),
            ]
        );
    }
}
