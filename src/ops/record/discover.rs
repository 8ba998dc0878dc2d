//! Finds the snapshot folders `phlb add` records: every `<name>/<timestamp>/` under the
//! root, or the ones named on the command line.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Folder;
use crate::config::Config;
use crate::layout::{is_timestamp, IN_PROGRESS, LATEST};

/// A folder under the root that `add` did not record, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What a look for snapshot folders found: folders to record, and folders skipped.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) folders: Vec<Folder>,
    pub(super) skipped: Vec<Skipped>,
}

impl Found {
    fn skip(&mut self, path: PathBuf, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            path,
            reason: reason.into(),
        });
    }

    /// Adds what `other` found.
    pub(super) fn extend(&mut self, other: Found) {
        self.folders.extend(other.folders);
        self.skipped.extend(other.skipped);
    }
}

const SYMLINK: &str =
    "is a symlink, not a folder; not followed and not recorded (a snapshot must be a real folder)";

/// Every `<name>/<timestamp>/` folder under the root, and every folder there that is not
/// one (hidden top-level folders such as `.phlb` are not snapshots and are left alone).
pub(super) fn discover(root: &Path, config: &Config) -> Result<Found> {
    let mut found = Found::default();
    for name in fs::read_dir(root).with_context(|| format!("{}: cannot list", root.display()))? {
        let name = name?;
        let file_type = name.file_type()?;
        if name.file_name().as_bytes().starts_with(b".") {
            continue;
        }
        if file_type.is_symlink() {
            found.skip(name.path(), SYMLINK);
            continue;
        }
        if !file_type.is_dir() {
            continue;
        }
        let Some(n) = name.file_name().to_str().map(String::from) else {
            found.skip(
                name.path(),
                "name is not UTF-8; rename it to record its snapshots",
            );
            continue;
        };
        found.extend(snapshots_in(root, config, &n)?);
    }
    Ok(found)
}

/// The snapshot folders in `<root>/<name>`, and the folders there that are not ones.
/// Interrupted runs (`.inprogress`) and the files beside each snapshot are left alone.
fn snapshots_in(root: &Path, config: &Config, name: &str) -> Result<Found> {
    let mut found = Found::default();
    let parent = root.join(name);
    for item in
        fs::read_dir(&parent).with_context(|| format!("{}: cannot list", parent.display()))?
    {
        let item = item?;
        let file_type = item.file_type()?;
        let is_in_progress = item.file_name().to_string_lossy().contains(IN_PROGRESS);
        if is_in_progress || !(file_type.is_dir() || file_type.is_symlink()) {
            continue;
        }
        let Some(ts) = item.file_name().to_str().map(String::from) else {
            found.skip(
                item.path(),
                "name is not UTF-8, so not a snapshot timestamp",
            );
            continue;
        };
        if file_type.is_symlink() && ts == LATEST {
            continue;
        }
        if file_type.is_symlink() {
            found.skip(item.path(), SYMLINK);
            continue;
        }
        if !is_timestamp(&ts, &config.sub_dir_formatter) {
            found.skip(item.path(), naming_hint(name, &config.sub_dir_formatter));
            continue;
        }
        found.folders.push(Folder {
            name: name.to_string(),
            timestamp: ts,
            dir: item.path(),
        });
    }
    Ok(found)
}

fn naming_hint(name: &str, format: &str) -> String {
    let example = crate::clock::now_local().format(format);
    format!(
        "folder name is not a snapshot timestamp (SUB_DIR_FORMATTER = {format}); rename it, e.g. to {name}/{example}, then run `phlb add` again"
    )
}

/// Turns a PATH argument into the snapshot folders it names (a symlink given as PATH is
/// not resolved: it is skipped like one found by `discover`).
pub(super) fn classify(root: &Path, config: &Config, path: &Path) -> Result<Found> {
    let abs = unresolved_last(path).with_context(|| format!("{}: cannot add", path.display()))?;
    let Ok(rel) = abs.strip_prefix(root) else {
        bail!(
            "{}: not inside the backup root {}; move it to {}/<name>/<timestamp> first",
            path.display(),
            root.display(),
            root.display()
        );
    };
    let parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        _ if abs
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            let mut found = Found::default();
            found.skip(abs, SYMLINK);
            Ok(found)
        }
        [name] if !name.starts_with('.') => {
            let found = snapshots_in(root, config, name)?;
            if found.folders.is_empty() && found.skipped.is_empty() {
                bail!(
                    "{}: holds no <timestamp> snapshot folders; if it is a copied tree, move it to {}/{name}/{}",
                    path.display(),
                    root.display(),
                    crate::clock::now_local().format(&config.sub_dir_formatter)
                );
            }
            Ok(found)
        }
        [name, ts] if !name.starts_with('.') && !ts.contains(IN_PROGRESS) => {
            if !abs.is_dir() {
                bail!("{}: not a folder", path.display());
            }
            if !is_timestamp(ts, &config.sub_dir_formatter) {
                bail!(
                    "{}: {}",
                    path.display(),
                    naming_hint(name, &config.sub_dir_formatter)
                );
            }
            Ok(Found {
                folders: vec![Folder {
                    name: name.clone(),
                    timestamp: ts.clone(),
                    dir: abs,
                }],
                skipped: Vec::new(),
            })
        }
        _ => bail!(
            "{}: not a snapshot folder; expected {}/<name>/<timestamp>",
            path.display(),
            root.display()
        ),
    }
}

/// The absolute path of `path` with every folder above it resolved but not the last
/// component, so a symlink stays a symlink.
fn unresolved_last(path: &Path) -> std::io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let unresolved = match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(last)) => parent.canonicalize()?.join(last),
        _ => abs.canonicalize()?,
    };
    fs::symlink_metadata(&unresolved)?;
    Ok(unresolved)
}
