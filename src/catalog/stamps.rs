//! Typed queries on a snapshot's time, order and source (V12, V13): the creation
//! sequence, the stamps `add` and upgrades record, and which source owns a name.

use anyhow::Result;
use rusqlite::{params, Row};

use super::snapshots::{row, started_at, COLUMNS, OLDEST_FIRST};
use super::{Db, SnapshotRow};
use crate::stamp::{SourceId, Stamp, TimeSource};

/// The columns `stamp` reads, in this order.
pub(super) const STAMP_COLUMNS: &str =
    "instant_ns, utc_offset, sequence, time_source, source_host, source, source_moved";

/// Reads the `STAMP_COLUMNS` starting at column `at`.
pub(super) fn stamp(r: &Row, at: usize) -> rusqlite::Result<Stamp> {
    let host: Option<String> = r.get(at + 4)?;
    let path: Option<Vec<u8>> = r.get(at + 5)?;
    let time_source: String = r.get(at + 3)?;
    Ok(Stamp {
        instant_ns: r.get::<_, Option<i64>>(at)?.unwrap_or(0),
        offset_secs: r.get::<_, Option<i32>>(at + 1)?.unwrap_or(0),
        sequence: r.get::<_, Option<i64>>(at + 2)?.unwrap_or(0),
        time_source: if time_source == "name" {
            TimeSource::Name
        } else {
            TimeSource::Run
        },
        source: match (host, path) {
            (Some(host), Some(path)) if !path.is_empty() => Some(SourceId { host, path }),
            _ => None,
        },
        source_moved: r.get(at + 6)?,
    })
}

impl SnapshotRow {
    /// The sequence a new run gets: one more than any snapshot of the root has.
    pub fn next_sequence(db: &Db) -> Result<i64> {
        Ok(db.conn().query_row(
            "SELECT coalesce(max(sequence), 0) + 1 FROM snapshot_runs",
            [],
            |r| r.get(0),
        )?)
    }

    /// The sequence a tree copied in by hand with instant `instant_ns` gets: that of the
    /// last snapshot made at or before that instant (0 before all), so it takes its place
    /// in the creation order by its instant and never becomes the newest by being added.
    pub fn sequence_at(db: &Db, instant_ns: i64) -> Result<i64> {
        Ok(db.conn().query_row(
            "SELECT coalesce(max(sequence), 0) FROM snapshot_runs WHERE instant_ns <= ?1",
            [instant_ns],
            |r| r.get(0),
        )?)
    }

    /// The time, order and source recorded for this run.
    pub fn stamp(&self, db: &Db) -> Result<Stamp> {
        let sql = format!("SELECT {STAMP_COLUMNS} FROM snapshot_runs WHERE id = ?1");
        Ok(db.conn().query_row(&sql, [self.id], |r| stamp(r, 0))?)
    }

    /// Records `stamp` as this run's time, order and source (`add`: from the side file or
    /// the folder name; it never knows when the run finished).
    pub fn set_stamp(&self, db: &Db, stamp: &Stamp) -> Result<()> {
        let (host, source) = match &stamp.source {
            Some(s) => (Some(s.host.as_str()), s.path.as_slice()),
            None => (None, &b""[..]),
        };
        db.conn().execute(
            "UPDATE snapshot_runs SET started_at = ?2, finished_at = NULL, time_source = ?3,
             instant_ns = ?4, utc_offset = ?5, sequence = ?6, source_host = ?7, source = ?8,
             source_moved = ?9
             WHERE id = ?1",
            params![
                self.id,
                started_at(stamp.instant_ns),
                stamp.time_source.as_str(),
                stamp.instant_ns,
                stamp.offset_secs,
                stamp.sequence,
                host,
                source,
                stamp.source_moved
            ],
        )?;
        Ok(())
    }

    /// Complete runs whose folder may lack its side file, with their stamps (a root an
    /// older phlb made: written by the first writer).
    pub fn complete_with_stamps(db: &Db) -> Result<Vec<SnapshotRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM snapshot_runs WHERE status = 'complete'
             ORDER BY {OLDEST_FIRST}"
        );
        let mut stmt = db.conn().prepare(&sql)?;
        let rows = stmt.query_map([], row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The sources the snapshots of `name` were made from, each once, the source of the
    /// newest one first (it owns the name: a name is one source); trees copied in by
    /// hand have none, and a run that never finished binds nothing (a first backup of the
    /// wrong folder, stopped with Ctrl-C, is no history). More than one: a root made
    /// before names were bound to a source.
    pub fn sources_of_name(db: &Db, name: &str) -> Result<Vec<SourceId>> {
        let mut stmt = db.conn().prepare_cached(
            "SELECT source_host, source FROM snapshot_runs
             WHERE name = ?1 AND source_host IS NOT NULL AND length(source) > 0
             AND status != 'incomplete'
             GROUP BY source_host, source
             ORDER BY max(sequence) DESC, max(instant_ns) DESC, max(id) DESC",
        )?;
        let rows = stmt
            .query_map([name], |r| {
                Ok(SourceId {
                    host: r.get(0)?,
                    path: r.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every name whose snapshots hold more than one source's history (a root made
    /// before a name was bound to one source; see `stamp::histories`), with the newest
    /// source of each history, the owner's (the newest snapshot's) first.
    pub fn mixed_names(db: &Db) -> Result<Vec<(String, Vec<SourceId>)>> {
        let members = super::prune::members(db, None)?;
        let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            let list: Vec<_> = members
                .iter()
                .filter(|m| m.name == name)
                .map(|m| (m.stamp.source.as_ref(), m.stamp.source_moved))
                .collect();
            let (history, count) = crate::stamp::histories(&list);
            if count < 2 {
                continue;
            }
            let mut shown: Vec<SourceId> = Vec::new();
            for h in history.into_iter().rev().flatten() {
                if !shown.contains(&h) {
                    shown.push(h);
                }
            }
            out.push((name.to_string(), shown));
        }
        Ok(out)
    }

    /// Gives the runs an older phlb made from a source this machine's host name `host`
    /// (they were made here: the root is upgraded where it is used).
    pub fn adopt_host(db: &Db, host: &str) -> Result<()> {
        db.conn().execute(
            "UPDATE snapshot_runs SET source_host = ?1
             WHERE source_host IS NULL AND time_source = 'run' AND length(source) > 0",
            [host],
        )?;
        Ok(())
    }
}
