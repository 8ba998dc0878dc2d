-- Every secondary index of entries now leads with the snapshot. An index led by the path
-- or the stored copy gets one new row per file on every one of its leaf pages with each
-- backup, so a run that changed nothing rewrote most of the catalog (and more with every
-- snapshot kept). Lookups by path or by stored copy now go snapshot by snapshot: the
-- primary key (snapshot_id, path_id) serves paths, this index serves stored copies.
DROP INDEX entries_by_path;
DROP INDEX entries_by_copy;
CREATE INDEX entries_by_snapshot_copy ON entries (snapshot_id, copy_id);
