//! Owns how `verify` reads clones (`LINK = reflink`) once: the paths of one stored copy
//! are inodes of their own, but while their physical extent maps (`FIEMAP`) are equal
//! they read the same blocks, so one read of the group proves (or finds damage in) all
//! of them, and a damaged group names every path in it. A clone whose map differs (its
//! data was rewritten, or the filesystem cannot say: inline, compressed, delayed
//! extents) is read on its own.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use super::content::Inodes;
use crate::sys::fiemap::{self, Extent};

/// Most extents compared per file; a more fragmented one is read on its own.
const MOST_EXTENTS: usize = 4096;

/// Merges the inodes of each stored copy whose extent maps are equal into the first
/// of them (its users gain theirs), so each group is read once. Returns how many inodes
/// no longer need a read of their own.
pub(super) fn merge_clones(inodes: &mut Inodes) -> u64 {
    let mut by_copy: HashMap<i64, Vec<u64>> = HashMap::new();
    for (&ino, inode) in &inodes.by_ino {
        by_copy.entry(inode.copy_id).or_default().push(ino);
    }
    let mut merged = 0;
    for mut inos in by_copy.into_values().filter(|inos| inos.len() > 1) {
        inos.sort_unstable();
        let mut firsts: HashMap<Vec<Extent>, u64> = HashMap::new();
        for ino in inos {
            let Some(map) = map_of(inodes, ino) else {
                continue;
            };
            match firsts.get(&map) {
                Some(&first) => {
                    let users = inodes.by_ino.remove(&ino).expect("listed").users;
                    let into = inodes.by_ino.get_mut(&first).expect("kept");
                    into.users.extend(users);
                    merged += 1;
                }
                None => {
                    firsts.insert(map, ino);
                }
            }
        }
    }
    merged
}

/// The extent map of inode `ino` at the place of its first user, when it still is that
/// inode and the map tells where all its bytes are (an empty file's map is empty).
fn map_of(inodes: &Inodes, ino: u64) -> Option<Vec<Extent>> {
    let inode = inodes.by_ino.get(&ino)?;
    let file = crate::store::open_source(&inodes.path_of(inode)).ok()?;
    let md = file.metadata().ok()?;
    if md.ino() != ino || md.len() != inode.size {
        return None;
    }
    let map = fiemap::extents(&file, MOST_EXTENTS).ok()??;
    (!map.is_empty() || inode.size == 0).then_some(map)
}
