-- Times that do not fit in 64-bit nanoseconds (before 1677-09-21 or after 2262-04-11)
-- are kept exactly as text "SECONDS.NANOSECONDS" (seconds rounded down); mtime_ns then
-- holds the nearest 64-bit value and is not the time. NULL for every other row.
ALTER TABLE entries ADD COLUMN mtime_exact TEXT;
ALTER TABLE copies ADD COLUMN mtime_exact TEXT;

-- The files view shows such times in `mtime`, and NULL in `mtime_ns`; `mtime` now rounds
-- times before 1970 down to their second (integer division alone rounded them up), and
-- shows a time past the year 9999, which SQLite cannot write as a date, as seconds.
DROP VIEW files;
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
