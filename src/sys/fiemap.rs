//! Owns reading where a file's bytes lie on disk (`FS_IOC_FIEMAP`): the physical extent
//! map that tells whether two clones still share all their data (`verify` under
//! `LINK = reflink` hashes such a group once).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `FS_IOC_FIEMAP` (`_IOWR('f', 11, struct fiemap)`, 32-byte header).
const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
/// Flush the file's dirty data before mapping it.
const FIEMAP_FLAG_SYNC: u32 = 0x1;
const EXTENT_LAST: u32 = 0x1;
const EXTENT_UNWRITTEN: u32 = 0x800;
const EXTENT_MERGED: u32 = 0x1000;
const EXTENT_SHARED: u32 = 0x2000;
/// Flags of an extent whose bytes are exactly the blocks at its physical address.
const PLAIN: u32 = EXTENT_LAST | EXTENT_UNWRITTEN | EXTENT_MERGED | EXTENT_SHARED;
/// Extents asked for per call.
const BATCH: usize = 128;

/// One extent: the file offset, the disk address and the length, in bytes.
pub type Extent = (u64, u64, u64);

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [FiemapExtent; BATCH],
}

/// The extents of `file` (its dirty data flushed first), when there are at most `most`
/// and each is plain data at a disk address: then two files with equal maps read the
/// same bytes. None when the map says nothing of that (inline, compressed, encrypted,
/// delayed or unknown extents, too many), Err when the filesystem has no FIEMAP.
pub fn extents(file: &File, most: usize) -> io::Result<Option<Vec<Extent>>> {
    let mut out = Vec::new();
    let mut start = 0u64;
    loop {
        let map = fiemap(file, start, FIEMAP_FLAG_SYNC)?;
        let got = (map.mapped_extents as usize).min(BATCH);
        if got == 0 {
            return Ok(Some(out));
        }
        for e in &map.extents[..got] {
            if e.flags & !PLAIN != 0 || out.len() == most {
                return Ok(None);
            }
            out.push((e.logical, e.physical, e.length));
            if e.flags & EXTENT_LAST != 0 {
                return Ok(Some(out));
            }
        }
        let last = map.extents[got - 1];
        start = last.logical + last.length;
    }
}

/// True when some of the first extents of `file` are shared with another file (a
/// clone, or a file it was cloned from).
pub fn any_shared(file: &File) -> io::Result<bool> {
    let map = fiemap(file, 0, 0)?;
    let got = (map.mapped_extents as usize).min(BATCH);
    Ok(map.extents[..got]
        .iter()
        .any(|e| e.flags & EXTENT_SHARED != 0))
}

/// One FS_IOC_FIEMAP call: up to `BATCH` extents of `file` from byte `start` on.
fn fiemap(file: &File, start: u64, flags: u32) -> io::Result<Fiemap> {
    let mut map = Fiemap {
        start,
        length: u64::MAX - start,
        flags,
        mapped_extents: 0,
        extent_count: BATCH as u32,
        reserved: 0,
        extents: [FiemapExtent::default(); BATCH],
    };
    // SAFETY: FS_IOC_FIEMAP reads and writes one `struct fiemap` followed by
    // `extent_count` extents, which `map` holds (repr(C), the kernel's layout); the
    // descriptor is an open file we own for the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP as _, &mut map) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(map)
}
