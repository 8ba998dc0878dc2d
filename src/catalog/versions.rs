//! Owns the catalog's path versions (V17): a snapshot's rows are the versions of its
//! line whose range of places holds its place, and `entries` is a view over them. Here:
//! ending the versions a run did not see, a run's own rows, and which versions and
//! stored copies removing snapshots leaves without any snapshot.

use std::collections::HashMap;

use anyhow::Result;
use rusqlite::params;

use super::Db;

/// `hi` of a line's current versions: they hold every place from `lo` on.
pub const OPEN: i64 = i64::MAX;

/// A set of row ids (path or stored copy ids), one bit each: ids are small and dense.
#[derive(Debug, Default, Clone)]
pub struct IdSet(Vec<u64>);

impl IdSet {
    pub fn insert(&mut self, id: i64) {
        let Ok(i) = usize::try_from(id) else { return };
        let word = i / 64;
        if word >= self.0.len() {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    /// The ids in the set, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| (w * 64 + b) as i64)
        })
    }

    pub fn contains(&self, id: i64) -> bool {
        usize::try_from(id)
            .is_ok_and(|i| self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0))
    }
}

/// Takes every path out of snapshot `snapshot_id` that its writer did not record
/// (`seen`): the versions it inherited from the run before end there. Called once the
/// writer has recorded the whole snapshot; returns how many paths went.
pub fn close_unseen(db: &Db, snapshot_id: i64, seen: &IdSet) -> Result<u64> {
    let conn = db.conn();
    let gone: Vec<i64> = {
        let mut stmt = conn.prepare_cached("SELECT path_id FROM entries WHERE snapshot_id = ?1")?;
        let ids = stmt.query_map([snapshot_id], |r| r.get::<_, i64>(0))?;
        let mut gone = Vec::new();
        for id in ids {
            let id = id?;
            if !seen.contains(id) {
                gone.push(id);
            }
        }
        gone
    };
    let mut drop =
        conn.prepare_cached("DELETE FROM entries WHERE snapshot_id = ?1 AND path_id = ?2")?;
    for id in &gone {
        drop.execute(params![snapshot_id, id])?;
    }
    Ok(gone.len() as u64)
}

/// Where a snapshot sits: its line and its place in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub line: i64,
    pub pos: i64,
}

/// The place of snapshot `id` (None when the row is gone).
pub fn place_of(db: &Db, id: i64) -> Result<Option<Place>> {
    use rusqlite::OptionalExtension;
    Ok(db
        .conn()
        .prepare_cached("SELECT line, pos FROM snapshot_runs WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Place {
                line: r.get(0)?,
                pos: r.get(1)?,
            })
        })
        .optional()?)
}

/// The snapshots of one line by place, with counts that answer "who holds a range of
/// places" in constant time. A complete (or missing) snapshot holds every version whose
/// range has its place; an interrupted one only the versions it started (the rest it
/// never wrote into its folder).
#[derive(Debug, Default)]
struct Line {
    pos: Vec<i64>,
    id: Vec<i64>,
    stays: Vec<bool>,
    /// False for an interrupted run.
    whole: Vec<bool>,
    /// Among the first i snapshots: whole ones, and whole ones that stay.
    whole_before: Vec<u32>,
    staying_before: Vec<u32>,
    /// The first whole snapshot at index i or after, and the first whole going one
    /// (len when none).
    next_whole: Vec<usize>,
    next_going: Vec<usize>,
}

impl Line {
    fn index(&mut self) {
        let n = self.id.len();
        self.whole_before = vec![0; n + 1];
        self.staying_before = vec![0; n + 1];
        for i in 0..n {
            let w = u32::from(self.whole[i]);
            self.whole_before[i + 1] = self.whole_before[i] + w;
            self.staying_before[i + 1] = self.staying_before[i] + w * u32::from(self.stays[i]);
        }
        self.next_whole = vec![n; n + 1];
        self.next_going = vec![n; n + 1];
        for i in (0..n).rev() {
            self.next_whole[i] = if self.whole[i] {
                i
            } else {
                self.next_whole[i + 1]
            };
            self.next_going[i] = if self.whole[i] && !self.stays[i] {
                i
            } else {
                self.next_going[i + 1]
            };
        }
    }
}

/// The snapshots of every line by place, each staying or going.
#[derive(Debug, Default)]
pub struct Lines(HashMap<i64, Line>);

