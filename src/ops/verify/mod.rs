//! Verifying (what `phlb verify` runs): proves snapshots intact against the catalog, hashing each stored copy
//! (inode) once and naming every snapshot and path that shares a damaged one.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

mod attrs;
mod content;
mod damage;
mod listing;
mod repair;
mod shared;
mod strays;

pub use repair::Fate;

use anyhow::{bail, Result};

use crate::catalog::entries::{run_size, Recorded, SnapshotRuns};
use crate::catalog::snapshots::Status;
use crate::catalog::SnapshotRow;
use crate::config::Config;
use crate::hash::HashAlgo;
use crate::layout::SnapshotPaths;
use crate::lock::Wait;
use crate::ops::open::{existing_root, resolve};
use crate::progress::{Progress, Style};
use crate::root::{BackupRoot, Filesystem};
use crate::scan::Kind;
use crate::tell::Tell;
use crate::units::one_line;

/// How deep verify looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Metadata, listings and manifests, and every stored copy's bytes hashed.
    #[default]
    Full,
    /// Metadata, listings and manifests; no content read (`--fast`).
    Fast,
}

/// What to verify and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Snapshots as the user named them; every recorded one when empty.
    pub snapshots: Vec<String>,
    pub depth: Depth,
    /// Relink damaged paths to a good stored copy of the same content (`--repair`).
    pub repair: bool,
    pub wait: Wait,
}

/// Where verify's findings go as they come; the front end prints them as text or JSON.
pub trait Findings: Sync {
    /// `what` (a snapshot path, or a snapshot) has the problem `why`.
    fn problem(&self, what: &str, why: &str);
    /// `--repair` relinked a damaged path, or left it as it is.
    fn repaired(&self, fate: Fate, line: &str);
}

/// What a verify run found, for its summary.
#[derive(Debug)]
pub struct Verified {
    /// The backup root, canonical.
    pub root: std::path::PathBuf,
    pub snapshots: usize,
    pub entries: u64,
    pub hashed_bytes: u64,
    /// Paths (or snapshots) with problems, repaired ones included.
    pub problems: u64,
    pub notes: u64,
    /// With `--repair`: how many of the problems were repaired.
    pub repaired: Option<u64>,
}

/// Problems found, told as they come, and notes.
struct Report<'a> {
    progress: Progress,
    /// What has a problem (a snapshot path, or a snapshot): the unit the summary counts
    /// in, so found = repaired + left whatever number of lines one path got.
    problems: BTreeSet<String>,
    notes: u64,
    quiet: bool,
    /// Stored copies found damaged by this run.
    damaged: HashSet<i64>,
    /// Stored copies whose bytes this run found good.
    good: Vec<i64>,
    /// Files that are not the inode of their stored copy (a root copied without its
    /// hardlinks): each verifies on its own.
    unlinked: u64,
    /// Where problems go as they are found.
    out: &'a dyn Findings,
    /// Where notes go (the command's sink: the progress may be quiet while notes show).
    tell: &'a dyn Tell,
}

impl Report<'_> {
    fn problem(&mut self, what: &str, why: &str) {
        self.problem_of(&[what.to_string()], what, why);
    }

    /// A problem shown as `what: why` that is a problem of each of `paths` (a damaged
    /// stored copy shared by them).
    fn problem_of(&mut self, paths: &[String], what: &str, why: &str) {
        self.problems.extend(paths.iter().cloned());
        self.out.problem(what, why);
    }

    /// Something worth knowing that is not damage (exit code unchanged).
    fn note(&mut self, what: &str, why: &str) {
        self.notes += 1;
        if !self.quiet {
            self.tell.note(&format!("{what}: {why}"));
        }
    }
}

