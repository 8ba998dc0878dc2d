//! `phlb backup --dry-run`: the real run's decisions in its planning mode. Each file goes
//! through the same fast path (`decide::first_step`) and the same link-or-copy decision
//! (`Linker` in planning mode, which links nothing), and the counts say what a real run
//! would do; nothing is written.

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use super::counts::Counts;
use super::links::Linker;
use super::Source;
use crate::catalog::entries::previous_entries;
use crate::catalog::{self, Access, Catalog, Db, SnapshotRow};
use crate::config::Config;
use crate::decide::{first_step, FirstStep, PrevMap};
use crate::progress::{Progress, Ui};
use crate::scan::{self, Entry, Kind, SourceDir};
use crate::sys::xattr::Xattrs;
use crate::tell::Tell;
use crate::units::one_line;
use crate::workers::{read_and_hash, SourceFile};
use crate::Outcome;

/// Reports, per source, what a backup would do (`shows.planned`). With `ui.verbose`
/// each entry is named with what would happen to it, and each path the selection leaves
/// out with its rule. A file that cannot be read is a failed file, as in a real run; a
/// catalog that cannot answer stops the dry run, as it stops a real one.
pub fn run(
    config: &Config,
    sources: &[Source],
    ui: &Ui,
    shows: &dyn super::Shows,
) -> Result<Outcome> {
    let style = ui.style;
    // What the real run would refuse, the dry run refuses too.
    crate::store::check_root_safe(&config.backup_path)?;
    let meta_dir = config.meta_dir();
    let catalog = if meta_dir.join(catalog::FILE_NAME).exists() {
        match Catalog::open(&meta_dir, Access::Peek) {
            Ok(c) => Some(c),
            // The real run makes a half-made catalog anew: as if there were none.
            Err(e) if e.downcast_ref::<catalog::HalfMade>().is_some() => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if let Some(c) = &catalog {
        let algo = config.hash;
        if let Some(recorded) = c.root_hash()?.filter(|h| *h != algo) {
            anyhow::bail!(
                "{}: this backup root uses HASH = {recorded} (set when it was made), the config says HASH = {algo}; \
                 set HASH = {recorded} for this root, or back up to a new root (--backup-root) to use {algo}",
                c.path().display()
            );
        }
    }
    let db = catalog.as_ref().map(|c| c.db()).transpose()?;
    let root = config
        .backup_path
        .canonicalize()
        .unwrap_or_else(|_| config.backup_path.clone());
    if let Some(db) = &db {
        for source in sources {
            super::check_owner(db, source, ui)?;
        }
    }
    let mut outcome = Outcome::Clean;
    let mut set_ids = PlannedSets::default();
    for source in sources {
        let started = Instant::now();
        // The snapshot the real run's fast path would use: made from this source, and
        // still on disk.
        let from = source.id().path;
        let prev = match &db {
            Some(c) => match SnapshotRow::previous_of_source(c, &source.name, &from)? {
                Some(row) if root.join(&row.name).join(&row.timestamp).is_dir() => {
                    previous_entries(c, row.id)?
                }
                _ => PrevMap::new(),
            },
            None => PrevMap::new(),
        };
        let dir = SourceDir::open_canonical(&source.path)
            .with_context(|| format!("{}: cannot back up", source.path.display()))?;
        let dir = Arc::new(dir);
        let mut scan = scan::scan_open(&dir, &super::scan_options(config, &root)?);
        // Attribute sets get the ids a real run would give them: the catalog's, or new
        // ones (negative here: nothing is written).
        for entry in &mut scan.entries {
            if let Some(set) = &entry.xattr_set {
                entry.meta.xattrs = set_ids.id(db.as_ref(), set)?;
            }
        }
        let progress = Progress::new(
            style,
            &format!("backup -n {}", source.name),
            scan.entries.iter().filter(|e| e.kind == Kind::File).count() as u64,
            scan.file_bytes(),
        );
        let mut counts = Counts {
            special: scan.specials.len() as u64,
            skipped: scan.skipped.len() as u64,
            failed: scan.problems.len() as u64,
            not_kept: scan
                .entries
                .iter()
                .filter(|e| e.xattrs != Xattrs::None)
                .count() as u64,
            ..Counts::default()
        };
        for p in &scan.problems {
            progress.error(&format!("{}: {}", one_line(&p.path), p.message));
        }
        if ui.verbose {
            for s in &scan.skipped {
                progress.info(&format!("skip    {} ({})", one_line(&s.rel), s.rule));
            }
        }
        // The same decisions as a real run's, made by the same code (`Linker` in its
        // planning mode): what a real run would link, this counts as linked.
        let sharing = dry_sharing(config, db.as_ref())?;
        let mut linker = Linker::planning(&root, sharing, config.max_links);
        for entry in &scan.entries {
            let tell = |what: &str| {
                if ui.verbose {
                    progress.info(&format!("{what:<10} {}", one_line(&entry.rel)));
                }
            };
            match entry.kind {
                Kind::Dir => {
                    counts.dirs += 1;
                    tell("folder");
                }
                Kind::Symlink => {
                    counts.symlinks += 1;
                    tell("symlink");
                }
                Kind::File => {
                    let path = source.path.join(&entry.rel);
                    match decide(config, db.as_ref(), &prev, &mut linker, entry, &dir)? {
                        Ok(linked) => {
                            counts.files += 1;
                            counts.bytes += entry.meta.size;
                            if linked {
                                counts.linked += 1;
                                tell("would link");
                            } else {
                                counts.copied += 1;
                                counts.new_bytes += entry.meta.size;
                                tell("would copy");
                            }
                        }
                        Err(why) => {
                            counts.failed += 1;
                            progress.error(&format!("{}: {why}", one_line(&path)));
                        }
                    }
                }
            }
            if entry.kind == Kind::File {
                progress.advance(entry.meta.size);
            }
        }
        progress.finish();
        shows.planned(&source.name, &counts, started.elapsed());
        if counts.failed > 0 {
            outcome = Outcome::Problems;
        }
    }
    Ok(outcome)
}

/// What a dry run decides for one file: the outer error stops the run (the catalog
/// cannot answer, as it stops a real run), the inner one is the file's own (it cannot be
/// read: a failed file, the run goes on).
type Decided = Result<Result<bool, String>>;

/// True when the file would be linked, false when it would be stored as a new copy.
fn decide(
    config: &Config,
    db: Option<&Db>,
    prev: &PrevMap,
    linker: &mut Linker,
    entry: &Entry,
    source: &Arc<SourceDir>,
) -> Decided {
    let p = prev.get(entry.rel.as_os_str().as_bytes());
    let hash = match first_step(linker.sharing(), entry.meta, entry.seen(), p) {
        FirstStep::LinkPrevious => return Ok(Ok(true)),
        FirstStep::KnownContent => p.map(|p| p.hash.clone()).unwrap_or_default(),
        FirstStep::Read => {
            // Read beneath the open source folder, like a real run.
            let src = SourceFile::walked(source, entry);
            match read_and_hash(&src, config.hash) {
                Ok(read) => read.hash,
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    };
    Ok(Ok(linker.would_link(db, &hash, entry.meta)?))
}

/// How a dry run takes `LINK`: it writes nothing, so `auto` is not probed and counts
/// as hardlinks (a real run may clone where the filesystem can).
fn dry_sharing(config: &Config, db: Option<&Db>) -> Result<crate::decide::Sharing> {
    use crate::decide::{Dedup, Link, Sharing};
    let recorded = match db {
        Some(db) => Some(crate::root::linking::recorded_or_first(db, config, false)?.0),
        None => None,
    };
    let link = config.link.or(recorded.map(|r| r.link));
    let dedup = config.dedup.or(recorded.map(|r| r.dedup));
    Ok(match link {
        Some(Link::Reflink) => Sharing::Clones,
        _ => Sharing::Links(dedup.unwrap_or(Dedup::Strict)),
    })
}

/// The ids a dry run gives attribute sets: the catalog's when it has the set, else a new
/// one per distinct set, negative so it never meets a real one.
#[derive(Default)]
struct PlannedSets(std::collections::HashMap<[u8; 32], i64>);

impl PlannedSets {
    fn id(&mut self, db: Option<&Db>, set: &crate::xattr_set::XattrSet) -> Result<i64> {
        let hash = set.hash();
        if let Some(&id) = self.0.get(&hash) {
            return Ok(id);
        }
        let found = match db {
            Some(db) => crate::catalog::xattr_sets::find(db, &hash)?,
            None => None,
        };
        let id = found.unwrap_or(-(self.0.len() as i64) - 1);
        self.0.insert(hash, id);
        Ok(id)
    }
}