/// Who holds one version.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    count: usize,
    staying: usize,
    /// One holder (the first), and the first going one.
    first: Option<i64>,
    first_going: Option<i64>,
}

impl Lines {
    /// Every snapshot row; those in `going` do not stay.
    pub fn load(db: &Db, going: &std::collections::HashSet<i64>) -> Result<Lines> {
        let mut lines: HashMap<i64, Line> = HashMap::new();
        let conn = db.conn();
        let mut stmt = conn.prepare(
            "SELECT line, pos, id, status != 'incomplete' FROM snapshot_runs ORDER BY line, pos",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (line, pos, id): (Option<i64>, Option<i64>, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            let (Some(line), Some(pos)) = (line, pos) else {
                continue;
            };
            let l = lines.entry(line).or_default();
            l.pos.push(pos);
            l.id.push(id);
            l.stays.push(!going.contains(&id));
            l.whole.push(r.get(3)?);
        }
        for l in lines.values_mut() {
            l.index();
        }
        Ok(Lines(lines))
    }

    fn held(&self, line: i64, lo: i64, hi: i64) -> Held {
        let Some(l) = self.0.get(&line) else {
            return Held::default();
        };
        let from = l.pos.partition_point(|&p| p < lo);
        let to = l.pos.partition_point(|&p| p <= hi).max(from);
        let mut h = Held {
            count: (l.whole_before[to] - l.whole_before[from]) as usize,
            staying: (l.staying_before[to] - l.staying_before[from]) as usize,
            first: (l.next_whole[from] < to).then(|| l.id[l.next_whole[from]]),
            first_going: (l.next_going[from] < to).then(|| l.id[l.next_going[from]]),
        };
        // An interrupted run placed where the version starts wrote it itself.
        if from < to && l.pos[from] == lo && !l.whole[from] {
            h.count += 1;
            h.first = Some(l.id[from]);
            if l.stays[from] {
                h.staying += 1;
            } else {
                h.first_going = Some(l.id[from]);
            }
        }
        h
    }
}

/// What the versions of one stored copy say about who holds it.
#[derive(Debug, Clone, Copy, Default)]
struct Holders {
    staying: bool,
    first_going: Option<i64>,
    /// The one snapshot holding it, while there is exactly one.
    only: Option<i64>,
    many: bool,
    size: i64,
}

impl Holders {
    fn add(&mut self, h: Held) {
        self.staying |= h.staying > 0;
        if self.first_going.is_none() {
            self.first_going = h.first_going;
        }
        match (h.count, h.first, self.only) {
            (0, _, _) => {}
            (1, Some(id), None) if !self.many => self.only = Some(id),
            (1, Some(id), Some(only)) if id == only => {}
            _ => {
                self.many = true;
                self.only = None;
            }
        }
    }
}

/// Calls `each` with every stored copy a version uses and who holds it: one pass over
/// the copies index in copy order, so memory stays flat however many versions there are.
fn each_copy(db: &Db, lines: &Lines, mut each: impl FnMut(i64, Holders)) -> Result<()> {
    let conn = db.conn();
    let mut stmt = conn.prepare(
        "SELECT copy_id, line, lo, hi, size FROM versions INDEXED BY versions_by_copy
         WHERE copy_id IS NOT NULL ORDER BY copy_id",
    )?;
    let mut rows = stmt.query([])?;
    let mut current: Option<(i64, Holders)> = None;
    while let Some(r) = rows.next()? {
        let copy: i64 = r.get(0)?;
        if let Some((id, h)) = current.take_if(|c| c.0 != copy) {
            each(id, h);
        }
        let c = current.get_or_insert((copy, Holders::default()));
        c.1.size = r.get(4)?;
        c.1.add(lines.held(r.get(1)?, r.get(2)?, r.get(3)?));
    }
    if let Some((id, h)) = current {
        each(id, h);
    }
    Ok(())
}

/// A stored copy every version of which is held only by snapshots that go: with one
/// going snapshot that holds it.
#[derive(Debug, Clone, Copy)]
pub struct Orphan {
    pub copy_id: i64,
    pub snapshot_id: i64,
}

/// The folders and symlinks of the snapshots marked going in `lines` (in `only`): each
/// version read once, through the index of versions that are not files, with its path
/// looked up once however many of those snapshots hold it. Yields (snapshot id, path).
pub fn going_non_files(
    db: &Db,
    lines: &Lines,
    only: &std::collections::HashSet<i64>,
    mut each: impl FnMut(i64, &[u8]),
) -> Result<()> {
    let conn = db.conn();
    let mut stmt = conn.prepare(
        "SELECT v.line, v.lo, v.hi, p.path FROM versions v INDEXED BY versions_not_files
         JOIN paths p ON p.id = v.path_id WHERE v.kind != 'file'",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (line, lo, hi): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let Some(l) = lines.0.get(&line) else {
            continue;
        };
        let path = r.get_ref(3)?.as_blob()?;
        let from = l.pos.partition_point(|&p| p < lo);
        let to = l.pos.partition_point(|&p| p <= hi).max(from);
        for i in from..to {
            // An interrupted run holds only the versions it started.
            let holds = l.whole[i] || l.pos[i] == lo;
            if holds && only.contains(&l.id[i]) {
                each(l.id[i], path);
            }
        }
    }
    Ok(())
}

