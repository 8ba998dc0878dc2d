//! Owns how a catalog file comes to be and what an existing one is: creation under a temp
//! name renamed into place (so a kill never leaves a half-made catalog under the real
//! name), recognition of half-made catalogs left by older phlb versions, and moving a
//! broken catalog aside so the next writer rebuilds it.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

use super::{migrations, APPLICATION_ID};

/// Suffix of the catalog while it is being created.
const NEW_SUFFIX: &str = ".new";

/// Tables and views phlb itself creates, in any schema version: a database holding only
/// these (or none) was made by phlb.
const OURS: &[&str] = &[
    "refinery_schema_history",
    "snapshot_runs",
    "contents",
    "copies",
    "paths",
    "entries",
    "settings",
    "damage",
    "snapshots",
    "files",
    "duplicates",
    "damaged",
    "sqlite_sequence",
    "sqlite_stat1",
    "sqlite_stat4",
];

/// What an existing catalog file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A phlb catalog with this schema version.
    Ours(i64),
    /// An SQLite database with no tables (a run died right after creating the file).
    Empty,
    /// Tables only phlb makes, but not marked as a phlb catalog: a run of an older phlb
    /// died while creating it.
    HalfMade,
    /// Another program's SQLite database.
    Foreign,
    /// Not an SQLite database at all.
    NotSqlite,
}

/// Looks at the catalog file at `path` without changing it (a hot journal left by a
/// killed writer is rolled back when `writable`, as SQLite does on open).
pub fn inspect(path: &Path, writable: bool) -> Result<Found> {
    inspect_as(path, path, writable)
}

/// Like `inspect`, opening `target` (the path, or an SQLite URI for it) and naming `path`.
pub fn inspect_as(target: &Path, path: &Path, writable: bool) -> Result<Found> {
    let flags = if writable {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(target, flags)
        .map_err(|e| super::explain(e, path))
        .with_context(|| format!("{}: cannot open catalog", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let app_id: i64 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Ok(Found::NotSqlite);
        }
        Err(e) => {
            return Err(super::explain(e, path)).context("cannot read catalog");
        }
    };
    let names: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
            .map_err(|e| super::explain(e, path))?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    if app_id == APPLICATION_ID {
        let applied: i64 = conn
            .query_row(
                "SELECT coalesce(max(version), 0) FROM refinery_schema_history",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        return Ok(Found::Ours(applied));
    }
    if names.is_empty() {
        return Ok(Found::Empty);
    }
    if names.iter().all(|n| OURS.contains(&n.as_str())) {
        return Ok(Found::HalfMade);
    }
    Ok(Found::Foreign)
}

/// Creates a new, fully migrated catalog at `path`: built under a temp name with the
/// rollback journal, synced, then renamed into place, so `path` either does not exist or
/// holds a complete catalog whatever moment a kill comes.
pub fn create(path: &Path) -> Result<()> {
    let tmp = with_suffix(path, NEW_SUFFIX);
    remove_with_companions(&tmp)?;
    let made = build(path, &tmp);
    if made.is_err() {
        let _ = remove_with_companions(&tmp);
    }
    made
}

/// Builds the new catalog at `tmp` and renames it to `path`.
fn build(path: &Path, tmp: &Path) -> Result<()> {
    let tmp = tmp.to_path_buf();
    let ctx = || format!("{}: cannot create catalog", path.display());
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(ctx)?;
    {
        let mut conn = Connection::open_with_flags(&tmp, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|e| super::explain(e, &tmp))
            .with_context(ctx)?;
        conn.execute_batch("PRAGMA journal_mode = DELETE;")
            .map_err(|e| super::explain(e, &tmp))
            .with_context(ctx)?;
        migrate(&mut conn)
            .map_err(|e| match e.to_string() {
                s if s.contains("disk is full") => anyhow::anyhow!("No space left on device"),
                s => anyhow::anyhow!("{s}"),
            })
            .with_context(ctx)?;
        conn.close()
            .map_err(|(_, e)| super::explain(e, &tmp))
            .with_context(ctx)?;
    }
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot write catalog to disk", tmp.display()))?;
    fs::rename(&tmp, path).with_context(ctx)?;
    if let Some(dir) = path.parent() {
        crate::sys::flush::sync_dir(dir)
            .with_context(|| format!("{}: cannot write to disk", dir.display()))?;
    }
    Ok(())
}

/// Brings the schema up to date: all pending migrations and their version records in
/// one transaction, so a kill leaves the old version or the new one, never a mix.
///
/// A catalog from before V17 (a row per path per snapshot) shrinks to a few percent of
/// its size when its rows become versions; the freed pages go back to the filesystem
/// right after (`VACUUM`: a 726 MiB catalog of 100 snapshots x 99k files became 34 MB).
/// A failed VACUUM (a full disk) leaves the catalog as it is, valid and only bigger.
pub fn migrate(conn: &mut Connection) -> Result<(), refinery::Error> {
    let before: i64 = conn
        .query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )
        .ok()
        .flatten()
        .unwrap_or(0);
    migrations::runner().set_grouped(true).run(conn)?;
    if (1..17).contains(&before) {
        let _ = conn.execute_batch("VACUUM");
    }
    Ok(())
}

/// Moves a broken catalog (and its `-wal`/`-shm`) aside as `<name>.broken-<time>`;
/// returns where it went.
pub fn move_aside(path: &Path) -> Result<PathBuf> {
    let stamp = crate::clock::now_local().format("%Y%m%d-%H%M%S");
    let aside = with_suffix(path, &format!(".broken-{stamp}"));
    for (from, to) in companions(path).into_iter().zip(companions(&aside)) {
        match fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("{}: cannot move the broken catalog aside", from.display())
                })
            }
        }
    }
    Ok(aside)
}

