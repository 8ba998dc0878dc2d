-- Which extended attributes a backup run read from every file: 'user' (user.* and ACLs,
-- a run not as root) or 'all' (every namespace, as root); NULL for a run that read none
-- (XATTRS = false, a backup filesystem without them) or one made before this column.
-- The next run of the source trusts a file's recorded set without reading it again only
-- when it reads the same and the file's ctime is older than that run (see
-- `ScanOptions::attrs_settled_before`).
ALTER TABLE snapshot_runs ADD COLUMN xattrs_read TEXT;
