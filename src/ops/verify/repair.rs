//! `verify --repair`: relinks the paths of older snapshots whose stored copy is recorded
//! as damaged to a good stored copy of the same content — the one case where phlb
//! changes an older snapshot. A good copy is hashed again right before it is used, every
//! change is logged, and a path without a good copy is left as it is and reported.
//! Where the root clones (`LINK = reflink`) a path gets a clone of the good copy back,
//! never a hardlink, with its own recorded mode, owner, mtime and attributes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::damage::{damaged_paths, drop_if_unused, move_entry, DamagedPath};
use crate::catalog::Db;
use crate::config::Config;
use crate::decide::Sharing;
use crate::layout::snapshot_dir_rel;
use crate::ops::dedup;
use crate::store;
use crate::units::one_line;

/// What a repair did, path by path (`NAME/TIMESTAMP/path`, as verify names them).
#[derive(Debug, Default)]
pub struct Repaired {
    /// Paths relinked to a good copy.
    pub relinked: Vec<String>,
    /// Paths left damaged: no good copy of their content that fits exists.
    pub left: Vec<String>,
}

/// What became of one damaged path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Relinked,
    Left,
}

/// Relinks every damaged path of a complete snapshot it can; `say` gets one line per
/// change or path left as it is.
pub fn repair(
    db: &Db,
    root: &Path,
    config: &Config,
    say: &mut dyn FnMut(Fate, String),
) -> Result<Repaired> {
    let mut by_copy: BTreeMap<i64, Vec<DamagedPath>> = BTreeMap::new();
    for d in damaged_paths(db)? {
        by_copy.entry(d.copy_id).or_default().push(d);
    }
    let mut done = Repaired::default();
    let tmp_dir = store::fresh_temp_dir(&root.join(crate::root::META_DIR))?;
    let clones = crate::root::linking::sharing_of(config, db)? == Sharing::Clones;
    for (copy_id, paths) in by_copy {
        let first = &paths[0];
        let need = paths.len() as u64;
        let found = if clones {
            good_clone_source(db, root, first)?
        } else {
            good_copy(db, root, config, first, need)?.map(|(id, at)| (id, at, None))
        };
        let Some((good_id, good, expect)) = found else {
            for d in &paths {
                done.left
                    .push(format!("{}/{}", d.snapshot, one_line(&d.rel)));
                say(
                    Fate::Left,
                    format!(
                    "{}/{}: damaged, and no good stored copy of its content with the same mode and owner exists; left as is (the next backup of a source that still has it stores a fresh copy)",
                    d.snapshot,
                    one_line(&d.rel)
                ),
                );
            }
            continue;
        };
        for d in &paths {
            let (name, ts) = (&d.snapshot.name, &d.snapshot.timestamp);
            let place = root.join(snapshot_dir_rel(name, ts, true)).join(&d.rel);
            let put = match &expect {
                Some(expect) => clone_back(db, &good, expect, &place, d),
                None => store::replace_with_link_via(&good, &place, &tmp_dir),
            };
            if let Err(e) = put {
                let why = match e.raw_os_error() {
                    Some(libc::EXDEV) => Some("the good copy is on another mount"),
                    Some(libc::EMLINK) => Some("the good copy has as many links as it may"),
                    _ => None,
                };
                if let Some(why) = why {
                    done.left
                        .push(format!("{}/{}", d.snapshot, one_line(&d.rel)));
                    say(
                        Fate::Left,
                        format!(
                            "{}/{}: damaged; {why}, so it cannot be linked; left as is",
                            d.snapshot,
                            one_line(&d.rel)
                        ),
                    );
                    continue;
                }
                return Err(e).with_context(|| format!("{}: cannot relink", place.display()));
            }
            move_entry(db, d.snapshot_id, d.path_id, good_id)?;
            done.relinked
                .push(format!("{}/{}", d.snapshot, one_line(&d.rel)));
            say(
                Fate::Relinked,
                format!(
                    "{}/{}: repaired: {} the good copy at {}",
                    d.snapshot,
                    one_line(&d.rel),
                    if clones { "cloned from" } else { "relinked to" },
                    one_line(&good)
                ),
            );
        }
        drop_if_unused(db, copy_id)?;
    }
    Ok(done)
}

/// A stored copy of the damaged path's content that is not damaged, fits its mode and
/// owner under the `DEDUP` policy, has room for `need` more links under `MAX_LINKS`,
/// and hashes right now to the content's hash.
fn good_copy(
    db: &Db,
    root: &Path,
    config: &Config,
    damaged: &DamagedPath,
    need: u64,
) -> Result<Option<(i64, PathBuf)>> {
    let found = dedup::candidates(
        db,
        &damaged.hash,
        damaged.size,
        damaged.meta,
        config.dedup.unwrap_or(crate::decide::Dedup::Mode),
    )?;
    for copy in found.iter().filter(|c| c.id != damaged.copy_id) {
        let Some((src, _)) = dedup::place_of(db, root, copy, need, config.max_links)? else {
            continue;
        };
        if dedup::bytes_have(&src, &damaged.hash) {
            return Ok(Some((copy.id, src)));
        }
    }
    Ok(None)
}

/// Under `LINK = reflink`: a place of a stored copy of the damaged path's content other
/// than the damaged one (any copy serves a clone) that hashes right now to the content's
/// hash, with what it must still show when it is cloned.
fn good_clone_source(
    db: &Db,
    root: &Path,
    damaged: &DamagedPath,
) -> Result<Option<(i64, PathBuf, Option<store::Expect>)>> {
    let found = dedup::candidates_for(
        db,
        &damaged.hash,
        damaged.size,
        damaged.meta,
        Sharing::Clones,
    )?;
    for copy in found.iter().filter(|c| c.id != damaged.copy_id) {
        for (src, expect) in dedup::clone_places(db, root, copy)? {
            if dedup::bytes_have(&src, &damaged.hash) {
                return Ok(Some((copy.id, src, Some(expect))));
            }
        }
    }
    Ok(None)
}

/// Replaces the damaged path `place` in one step by a clone of `good` (which must still
/// show `expect`) carrying the path's own recorded metadata and attributes.
fn clone_back(
    db: &Db,
    good: &Path,
    expect: &store::Expect,
    place: &Path,
    d: &DamagedPath,
) -> std::io::Result<()> {
    let set = match d.own.xattrs {
        0 => None,
        id => Some(crate::catalog::xattr_sets::body(db, id).map_err(std::io::Error::other)?),
    };
    match store::clone_stored(good, expect, place, &d.own, set.as_ref()) {
        Some(store::LinkOutcome::Linked) => Ok(()),
        Some(store::LinkOutcome::Unsupported(e) | store::LinkOutcome::Failed(e)) => Err(e),
        Some(store::LinkOutcome::Full) => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
        None => Err(std::io::Error::other(
            "the good copy changed before it was cloned",
        )),
    }
}
