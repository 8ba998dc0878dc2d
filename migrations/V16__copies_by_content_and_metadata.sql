-- A run looks a content's stored copies up by what DEDUP compares: the attribute set,
-- mode and owner, and the mtime (strict). With an index on the content alone, a content
-- stored in many copies (100k empty files with their own mtimes, under DEDUP = strict)
-- made every new file of it read and sort all of them: a first backup of a million files
-- took hours. This index leads with the content, so it serves every lookup by content
-- that the old one did.
DROP INDEX copies_by_content;
CREATE INDEX copies_by_content_meta ON copies (content_id, xattr_set_id, mode, uid, gid, mtime_ns);