/// The stored copies that no staying snapshot links once the snapshots marked going in
/// `lines` are gone, each with one going snapshot that links it.
pub fn orphans(db: &Db, lines: &Lines) -> Result<Vec<Orphan>> {
    let mut out = Vec::new();
    each_copy(db, lines, |copy_id, h| {
        if let (false, Some(snapshot_id)) = (h.staying, h.first_going) {
            out.push(Orphan {
                copy_id,
                snapshot_id,
            });
        }
    })?;
    Ok(out)
}

/// Per snapshot, the bytes of the stored copies it alone links (among every snapshot
/// row, complete or not).
pub fn only_bytes(db: &Db) -> Result<HashMap<i64, i64>> {
    let lines = Lines::load(db, &std::collections::HashSet::new())?;
    let mut out: HashMap<i64, i64> = HashMap::new();
    each_copy(db, &lines, |_, h| {
        if let (false, Some(id)) = (h.many, h.only) {
            *out.entry(id).or_default() += h.size;
        }
    })?;
    Ok(out)
}

/// Which versions of `line` hold place `pos` and no other snapshot row's place: those
/// that start after the row before it and end before the row after it (a current
/// version never ends, so only when no row comes after). Returns which index to walk
/// (`INDEXED BY` the one whose range is bounded on both sides) and the condition, with
/// `?1` the line and `?2` the place.
fn alone_at(db: &Db, line: i64, pos: i64) -> Result<(&'static str, String)> {
    let conn = db.conn();
    let before: Option<i64> = conn.query_row(
        "SELECT max(pos) FROM snapshot_runs WHERE line = ?1 AND pos < ?2",
        params![line, pos],
        |r| r.get(0),
    )?;
    let after: Option<i64> = conn.query_row(
        "SELECT min(pos) FROM snapshot_runs WHERE line = ?1 AND pos > ?2",
        params![line, pos],
        |r| r.get(0),
    )?;
    // The indexes by place are partial (V17): each query says the term that lets it use
    // its index. A line's only row has neither neighbour: every version it holds.
    Ok(match (before, after) {
        (Some(b), after) => (
            "INDEXED BY versions_by_start",
            format!(
                "line = ?1 AND lo > {b} AND lo <= ?2 AND hi >= ?2 AND lo > 1{}",
                after.map_or(String::new(), |a| format!(" AND hi < {a}"))
            ),
        ),
        (None, Some(a)) => (
            "INDEXED BY versions_by_end",
            format!("line = ?1 AND lo <= ?2 AND hi >= ?2 AND hi < {a} AND hi < {OPEN}"),
        ),
        (None, None) => ("", "line = ?1 AND lo <= ?2 AND hi >= ?2".to_string()),
    })
}