/// Verifies the snapshots `options` names (every recorded one when none): each problem
/// goes to `out` as it is found, notes to `tell`, and the counts come back.
pub fn verify(
    config: &Config,
    options: &Options,
    style: Style,
    tell: &dyn Tell,
    out: &dyn Findings,
) -> Result<Verified> {
    let root = existing_root(config)?;
    let meta_dir = root.join(crate::root::META_DIR);
    let catalog_file = meta_dir.join(crate::catalog::FILE_NAME);
    if !catalog_file.exists() {
        bail!(
            "{}: no catalog to verify against; `phlb add` builds one from the snapshots",
            catalog_file.display()
        );
    }
    let opened = BackupRoot::open_writer(&config.backup_path, Filesystem::Any, options.wait, tell)?;
    crate::signals::doing("verify stopped before it finished; run it again for a full report");
    crate::ops::record::settle_times(&opened.catalog, config)?;
    let (root, catalog) = (opened.path.clone(), &opened.catalog);
    let db = catalog.db()?;
    let targets: Vec<SnapshotRow> = if options.snapshots.is_empty() {
        SnapshotRow::all(&db)?
            .into_iter()
            .filter(|s| s.status != Status::Incomplete)
            .collect()
    } else {
        options
            .snapshots
            .iter()
            .map(|s| resolve(&db, &root, s))
            .collect::<Result<_>>()?
    };
    let mut report = Report {
        progress: Progress::new(Style::Quiet, "verify", 0, 0),
        problems: BTreeSet::new(),
        notes: 0,
        quiet: style == Style::Quiet,
        damaged: HashSet::new(),
        good: Vec::new(),
        unlinked: 0,
        out,
        tell,
    };
    if options.snapshots.is_empty() {
        strays::leftovers(&db, &root, &mut report)?;
        strays::unknown_folders(&db, &root, config, &mut report)?;
    }
    let mut inodes = content::Inodes::new(
        targets
            .iter()
            .map(|s| root.join(crate::layout::snapshot_dir_rel(&s.name, &s.timestamp, true)))
            .collect(),
    );
    let sets = attrs::Sets::load(&db, &root)?;
    let mut entries_checked = 0u64;
    for (index, snap) in targets.iter().enumerate() {
        let algo: HashAlgo = snap.hash_algo;
        let paths = SnapshotPaths::new(&root, &snap.name, &snap.timestamp, algo.manifest_suffix());
        let linked = [root.join(&snap.name), paths.dir.clone()].iter().any(|p| {
            p.symlink_metadata()
                .is_ok_and(|m| m.file_type().is_symlink())
        });
        if linked {
            // Reported once and never read through: the target is not this snapshot.
            report.problem(
                &snap.label(),
                "snapshot folder (or its name folder) is a symlink, not a folder; not followed",
            );
            continue;
        }
        if paths.dir.symlink_metadata().is_err() {
            // Reported as a problem once, when it vanished; from then on it is known.
            if snap.status != Status::Missing {
                crate::root::still_a_root(&root)?;
                snap.mark_missing(&db)?;
                report.problem(
                    &snap.label(),
                    "snapshot folder is gone (now marked missing; later runs only count it)",
                );
            } else {
                report.note(
                    &snap.label(),
                    "snapshot folder was deleted (marked missing)",
                );
            }
            continue;
        }
        if snap.status == Status::Missing {
            report.problem(
                &snap.label(),
                "marked missing but its folder is back; run `phlb add` to re-record it",
            );
            continue;
        }
        let checking = Checking {
            snap,
            index: index as u32,
            paths: &paths,
            algo,
            sets: &sets,
        };
        // The entries stream past a run at a time; what the listing checks need of them
        // is kept as digests (`Known`), and the content check's inodes only when it runs.
        let mut known = listing::Known::new();
        for run in SnapshotRuns::all(&db, snap.id, run_size()) {
            let run = run?;
            entries_checked += run.len() as u64;
            let hashing = (options.depth == Depth::Full).then_some(&mut inodes);
            check_entries(&checking, &run, hashing, &mut report);
            known.add(&run);
        }
        let mut known = known.sorted();
        listing::check_unknown(snap, &paths.dir, &known, &mut report);
        let files = SnapshotRuns::files(&db, snap.id, run_size());
        listing::check_manifest(snap, &paths.manifest, &mut known, files, &mut report)?;
    }
    // Clones (`LINK = reflink`) are meant to be inodes of their own.
    let cloned = crate::catalog::settings::get(&db, crate::root::linking::CLONED)?.is_some();
    if report.unlinked > 0 && !cloned {
        let why = format!(
            "{} file(s) are not hardlinked to their stored copy but hold a copy of their own \
             (was the root copied without keeping hardlinks?); each is checked on its own and takes its own space",
            report.unlinked
        );
        report.note(&root.display().to_string(), &why);
    }
    let mut hashed = 0u64;
    if options.depth == Depth::Full {
        if cloned {
            shared::merge_clones(&mut inodes);
        }
        let total: u64 = inodes.by_ino.values().map(|i| i.size).sum();
        report.progress = Progress::new(style, "verify", inodes.by_ino.len() as u64, total);
        hashed = content::hash_inodes(config, inodes, &targets, &mut report);
        report.progress.finish();
    }
    damage::record_verdicts(&db, &report)?;
    let mut repaired = None;
    if options.repair {
        let config = &crate::root::linking::settled(config, &db, false, tell)?;
        let done = repair::repair(&db, &root, config, &mut |fate, line| {
            out.repaired(fate, &line)
        })?;
        // Damage found is a problem of this run even when repaired (found by this run or
        // an earlier one): the exit code says so either way, and the summary counts it
        // as found and repaired.
        report.problems.extend(done.relinked.iter().cloned());
        report.problems.extend(done.left.iter().cloned());
        repaired = Some(done.relinked.len() as u64);
    }
    damage::recorded_damage(&db, &targets, &mut report)?;
    Ok(Verified {
        root,
        snapshots: targets.len(),
        entries: entries_checked,
        hashed_bytes: hashed,
        problems: report.problems.len() as u64,
        notes: report.notes,
        repaired,
    })
}

