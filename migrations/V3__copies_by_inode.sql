-- Lets `phlb add` find the stored copy behind an inode it meets on disk, so content that
-- the catalog already knows is not hashed again.
CREATE INDEX copies_by_ino ON copies (ino);
