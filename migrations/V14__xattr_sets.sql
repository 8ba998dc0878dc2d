-- Extended attributes (xattrs, POSIX ACLs, file capabilities, SELinux labels) are kept.
-- Each distinct set of names and values is stored once: `body` is its canonical
-- encoding (a u32 count, then each name and value with a u32 length, little-endian),
-- `hash` the SHA-256 of it. A million files with the same ACL cost one row.
CREATE TABLE xattr_sets (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    body BLOB NOT NULL
);

-- The set a path had when it was backed up (NULL: none, or recorded before V14).
ALTER TABLE entries ADD COLUMN xattr_set_id INTEGER REFERENCES xattr_sets (id);
-- The set a stored copy carries: two paths share a copy only when their sets are equal.
-- Copies made before V14 carry none, so the first run after the upgrade stores a new
-- copy of every file that has attributes.
ALTER TABLE copies ADD COLUMN xattr_set_id INTEGER REFERENCES xattr_sets (id);
