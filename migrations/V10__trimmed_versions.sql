-- `prune --keep-versions N` removes old versions of a path from older snapshots. Such a
-- snapshot stays 'complete' and is marked `trimmed`; each removed path moves from
-- `entries` to `trimmed_entries`, so every query over `entries` keeps meaning "what is in
-- the snapshot on disk", and `history` can still say where a version went.
ALTER TABLE snapshot_runs ADD COLUMN trimmed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE trimmed_entries (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot_runs (id) ON DELETE CASCADE,
    path_id     INTEGER NOT NULL REFERENCES paths (id),
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    -- The content the path had (its stored copy may be gone with it).
    hash        BLOB NOT NULL,
    -- When prune removed it (UTC, RFC 3339).
    trimmed_at  TEXT NOT NULL,
    -- 0 while the file may still be on disk or in the manifest (a prune killed part-way:
    -- the next writer finishes it), 1 once both are gone.
    done        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (snapshot_id, path_id)
) WITHOUT ROWID;
CREATE INDEX trimmed_pending ON trimmed_entries (snapshot_id) WHERE done = 0;
CREATE INDEX trimmed_by_path ON trimmed_entries (path_id);

-- The documented view gains `trimmed` (1 when prune --keep-versions removed paths).
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
       time_source,
       trimmed
FROM snapshot_runs;

-- Every path removed from a snapshot by prune --keep-versions.
CREATE VIEW trimmed AS
SELECT t.snapshot_id,
       s.name || '/' || s.timestamp AS snapshot,
       CAST(p.path AS TEXT) AS path,
       t.size,
       lower(hex(t.hash)) AS hash,
       t.trimmed_at
FROM trimmed_entries t
JOIN snapshot_runs s ON s.id = t.snapshot_id
JOIN paths p ON p.id = t.path_id;
