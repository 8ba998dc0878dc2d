//! `verify --repair`: relinks the paths of older snapshots whose stored copy is recorded
//! as damaged to a good stored copy of the same content — the one case where phlb
//! changes an older snapshot. A good copy is hashed again right before it is used, every
//! change is logged, and a path without a good copy is left as it is and reported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::catalog::damage::{damaged_paths, drop_if_unused, move_entry, DamagedPath};
use crate::catalog::Db;
use crate::config::Config;
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
    for (copy_id, paths) in by_copy {
        let first = &paths[0];
        let need = paths.len() as u64;
        let Some((good_id, good)) = good_copy(db, root, config, first, need)? else {
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
            if let Err(e) = store::replace_with_link_via(&good, &place, &tmp_dir) {
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
                    "{}/{}: repaired: relinked to the good copy at {}",
                    d.snapshot,
                    one_line(&d.rel),
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
