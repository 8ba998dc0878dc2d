-- What a run saw of a regular file's source inode, so the next run can tell that the
-- inode has not changed since without reading it again (#31: its extended attributes).
-- `src_ino` is the source inode number; `src_ctime_ns` its change time (ns since the
-- epoch, UTC), recorded only when it was over a second older than the clock when the
-- run listed the file's folder (a later change gets a later ctime even from the kernel's
-- coarse clock). NULL: not recorded (a run before V15, `add`, or a recent change).
ALTER TABLE entries ADD COLUMN src_ino INTEGER;
ALTER TABLE entries ADD COLUMN src_ctime_ns INTEGER;
-- Which extended attributes the run read from every file and kept on its inodes:
-- 'all' (every namespace, as root), 'user' (user.* and ACLs), NULL (none kept). A run
-- takes a recorded set only from a run that read the same names.
ALTER TABLE snapshot_runs ADD COLUMN xattrs_read TEXT;
