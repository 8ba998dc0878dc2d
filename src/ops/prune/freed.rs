//! Owns exactly what a removal plan frees: bytes from the catalog, disk blocks from the
//! files themselves (each inode once), plus what the catalog cannot describe — the
//! copies a killed run wrote before its rows were committed (its folder is walked) and
//! the manifests that `--keep-versions` shrinks — so the figure is the drop of `du`.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::plan::{removed_ids, Action, Item, Reason};
use crate::catalog::prune;
use crate::catalog::snapshots::Status;
use crate::catalog::trim::{self, Old};
use crate::catalog::Db;
use crate::layout::snapshot_dir_rel;

/// A file whose last stored copy goes.
#[derive(Debug, Clone)]
pub struct Lost {
    pub snapshot: String,
    pub path: PathBuf,
    pub size: u64,
}

/// What removing the plan's snapshots frees.
#[derive(Debug, Clone, Default)]
pub struct Freed {
    /// Sizes of the stored copies whose last link goes.
    pub bytes: u64,
    pub copies: u64,
    /// Allocated blocks of those copies, of the removed folders, links and side files.
    pub disk_bytes: u64,
    pub lost: Vec<Lost>,
}

/// Ids of the snapshots (other than `removed`) that hold nothing on disk: recorded
/// `missing`, or whose folder is gone (deleted by hand). One `lstat` per snapshot.
fn hollow_ids(db: &Db, root: &Path, removed: &[i64]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for row in crate::catalog::SnapshotRow::all(db)? {
        if removed.contains(&row.id) {
            continue;
        }
        let there = |complete: bool| {
            root.join(snapshot_dir_rel(&row.name, &row.timestamp, complete))
                .symlink_metadata()
                .is_ok_and(|md| md.is_dir())
        };
        let on_disk = match row.status {
            Status::Missing => false,
            Status::Complete => there(true),
            Status::Incomplete => there(false) || there(true),
        };
        if !on_disk {
            out.push(row.id);
        }
    }
    Ok(out)
}

/// What removing the plan's snapshots and trimming `olds` frees, on the catalog of `db`
/// and the disk under `root`.
pub fn measure(db: &Db, root: &Path, items: &[Item], olds: &[Old]) -> Result<Freed> {
    let ids = removed_ids(items);
    if !items.iter().any(Item::removes) && olds.is_empty() {
        return Ok(Freed::default());
    }
    // Snapshots whose folder is gone (or recorded `missing`) hold nothing: one check
    // each, so a file whose other links went with them counts as freed and lost.
    let hollow = hollow_ids(db, root, &ids)?;
    let found = if ids.is_empty() {
        prune::Freed::default()
    } else {
        prune::freed(db, &ids, &hollow)?
    };
    let mut dead = ids.clone();
    dead.extend(&hollow);
    // Every stored copy that goes: (content, size, snapshot, path of one of its links).
    let mut going: Vec<(i64, u64, i64, Vec<u8>)> = found
        .copies
        .iter()
        .map(|c| (c.content_id, c.size, c.snapshot_id, c.path.clone()))
        .collect();
    let mut going_copies: HashSet<i64> = found.copies.iter().map(|c| c.copy_id).collect();
    for o in trim::freed_by(db, olds, &dead)? {
        going_copies.insert(o.copy_id);
        going.push((o.content_id, o.size, o.snapshot_id, o.path));
    }
    let folder_of = |id: i64| -> Option<PathBuf> {
        let m = &items.iter().find(|i| i.member.id == id)?.member;
        let complete = m.status == Status::Complete;
        Some(root.join(snapshot_dir_rel(&m.name, &m.timestamp, complete)))
    };
    // Each path is looked up from its snapshot's open folder: removing 500 of 1,000
    // snapshots of a million files counts 625k folders (and each snapshot's folder was
    // first found by a scan of every item), on every core.
    let folders: HashMap<i64, PathBuf> = items
        .iter()
        .filter_map(|i| Some((i.member.id, folder_of(i.member.id)?)))
        .collect();
    let mut lookups: Vec<(i64, &[u8])> = going.iter().map(|g| (g.2, g.3.as_slice())).collect();
    lookups.extend(
        found
            .others
            .iter()
            .map(|o| (o.snapshot_id, o.path.as_slice())),
    );
    let mut disk = Disk::default();
    for (dev, ino, blocks) in stat_in_folders(&folders, lookups) {
        if disk.seen.insert((dev, ino)) {
            disk.bytes += blocks;
        }
    }
    let removed: Vec<&Item> = items
        .iter()
        .filter(|i| ids.contains(&i.member.id))
        .collect();
    let places: Vec<PathBuf> = removed
        .iter()
        .flat_map(|i| crate::root::snapshot_places(root, &i.member.name, &i.member.timestamp))
        .collect();
    disk.count_links(&places);
    side_files_and_name_folders(&mut disk, root, items);
    // A killed run's folder holds copies its catalog rows may not name yet.
    let (mut bytes, mut copies) = (going.iter().map(|g| g.1).sum(), going.len() as u64);
    let unfinished: Vec<PathBuf> = removed
        .iter()
        .filter(|i| i.member.status == Status::Incomplete)
        .flat_map(|i| {
            let row = &i.member;
            [false, true].map(|c| root.join(snapshot_dir_rel(&row.name, &row.timestamp, c)))
        })
        .collect();
    let (more_bytes, more_copies) = disk.walk(&unfinished);
    bytes += more_bytes;
    copies += more_copies;
    let (gain, cost) = manifest_shrink(root, items, olds)?;
    disk.bytes = (disk.bytes + gain).saturating_sub(cost);
    let label = |id: i64| {
        items
            .iter()
            .find(|i| i.member.id == id)
            .map(|i| i.member.label())
            .unwrap_or_default()
    };
    let mut lost = Vec::new();
    let mut listed = HashSet::new();
    for (content, size, id, path) in &going {
        if listed.insert(*content) && !prune::keeps_a_copy(db, *content, &going_copies, &dead)? {
            lost.push(Lost {
                snapshot: label(*id),
                path: PathBuf::from(std::ffi::OsStr::from_bytes(path)),
                size: *size,
            });
        }
    }
    Ok(Freed {
        bytes,
        copies,
        disk_bytes: disk.bytes,
        lost,
    })
}

