//! Owns the web UI's find (`phlb serve`'s `/find`): paths matching a glob that some
//! snapshot still holds, a page at a time, with how many snapshots hold each and the
//! newest one.

use anyhow::Result;
use rusqlite::params;

use super::web::snapshot;
use super::Db;

/// A path matched by a glob, with how many snapshots hold it and the newest one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Match {
    pub path_id: i64,
    pub path: String,
    pub snapshots: i64,
    pub newest_id: i64,
    pub newest: String,
}

/// Paths matching the shell glob (as `phlb find` matches) that some snapshot (of
/// `name`, when given) still holds, by path, `limit` from `offset`: the paging runs over
/// those, not over every path the catalog ever saw (paths of removed snapshots stay in
/// `paths`).
pub fn find_page(
    db: &Db,
    glob: &str,
    name: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<Match>> {
    let conn = db.conn();
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.path FROM paths p WHERE p.path != CAST('.' AS BLOB) AND
            (CAST(p.path AS TEXT) GLOB ?1
             OR (instr(?1, '/') = 0 AND CAST(p.path AS TEXT) GLOB '*/' || ?1))
            AND EXISTS (SELECT 1 FROM entries x JOIN snapshot_runs s ON s.id = x.snapshot_id
                        WHERE x.path_id = p.id AND (?4 IS NULL OR s.name = ?4))
         ORDER BY p.path LIMIT ?2 OFFSET ?3",
    )?;
    let ids: Vec<(i64, Vec<u8>)> = stmt
        .query_map(params![glob, limit, offset, name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut per = conn.prepare_cached(
        "SELECT count(*), (SELECT s.id FROM entries x JOIN snapshot_runs s ON s.id = x.snapshot_id
                           WHERE x.path_id = ?1 AND (?2 IS NULL OR s.name = ?2)
                           ORDER BY s.sequence DESC, s.instant_ns DESC, s.id DESC LIMIT 1)
         FROM entries e JOIN snapshot_runs r ON r.id = e.snapshot_id
         WHERE e.path_id = ?1 AND (?2 IS NULL OR r.name = ?2)",
    )?;
    let mut out = Vec::new();
    for (id, path) in ids {
        let (count, newest_id): (i64, Option<i64>) =
            per.query_row(params![id, name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let Some(newest_id) = newest_id else { continue };
        let newest = snapshot(db, newest_id)?
            .map(|s| s.label())
            .unwrap_or_default();
        out.push(Match {
            path_id: id,
            path: String::from_utf8_lossy(&path).into_owned(),
            snapshots: count,
            newest_id,
            newest,
        });
    }
    Ok(out)
}
