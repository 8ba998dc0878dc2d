//! `phlb diff`: added, removed, modified and renamed/moved paths between two snapshots,
//! renames found by content hash.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Result};

use crate::catalog::queries::{self, Item};
use crate::catalog::snapshots::Status;
use crate::catalog::{Db, SnapshotRow};
use crate::cli::DiffArgs;
use crate::config::Config;
use crate::ops::select::{open_read, resolve};
use crate::output::{Cell, Format, Table};
use crate::units::human_bytes;
use crate::Outcome;

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
    /// For `modified`: what changed (content, kind, mode, symlink target).
    pub detail: Option<String>,
}

/// Runs `phlb diff`.
pub fn run(config: &Config, args: &DiffArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config)?;
    let db = catalog.db()?;
    let (a, b) = match &args.b {
        Some(b) => (resolve(&db, &root, &args.a)?, resolve(&db, &root, b)?),
        None => two_newest(&db, &args.a)?,
    };
    let changes = compare(&queries::items(&db, a.id)?, &queries::items(&db, b.id)?);
    let mut t = Table::new(&["change", "path", "from", "kind", "size", "detail"]);
    let mut counts: HashMap<&str, i64> = HashMap::new();
    let (mut plus, mut minus) = (0i64, 0i64);
    for c in &changes {
        *counts.entry(c.what).or_default() += 1;
        match c.what {
            "added" | "modified" => plus += c.size,
            "removed" => minus += c.size,
            _ => {}
        }
        t.push(vec![
            c.what.into(),
            c.path.clone().into(),
            c.from.clone().into(),
            c.kind.clone().into(),
            Cell::Bytes(c.size),
            c.detail.clone().into(),
        ]);
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    if args.out.json {
        let rows: serde_json::Value = serde_json::from_str(&t.render(Format::Json, true))?;
        let doc = serde_json::json!({
            "from": a.label(),
            "to": b.label(),
            "changes": rows,
            "totals": {
                "added": count("added"), "removed": count("removed"),
                "modified": count("modified"), "renamed": count("renamed"), "moved": count("moved"),
                "bytes_added": plus, "bytes_removed": minus,
            }
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{} -> {}", a.label(), b.label());
        print!("{}", t.render(Format::Table, args.out.bytes));
        let size = |n: i64| {
            if args.out.bytes {
                n.to_string()
            } else {
                human_bytes(n as u64)
            }
        };
        println!(
            "{} added, {} removed, {} modified, {} renamed, {} moved; {} new or changed, {} removed",
            count("added"),
            count("removed"),
            count("modified"),
            count("renamed"),
            count("moved"),
            size(plus),
            size(minus)
        );
    }
    Ok(Outcome::Clean)
}

/// The two newest complete snapshots of `name`, older first.
fn two_newest(db: &Db, name: &str) -> Result<(SnapshotRow, SnapshotRow)> {
    let mut runs: Vec<SnapshotRow> = SnapshotRow::all(db)?
        .into_iter()
        .filter(|s| s.name == name && s.status == Status::Complete)
        .collect();
    if runs.len() < 2 {
        bail!(
            "{name}: needs two complete snapshots of this name to compare, has {}",
            runs.len()
        );
    }
    let b = runs.pop().expect("two runs");
    let a = runs.pop().expect("two runs");
    Ok((a, b))
}

/// What changed in one path between two snapshots (None: nothing recorded did): its
/// kind (`file -> dir`), content, symlink target (`-> new`), mode (`0644 -> 0600`).
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
