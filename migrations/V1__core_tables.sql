-- The core catalog: snapshot runs, unique contents, physical stored copies, paths and
-- snapshot entries. Marks the file as a phlb catalog through its application_id.
PRAGMA application_id = 1885891682;

-- One row per snapshot run. `status` goes to 'complete' only after the snapshot folder
-- has its final name; 'missing' means the folder is gone from disk.
CREATE TABLE snapshot_runs (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    timestamp   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('complete', 'incomplete', 'missing')),
    source      BLOB,
    hash_algo   TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    files       INTEGER NOT NULL DEFAULT 0,
    bytes       INTEGER NOT NULL DEFAULT 0,
    new_bytes   INTEGER NOT NULL DEFAULT 0,
    linked      INTEGER NOT NULL DEFAULT 0,
    copied      INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    UNIQUE (name, timestamp)
);

-- One row per unique content (digest bytes; 32 for sha256, 64 for sha512).
CREATE TABLE contents (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL
);

-- One row per physical stored copy (inode) and the metadata it carries on disk.
CREATE TABLE copies (
    id         INTEGER PRIMARY KEY,
    content_id INTEGER NOT NULL REFERENCES contents (id),
    ino        INTEGER NOT NULL,
    mode       INTEGER NOT NULL,
    uid        INTEGER NOT NULL,
    gid        INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL
);
CREATE INDEX copies_by_content ON copies (content_id);

-- Relative paths, stored once as raw bytes (file names need not be UTF-8).
CREATE TABLE paths (
    id   INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE
);

-- One row per entry of a snapshot, with that path's own metadata.
CREATE TABLE entries (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot_runs (id) ON DELETE CASCADE,
    path_id     INTEGER NOT NULL REFERENCES paths (id),
    kind        TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    mode        INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    gid         INTEGER NOT NULL,
    copy_id     INTEGER REFERENCES copies (id),
    target      BLOB,
    PRIMARY KEY (snapshot_id, path_id)
) WITHOUT ROWID;
CREATE INDEX entries_by_copy ON entries (copy_id);
CREATE INDEX entries_by_path ON entries (path_id);
