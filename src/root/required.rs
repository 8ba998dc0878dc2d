//! Owns the rule that a backup root is made on purpose: every command but `init` refuses
//! a folder without `.phlb`, existing or not, so a drive that is not mounted never gets
//! a backup written into its empty mount point (or into a folder phlb would create on
//! the system disk). The one exception is the default root `~/phlb-backups`, which the
//! first `backup` (or `watch`) may make, so the README's first command works on a fresh
//! machine.

use std::path::Path;

use anyhow::{bail, Result};

use crate::config::{Config, Loaded};

/// True when `root` is the default backup root, however the config reached it.
pub fn is_default_root(root: &Path) -> bool {
    let default = Config::default().backup_path;
    root == default || default.canonicalize().is_ok_and(|d| d == root)
}

/// Refuses `loaded`'s backup root unless it holds `.phlb` (or it is the default root and
/// `may_make_default`), naming where the root and the config came from.
pub fn require(loaded: &Loaded, may_make_default: bool) -> Result<()> {
    let root = &loaded.config.backup_path;
    // A real folder: a `.phlb` symlink would read (or write) another root's catalog.
    if root
        .join(super::META_DIR)
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir())
    {
        return Ok(());
    }
    // The default root is made by the first backup only where nothing is yet: an
    // existing folder there (an empty mount point, a symlink to one) is not a root.
    if may_make_default && is_default_root(root) && root.symlink_metadata().is_err() {
        return Ok(());
    }
    let state = if root.is_dir() {
        "has no .phlb folder"
    } else if root.exists() {
        "is not a folder"
    } else {
        "does not exist"
    };
    bail!(
        "{}: not a phlb backup root ({state}; {}): is the drive mounted? `phlb init {}` makes one",
        root.display(),
        where_from(loaded),
        root.display()
    )
}

/// Stops a writer whose root lost its `.phlb` while it ran (a drive unmounted under it)
/// before it takes a folder that is not there for gone: a snapshot is marked `missing`
/// only while its root is still the root.
pub fn still_a_root(root: &Path) -> Result<()> {
    if root
        .join(super::META_DIR)
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir())
    {
        return Ok(());
    }
    bail!(
        "{}: the backup root's .phlb is gone (was the drive unmounted?); stopping before anything is marked missing",
        root.display()
    )
}

/// Where the root came from and which config file was used, or where phlb looked.
pub fn where_from(loaded: &Loaded) -> String {
    let root_from = loaded
        .origins
        .get("BACKUP_PATH")
        .cloned()
        .unwrap_or_else(|| "the default".to_string());
    let config = match &loaded.file {
        Some(f) => format!("config {}", f.display()),
        None => {
            "no config file: none given, no phlb.ini in the current folder or above, no ~/phlb.ini"
                .to_string()
        }
    };
    format!("root from {root_from}, {config}")
}

/// `doc` (a JSON object) with the root and the config file a writing command used:
/// `"root"`, and `"config"` (null when no config file was read).
pub fn with_where(
    mut doc: serde_json::Value,
    root: &Path,
    file: Option<&Path>,
) -> serde_json::Value {
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("root".into(), root.display().to_string().into());
        let file = file.map(|f| f.display().to_string());
        obj.insert("config".into(), file.into());
    }
    doc
}

/// One line naming the root and the config file a writing command used.
pub fn used_line(root: &Path, loaded_file: Option<&Path>) -> String {
    match loaded_file {
        Some(f) => format!("root {}, config {}", root.display(), f.display()),
        None => format!("root {}, no config file", root.display()),
    }
}
