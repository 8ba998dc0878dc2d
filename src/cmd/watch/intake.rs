//! Owns the event intake: one inotify watch (through `notify`) per folder of each
//! source that a backup would walk, none inside the backup root or in skipped folders,
//! symlinks never entered; events turned into `News` for the loop. Open and access
//! events (phlb's own reads among them) are dropped here, and so is every path the
//! `Filter` says a backup would not record.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

use anyhow::{Context, Result};
use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::filter::Filter;
use crate::scan::{self, Found, Kind, ScanOptions, SourceDir};

/// What the intake tells the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum News {
    /// Something changed in the source with this index.
    Changed(usize),
    /// A folder appeared (made or moved in): it and its subfolders need watches.
    NewFolder(PathBuf),
    /// Events were or will be missed (the kernel's queue overflowed, a watch could not
    /// be placed): the loop must poll instead. The text says why, for one line.
    Lost(String),
}

/// The running watcher and where its news arrive.
pub struct Intake {
    watcher: RecommendedWatcher,
    /// News in the order the kernel reported the events.
    pub news: Receiver<News>,
    /// The walk's rules for placing watches (skips, the backup root excluded).
    walk: ScanOptions,
    /// Folders watched so far.
    pub watched: u64,
}

impl Intake {
    /// Starts the watcher thread (no watches yet); `walk` are the backup's walk rules.
    pub fn start(filter: Filter, walk: ScanOptions) -> Result<Intake> {
        let (tx, news) = channel();
        let filter = Arc::new(filter);
        let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| {
            for item in judge(&filter, res) {
                if tx.send(item).is_err() {
                    return;
                }
            }
        })
        .context("cannot start watching (inotify)")?;
        Ok(Intake {
            watcher,
            news,
            walk,
            watched: 0,
        })
    }

    /// Watches folder `dir` and every folder below it that a backup would walk (each on
    /// its own: no watch lands in a skipped or excluded folder, and none through a
    /// symlink the walk did not follow). `Err` says why watching cannot go on.
    pub fn watch_tree(&mut self, dir: &Path) -> Result<(), String> {
        let Ok(top) = SourceDir::open(dir) else {
            // Gone again, or not a folder: a snapshot walks whatever is there.
            return Ok(());
        };
        let mut folders = Vec::new();
        scan::walk(&top, &self.walk, |found| {
            if let Found::Entry(e) = &found {
                if e.kind == Kind::Dir && e.rel.as_os_str() == "." {
                    folders.push(dir.to_path_buf());
                } else if e.kind == Kind::Dir {
                    folders.push(dir.join(&e.rel));
                }
            }
            true
        });
        for folder in folders {
            match self.watcher.watch(&folder, RecursiveMode::NonRecursive) {
                Ok(()) => self.watched += 1,
                Err(e) => match e.kind {
                    notify::ErrorKind::PathNotFound => {}
                    notify::ErrorKind::MaxFilesWatch => return Err(limit_reached()),
                    _ => {
                        return Err(format!(
                            "{}: cannot watch this folder: {e}",
                            folder.display()
                        ))
                    }
                },
            }
        }
        Ok(())
    }
}

fn limit_reached() -> String {
    "the kernel's inotify watch limit is reached (fs.inotify.max_user_watches)".to_string()
}

/// Turns one event of the watcher into news (none for events that do not count).
fn judge(filter: &Filter, res: notify::Result<Event>) -> Vec<News> {
    let event = match res {
        Ok(e) => e,
        Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
            return vec![News::Lost(limit_reached())]
        }
        Err(e) => return vec![News::Lost(format!("watching failed: {e}"))],
    };
    if event.need_rescan() {
        return vec![News::Lost(
            "the kernel's event queue overflowed (fs.inotify.max_queued_events)".to_string(),
        )];
    }
    let folder_kind = match event.kind {
        EventKind::Access(_) => return Vec::new(),
        EventKind::Create(CreateKind::Folder) | EventKind::Remove(RemoveKind::Folder) => Some(true),
        EventKind::Create(CreateKind::File) | EventKind::Remove(RemoveKind::File) => Some(false),
        _ => None,
    };
    let appears = matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To))
    );
    let mut out = Vec::new();
    for path in &event.paths {
        let is_dir = folder_kind.unwrap_or_else(|| {
            path.symlink_metadata()
                .is_ok_and(|md| md.file_type().is_dir())
        });
        let sources = filter.sources_of(path, is_dir);
        if appears && is_dir && !sources.is_empty() {
            out.push(News::NewFolder(path.clone()));
        }
        out.extend(sources.into_iter().map(News::Changed));
    }
    out
}
