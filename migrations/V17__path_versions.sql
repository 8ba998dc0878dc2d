-- A row per path *version*, not per path per snapshot (#33). A snapshot in which nothing
-- changed adds no row at all: each version of a path holds over a range of places in its
-- name's line of snapshots, and a run writes only what changed (a new version, the end
-- of the one before) or went (the end of its version).
--
-- lines        one row per snapshot name; `last_pos` counts the places handed out (never
--              reused, so a place a deleted or killed run held never comes back).
-- snapshot_runs.line, .pos
--              the snapshot's line and its place in it, handed out when the row is
--              inserted (trigger below): always after every place before it.
-- versions     one version of one path of a line, in the snapshots placed from `lo` to
--              `hi` (both included; `hi` = 9223372036854775807 while the version is the
--              line's current one). The columns are those `entries` had.
-- entries      now a view with the columns of the old table: the versions whose range
--              holds the snapshot's place. Inserting, deleting and updating through it
--              work as before (triggers below), so every query and tool that used the
--              table keeps working.
--
-- A killed run stays invisible: its snapshot row is not 'complete', and a later run
-- compares with the current versions, whatever the killed run changed of them, so every
-- complete snapshot keeps exactly its own rows.
CREATE TABLE lines (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    last_pos INTEGER NOT NULL DEFAULT 0
);
INSERT INTO lines (name) SELECT DISTINCT name FROM snapshot_runs ORDER BY name;

ALTER TABLE snapshot_runs ADD COLUMN line INTEGER;
ALTER TABLE snapshot_runs ADD COLUMN pos INTEGER;
-- Existing runs take their places in the creation order, so versions span the most.
UPDATE snapshot_runs SET line = o.line, pos = o.pos
FROM (SELECT r.id, l.id AS line,
             row_number() OVER (PARTITION BY r.name ORDER BY r.sequence, r.instant_ns, r.id) AS pos
      FROM snapshot_runs r JOIN lines l ON l.name = r.name) o
WHERE o.id = snapshot_runs.id;
UPDATE lines SET last_pos = (SELECT coalesce(max(s.pos), 0) FROM snapshot_runs s WHERE s.line = lines.id);
CREATE INDEX snapshot_runs_by_place ON snapshot_runs (line, pos);

CREATE TABLE versions (
    line         INTEGER NOT NULL REFERENCES lines (id),
    path_id      INTEGER NOT NULL REFERENCES paths (id),
    lo           INTEGER NOT NULL,
    hi           INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
    size         INTEGER NOT NULL,
    mtime_ns     INTEGER NOT NULL,
    mode         INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    gid          INTEGER NOT NULL,
    copy_id      INTEGER REFERENCES copies (id),
    target       BLOB,
    mtime_exact  TEXT,
    xattr_set_id INTEGER REFERENCES xattr_sets (id),
    src_ino      INTEGER,
    src_ctime_ns INTEGER,
    PRIMARY KEY (line, path_id, lo)
) WITHOUT ROWID;

-- Equal rows of a path in consecutive places of its line become one version ("gaps and
-- islands": place minus rank is constant over a run of equal rows).
INSERT INTO versions (line, path_id, lo, hi, kind, size, mtime_ns, mode, uid, gid, copy_id,
                      target, mtime_exact, xattr_set_id, src_ino, src_ctime_ns)
SELECT g.line, g.path_id, min(g.pos),
       CASE WHEN max(g.pos) = l.last_pos THEN 9223372036854775807 ELSE max(g.pos) END,
       g.kind, g.size, g.mtime_ns, g.mode, g.uid, g.gid, g.copy_id, g.target, g.mtime_exact,
       g.xattr_set_id, g.src_ino, g.src_ctime_ns
FROM (SELECT s.line, s.pos, e.*,
             s.pos - row_number() OVER (
                 PARTITION BY s.line, e.path_id, e.kind, e.size, e.mtime_ns, e.mode, e.uid,
                              e.gid, e.copy_id, e.target, e.mtime_exact, e.xattr_set_id,
                              e.src_ino, e.src_ctime_ns
                 ORDER BY s.pos) AS island
      FROM entries e JOIN snapshot_runs s ON s.id = e.snapshot_id) g
JOIN lines l ON l.id = g.line
GROUP BY g.line, g.path_id, g.kind, g.size, g.mtime_ns, g.mode, g.uid, g.gid, g.copy_id,
         g.target, g.mtime_exact, g.xattr_set_id, g.src_ino, g.src_ctime_ns, g.island;

-- Which versions use a stored copy (prune, verify, the damaged view), which start or end
-- at a place (a killed run's own rows, diff of two snapshots, removing a snapshot).
-- (`size` rides along: a pass over the copies in this index reads no table row.)
-- The two by place are partial, so only a query that says `lo > 1` or
-- `hi < 9223372036854775807` can use them: a snapshot's listing through `entries` then
-- reads the primary key in order, where either index would cost a second seek into the
-- table for every row (the ten largest files of the newest of 1,000 snapshots of a
-- million files: 8.1 s against 0.33 s). Neither holds what a first backup writes (its
-- versions start at place 1 and are current), so it updates one index less per file.
CREATE INDEX versions_by_copy ON versions (copy_id, line, lo, hi, size) WHERE copy_id IS NOT NULL;
CREATE INDEX versions_by_start ON versions (line, lo) WHERE lo > 1;
CREATE INDEX versions_by_end ON versions (line, hi) WHERE hi < 9223372036854775807;
-- Folders and symlinks: what removing a snapshot frees besides stored copies reads these
-- alone (a few per thousand files), not every version of the line.
CREATE INDEX versions_not_files ON versions (line, lo) WHERE kind != 'file';

DROP VIEW files;
DROP VIEW duplicates;
DROP VIEW damaged;
DROP TABLE entries;

CREATE VIEW entries AS
SELECT s.id AS snapshot_id, v.path_id, v.kind, v.size, v.mtime_ns, v.mode, v.uid, v.gid,
       v.copy_id, v.target, v.mtime_exact, v.xattr_set_id, v.src_ino, v.src_ctime_ns
FROM snapshot_runs s
JOIN versions v ON v.line = s.line AND v.lo <= s.pos AND v.hi >= s.pos;

-- A new run gets the next place of its name's line.
CREATE TRIGGER snapshot_runs_place AFTER INSERT ON snapshot_runs
BEGIN
    INSERT OR IGNORE INTO lines (name) VALUES (NEW.name);
    UPDATE lines SET last_pos = last_pos + 1 WHERE name = NEW.name;
    UPDATE snapshot_runs
    SET line = (SELECT id FROM lines WHERE name = NEW.name),
        pos = (SELECT last_pos FROM lines WHERE name = NEW.name)
    WHERE id = NEW.id;
END;

-- Taking a path out of a snapshot splits its version around the snapshot's place: the
-- part before and the part after each stay as a version of their own while some
-- snapshot row holds them (a part no row holds, say between snapshots since forgotten,
-- or after the line's last row, goes: nothing could read it, and it would keep its
-- stored copy's row alive). `+hi` keeps SQLite on the primary key (line, path, lo):
-- SQLite 3.40 (Debian's, Python's) would otherwise walk the index of where versions
-- end, every current version of the line (45 ms a path at a million), and a trigger
-- cannot say INDEXED BY.
CREATE TRIGGER entries_delete INSTEAD OF DELETE ON entries
BEGIN
    INSERT INTO versions (line, path_id, lo, hi, kind, size, mtime_ns, mode, uid, gid,
                          copy_id, target, mtime_exact, xattr_set_id, src_ino, src_ctime_ns)
    SELECT v.line, v.path_id, s.pos + 1, v.hi, v.kind, v.size, v.mtime_ns, v.mode, v.uid,
           v.gid, v.copy_id, v.target, v.mtime_exact, v.xattr_set_id, v.src_ino,
           v.src_ctime_ns
    FROM snapshot_runs s
    JOIN versions v ON v.line = s.line AND v.path_id = OLD.path_id AND v.lo <= s.pos
                       AND +v.hi > s.pos
    WHERE s.id = OLD.snapshot_id
      AND EXISTS (SELECT 1 FROM snapshot_runs r
                  WHERE r.line = s.line AND r.pos > s.pos AND r.pos <= v.hi);
    DELETE FROM versions
    WHERE line = (SELECT line FROM snapshot_runs WHERE id = OLD.snapshot_id)
      AND path_id = OLD.path_id
      AND lo = (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id);
    DELETE FROM versions
    WHERE line = (SELECT line FROM snapshot_runs WHERE id = OLD.snapshot_id)
      AND path_id = OLD.path_id
      AND lo < (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id)
      AND +hi >= (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id)
      AND NOT EXISTS (SELECT 1 FROM snapshot_runs r
                      WHERE r.line = versions.line AND r.pos >= versions.lo
                        AND r.pos < (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id));
    UPDATE versions SET hi = (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id) - 1
    WHERE line = (SELECT line FROM snapshot_runs WHERE id = OLD.snapshot_id)
      AND path_id = OLD.path_id
      AND lo < (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id)
      AND +hi >= (SELECT pos FROM snapshot_runs WHERE id = OLD.snapshot_id);
END;

-- Recording a path in a snapshot: nothing when the snapshot already has it exactly so
-- (an unchanged file of a run costs one lookup and no write); else the old version is
-- split around the place and a new one starts there, current when the place is the
-- line's last.
CREATE TRIGGER entries_insert INSTEAD OF INSERT ON entries
WHEN NOT EXISTS (
    SELECT 1 FROM entries e
    WHERE e.snapshot_id = NEW.snapshot_id AND e.path_id = NEW.path_id
      AND e.kind IS NEW.kind AND e.size IS NEW.size AND e.mtime_ns IS NEW.mtime_ns
      AND e.mode IS NEW.mode AND e.uid IS NEW.uid AND e.gid IS NEW.gid
      AND e.copy_id IS NEW.copy_id AND e.target IS NEW.target
      AND e.mtime_exact IS NEW.mtime_exact AND e.xattr_set_id IS NEW.xattr_set_id
      AND e.src_ino IS NEW.src_ino AND e.src_ctime_ns IS NEW.src_ctime_ns)
BEGIN
    DELETE FROM entries WHERE snapshot_id = NEW.snapshot_id AND path_id = NEW.path_id;
    INSERT INTO versions (line, path_id, lo, hi, kind, size, mtime_ns, mode, uid, gid,
                          copy_id, target, mtime_exact, xattr_set_id, src_ino, src_ctime_ns)
    SELECT s.line, NEW.path_id, s.pos,
           CASE WHEN s.pos >= l.last_pos THEN 9223372036854775807 ELSE s.pos END,
           NEW.kind, NEW.size, NEW.mtime_ns, NEW.mode, NEW.uid, NEW.gid, NEW.copy_id,
           NEW.target, NEW.mtime_exact, NEW.xattr_set_id, NEW.src_ino, NEW.src_ctime_ns
    FROM snapshot_runs s JOIN lines l ON l.id = s.line
    WHERE s.id = NEW.snapshot_id;
END;

CREATE TRIGGER entries_update INSTEAD OF UPDATE ON entries
BEGIN
    DELETE FROM entries WHERE snapshot_id = OLD.snapshot_id AND path_id = OLD.path_id;
    INSERT INTO entries (snapshot_id, path_id, kind, size, mtime_ns, mode, uid, gid, copy_id,
                         target, mtime_exact, xattr_set_id, src_ino, src_ctime_ns)
    VALUES (NEW.snapshot_id, NEW.path_id, NEW.kind, NEW.size, NEW.mtime_ns, NEW.mode,
            NEW.uid, NEW.gid, NEW.copy_id, NEW.target, NEW.mtime_exact, NEW.xattr_set_id,
            NEW.src_ino, NEW.src_ctime_ns);
END;

-- The documented views, unchanged in columns and meaning.
CREATE VIEW files AS
SELECT s.id AS snapshot_id,
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
FROM snapshot_runs s
JOIN versions e ON e.line = s.line AND e.lo <= s.pos AND e.hi >= s.pos
JOIN paths p ON p.id = e.path_id
LEFT JOIN copies k ON k.id = e.copy_id
LEFT JOIN contents c ON c.id = k.content_id;

-- Distinct paths per content, counted over the versions: the same paths the rows of
-- every snapshot named, without reading every snapshot. A content with one path (most)
-- is left out by one grouped pass (its smallest and largest path id are equal); only the
-- others are counted and listed (5.0 -> 1.4 s over 2M versions).
CREATE VIEW duplicates AS
WITH many AS (
    SELECT k.content_id FROM versions v JOIN copies k ON k.id = v.copy_id
    GROUP BY k.content_id HAVING min(v.path_id) != max(v.path_id))
SELECT lower(hex(c.hash)) AS hash,
       c.size,
       (SELECT count(DISTINCT v.path_id) FROM copies k JOIN versions v ON v.copy_id = k.id
        WHERE k.content_id = m.content_id) AS copies,
       (SELECT group_concat(DISTINCT CAST(p.path AS TEXT)) FROM copies k
        JOIN versions v ON v.copy_id = k.id JOIN paths p ON p.id = v.path_id
        WHERE k.content_id = m.content_id) AS paths
FROM many m
JOIN contents c ON c.id = m.content_id;

CREATE VIEW damaged AS
SELECT s.id AS snapshot_id,
       s.name || '/' || s.timestamp AS snapshot,
       CAST(p.path AS TEXT) AS path,
       lower(hex(c.hash)) AS hash,
       k.damaged_at
FROM copies k
JOIN versions v ON v.copy_id = k.id
JOIN snapshot_runs s ON s.line = v.line AND s.pos BETWEEN v.lo AND v.hi
JOIN paths p ON p.id = v.path_id
JOIN contents c ON c.id = k.content_id
WHERE k.state = 'damaged';

-- Every version of every path, once (not once per snapshot that holds it): `name` the
-- snapshot name, the path's metadata as `files` shows it (`mtime_ns` as a number, for
-- fast comparisons), and which snapshots hold it
-- (`first_snapshot`, `last_snapshot` as NAME/TIMESTAMP in place order, `snapshots` how
-- many; NULL and 0 for a version only an interrupted run started). Queries over "any
-- snapshot" read this view, not `files`, whose rows repeat each version per snapshot.
CREATE VIEW file_versions AS
SELECT l.name,
       CAST(p.path AS TEXT) AS path,
       v.kind,
       v.size,
       coalesce(strftime('%Y-%m-%d %H:%M:%S',
                CASE WHEN v.mtime_exact IS NOT NULL THEN CAST(v.mtime_exact AS INTEGER)
                     WHEN v.mtime_ns >= 0 THEN v.mtime_ns / 1000000000
                     ELSE -((999999999 - v.mtime_ns) / 1000000000) END, 'unixepoch'),
                printf('%d seconds after 1970',
                CASE WHEN v.mtime_exact IS NOT NULL THEN CAST(v.mtime_exact AS INTEGER)
                     WHEN v.mtime_ns >= 0 THEN v.mtime_ns / 1000000000
                     ELSE -((999999999 - v.mtime_ns) / 1000000000) END)) AS mtime,
       printf('%04o', v.mode) AS mode,
       lower(hex(c.hash)) AS hash,
       CASE WHEN v.mtime_exact IS NULL THEN v.mtime_ns END AS mtime_ns,
       (SELECT s.name || '/' || s.timestamp FROM snapshot_runs s
        WHERE s.line = v.line AND s.pos >= v.lo AND s.pos <= v.hi AND s.status != 'incomplete'
        ORDER BY s.pos LIMIT 1) AS first_snapshot,
       (SELECT s.name || '/' || s.timestamp FROM snapshot_runs s
        WHERE s.line = v.line AND s.pos >= v.lo AND s.pos <= v.hi AND s.status != 'incomplete'
        ORDER BY s.pos DESC LIMIT 1) AS last_snapshot,
       (SELECT count(*) FROM snapshot_runs s
        WHERE s.line = v.line AND s.pos >= v.lo AND s.pos <= v.hi AND s.status != 'incomplete')
           AS snapshots
FROM versions v
JOIN lines l ON l.id = v.line
JOIN paths p ON p.id = v.path_id
LEFT JOIN copies k ON k.id = v.copy_id
LEFT JOIN contents c ON c.id = k.content_id;