/// The disk bytes of what else leaves `<root>/<name>`: the side files `forget
/// --missing` removes (their folder gone), and each `<name>` folder that empties.
fn side_files_and_name_folders(disk: &mut Disk, root: &Path, items: &[Item]) {
    let mut bytes = 0;
    let mut going: HashSet<PathBuf> = HashSet::new();
    let mut side_files = Vec::new();
    for i in items.iter().filter(|i| i.removes()) {
        let row = &i.member;
        let places = crate::root::snapshot_places(root, &row.name, &row.timestamp);
        let folder_there = places
            .iter()
            .any(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()));
        if i.action == Action::Remove(Reason::Missing) && !folder_there {
            side_files.extend(places.iter().filter(|p| p.is_file()).cloned());
        }
        going.extend(places);
    }
    let mut names: Vec<&str> = items
        .iter()
        .filter(|i| i.removes())
        .map(|i| i.member.name.as_str())
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let dir = root.join(name);
        let Ok(list) = std::fs::read_dir(&dir) else {
            continue;
        };
        let empties = list.flatten().all(|e| {
            let latest = e.file_name() == crate::layout::LATEST
                && e.file_type().is_ok_and(|t| t.is_symlink());
            latest || going.contains(&e.path())
        });
        if empties {
            bytes += dir.symlink_metadata().map_or(0, |m| m.blocks() * 512);
        }
    }
    disk.count_links(&side_files);
    disk.bytes += bytes;
}

/// Disk blocks counted once per inode.
#[derive(Default)]
struct Disk {
    seen: HashSet<(u64, u64)>,
    bytes: u64,
}

/// A snapshot folder opened to look paths up in (not through a symlink).
fn open_folder(dir: &Path) -> Option<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .ok()
        .map(std::os::fd::OwnedFd::from)
}

