-- The documented, stable views SQL users query: snapshots, files, duplicates.

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
       new_bytes
FROM snapshot_runs;

CREATE VIEW files AS
SELECT e.snapshot_id,
       s.name || '/' || s.timestamp AS snapshot,
       CAST(p.path AS TEXT) AS path,
       e.kind,
       e.size,
       strftime('%Y-%m-%d %H:%M:%S', e.mtime_ns / 1000000000, 'unixepoch') AS mtime,
       printf('%04o', e.mode) AS mode,
       lower(hex(c.hash)) AS hash,
       e.mtime_ns,
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
