//! Typed read-only questions the query commands ask: snapshot costs, finds and
//! histories (duplicate groups are `duplicates`). Each answers from the catalog alone.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::params;

use super::Db;

pub use super::duplicates::{duplicates, DupGroup};
use crate::snapshot_id::SnapshotId;

/// A stored path as text; bytes that are not UTF-8 show as U+FFFD.
fn text(r: &rusqlite::Row, i: usize) -> rusqlite::Result<String> {
    Ok(String::from_utf8_lossy(&r.get::<_, Vec<u8>>(i)?).into_owned())
}

/// An entry's mtime as UTC text, whole seconds rounded down (before 1970 too), from
/// `mtime_exact` for times outside 64-bit nanoseconds, and as seconds past the year
/// 9999; as the `files` view shows it. `MTIME_SECS` stands for the seconds.
const MTIME_TEXT: &str = "coalesce(strftime('%Y-%m-%d %H:%M:%S', MTIME_SECS, 'unixepoch'),
    printf('%d seconds after 1970', MTIME_SECS))";

/// An entry's mtime in whole seconds since 1970, rounded down.
const MTIME_SECS: &str = "(CASE WHEN e.mtime_exact IS NOT NULL THEN CAST(e.mtime_exact AS INTEGER)
    WHEN e.mtime_ns >= 0 THEN e.mtime_ns / 1000000000
    ELSE -((999999999 - e.mtime_ns) / 1000000000) END)";

/// `MTIME_TEXT` written out, for a query's column list.
pub(super) fn mtime_text() -> String {
    MTIME_TEXT.replace("MTIME_SECS", MTIME_SECS)
}

/// One snapshot with what it holds and what deleting it would free.
#[derive(Debug, Clone)]
pub struct ListRow {
    pub run: super::SnapshotRow,
    /// Bytes of stored copies that no other snapshot links.
    pub unique_bytes: i64,
    /// Paths whose stored copy `verify` found damaged.
    pub damaged: i64,
    /// Older versions `prune --keep-versions` removed from it.
    pub trimmed: i64,
}

/// Snapshots (of `name`, or all), oldest first, with the bytes only each one holds.
pub fn list(db: &Db, name: Option<&str>) -> Result<Vec<ListRow>> {
    let conn = db.conn();
    let unique = super::versions::only_bytes(db)?;
    let mut damaged: HashMap<i64, i64> = HashMap::new();
    {
        let mut stmt = conn.prepare(
            "SELECT e.snapshot_id, count(*) FROM copies k
             JOIN entries e ON e.copy_id = k.id
             WHERE k.state = 'damaged' GROUP BY e.snapshot_id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            damaged.insert(r.get(0)?, r.get(1)?);
        }
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT {}, (SELECT count(*) FROM trimmed_entries t WHERE t.snapshot_id = s.id)
         FROM snapshot_runs s WHERE ?1 IS NULL OR name = ?1
         ORDER BY {}",
        super::snapshots::COLUMNS,
        super::snapshots::OLDEST_FIRST
    ))?;
    let rows = stmt
        .query_map([name], |r| {
            Ok(ListRow {
                run: super::snapshots::row(r)?,
                unique_bytes: 0,
                damaged: 0,
                trimmed: r.get(super::snapshots::COLUMN_COUNT)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            r.unique_bytes = unique.get(&r.run.id).copied().unwrap_or(0);
            r.damaged = damaged.get(&r.run.id).copied().unwrap_or(0);
            r
        })
        .collect())
}

/// A path found by `find`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Found {
    /// The snapshot's id, for ordering results of several queries.
    #[serde(skip)]
    pub snapshot_id: i64,
    pub snapshot: SnapshotId,
    pub path: String,
    /// The path's id: two names that read the same as text (bytes that are not UTF-8)
    /// are two paths.
    #[serde(skip)]
    pub path_id: i64,
    pub kind: String,
    pub size: i64,
    /// UTC text, as the `files` view shows it.
    #[serde(skip)]
    pub mtime: String,
    /// Nanoseconds since 1970 (exact also outside 1677–2262).
    #[serde(skip)]
    pub mtime_ns: i128,
    pub hash: Option<String>,
    /// The snapshot's place in the creation order (sequence, instant, id).
    #[serde(skip)]
    pub order: (i64, i64, i64),
}