/// Device, inode and allocated bytes of each `(snapshot, path)` that is there (not
/// followed), looked up from the snapshot's folder in `folders`. The lookups are split
/// over the cores in runs of one snapshot, each opening the folders it needs once.
fn stat_in_folders(
    folders: &HashMap<i64, PathBuf>,
    mut lookups: Vec<(i64, &[u8])>,
) -> Vec<(u64, u64, u64)> {
    lookups.sort_by_key(|l| l.0);
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    let chunk = lookups.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = lookups
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut open: HashMap<i64, Option<std::os::fd::OwnedFd>> = HashMap::new();
                    let mut out = Vec::with_capacity(part.len());
                    for (id, path) in part {
                        let dir = open
                            .entry(*id)
                            .or_insert_with(|| folders.get(id).and_then(|d| open_folder(d)));
                        let (Some(dir), Ok(name)) = (dir, std::ffi::CString::new(*path)) else {
                            continue;
                        };
                        let dir = std::os::fd::AsFd::as_fd(dir);
                        if let Ok(st) = crate::sys::at::stat_at(dir, &name) {
                            out.push((st.st_dev, st.st_ino, st.st_blocks as u64 * 512));
                        }
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

impl Disk {
    /// Counts the blocks of `p` (not followed) unless its inode was counted.
    fn count(&mut self, p: &Path) {
        if let Ok(md) = p.symlink_metadata() {
            if self.seen.insert((md.dev(), md.ino())) {
                self.bytes += md.blocks() * 512;
            }
        }
    }

    /// Counts the blocks of `paths` (not followed), each inode once, and a file with
    /// more links (a manifest an unchanged snapshot shares) only when all of them are
    /// among `paths`.
    fn count_links(&mut self, paths: &[PathBuf]) {
        let mut shared: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new();
        for p in paths {
            match p.symlink_metadata() {
                Ok(md) if md.is_file() && md.nlink() > 1 => {
                    let e = shared.entry((md.dev(), md.ino())).or_insert((
                        0,
                        md.nlink(),
                        md.blocks() * 512,
                    ));
                    e.0 += 1;
                }
                _ => self.count(p),
            }
        }
        for (key, (seen, nlink, blocks)) in shared {
            if seen >= nlink && self.seen.insert(key) {
                self.bytes += blocks;
            }
        }
    }

    /// Counts what goes with the folders `trees` that the catalog may not describe:
    /// every folder and symlink in them, and each file not counted yet whose every link
    /// is in them. Returns the size and number of those files.
    fn walk(&mut self, trees: &[PathBuf]) -> (u64, u64) {
        // Links seen per inode: (seen, st_nlink, blocks, size).
        let mut links: HashMap<(u64, u64), (u64, u64, u64, u64)> = HashMap::new();
        for tree in trees {
            for entry in walkdir::WalkDir::new(tree)
                .follow_links(false)
                .into_iter()
                .flatten()
            {
                let Ok(md) = entry.metadata() else {
                    continue;
                };
                let key = (md.dev(), md.ino());
                if !md.is_file() {
                    self.count(entry.path());
                } else if !self.seen.contains(&key) {
                    let e =
                        links
                            .entry(key)
                            .or_insert((0, md.nlink(), md.blocks() * 512, md.size()));
                    e.0 += 1;
                }
            }
        }
        let (mut bytes, mut files) = (0, 0);
        for (key, (seen, nlink, blocks, size)) in links {
            if seen >= nlink && self.seen.insert(key) {
                self.bytes += blocks;
                bytes += size;
                files += 1;
            }
        }
        (bytes, files)
    }
}

/// The disk bytes the trimmed snapshots' manifests give back when `olds` leave them
/// (each is rewritten without their lines: a new file of the smaller size), and those the
/// new files take. A manifest shared with other snapshots gives back its blocks only
/// when all its links are rewritten.
fn manifest_shrink(root: &Path, items: &[Item], olds: &[Old]) -> Result<(u64, u64)> {
    let (mut gain, mut cost) = (0, 0);
    let mut shared: HashMap<(u64, u64), (u64, u64, u64)> = HashMap::new();
    let mut written: HashSet<(u64, u64, Vec<Vec<u8>>)> = HashSet::new();
    let mut ids: Vec<i64> = olds.iter().map(|o| o.snapshot_id).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let Some(item) = items.iter().find(|i| i.member.id == id) else {
            continue;
        };
        let row = &item.member;
        let algo = row.hash_algo;
        let sums = crate::layout::SnapshotPaths::new(
            root,
            &row.name,
            &row.timestamp,
            algo.manifest_suffix(),
        )
        .manifest;
        let Ok(md) = sums.symlink_metadata() else {
            continue;
        };
        if !md.is_file() {
            continue;
        }
        let gone: HashSet<&Path> = olds
            .iter()
            .filter(|o| o.snapshot_id == id)
            .map(|o| Path::new(std::ffi::OsStr::from_bytes(&o.path)))
            .collect();
        let mut kept = Vec::new();
        crate::manifest::for_each(&sums, |hex, rel| {
            if !gone.contains(rel.as_path()) {
                crate::manifest::line_into(&mut kept, &hex, &rel);
            }
        })?;
        // Rewritten at its new size, or removed when no line is left.
        let block = md.blksize().max(512);
        // Snapshots that shared a manifest and lose the same lines share the new one
        // (`root::trim`): it is written once.
        let mut lines: Vec<Vec<u8>> = gone
            .iter()
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .collect();
        lines.sort();
        if written.insert((md.dev(), md.ino(), lines)) {
            cost += (kept.len() as u64).div_ceil(block) * block;
        }
        let e = shared
            .entry((md.dev(), md.ino()))
            .or_insert((0, md.nlink(), md.blocks() * 512));
        e.0 += 1;
    }
    for (seen, nlink, blocks) in shared.into_values() {
        if seen >= nlink {
            gain += blocks;
        }
    }
    Ok((gain, cost))
}