fn show(snap: &SnapshotRow, rel: &[u8]) -> String {
    format!(
        "{}/{}",
        snap.label(),
        one_line(Path::new(OsStr::from_bytes(rel)))
    )
}

/// The snapshot whose entries are being checked.
struct Checking<'a> {
    snap: &'a SnapshotRow,
    /// Its place among the snapshots being verified.
    index: u32,
    paths: &'a SnapshotPaths,
    algo: HashAlgo,
    sets: &'a attrs::Sets,
}

/// Checks each recorded entry on disk (kind, target, size, mtime, mode, extended
/// attributes) and groups the
/// files by inode for hashing.
fn check_entries(
    checking: &Checking,
    recorded: &[Recorded],
    mut inodes: Option<&mut content::Inodes>,
    report: &mut Report,
) {
    let (snap, paths, algo) = (checking.snap, checking.paths, checking.algo);
    for rec in recorded {
        let rel = Path::new(OsStr::from_bytes(&rec.path));
        let path = if rel == Path::new(".") {
            paths.dir.clone()
        } else {
            paths.dir.join(rel)
        };
        let what = show(snap, &rec.path);
        let md = match path.symlink_metadata() {
            Ok(md) => md,
            Err(_) => {
                report.problem(&what, "missing");
                continue;
            }
        };
        let on_disk = if md.is_dir() {
            Kind::Dir
        } else if md.file_type().is_symlink() {
            Kind::Symlink
        } else {
            Kind::File
        };
        if on_disk != rec.kind {
            let why = format!(
                "is a {}, the catalog says {}",
                on_disk.as_str(),
                rec.kind.as_str()
            );
            report.problem(&what, &why);
            continue;
        }
        // A file's attributes live on its stored copy; a folder or symlink has its own,
        // and so has a clone of a stored copy (`LINK = reflink`: another inode).
        let set = match (&rec.kind, &rec.copy) {
            (Kind::File, Some(copy)) if md.ino() == copy.ino => copy.meta.xattrs,
            _ => rec.meta.xattrs,
        };
        if let Some(why) = checking.sets.differs(&path, set) {
            report.problem(&what, &why);
        }
        match rec.kind {
            Kind::Symlink => {
                let target = std::fs::read_link(&path).unwrap_or_default();
                if Some(target.as_os_str().as_bytes()) != rec.target.as_deref() {
                    report.problem(&what, "symlink target differs from the catalog");
                }
            }
            Kind::Dir => {}
            Kind::File => {
                let Some(copy) = &rec.copy else {
                    report.problem(&what, "file without a stored copy in the catalog");
                    continue;
                };
                if md.len() != rec.meta.size {
                    report.damaged.insert(copy.id);
                    let why = format!(
                        "size {} bytes, the catalog says {}",
                        md.len(),
                        rec.meta.size
                    );
                    report.problem(&what, &why);
                    continue;
                }
                let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
                // The stored copy's metadata; a path of its own inode (a clone) carries
                // the path's own.
                let own: crate::decide::CopyMeta = rec.meta.into();
                let given: &[crate::decide::CopyMeta] = if md.ino() == copy.ino {
                    std::slice::from_ref(&copy.meta)
                } else {
                    &[own, copy.meta]
                };
                if !given.iter().any(|m| m.mtime_ns == mtime) {
                    report.problem(&what, "mtime changed since the backup");
                }
                if !given.iter().any(|m| md.mode() & 0o7777 == m.mode) {
                    report.problem(&what, "mode changed since the backup");
                } else if !given
                    .iter()
                    .any(|m| crate::store::as_given(md.mode(), md.uid(), md.gid(), m))
                {
                    report.problem(&what, "owner changed since the backup");
                }
                if md.ino() != copy.ino {
                    report.unlinked += 1;
                }
                if let Some(inodes) = inodes.as_deref_mut() {
                    inodes.add(checking.index, &rec.path, &md, || content::Inode {
                        copy_id: copy.id,
                        size: md.len(),
                        algo,
                        expected: copy.hash.clone(),
                        users: Vec::new(),
                    });
                }
            }
        }
    }
}
