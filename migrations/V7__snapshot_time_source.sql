-- Where a snapshot's started_at came from: 'run' when phlb made the snapshot and noted
-- the time; 'name' when `phlb add` recorded a folder found on disk and recovered the
-- time from its name (SUB_DIR_FORMATTER, local time; finished_at is then unknown).
ALTER TABLE snapshot_runs ADD COLUMN time_source TEXT NOT NULL DEFAULT 'run'
    CHECK (time_source IN ('run', 'name'));

-- The documented view gains time_source as its last column.
DROP VIEW snapshots;
CREATE VIEW snapshots AS
SELECT id,
       name,
       timestamp,
       name || '/' || timestamp AS path,
       status,
       started_at,
       finished_at,
       files,
       bytes,
       new_bytes,
       time_source
FROM snapshot_runs;
