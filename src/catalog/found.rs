//! `find`'s answer by version: each version of each matching path once, with the first
//! and last snapshot that hold it and how many do. It reads the versions themselves, so
//! a file that a thousand snapshots hold unchanged is one row, not a thousand.

use std::collections::HashMap;

use anyhow::Result;

use super::Db;
use crate::snapshot_id::SnapshotId;

/// One version of a path found by `find`.
#[derive(Debug, Clone)]
pub struct FoundVersion {
    /// The path's id: two names that read the same as text are two paths.
    pub path_id: i64,
    pub path: String,
    /// The oldest and newest snapshot holding it, and their place in the creation order
    /// (sequence, instant, id).
    pub first: SnapshotId,
    pub first_order: (i64, i64, i64),
    pub last: SnapshotId,
    pub last_order: (i64, i64, i64),
    /// How many snapshots hold it.
    pub count: i64,
    pub kind: String,
    pub size: i64,
    /// Nanoseconds since 1970 (exact also outside 1677–2262).
    pub mtime_ns: i128,
    pub hash: Option<String>,
}

/// A snapshot run on its line: its place, id, creation order and name.
struct Held {
    pos: i64,
    order: (i64, i64, i64),
    id: SnapshotId,
}

/// What tells two catalog versions of a path apart (a deleted snapshot can leave one
/// version in two parts: equal parts with no snapshot between them are one version).
#[derive(PartialEq)]
struct Shape {
    kind: String,
    size: i64,
    mtime_ns: i128,
    mode: i64,
    target: rusqlite::types::Value,
    xattrs: i64,
    hash: Option<String>,
}

/// Every version of path `?1` in every line, with its path and content hash. CROSS
/// JOIN keeps the lines outside, each seeking the path's versions by the primary key:
/// SQLite's own choice in a catalog of one snapshot was to look the path up first and
/// scan every version for it (7 ms a path at 200k paths: `find 'd01*'` took 51 s).
const VERSIONS_OF_PATH: &str =
    "SELECT v.line, v.lo, v.hi, p.path, v.kind, v.size, v.mtime_ns, v.mtime_exact, v.mode,
                v.target, coalesce(v.xattr_set_id, 0), lower(hex(c.hash))
         FROM lines l CROSS JOIN versions v ON v.line = l.id AND v.path_id = ?1
         CROSS JOIN paths p ON p.id = v.path_id
         LEFT JOIN copies k ON k.id = v.copy_id LEFT JOIN contents c ON c.id = k.content_id
         ORDER BY v.line, v.lo";

/// Every snapshot run (of `name`, or all) per line, in place order; not a run still
/// going or killed (as the `file_versions` view: it cannot be restored).
fn runs_by_line(db: &Db, name: Option<&str>) -> Result<HashMap<i64, Vec<Held>>> {
    let conn = db.conn();
    let mut stmt = conn.prepare(
        "SELECT line, pos, id, coalesce(sequence, 0), coalesce(instant_ns, 0), name, timestamp
         FROM snapshot_runs
         WHERE line IS NOT NULL AND status != 'incomplete' AND (?1 IS NULL OR name = ?1)
         ORDER BY line, pos",
    )?;
    let mut lines: HashMap<i64, Vec<Held>> = HashMap::new();
    let mut rows = stmt.query([name])?;
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(2)?;
        lines.entry(r.get(0)?).or_default().push(Held {
            pos: r.get(1)?,
            order: (r.get(3)?, r.get(4)?, id),
            id: SnapshotId::new(r.get::<_, String>(5)?, r.get::<_, String>(6)?),
        });
    }
    Ok(lines)
}

/// Each version of every path whose path (or, for a pattern without `/`, file name)
/// matches the shell glob, in snapshots of `name` or of any name; per path, per name,
/// oldest first.
pub fn find_versions(db: &Db, glob: &str, name: Option<&str>) -> Result<Vec<FoundVersion>> {
    let lines = runs_by_line(db, name)?;
    let conn = db.conn();
    let ids = super::queries::matching_paths(db, glob)?;
    let mut stmt = conn.prepare_cached(VERSIONS_OF_PATH)?;
    let mut found: Vec<FoundVersion> = Vec::new();
    for path_id in ids {
        // The previous version of this path: its line, shape and last place.
        let mut before: Option<(i64, Shape, i64)> = None;
        let mut rows = stmt.query([path_id])?;
        while let Some(r) = rows.next()? {
            let line: i64 = r.get(0)?;
            let (lo, hi): (i64, i64) = (r.get(1)?, r.get(2)?);
            let Some(runs) = lines.get(&line) else {
                continue;
            };
            let from = runs.partition_point(|h| h.pos < lo);
            let to = runs.partition_point(|h| h.pos <= hi);
            if from >= to {
                continue;
            }
            let shape = Shape {
                kind: r.get(4)?,
                size: r.get(5)?,
                mtime_ns: super::mtime::read(r, 6)?,
                mode: r.get(8)?,
                target: r.get(9)?,
                xattrs: r.get(10)?,
                hash: r.get(11)?,
            };
            let held = &runs[from..to];
            let (Some(first), Some(last)) = (
                held.iter().min_by_key(|h| h.order),
                held.iter().max_by_key(|h| h.order),
            ) else {
                continue;
            };
            // Equal to the version before, with no snapshot between them: one version.
            let joins = before.as_ref().is_some_and(|(l, s, end)| {
                *l == line && *s == shape && runs.partition_point(|h| h.pos <= *end) == from
            });
            match found.last_mut().filter(|_| joins) {
                Some(v) => {
                    if last.order > v.last_order {
                        (v.last, v.last_order) = (last.id.clone(), last.order);
                    }
                    if first.order < v.first_order {
                        (v.first, v.first_order) = (first.id.clone(), first.order);
                    }
                    v.count += held.len() as i64;
                }
                None => found.push(FoundVersion {
                    path_id,
                    path: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(3)?).into_owned(),
                    first: first.id.clone(),
                    first_order: first.order,
                    last: last.id.clone(),
                    last_order: last.order,
                    count: held.len() as i64,
                    kind: shape.kind.clone(),
                    size: shape.size,
                    mtime_ns: shape.mtime_ns,
                    hash: shape.hash.clone(),
                }),
            }
            before = Some((line, shape, hi));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_paths_versions_are_sought_by_the_primary_key_in_each_line() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::super::create::migrate(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::VERSIONS_OF_PATH))
            .unwrap()
            .query_map([7], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("SEARCH v USING PRIMARY KEY (line=? AND path_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN v"), "{plan}");
    }
}
