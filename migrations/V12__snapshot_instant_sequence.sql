-- One truth for a snapshot's time and order. The run that makes a snapshot records, and
-- writes beside it in `<timestamp>-snapshot.json` (so a rebuilt catalog has them too):
--   instant_ns  when it was made: UTC nanoseconds since 1970 (the folder name is a label);
--   utc_offset  seconds east of UTC in effect then: the local calendar retention uses;
--   sequence    its place in the creation order: a run gets one more than any snapshot
--               of the root; a tree copied in by hand shares the sequence of the last one
--               made at or before its instant and sorts after it by instant;
--   source_host the host of `source` (a name is one source: host and canonical path).
-- "Newest" in every command is the last by (sequence, instant_ns, id).
ALTER TABLE snapshot_runs ADD COLUMN instant_ns INTEGER;
ALTER TABLE snapshot_runs ADD COLUMN utc_offset INTEGER;
ALTER TABLE snapshot_runs ADD COLUMN sequence INTEGER;
ALTER TABLE snapshot_runs ADD COLUMN source_host TEXT;

-- Rows of an older phlb: the instant is started_at (whole seconds), the offset the one
-- the time zone in effect at the upgrade (TZ) gives for it, the sequence the order the
-- runs were recorded in (id); a tree `add` recorded takes its place by its instant.
UPDATE snapshot_runs
SET instant_ns = CAST(strftime('%s', started_at) AS INTEGER) * 1000000000,
    utc_offset = CAST(strftime('%s', started_at, 'localtime') AS INTEGER)
                 - CAST(strftime('%s', started_at) AS INTEGER);
UPDATE snapshot_runs SET sequence = id WHERE time_source = 'run';
UPDATE snapshot_runs
SET sequence = coalesce((SELECT max(r.id) FROM snapshot_runs r
                         WHERE r.time_source = 'run' AND r.instant_ns <= snapshot_runs.instant_ns), 0)
WHERE time_source = 'name';

CREATE INDEX snapshot_runs_by_order ON snapshot_runs (name, sequence, instant_ns, id);

-- The documented view gains the instant (as UTC text, `YYYY-MM-DDTHH:MM:SS.fffffffffZ`,
-- and as `instant_ns`), the offset, the sequence and the source (host, path as text).
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
       CAST(source AS TEXT) AS source
FROM snapshot_runs;
