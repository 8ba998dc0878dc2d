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

/// Undoes V17 (path versions): `entries` is a table again, a row per path per snapshot,
/// and the documented views read it as they did.
pub const UNDO_V17: &str = "CREATE TABLE entries_v16 (
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
     ALTER TABLE snapshot_runs DROP COLUMN pos;
     CREATE VIEW files AS
     SELECT e.snapshot_id,
            s.name || '/' || s.timestamp AS snapshot,
            CAST(p.path AS TEXT) AS path,
            e.kind,
            e.size,
            coalesce(strftime('%Y-%m-%d %H:%M:%S',
                     CASE WHEN e.mtime_exact IS NOT NULL THEN CAST(e.mtime_exact AS INTEGER)
                          WHEN e.mtime_ns >= 0 THEN e.mtime_ns / 1000000000
                          ELSE -((999999999 - e.mtime_ns) / 1000000000) END, 'unixepoch'),
                     printf('%d seconds after 1970',
                     CASE WHEN e.mtime_exact IS NOT NULL THEN CAST(e.mtime_exact AS INTEGER)
                          WHEN e.mtime_ns >= 0 THEN e.mtime_ns / 1000000000
                          ELSE -((999999999 - e.mtime_ns) / 1000000000) END)) AS mtime,
            printf('%04o', e.mode) AS mode,
            lower(hex(c.hash)) AS hash,
            CASE WHEN e.mtime_exact IS NULL THEN e.mtime_ns END AS mtime_ns,
            e.uid,
            e.gid,
            CAST(e.target AS TEXT) AS target
     FROM entries e
     JOIN snapshot_runs s ON s.id = e.snapshot_id
     JOIN paths p ON p.id = e.path_id
     LEFT JOIN copies k ON k.id = e.copy_id
     LEFT JOIN contents c ON c.id = k.content_id;
     CREATE VIEW duplicates AS
     SELECT lower(hex(c.hash)) AS hash,
            c.size,
            count(DISTINCT e.path_id) AS copies,
            group_concat(DISTINCT CAST(p.path AS TEXT)) AS paths
     FROM entries e
     JOIN copies k ON k.id = e.copy_id
     JOIN contents c ON c.id = k.content_id
     JOIN paths p ON p.id = e.path_id
     GROUP BY c.id
     HAVING count(DISTINCT e.path_id) > 1;
     CREATE VIEW damaged AS
     SELECT e.snapshot_id,
            s.name || '/' || s.timestamp AS snapshot,
            CAST(p.path AS TEXT) AS path,
            lower(hex(c.hash)) AS hash,
            k.damaged_at
     FROM copies k
     JOIN entries e ON e.copy_id = k.id
     JOIN snapshot_runs s ON s.id = e.snapshot_id
     JOIN paths p ON p.id = e.path_id
     JOIN contents c ON c.id = k.content_id
     WHERE k.state = 'damaged';";

/// Turns a current catalog back into the v16 shape (a row per path per snapshot).
pub fn downgrade_to_v16(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V17} DELETE FROM refinery_schema_history WHERE version > 16;"
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
            "{UNDO_V17} {UNDO_V16} DELETE FROM refinery_schema_history WHERE version > 15;"
        ))
        .unwrap();
}

/// Turns a current catalog back into the v14 shape (nothing recorded of source inodes).
pub fn downgrade_to_v14(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V17} {UNDO_V16} {UNDO_V15} DELETE FROM refinery_schema_history WHERE version > 14;"
        ))
        .unwrap();
}

/// Turns a current catalog back into the v13 shape (no attribute sets recorded).
pub fn downgrade_to_v13(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V17} {UNDO_V16} {UNDO_V15} {UNDO_V14} DELETE FROM refinery_schema_history WHERE version > 13;"
        ))
        .unwrap();
}

/// Turns a current catalog back into the v11 shape of today's main, and removes the side
/// files it does not write.
pub fn downgrade_to_v11(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V17} {UNDO_V16} {UNDO_V15} {UNDO_V14} {UNDO_V12} DELETE FROM refinery_schema_history WHERE version > 11;"
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
