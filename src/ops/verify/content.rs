//! How `verify` reads content: each stored copy (inode) once, on all workers, however
//! many snapshots share it, naming every snapshot and path that shares a damaged one.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::rc::Rc;

use super::{show, Report};
use crate::catalog::SnapshotRow;
use crate::config::Config;
use crate::hash::{hex, HashAlgo};
use crate::workers::Reader;

/// One stored copy on disk and everything that expects it to hold some content; it is
/// read at the place of its first user.
pub(super) struct Inode {
    /// The catalog's id of the stored copy.
    pub(super) copy_id: i64,
    pub(super) size: u64,
    pub(super) algo: HashAlgo,
    pub(super) expected: Vec<u8>,
    /// Who links it: (index into the verified snapshots, index into `Inodes::names`).
    pub(super) users: Vec<(u32, u32)>,
    /// It is the stored copy's own inode (or a clone, `LINK = reflink`): a good read
    /// proves the copy. A file copied apart from its copy proves only itself.
    pub(super) own: bool,
}

/// The stored copies to hash, by inode. Users are kept as two small numbers each, with
/// every relative path stored once however many snapshots hold it, so memory follows
/// the number of distinct paths, not paths times snapshots.
#[derive(Default)]
pub(super) struct Inodes {
    pub(super) by_ino: HashMap<u64, Inode>,
    name_ids: HashMap<Rc<[u8]>, u32>,
    names: Vec<Rc<[u8]>>,
    /// The folder of each verified snapshot, by its index.
    dirs: Vec<PathBuf>,
}

impl Inodes {
    /// No stored copies yet, for the snapshots in folders `dirs` (by their index).
    pub(super) fn new(dirs: Vec<PathBuf>) -> Inodes {
        Inodes {
            dirs,
            ..Inodes::default()
        }
    }

    /// Notes that path `rel` of verified snapshot `snap` links the inode of `md`.
    pub(super) fn add(
        &mut self,
        snap: u32,
        rel: &[u8],
        md: &std::fs::Metadata,
        new: impl FnOnce() -> Inode,
    ) {
        let name = match self.name_ids.get(rel) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                let name: Rc<[u8]> = rel.into();
                self.names.push(Rc::clone(&name));
                self.name_ids.insert(name, id);
                id
            }
        };
        self.by_ino
            .entry(md.ino())
            .or_insert_with(new)
            .users
            .push((snap, name));
    }

    /// Where `inode` is read: the place of its first user.
    pub(super) fn path_of(&self, inode: &Inode) -> PathBuf {
        let (snap, name) = inode.users[0];
        let rel = OsStr::from_bytes(&self.names[name as usize]);
        self.dirs[snap as usize].join(rel)
    }

    /// Every user of `inode` as "snapshot/path".
    fn users(&self, inode: &Inode, targets: &[SnapshotRow]) -> Vec<String> {
        inode
            .users
            .iter()
            .map(|&(snap, name)| show(&targets[snap as usize], &self.names[name as usize]))
            .collect()
    }
}

/// Hashes every inode once (on all workers) and reports each damaged one with every path
/// that shares it. Returns the bytes hashed.
pub(super) fn hash_inodes(
    config: &Config,
    mut inodes: Inodes,
    targets: &[SnapshotRow],
    report: &mut Report,
) -> u64 {
    let by_ino = std::mem::take(&mut inodes.by_ino);
    // Read in path order, which follows the disk layout more closely than inode order.
    let mut list: Vec<(PathBuf, Inode)> = by_ino
        .into_values()
        .map(|i| (inodes.path_of(&i), i))
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hashed = 0u64;
    let mut by_algo: BTreeMap<&'static str, Vec<(PathBuf, Inode)>> = BTreeMap::new();
    for (path, inode) in list {
        by_algo
            .entry(inode.algo.manifest_suffix())
            .or_default()
            .push((path, inode));
    }
    for group in by_algo.into_values() {
        let algo = group[0].1.algo;
        let (paths, group): (Vec<PathBuf>, Vec<Inode>) = group.into_iter().unzip();
        std::thread::scope(|scope| {
            let mut reader = Reader::reads(scope, paths, algo, config.worker_count());
            for inode in &group {
                match reader.next_read() {
                    Ok(read) => {
                        hashed += read.meta.size;
                        if read.hash == inode.expected {
                            if inode.own {
                                report.good.insert(inode.copy_id);
                            }
                        } else {
                            report.damaged.insert(inode.copy_id);
                            let users = inodes.users(inode, targets);
                            report.problem_of(
                                &users,
                                &users[0],
                                &format!(
                                    "content damaged: hash {} but the catalog says {}; shared by {} path(s): {}",
                                    &hex(&read.hash)[..16],
                                    &hex(&inode.expected)[..16],
                                    users.len(),
                                    users.join(", ")
                                ),
                            );
                        }
                    }
                    Err(why) => {
                        // Unreadable bytes (EIO: a checksum that fails, a bad block)
                        // are damage: nothing links to this copy again.
                        if why.is_io_error() {
                            report.damaged.insert(inode.copy_id);
                        }
                        let users = inodes.users(inode, targets);
                        report.problem_of(&users, &users.join(", "), &why.to_string())
                    }
                }
                report.progress.advance(inode.size);
            }
        });
    }
    hashed
}
