-- Facts about the backup root that later runs check, such as the filesystem the catalog
-- was made on (`root_fsid`), so a catalog never drives a copy of its backups elsewhere.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