/// Deletes the versions of `line` that no snapshot row holds any more, after the row
/// at place `pos` went (only versions that held `pos` can be left without one).
/// Returns the stored copies those versions used.
pub fn drop_unheld(db: &Db, line: i64, pos: i64) -> Result<Vec<i64>> {
    let (index, bounds) = alone_at(db, line, pos)?;
    let conn = db.conn();
    let copies: Vec<i64> = conn
        .prepare(&format!(
            "SELECT DISTINCT copy_id FROM versions {index}
             WHERE {bounds} AND copy_id IS NOT NULL"
        ))?
        .query_map(params![line, pos], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute(
        &format!("DELETE FROM versions {index} WHERE {bounds}"),
        params![line, pos],
    )?;
    Ok(copies)
}

/// The stored copies of the versions that snapshot `id` alone holds in its line (what
/// changed into it and out again after it): the candidates for what only it links.
pub fn copies_alone_in(db: &Db, id: i64) -> Result<Vec<i64>> {
    let Some(place) = place_of(db, id)? else {
        return Ok(Vec::new());
    };
    let (index, bounds) = alone_at(db, place.line, place.pos)?;
    Ok(db
        .conn()
        .prepare(&format!(
            "SELECT DISTINCT copy_id FROM versions {index}
             WHERE {bounds} AND copy_id IS NOT NULL"
        ))?
        .query_map(params![place.line, place.pos], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalog whose name `n` has two snapshots holding `files` current versions.
    fn catalog_with(files: i64) -> Db {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::catalog::create::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
             VALUES (1, 'n', 't1', 'complete', 'sha256', 'x');",
        )
        .unwrap();
        {
            let tx = conn.transaction().unwrap();
            for id in 1..=files {
                tx.execute(
                    "INSERT INTO paths (id, path) VALUES (?1, CAST(?1 AS TEXT))",
                    [id],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid)
                     VALUES (1, ?1, 'file', 1, 0, 420, 0, 0)",
                    [id],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
             VALUES (2, 'n', 't2', 'complete', 'sha256', 'x');",
        )
        .unwrap();
        Db::own(conn)
    }

    /// The query plan of each statement of trigger `name` on `db`, with `OLD.x` and
    /// `NEW.x` read as the values given.
    fn trigger_plans(db: &Db, name: &str, values: &[(&str, &str)]) -> Vec<String> {
        let conn = db.conn();
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        let body = &sql[sql.find("BEGIN").unwrap() + 5..sql.rfind("END").unwrap()];
        let mut plans = Vec::new();
        for stmt in body.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let mut stmt = stmt.to_string();
            for (from, to) in values {
                stmt = stmt.replace(from, to);
            }
            let mut q = conn.prepare(&format!("EXPLAIN QUERY PLAN {stmt}")).unwrap();
            let rows = q.query_map([], |r| r.get::<_, String>(3)).unwrap();
            plans.push(format!(
                "{stmt}\n  {}",
                rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n  ")
            ));
        }
        plans
    }

    #[test]
    fn taking_one_path_out_of_a_snapshot_seeks_it_and_walks_no_other_version() {
        // The delete trigger's `hi >= place` made SQLite 3.40 (Debian's, Python's: the
        // benchmark's driver) walk the index of where versions end, every current
        // version of the line: 45 ms a path at a million files. The bundled SQLite
        // chose the primary key either way; `+hi` makes every version do so, and this
        // keeps each statement of the trigger on the primary key.
        let big = catalog_with(20_000);
        let plans = trigger_plans(
            &big,
            "entries_delete",
            &[("OLD.snapshot_id", "2"), ("OLD.path_id", "60")],
        );
        assert_eq!(plans.len(), 4);
        for plan in &plans {
            assert!(
                !plan.contains("versions_by_") && !plan.contains("SCAN"),
                "{plan}"
            );
            assert!(plan.contains("PRIMARY KEY (line=? AND path_id=?"), "{plan}");
        }
        let conn = big.conn();
        for sql in [
            "DELETE FROM entries WHERE snapshot_id = 2 AND path_id = 50",
            "UPDATE entries SET size = 2 WHERE snapshot_id = 2 AND path_id = 60",
        ] {
            conn.execute(sql, []).unwrap();
        }
        // And the split is right: snapshot 1 keeps both paths, snapshot 2 lost one and
        // holds the other changed.
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT count(*) FROM entries WHERE snapshot_id = 1"),
            20_000
        );
        assert_eq!(
            count("SELECT count(*) FROM entries WHERE snapshot_id = 2"),
            19_999
        );
        assert_eq!(
            count("SELECT size FROM entries WHERE snapshot_id = 2 AND path_id = 60"),
            2
        );
        assert_eq!(
            count("SELECT size FROM entries WHERE snapshot_id = 1 AND path_id = 60"),
            1
        );
    }

    #[test]
    fn a_path_set_holds_what_was_put_in_and_nothing_else() {
        let mut s = IdSet::default();
        for id in [0, 1, 63, 64, 1000] {
            s.insert(id);
        }
        for id in [0, 1, 63, 64, 1000] {
            assert!(s.contains(id), "{id}");
        }
        for id in [2, 62, 65, 999, 1001, 1 << 40, -1] {
            assert!(!s.contains(id), "{id}");
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 1, 63, 64, 1000]);
    }
}
