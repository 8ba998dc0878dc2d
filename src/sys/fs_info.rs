//! Owns asking the filesystem about a path: `statvfs` (size, free space, id), `statfs`
//! (its type) and `faccessat` (whether this process may write it).

use std::ffi::CStr;
use std::io;

/// The `statvfs` of the filesystem holding `path`.
pub fn statvfs(path: &CStr) -> io::Result<libc::statvfs> {
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// The bytes an unprivileged writer may still use on the filesystem of open `fd`.
pub fn free_bytes_fd(fd: std::os::fd::BorrowedFd) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and out pointer.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The `statfs` of the filesystem holding `path`.
pub fn statfs(path: &CStr) -> io::Result<libc::statfs> {
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and out pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Whether this process may write `path`, by its effective ids and capabilities
/// (`faccessat` with `W_OK` and `AT_EACCESS`).
pub fn may_write(path: &CStr) -> io::Result<()> {
    // SAFETY: a valid C string; faccessat only reads it.
    let rc =
        unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Local filesystems whose inode times this kernel stamps from its own clock (ext2/3/4,
/// XFS, btrfs, tmpfs, F2FS, ZFS, bcachefs, ramfs), by `statfs` magic. Network and FUSE
/// filesystems take times from a server or a daemon whose clock may differ from ours.
const KERNEL_STAMPED: &[i64] = &[
    0xEF53,      // ext2, ext3, ext4
    0x5846_5342, // XFS
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0xF2F5_2010, // F2FS
    0x2FC1_2FC1, // ZFS
    0xCA45_1A4E, // bcachefs
    0x8584_58F6, // ramfs
];

/// Whether the filesystem holding open folder `fd` stamps inode times from this
/// kernel's clock (`KERNEL_STAMPED`): only there can a ctime be compared with the time
/// `now_ns` reads. False when `fstatfs` fails.
pub fn stamps_from_this_kernel(fd: std::os::fd::BorrowedFd) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor and a valid out pointer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    KERNEL_STAMPED.contains(&(st.f_type as i64))
}

/// The kernel's realtime clock in ns since the epoch, read by the system call itself:
/// the clock inode times are stamped from, which a preloaded library faking the time for
/// this process (libfaketime) does not change. None when the call fails (then no ctime
/// can be judged settled).
pub fn kernel_now_ns() -> Option<i128> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out pointer; the raw syscall bypasses libc wrappers.
    let rc = unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &mut ts) };
    (rc == 0).then(|| i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
}

#[cfg(test)]
mod clock_tests {
    #[test]
    fn the_kernel_clock_agrees_with_the_process_clock_here_and_tmp_is_kernel_stamped() {
        let t = crate::clock::now_utc();
        let ours =
            i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
        let kernel = super::kernel_now_ns().unwrap();
        assert!((kernel - ours).abs() < 5_000_000_000, "{kernel} vs {ours}");
        let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
        use std::os::fd::AsFd;
        // /tmp here is ext4 or tmpfs.
        assert!(super::stamps_from_this_kernel(dir.as_fd()));
    }
}