/// Ids of the paths `glob` matches as `find` and `restore` take it
/// (`sys::glob::path_matches`: the whole path, or for a glob without `/` the file name,
/// as fnmatch(3)). SQLite's `GLOB` picks them where it agrees with fnmatch; a glob with a
/// bracket class or a backslash is matched here, against every path.
pub(super) fn matching_paths(db: &Db, glob: &str) -> Result<Vec<i64>> {
    let conn = db.conn();
    if crate::sys::glob::sqlite_agrees(glob.as_bytes()) {
        let ids = conn
            .prepare(
                "SELECT id FROM paths
                 WHERE (CAST(path AS TEXT) GLOB ?1
                        OR (instr(?1, '/') = 0 AND CAST(path AS TEXT) GLOB '*/' || ?1))
                   AND (CAST(path AS TEXT) != '.' OR ?1 = '.')",
            )?
            .query_map([glob], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        return Ok(ids);
    }
    let mut stmt = conn.prepare("SELECT id, path FROM paths")?;
    let mut rows = stmt.query([])?;
    let mut ids = Vec::new();
    while let Some(r) = rows.next()? {
        let path: Vec<u8> = r.get(1)?;
        if crate::sys::glob::path_matches(glob.as_bytes(), &path) {
            ids.push(r.get(0)?);
        }
    }
    Ok(ids)
}

/// Every snapshot entry whose path (or, for a pattern without `/`, file name) matches
/// the shell glob, newest snapshot first.
pub fn find(db: &Db, glob: &str, name: Option<&str>) -> Result<Vec<Found>> {
    let conn = db.conn();
    // Match the (small) paths table first, then fetch each match's entries snapshot by
    // snapshot through the primary key (CROSS JOIN keeps snapshot_runs the outer loop).
    let ids = matching_paths(db, glob)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT s.id, s.name, p.path, e.kind, e.size, {},
                lower(hex(c.hash)), e.mtime_ns, e.mtime_exact, s.sequence, s.instant_ns,
                s.timestamp
         FROM snapshot_runs s CROSS JOIN entries e ON e.snapshot_id = s.id AND e.path_id = ?1
         JOIN paths p ON p.id = e.path_id
         LEFT JOIN copies k ON k.id = e.copy_id LEFT JOIN contents c ON c.id = k.content_id
         WHERE (?2 IS NULL OR s.name = ?2) AND s.status != 'incomplete'",
        mtime_text()
    ))?;
    let mut found: Vec<(i64, Found)> = Vec::new();
    for id in ids {
        let rows = stmt.query_map(params![id, name], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Found {
                    snapshot_id: r.get(0)?,
                    snapshot: SnapshotId::new(r.get::<_, String>(1)?, r.get::<_, String>(11)?),
                    path: text(r, 2)?,
                    path_id: id,
                    kind: r.get(3)?,
                    size: r.get(4)?,
                    mtime: r.get(5)?,
                    mtime_ns: super::mtime::read(r, 7)?,
                    hash: r.get(6)?,
                    order: (
                        r.get::<_, Option<i64>>(9)?.unwrap_or(0),
                        r.get::<_, Option<i64>>(10)?.unwrap_or(0),
                        r.get(0)?,
                    ),
                },
            ))
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    found.sort_by(|(_, a), (_, b)| b.order.cmp(&a.order).then_with(|| a.path.cmp(&b.path)));
    Ok(found.into_iter().map(|(_, f)| f).collect())
}

