//! Owns `<root>/<name>/latest`: a relative symlink to the newest complete snapshot of
//! `name`, for people browsing the disk. It is replaced atomically (a symlink under a
//! temp name, then rename), so it always points at a complete snapshot or is absent.
//! `add` and `verify` skip it (it is a symlink, never a snapshot folder).

use std::path::Path;

use anyhow::{Context, Result};

use crate::catalog::snapshots::Status;
use crate::catalog::Db;
use crate::layout::LATEST;

/// True when snapshot `name/timestamp` has its folder under `root` (one `lstat`): a
/// snapshot recorded complete whose folder is gone was deleted by hand, and every
/// reader shows it `missing` and never takes it for the newest.
pub fn on_disk(root: &Path, name: &str, timestamp: &str) -> bool {
    root.join(name)
        .join(timestamp)
        .symlink_metadata()
        .is_ok_and(|md| md.is_dir())
}

/// The status to show for snapshot `name/timestamp` recorded as `status`: `missing`
/// for a complete one whose folder is gone.
pub fn shown_status(root: &Path, name: &str, timestamp: &str, status: Status) -> Status {
    if status == Status::Complete && !on_disk(root, name, timestamp) {
        Status::Missing
    } else {
        status
    }
}

/// Points `<root>/<name>/latest` at the newest complete snapshot the catalog has for
/// `name` whose folder is on disk, or removes it when there is none.
pub fn refresh(db: &Db, root: &Path, name: &str) -> Result<()> {
    let parent = root.join(name);
    let link = parent.join(LATEST);
    // The newest complete one still on disk (the newest may have been deleted by hand).
    // The last made (creation order, as `previous_complete`).
    let newest = crate::catalog::prune::members(db, Some(name))?
        .into_iter()
        .filter(|m| m.status == Status::Complete)
        .filter(|m| on_disk(root, name, &m.timestamp))
        .max_by_key(|m| m.order());
    let Some(row) = newest else {
        if !link
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Ok(());
        }
        return match std::fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("{}: cannot remove", link.display()))
            }
            _ => Ok(()),
        };
    };
    match link.symlink_metadata() {
        // A file or folder the user put there is theirs: left alone.
        Ok(md) if !md.file_type().is_symlink() => return Ok(()),
        _ if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(&row.timestamp)) => {
            return Ok(())
        }
        _ => {}
    }
    let temp = parent.join(crate::store::temp_name());
    std::os::unix::fs::symlink(&row.timestamp, &temp)
        .with_context(|| format!("{}: cannot make symlink", temp.display()))?;
    std::fs::rename(&temp, &link).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        anyhow::Error::new(e).context(format!("{}: cannot replace", link.display()))
    })
}
