-- A name is one source. `source_moved` is 1 for a run made with `backup --source-moved`:
-- its source (another path or host than the snapshot before it) continues the name's
-- history instead of being a second source mixed into it. Kept in the side file too.
ALTER TABLE snapshot_runs ADD COLUMN source_moved INTEGER NOT NULL DEFAULT 0;

-- The documented view gains it as its last column.
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
       trimmed,
       strftime('%Y-%m-%dT%H:%M:%S', instant_ns / 1000000000 - (instant_ns % 1000000000 < 0), 'unixepoch')
           || printf('.%09dZ', ((instant_ns % 1000000000) + 1000000000) % 1000000000) AS instant,
       instant_ns,
       utc_offset,
       sequence,
       source_host,
       CAST(source AS TEXT) AS source,
       source_moved
FROM snapshot_runs;
