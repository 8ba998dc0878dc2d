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

/// Undoes V16 (copies looked up by content and the metadata DEDUP compares).
pub const UNDO_V16: &str = "DROP INDEX copies_by_content_meta;
     CREATE INDEX copies_by_content ON copies (content_id);";

/// Turns a current catalog back into the v15 shape (copies indexed by content alone).
pub fn downgrade_to_v15(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V16} DELETE FROM refinery_schema_history WHERE version > 15;"
        ))
        .unwrap();
}

/// Turns a current catalog back into the v14 shape (nothing recorded of source inodes).
pub fn downgrade_to_v14(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V16} {UNDO_V15} DELETE FROM refinery_schema_history WHERE version > 14;"
        ))
        .unwrap();
}

/// Turns a current catalog back into the v13 shape (no attribute sets recorded).
pub fn downgrade_to_v13(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V16} {UNDO_V15} {UNDO_V14} DELETE FROM refinery_schema_history WHERE version > 13;"
        ))
        .unwrap();
}

/// Turns a current catalog back into the v11 shape of today's main, and removes the side
/// files it does not write.
pub fn downgrade_to_v11(env: &Env) {
    env.db()
        .execute_batch(&format!(
            "{UNDO_V16} {UNDO_V15} {UNDO_V14} {UNDO_V12} DELETE FROM refinery_schema_history WHERE version > 11;"
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
