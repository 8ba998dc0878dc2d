//! Owns the watch loop: takes the intake's news, asks `timing` when each source is due,
//! and makes the snapshots, holding the backup root's writer lock only while they run.
//! Falls back to polling (the cheap comparison every `WATCH_MAX_WAIT`) when events can
//! no longer be trusted to arrive.

use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::compare::{compare, Verdict};
use super::filter::Filter;
use super::intake::{Intake, News};
use super::timing::{Schedule, Waits};
use crate::catalog::{self, Access, Catalog};
use crate::config::Config;
use crate::lock::Held;
use crate::ops::backup::{
    open_for_backup, record_snapshot, scan_options, snapshot_with_hooks, Source,
};
use crate::progress::{Style, Ui};
use crate::root::BackupRoot;
use crate::units::{escape_controls, human_bytes, human_duration};
use crate::Outcome;

/// How long the loop sleeps when nothing is due (it wakes on news anyway).
const IDLE: Duration = Duration::from_secs(3600);
/// How often it tries again for a writer lock another run holds.
const LOCK_RETRY: Duration = Duration::from_millis(500);
/// How often it checks that each source folder is still the one it watches (a folder
/// swapped in by `mv`, or deleted, sends no event from its new inode).
const IDENTITY_CHECK: Duration = Duration::from_secs(2);

/// A running watch.
pub struct Watch<'a> {
    config: &'a Config,
    ui: &'a Ui,
    sources: &'a [Source],
    root: PathBuf,
    prune: bool,
    waits: Waits,
    schedules: Vec<Schedule>,
    /// None once the watch polls instead.
    intake: Option<Intake>,
    /// While polling: when the next comparison is due.
    next_poll: Option<Instant>,
    /// Device and inode of each source folder as watched (None: it is gone).
    ids: Vec<Option<(u64, u64)>>,
}