/// Removes `path` with its `-wal`, `-shm` and `-journal`; missing is fine.
pub fn remove_with_companions(path: &Path) -> Result<()> {
    for p in companions(path) {
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("{}: cannot remove", p.display())),
        }
    }
    Ok(())
}

/// The catalog file and the files SQLite keeps beside it.
fn companions(path: &Path) -> [PathBuf; 4] {
    [
        path.to_path_buf(),
        with_suffix(path, "-wal"),
        with_suffix(path, "-shm"),
        with_suffix(path, "-journal"),
    ]
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_from_before_path_versions_gives_its_freed_pages_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("c.sqlite3")).unwrap();
        migrations::runner()
            .set_grouped(true)
            .set_target(refinery::Target::Version(16))
            .run(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO snapshot_runs (id, name, timestamp, status, hash_algo, started_at)
             VALUES (1, 'n', 't1', 'complete', 'sha256', 'x'), (2, 'n', 't2', 'complete', 'sha256', 'x');
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO paths (id, path) SELECT i, CAST(i AS TEXT) FROM n;
             INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid)
             SELECT s.id, p.id, 'file', 1, 0, 420, 0, 0 FROM snapshot_runs s, paths p;",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let pages = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(pages("SELECT count(*) FROM entries"), 6000);
        assert_eq!(pages("SELECT count(*) FROM versions"), 3000);
        assert_eq!(
            pages("PRAGMA freelist_count"),
            0,
            "the old rows' pages stay in the file"
        );
    }

    #[test]
    fn created_catalog_is_ours_at_the_newest_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite3");
        create(&path).unwrap();
        assert_eq!(
            inspect(&path, false).unwrap(),
            Found::Ours(super::super::known_version())
        );
        assert!(!with_suffix(&path, NEW_SUFFIX).exists());
    }

    #[test]
    fn half_made_and_foreign_catalogs_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let half = dir.path().join("half");
        Connection::open(&half)
            .unwrap()
            .execute_batch("CREATE TABLE refinery_schema_history (version INT)")
            .unwrap();
        assert_eq!(inspect(&half, true).unwrap(), Found::HalfMade);
        let other = dir.path().join("other");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE photos (id INT)")
            .unwrap();
        assert_eq!(inspect(&other, true).unwrap(), Found::Foreign);
        let empty = dir.path().join("empty");
        fs::write(&empty, b"").unwrap();
        assert_eq!(inspect(&empty, true).unwrap(), Found::Empty);
    }
}