/// One entry of a path in one snapshot, oldest snapshot first.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub snapshot: SnapshotId,
    pub kind: String,
    pub size: i64,
    /// UTC text, as the `files` view shows it.
    pub mtime: String,
    /// Nanoseconds since 1970 (exact also outside 1677–2262).
    pub mtime_ns: i128,
    pub hash: Option<String>,
    /// Permission bits as octal text (`0644`).
    pub mode: String,
    /// A symlink's target.
    pub target: Option<String>,
    /// When `prune --keep-versions` removed this version from the snapshot, if it did.
    pub trimmed_at: Option<String>,
    /// Its extended attribute set (0: none), which tells versions apart.
    pub xattr_set: i64,
    /// The names of its extended attributes (empty: none).
    pub xattrs: String,
}

/// Every snapshot that holds `path` (of `name`, or any), oldest first; None when the
/// catalog has never seen the path.
pub fn sightings(db: &Db, path: &[u8], name: Option<&str>) -> Result<Option<Vec<Sighting>>> {
    let conn = db.conn();
    let Some(path_id) = conn
        .query_row("SELECT id FROM paths WHERE path = ?1", [path], |r| {
            r.get::<_, i64>(0)
        })
        .ok()
    else {
        return Ok(None);
    };
    // What the snapshots hold, and what prune --keep-versions removed from them, in
    // the order of the snapshots.
    let trimmed_mtime = MTIME_TEXT.replace(
        "MTIME_SECS",
        "(CASE WHEN t.mtime_ns >= 0 THEN t.mtime_ns / 1000000000
          ELSE -((999999999 - t.mtime_ns) / 1000000000) END)",
    );
    let mut stmt = conn.prepare(&format!(
        "SELECT name, kind, size, mtime, hash, trimmed_at, mode, target, mtime_ns,
                mtime_exact, timestamp, xattr_set FROM (
             SELECT s.sequence, s.instant_ns, s.id, s.name AS name, s.timestamp AS timestamp, e.kind, e.size,
                    {} AS mtime, lower(hex(c.hash)) AS hash, NULL AS trimmed_at,
                    printf('%04o', e.mode) AS mode, CAST(e.target AS TEXT) AS target,
                    e.mtime_ns AS mtime_ns, e.mtime_exact AS mtime_exact,
                    coalesce(e.xattr_set_id, 0) AS xattr_set
             FROM snapshot_runs s CROSS JOIN entries e ON e.snapshot_id = s.id AND e.path_id = ?1
             LEFT JOIN copies k ON k.id = e.copy_id LEFT JOIN contents c ON c.id = k.content_id
             WHERE ?2 IS NULL OR s.name = ?2
             UNION ALL
             SELECT s.sequence, s.instant_ns, s.id, s.name, s.timestamp, 'file', t.size,
                    {trimmed_mtime}, lower(hex(t.hash)), t.trimmed_at,
                    printf('%04o', t.mode), NULL, t.mtime_ns, NULL, 0
             FROM snapshot_runs s CROSS JOIN trimmed_entries t ON t.snapshot_id = s.id AND t.path_id = ?1
             WHERE ?2 IS NULL OR s.name = ?2)
         ORDER BY sequence, instant_ns, id",
        mtime_text()
    ))?;
    let rows = stmt
        .query_map(params![path_id, name], |r| {
            Ok(Sighting {
                snapshot: SnapshotId::new(r.get::<_, String>(0)?, r.get::<_, String>(10)?),
                kind: r.get(1)?,
                size: r.get(2)?,
                mtime: r.get(3)?,
                mtime_ns: super::mtime::read(r, 8)?,
                hash: r.get(4)?,
                trimmed_at: r.get(5)?,
                mode: r.get(6)?,
                target: r.get(7)?,
                xattr_set: r.get(11)?,
                xattrs: String::new(),
            })
        })?
        .collect::<rusqlite::Result<Vec<Sighting>>>()?;
    drop(stmt);
    let mut names: std::collections::HashMap<i64, String> = Default::default();
    let mut rows = rows;
    for s in rows.iter_mut().filter(|s| s.xattr_set > 0) {
        if let std::collections::hash_map::Entry::Vacant(v) = names.entry(s.xattr_set) {
            v.insert(super::xattr_sets::body(db, s.xattr_set)?.names());
        }
        s.xattrs = names[&s.xattr_set].clone();
    }
    Ok(Some(rows))
}
