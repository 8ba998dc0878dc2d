//! Owns the content check of the stored copies paths hold as their own inode (the
//! usual case): each is read once, at its first path, while the listing pass goes on,
//! and the paths sharing a damaged one are found in the catalog afterwards. Nothing is
//! kept per path or per copy but a bit per copy id and the reads in flight, so a full
//! verify of a thousand snapshots of a million files holds what one of them does.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::thread::Scope;

use anyhow::Result;

use super::{show, Report};
use crate::catalog::entries::CopyInfo;
use crate::catalog::versions::IdSet;
use crate::catalog::{Db, SnapshotRow};
use crate::hash::{hex, HashAlgo};
use crate::workers::{FileError, Job, ReadFile, Reader, SourceFile};

/// Reads in flight per hash before the oldest result is taken.
const IN_FLIGHT: usize = 2048;

/// A stored copy handed to a reader, and the path it is read at.
struct Pending {
    copy: CopyInfo,
    size: u64,
    snap: u32,
    rel: Box<[u8]>,
}

/// One reader per hash (snapshots may differ), with its reads in order.
struct Lane {
    reader: Reader,
    pending: VecDeque<Pending>,
}

/// A stored copy this run read damaged (or could not read), named with the paths that
/// share it once the pass is over.
struct Found {
    copy: CopyInfo,
    snap: u32,
    rel: Box<[u8]>,
    why: String,
    /// Damage of the copy (named with every path holding it); else a problem of the
    /// path read only (deleted or swapped since it was listed).
    damage: bool,
}

/// The content check that runs beside the listing pass.
pub(super) struct Streamed<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    workers: usize,
    lanes: BTreeMap<&'static str, Lane>,
    /// Copies handed to a reader (or judged) by this run.
    queued: IdSet,
    found: Vec<Found>,
    pub(super) hashed: u64,
}

impl<'scope, 'env> Streamed<'scope, 'env> {
    pub(super) fn new(scope: &'scope Scope<'scope, 'env>, workers: usize) -> Self {
        Streamed {
            scope,
            workers,
            lanes: BTreeMap::new(),
            queued: IdSet::default(),
            found: Vec::new(),
            hashed: 0,
        }
    }

    /// Reads stored copy `copy` at `path` (path `rel` of verified snapshot `snap`) unless
    /// this run already has; takes the oldest results while too many are in flight.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
        &mut self,
        copy: &CopyInfo,
        size: u64,
        algo: HashAlgo,
        path: PathBuf,
        snap: u32,
        rel: &[u8],
        report: &mut Report,
    ) {
        if self.queued.contains(copy.id) {
            return;
        }
        self.queued.insert(copy.id);
        let (scope, workers) = (self.scope, self.workers);
        let lane = self
            .lanes
            .entry(algo.manifest_suffix())
            .or_insert_with(|| Lane {
                reader: Reader::start(scope, algo, workers, None),
                pending: VecDeque::new(),
            });
        lane.reader.push(Job::Read {
            src: SourceFile::Copy {
                path,
                ino: copy.ino,
            },
            dst: None,
            size: None,
            leftover: None,
        });
        lane.pending.push_back(Pending {
            copy: copy.clone(),
            size,
            snap,
            rel: rel.into(),
        });
        report.progress.grow(size);
        if lane.pending.len() > IN_FLIGHT {
            take_one(lane, &mut self.hashed, &mut self.found, report);
        }
    }

    /// Takes every read still in flight, then names each damaged copy with the paths of
    /// the verified snapshots that hold it as their inode. Returns the bytes hashed.
    pub(super) fn finish(
        mut self,
        db: &Db,
        targets: &[SnapshotRow],
        dirs: &[PathBuf],
        report: &mut Report,
    ) -> Result<u64> {
        for lane in self.lanes.values_mut() {
            lane.reader.close();
            while !lane.pending.is_empty() {
                take_one(lane, &mut self.hashed, &mut self.found, report);
            }
        }
        for f in &self.found {
            let first = show(&targets[f.snap as usize], &f.rel);
            if !f.damage {
                report.problem(&first, &f.why);
                continue;
            }
            let mut users = sharing(db, &f.copy, targets, dirs)?;
            if users.is_empty() {
                users.push(first);
            }
            let why = f.why.replace(
                "{users}",
                &format!("{} path(s): {}", users.len(), users.join(", ")),
            );
            report.problem_of(&users, &users[0], &why);
        }
        Ok(self.hashed)
    }
}

/// Judges the oldest read of `lane`.
fn take_one(lane: &mut Lane, hashed: &mut u64, found: &mut Vec<Found>, report: &mut Report) {
    let Some(p) = lane.pending.pop_front() else {
        return;
    };
    let read: Result<ReadFile, FileError> = lane.reader.next_read();
    let why = match read {
        Ok(read) => {
            *hashed += read.meta.size;
            if read.hash == p.copy.hash {
                report.good.insert(p.copy.id);
                None
            } else {
                report.damaged.insert(p.copy.id);
                Some(format!(
                    "content damaged: hash {} but the catalog says {}; shared by {{users}}",
                    &hex(&read.hash)[..16],
                    &hex(&p.copy.hash)[..16],
                ))
            }
        }
        // Unreadable bytes (EIO: a checksum that fails, a bad block) are damage: nothing
        // links to this copy again.
        Err(why) if why.is_io_error() => {
            report.damaged.insert(p.copy.id);
            Some(format!("{why} (stored copy shared by {{users}})"))
        }
        // Anything else (the path deleted or swapped since it was listed) is a problem of
        // that path, not of the copy, which this run then did not read.
        Err(why) => Some(format!("{why}; its stored copy was not read")),
    };
    let damage = report.damaged.contains(&p.copy.id);
    report.progress.advance(p.size);
    if let Some(why) = why {
        found.push(Found {
            copy: p.copy,
            snap: p.snap,
            rel: p.rel,
            why,
            damage,
        });
    }
}

/// The paths of the verified snapshots recorded with stored copy `copy` that hold its
/// inode on disk, as "snapshot/path".
fn sharing(
    db: &Db,
    copy: &CopyInfo,
    targets: &[SnapshotRow],
    dirs: &[PathBuf],
) -> Result<Vec<String>> {
    let mut users = Vec::new();
    for (snapshot_id, rel) in crate::catalog::copies::copy_paths(db, copy.id)? {
        let Some(i) = targets.iter().position(|s| s.id == snapshot_id) else {
            continue;
        };
        let at = dirs[i].join(OsStr::from_bytes(&rel));
        if at.symlink_metadata().is_ok_and(|md| md.ino() == copy.ino) {
            users.push(show(&targets[i], &rel));
        }
    }
    Ok(users)
}
