//! A catalog made as an older phlb made it, for upgrade tests: the v14 shape (before
//! source inodes were recorded), the v13 shape (before extended attributes) and the v11
//! shape (before the stamp side file and creation order).

use super::Env;
use std::fs;

/// Undoes V12 (instant, offset, sequence, source host) and V13 (source moved): the v11
/// shape of today's main.
pub const UNDO_V12: &str = "DROP INDEX snapshot_runs_by_order;
     DROP VIEW snapshots;
     ALTER TABLE snapshot_runs DROP COLUMN source_moved;
     ALTER TABLE snapshot_runs DROP COLUMN instant_ns;
     ALTER TABLE snapshot_runs DROP COLUMN utc_offset;
     ALTER TABLE snapshot_runs DROP COLUMN sequence;
     ALTER TABLE snapshot_runs DROP COLUMN source_host;
     CREATE VIEW snapshots AS
     SELECT id, name, timestamp, name || '/' || timestamp AS path, status, started_at,
            finished_at, files, bytes, new_bytes, time_source, trimmed
     FROM snapshot_runs;";

/// Undoes V14 (extended attribute sets): the v13 shape main had before #31.
pub const UNDO_V14: &str = "ALTER TABLE entries DROP COLUMN xattr_set_id;
     ALTER TABLE copies DROP COLUMN xattr_set_id;
     DROP TABLE xattr_sets;";

/// Undoes V15 (what a run saw of each source inode, which attributes it read): the
/// v14 shape main had before the attribute reads were skipped for unchanged inodes.
pub const UNDO_V15: &str = "ALTER TABLE entries DROP COLUMN src_ino;
     ALTER TABLE entries DROP COLUMN src_ctime_ns;
     ALTER TABLE snapshot_runs DROP COLUMN xattrs_read;";

/// Undoes V17's tables (path versions): `entries` is a table again, a row per path per
/// snapshot (`undo_v17` adds the views).
const UNDO_V17_TABLES: &str = "CREATE TABLE entries_v16 (
         snapshot_id INTEGER NOT NULL REFERENCES snapshot_runs (id) ON DELETE CASCADE,
         path_id INTEGER NOT NULL REFERENCES paths (id),
         kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
         size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, mode INTEGER NOT NULL,
         uid INTEGER NOT NULL, gid INTEGER NOT NULL, copy_id INTEGER REFERENCES copies (id),
         target BLOB, mtime_exact TEXT, xattr_set_id INTEGER REFERENCES xattr_sets (id),
         src_ino INTEGER, src_ctime_ns INTEGER,
         PRIMARY KEY (snapshot_id, path_id)) WITHOUT ROWID;
     INSERT INTO entries_v16 SELECT * FROM entries;
     DROP VIEW files; DROP VIEW duplicates; DROP VIEW damaged; DROP VIEW file_versions;
     DROP TRIGGER entries_insert; DROP TRIGGER entries_delete; DROP TRIGGER entries_update;
     DROP TRIGGER snapshot_runs_place;
     DROP VIEW entries; DROP INDEX versions_not_files; DROP TABLE versions; DROP TABLE lines;
     ALTER TABLE entries_v16 RENAME TO entries;
     CREATE INDEX entries_by_snapshot_copy ON entries (snapshot_id, copy_id);
     DROP INDEX snapshot_runs_by_place;
     ALTER TABLE snapshot_runs DROP COLUMN line;
     ALTER TABLE snapshot_runs DROP COLUMN pos;";

/// The `CREATE VIEW name` statement of migration text `sql`, up to its `;`.
fn view_in(sql: &str, name: &str) -> String {
    let from = sql
        .find(&format!("CREATE VIEW {name} AS"))
        .expect("the migration makes the view");
    let to = from + sql[from..].find(';').expect("the statement ends") + 1;
    sql[from..to].to_string()
}

/// Undoes V17 (path versions): `entries` is a table again, a row per path per snapshot,
/// and the documented views read it as the migrations before V17 defined them.
pub fn undo_v17() -> String {
    let migrations = [
        (
            include_str!("../../../migrations/V8__exact_mtimes.sql"),
            "files",
        ),
        (
            include_str!("../../../migrations/V2__documented_views.sql"),
            "duplicates",
        ),
        (
            include_str!("../../../migrations/V6__copy_state.sql"),
            "damaged",
        ),
    ];
    let views: Vec<String> = migrations
        .iter()
        .map(|(sql, name)| view_in(sql, name))
        .collect();
    format!("{UNDO_V17_TABLES}\n{}", views.join("\n"))
}

/// The schema version today's phlb writes.
pub const SCHEMA: i64 = 18;

/// Undoes V18 (`duplicates` reads the copies first): the view as V17 made it.
pub fn undo_v18() -> String {
    format!(
        "DROP VIEW duplicates; {}",
        view_in(
            include_str!("../../../migrations/V17__path_versions.sql"),
            "duplicates"
        )
    )
}

/// Turns a current root back into what the main #33 landed on made: the v17 catalog,
/// and no copy of LINK and DEDUP beside it (`.phlb/linking`).
pub fn downgrade_to_v17(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{} DELETE FROM refinery_schema_history WHERE version > 17;",
            undo_v18()
        ))
        .unwrap();
    fs::remove_file(env.root.join(".phlb/linking")).unwrap();
}

/// Turns a current catalog back into the v16 shape (a row per path per snapshot).
pub fn downgrade_to_v16(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{} DELETE FROM refinery_schema_history WHERE version > 16;",
            undo_v17()
        ))
        .unwrap();
}

/// Undoes V16 (copies looked up by content and the metadata DEDUP compares).
pub const UNDO_V16: &str = "DROP INDEX copies_by_content_meta;
     CREATE INDEX copies_by_content ON copies (content_id);";

/// Turns a current catalog back into the v15 shape (copies indexed by content alone).
pub fn downgrade_to_v15(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{} {UNDO_V16} DELETE FROM refinery_schema_history WHERE version > 15;",
            undo_v17()
        ))
        .unwrap();
}

/// Turns a current catalog back into the v14 shape (nothing recorded of source inodes).
pub fn downgrade_to_v14(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{} {UNDO_V16} {UNDO_V15} DELETE FROM refinery_schema_history WHERE version > 14;",
            undo_v17()
        ))
        .unwrap();
}

/// Turns a current catalog back into the v13 shape (no attribute sets recorded).
pub fn downgrade_to_v13(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{} {UNDO_V16} {UNDO_V15} {UNDO_V14} DELETE FROM refinery_schema_history WHERE version > 13;",
            undo_v17()
        ))
        .unwrap();
}

/// Turns a current catalog back into the v11 shape of today's main, and removes the side
/// files it does not write.
pub fn downgrade_to_v11(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{} {UNDO_V16} {UNDO_V15} {UNDO_V14} {UNDO_V12} DELETE FROM refinery_schema_history WHERE version > 11;",
            undo_v17()
        ))
        .unwrap();
    for name in fs::read_dir(&env.root).unwrap().flatten() {
        for item in fs::read_dir(name.path()).into_iter().flatten().flatten() {
            if item
                .file_name()
                .to_string_lossy()
                .ends_with("-snapshot.json")
            {
                fs::remove_file(item.path()).unwrap();
            }
        }
    }
}