impl<'a> Watch<'a> {
    /// A watch of `sources` into the backup root `root` (canonical, existing).
    pub fn new(
        config: &'a Config,
        ui: &'a Ui,
        sources: &'a [Source],
        root: PathBuf,
        prune: bool,
    ) -> Watch<'a> {
        Watch {
            config,
            ui,
            sources,
            root,
            prune,
            waits: config.watch.into(),
            schedules: vec![Schedule::default(); sources.len()],
            intake: None,
            next_poll: None,
            ids: sources
                .iter()
                .map(|s| crate::store::folder_id(&s.path))
                .collect(),
        }
    }

    /// Places the watches, then compares each source with its newest snapshot (in that
    /// order, so no change falls between the two). An error here means it cannot start.
    pub fn start(&mut self, filter: Filter) -> Result<()> {
        let mut intake = Intake::start(filter, scan_options(self.config, &self.root)?)?;
        let mut lost = None;
        for s in self.sources {
            if let Err(why) = intake.watch_tree(&s.path) {
                lost = Some(why);
                break;
            }
        }
        let folders = intake.watched;
        self.intake = Some(intake);
        if let Some(why) = &lost {
            self.fall_back(why);
        }
        self.compare_all(Instant::now())?;
        // Said after the first comparison: from this line on, every change counts as
        // news (a script or a test can wait for it).
        if lost.is_none() {
            self.ui.say(format!(
                "phlb: watching {} source{} ({folders} folders); snapshots after {} of quiet",
                self.sources.len(),
                if self.sources.len() == 1 { "" } else { "s" },
                self.config.watch.delay
            ));
        }
        Ok(())
    }

    /// The loop; it ends only with the process (a signal).
    pub fn serve(&mut self) -> Result<Outcome> {
        loop {
            let now = Instant::now();
            let next = self
                .schedules
                .iter()
                .filter_map(|s| s.due(&self.waits))
                .chain(self.next_poll)
                .min();
            let wait = next
                .map_or(IDLE, |t| t.saturating_duration_since(now))
                .min(IDENTITY_CHECK);
            let news = match &self.intake {
                Some(intake) => intake.news.recv_timeout(wait),
                None => {
                    std::thread::sleep(wait);
                    Err(RecvTimeoutError::Timeout)
                }
            };
            match news {
                Ok(News::Changed(i)) => self.schedules[i].change(Instant::now()),
                Ok(News::NewFolder(dir)) => {
                    let placed = self.intake.as_mut().map(|i| i.watch_tree(&dir));
                    if let Some(Err(why)) = placed {
                        self.fall_back(&why);
                    }
                }
                Ok(News::Lost(why)) => self.fall_back(&why),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.fall_back("the inotify thread stopped");
                }
            }
            let now = Instant::now();
            self.check_sources(now);
            if self.next_poll.is_some_and(|t| t <= now) {
                if let Err(e) = self.compare_all(now) {
                    eprintln!(
                        "phlb: error: {}; watching goes on",
                        crate::output::error_text(&e)
                    );
                }
                self.next_poll = Some(now + self.waits.max_wait);
            }
            let due: Vec<usize> = (0..self.sources.len())
                .filter(|&i| self.schedules[i].due(&self.waits).is_some_and(|t| t <= now))
                .collect();
            if !due.is_empty() {
                self.snapshot(&due);
            }
        }
    }

    /// Notices a source folder that was replaced (watches the new one, and its content
    /// counts as a change) or deleted (says so once; its snapshots wait until it is back).
    fn check_sources(&mut self, now: Instant) {
        for (i, source) in self.sources.iter().enumerate() {
            let id = crate::store::folder_id(&source.path);
            if id == self.ids[i] {
                continue;
            }
            self.ids[i] = id;
            let shown = crate::units::one_line(&source.path);
            if id.is_none() {
                self.ui.say(format!(
                    "phlb: note: {shown} is gone; its snapshots wait until it is back"
                ));
                continue;
            }
            self.ui.say(format!(
                "phlb: note: {shown} was replaced by another folder; watching that one"
            ));
            let placed = self.intake.as_mut().map(|i| i.watch_tree(&source.path));
            if let Some(Err(why)) = placed {
                self.fall_back(&why);
            }
            self.schedules[i].change(now);
        }
    }

    /// Stops trusting events: says why in one line and polls from now on, starting with
    /// a comparison right away (events may have been missed already).
    fn fall_back(&mut self, why: &str) {
        if self.intake.take().is_none() {
            return;
        }
        self.ui.say(format!(
            "phlb: note: {why}; polling instead: every {} each source is compared with its \
             newest snapshot (names, sizes, mtimes) and snapshotted when it differs",
            self.config.watch.max_wait
        ));
        self.next_poll = Some(Instant::now());
    }

    /// Makes the cheap comparison of every source; those that differ are due at once
    /// (as far as `WATCH_MIN_INTERVAL` allows).
    fn compare_all(&mut self, now: Instant) -> Result<()> {
        let meta_dir = self.root.join(crate::root::META_DIR);
        let catalog = if meta_dir.join(catalog::FILE_NAME).exists() {
            Some(Catalog::open(&meta_dir, Access::ReadOnly)?)
        } else {
            None
        };
        let db = catalog.as_ref().map(Catalog::db).transpose()?;
        for (i, source) in self.sources.iter().enumerate() {
            let verdict = match &db {
                Some(db) => compare(db, &self.root, self.config, source)?,
                None => Verdict::Differs("no catalog yet".to_string()),
            };
            if let Verdict::Differs(why) = verdict {
                if self.ui.verbose {
                    self.ui.say(format!(
                        "phlb: {}: {}",
                        escape_controls(&source.name),
                        escape_controls(&why)
                    ));
                }
                self.schedules[i].differs(now);
            }
        }
        Ok(())
    }

    /// Makes one snapshot of each source in `due`, under one hold of the writer lock.
    /// A failure is reported and the watch goes on; the changes it did not save wait
    /// for the next burst (or the next comparison when polling).
    fn snapshot(&mut self, due: &[usize]) {
        let opened = match self.open_root() {
            Ok(o) => o,
            Err(e) => {
                eprintln!(
                    "phlb: error: {}; no snapshot now, watching goes on",
                    crate::output::error_text(&e)
                );
                let at = crate::clock::now_rfc3339();
                for &i in due {
                    self.schedules[i].started(Instant::now());
                    record_snapshot(self.config, self.ui, &self.sources[i], &at, Err(&e));
                }
                return;
            }
        };
        // The per-snapshot lines are the output; a bar only on a terminal.
        let ui = Ui {
            style: match self.ui.style {
                Style::Bar => Style::Bar,
                _ => Style::Quiet,
            },
            verbose: self.ui.verbose,
        };
        for &i in due {
            let source = &self.sources[i];
            self.schedules[i].started(Instant::now());
            if self.ids[i].is_none() {
                // Gone: a snapshot would fail and leave an unfinished run behind.
                continue;
            }
            let started = Instant::now();
            let at = crate::clock::now_rfc3339();
            let made = snapshot_with_hooks(&opened, self.config, source, &ui);
            let result = match &made {
                Ok(m) => Ok(i32::from(m.counts.failed > 0)),
                Err(e) => Err(e),
            };
            record_snapshot(self.config, self.ui, source, &at, result);
            match made {
                Ok(made) => {
                    for gone in &made.removed_leftovers {
                        self.ui.say(format!(
                            "phlb: note: removed the leftovers of interrupted run {gone}"
                        ));
                    }
                    let c = made.counts;
                    if !self.ui.quiet() {
                        println!(
                            "{} {}: {} changed, {} linked, {} copied, {} new, {}{}",
                            crate::clock::now_local().format("%Y-%m-%d %H:%M:%S"),
                            escape_controls(&made.label),
                            c.files - c.unchanged,
                            c.linked,
                            c.copied,
                            human_bytes(c.new_bytes),
                            human_duration(started.elapsed()),
                            if c.failed > 0 {
                                format!(", {} failed (see its -backup.log)", c.failed)
                            } else {
                                String::new()
                            }
                        );
                    }
                    if self.prune && c.failed == 0 {
                        let quiet = Ui {
                            style: Style::Quiet,
                            verbose: false,
                        };
                        let names = [source.name.clone()];
                        let pruned = crate::ops::prune::after_backup(
                            &opened,
                            self.config,
                            &quiet,
                            &names,
                            false,
                        );
                        if let Err(e) = pruned {
                            eprintln!(
                                "phlb: error: prune of {} failed: {}",
                                source.name,
                                crate::output::error_text(&e)
                            );
                        }
                    }
                }
                Err(e) => eprintln!(
                    "phlb: error: snapshot of {} failed: {}; watching goes on",
                    escape_controls(&source.name),
                    crate::output::error_text(&e)
                ),
            }
            crate::signals::doing("");
        }
    }

    /// Opens the backup root for writing; while another run holds its lock, waits and
    /// tries again, saying so once.
    fn open_root(&self) -> Result<BackupRoot> {
        let mut told = false;
        loop {
            match open_for_backup(self.config, &self.root, self.ui, crate::lock::Wait::No) {
                Err(e) if e.downcast_ref::<Held>().is_some() => {
                    if !told {
                        self.ui.say(format!(
                            "phlb: note: {}: another phlb run is writing to this backup root; \
                             the snapshot waits until it is done",
                            self.root.display()
                        ));
                        told = true;
                    }
                    std::thread::sleep(LOCK_RETRY);
                }
                other => return other,
            }
        }
    }
}
