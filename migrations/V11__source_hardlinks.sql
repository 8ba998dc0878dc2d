-- Which files of a snapshot were hardlinks of each other in the source: paths that
-- shared one inode there get the same link_group (a number that means something only
-- within its snapshot), so `phlb restore` links them again, as `rsync -H` does. Only
-- files whose source inode had more than one link get a row; files recorded by `add`
-- (from a snapshot folder, where unrelated files share inodes) never do.
CREATE TABLE source_links (
    snapshot_id INTEGER NOT NULL REFERENCES snapshot_runs (id) ON DELETE CASCADE,
    path_id     INTEGER NOT NULL REFERENCES paths (id),
    link_group  INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, path_id)
) WITHOUT ROWID;
