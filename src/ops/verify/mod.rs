//! Verifying (what `phlb verify` runs): proves snapshots intact against the catalog, hashing each stored copy
//! (inode) once and naming every snapshot and path that shares a damaged one.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

mod attrs;
mod check;
mod content;
mod damage;
mod listing;
mod repair;
mod shared;
mod strays;
mod streamed;

use check::{check_entries, Checking, Hashing};

pub use repair::Fate;

use anyhow::{bail, Result};

use crate::catalog::entries::{run_size, SnapshotRuns};
use crate::catalog::snapshots::Status;
use crate::catalog::SnapshotRow;
use crate::config::Config;
use crate::hash::HashAlgo;
use crate::layout::SnapshotPaths;
use crate::lock::Wait;
use crate::ops::open::{existing_root, resolve};
use crate::progress::{Progress, Style};
use crate::root::{BackupRoot, Filesystem};
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
    /// Stored copies whose bytes this run found good (a bit per copy id).
    good: crate::catalog::versions::IdSet,
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
        good: Default::default(),
        unlinked: 0,
        out,
        tell,
    };
    if options.snapshots.is_empty() {
        strays::leftovers(&db, &root, &mut report)?;
        strays::unknown_folders(&db, &root, config, &mut report)?;
    }
    let dirs: Vec<std::path::PathBuf> = targets
        .iter()
        .map(|s| root.join(crate::layout::snapshot_dir_rel(&s.name, &s.timestamp, true)))
        .collect();
    let mut inodes = content::Inodes::new(dirs.clone());
    let sets = attrs::Sets::load(&db, &root)?;
    // Clones (`LINK = reflink`) are meant to be inodes of their own.
    let cloned = crate::catalog::settings::get(&db, crate::root::linking::CLONED)?.is_some();
    let full = options.depth == Depth::Full;
    if full {
        report.progress = Progress::new(style, "verify", 0, 0);
    }
    let mut entries_checked = 0u64;
    let mut hashed = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        // Copies held as their own inode are read as the pass goes (`streamed`); clones and
        // files not linked to their copy are gathered by inode and read after it.
        let mut streamed =
            (full && !cloned).then(|| streamed::Streamed::new(scope, config.worker_count()));
        for (index, snap) in targets.iter().enumerate() {
            let algo: HashAlgo = snap.hash_algo;
            let paths =
                SnapshotPaths::new(&root, &snap.name, &snap.timestamp, algo.manifest_suffix());
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
                cloned,
            };
            // The entries stream past a run at a time; what the listing checks need of them
            // is kept as digests (`Known`), and the content check's inodes only when it runs.
            let mut known = listing::Known::new();
            for run in SnapshotRuns::all(&db, snap.id, run_size()) {
                let run = run?;
                entries_checked += run.len() as u64;
                let hashing = full.then_some(Hashing {
                    streamed: streamed.as_mut(),
                    inodes: &mut inodes,
                });
                check_entries(&checking, &run, hashing, &mut report);
                known.add(&run);
            }
            let mut known = known.sorted();
            listing::check_unknown(snap, &paths.dir, &known, &mut report);
            let files = SnapshotRuns::files(&db, snap.id, run_size());
            listing::check_manifest(snap, &paths.manifest, &mut known, files, &mut report)?;
        }
        if let Some(streamed) = streamed {
            hashed += streamed.finish(&db, &targets, &dirs, &mut report)?;
        }
        Ok(())
    })?;
    if report.unlinked > 0 && !cloned {
        let why = format!(
            "{} file(s) are not hardlinked to their stored copy but hold a copy of their own \
             (was the root copied without keeping hardlinks?); each is checked on its own and takes its own space",
            report.unlinked
        );
        report.note(&root.display().to_string(), &why);
    }
    if full {
        if cloned {
            shared::merge_clones(&mut inodes);
        }
        for inode in inodes.by_ino.values() {
            report.progress.grow(inode.size);
        }
        hashed += content::hash_inodes(config, inodes, &targets, &mut report);
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
