//! Finds the snapshot folders `phlb add` records: every `<name>/<timestamp>/` under the
//! root, or the ones named on the command line.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::Folder;
use crate::config::Config;
use crate::layout::{is_timestamp, IN_PROGRESS};
use crate::units::one_line;

/// Every `<name>/<timestamp>/` folder under the root (folders with other names are named).
pub(super) fn discover(root: &Path, config: &Config, say: &dyn Fn(String)) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    for name in fs::read_dir(root).with_context(|| format!("{}: cannot list", root.display()))? {
        let name = name?;
        let Some(n) = name.file_name().to_str().map(String::from) else {
            continue;
        };
        if n.starts_with('.') || !name.path().is_dir() {
            continue;
        }
        out.extend(snapshots_in(root, config, &n, say)?);
    }
    Ok(out)
}

fn snapshots_in(
    root: &Path,
    config: &Config,
    name: &str,
    say: &dyn Fn(String),
) -> Result<Vec<Folder>> {
    let mut out = Vec::new();
    let parent = root.join(name);
    for item in
        fs::read_dir(&parent).with_context(|| format!("{}: cannot list", parent.display()))?
    {
        let item = item?;
        let Some(ts) = item.file_name().to_str().map(String::from) else {
            continue;
        };
        if ts.contains(IN_PROGRESS) || !item.path().is_dir() {
            continue;
        }
        if !is_timestamp(&ts, &config.sub_dir_formatter) {
            say(format!(
                "phlb: warning: {}: {}",
                one_line(&item.path()),
                naming_hint(name)
            ));
            continue;
        }
        out.push(Folder {
            name: name.to_string(),
            timestamp: ts,
            dir: item.path(),
        });
    }
    Ok(out)
}

fn naming_hint(name: &str) -> String {
    let example = chrono::Local::now().format("%Y-%m-%d-%H%M%S");
    format!(
        "folder name is not a snapshot timestamp (SUB_DIR_FORMATTER); rename it, e.g. to {name}/{example}, then run `phlb add` again"
    )
}

/// Turns a PATH argument into the snapshot folders it names.
pub(super) fn classify(root: &Path, config: &Config, path: &Path) -> Result<Vec<Folder>> {
    let abs = path
        .canonicalize()
        .with_context(|| format!("{}: cannot add", path.display()))?;
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
        [name] if !name.starts_with('.') => {
            let found = snapshots_in(root, config, name, &|_| {})?;
            if found.is_empty() {
                bail!(
                    "{}: holds no <timestamp> snapshot folders; if it is a copied tree, move it to {}/{name}/{}",
                    path.display(),
                    root.display(),
                    chrono::Local::now().format("%Y-%m-%d-%H%M%S")
                );
            }
            Ok(found)
        }
        [name, ts] if !name.starts_with('.') && !ts.contains(IN_PROGRESS) => {
            if !abs.is_dir() {
                bail!("{}: not a folder", path.display());
            }
            if !is_timestamp(ts, &config.sub_dir_formatter) {
                bail!("{}: {}", path.display(), naming_hint(name));
            }
            Ok(vec![Folder {
                name: name.clone(),
                timestamp: ts.clone(),
                dir: abs,
            }])
        }
        _ => bail!(
            "{}: not a snapshot folder; expected {}/<name>/<timestamp>",
            path.display(),
            root.display()
        ),
    }
}
