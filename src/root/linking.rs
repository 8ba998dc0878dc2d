//! Owns how a backup run puts stored content at its paths (`LINK`): hardlinks (shared
//! under `DEDUP`) or copy-on-write clones. A root records its `LINK` and `DEDUP` in the
//! catalog's settings on first open (a root that already holds snapshots keeps
//! hardlinks and the ini's `DEDUP`, else `mode`, as before; a new root gets `auto` and
//! `strict`); an ini or `--link` value overrides the recorded one for a run and says so.
//! `auto` is resolved once per run by a probe of whether the root's filesystem clones.
//! The recorded values are kept beside the catalog too (`.phlb/linking`), so a catalog
//! rebuilt by `add` links as the root always did.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::catalog::{settings, Db};
use crate::config::Config;
use crate::decide::{Dedup, Link, Sharing};

/// How this run links, and the line that says so.
#[derive(Debug, Clone)]
pub struct Linking {
    pub sharing: Sharing,
    /// For the summary: the way and why (`reflink (LINK = auto: ...)`).
    pub line: String,
}

impl Linking {
    /// Hardlinks under `dedup`.
    pub fn hardlinks(dedup: Dedup, why: &str) -> Linking {
        Linking {
            sharing: Sharing::Links(dedup),
            line: format!("hardlink, DEDUP = {dedup} ({why})"),
        }
    }

    /// Copy-on-write clones.
    pub fn clones(why: &str) -> Linking {
        Linking {
            sharing: Sharing::Clones,
            line: format!("reflink ({why})"),
        }
    }
}

/// A root's recorded `LINK` and `DEDUP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub link: Link,
    pub dedup: Dedup,
}

/// The setting keys of the recorded values.
const LINK_KEY: &str = "link";
const DEDUP_KEY: &str = "dedup";

/// The recorded values again beside the catalog (`.phlb/linking`, `link = …` and
/// `dedup = …` lines): they belong to the root, and a catalog rebuilt by `add` takes
/// them from here. (A rebuilt catalog of a `strict` root became `mode`, and `add` then
/// linked equal files with other mtimes in old snapshots.)
const SIDE_FILE: &str = "linking";

fn side_file(config: &Config) -> std::path::PathBuf {
    config.backup_path.join(super::META_DIR).join(SIDE_FILE)
}

/// The values in the side file, when it is there and whole.
fn read_side(config: &Config) -> Option<Recorded> {
    let text = std::fs::read_to_string(side_file(config)).ok()?;
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    Some(Recorded {
        link: value(LINK_KEY)?.parse().ok()?,
        dedup: value(DEDUP_KEY)?.parse().ok()?,
    })
}

fn side_text(recorded: Recorded) -> String {
    format!(
        "{LINK_KEY} = {}\n{DEDUP_KEY} = {}\n",
        recorded.link, recorded.dedup
    )
}

/// The root's recorded `LINK` and `DEDUP`, or what a first open records: for a root
/// that holds snapshots hardlinks and the ini's `DEDUP` (else `mode`), so it behaves as
/// before; for a new root the config's values, else `auto` and `strict`. `on_disk`: snapshot folders the catalog
/// does not list yet are there. Reads only.
pub fn recorded_or_first(db: &Db, config: &Config, on_disk: bool) -> Result<(Recorded, bool)> {
    let link = settings::get(db, LINK_KEY)?;
    let dedup = settings::get(db, DEDUP_KEY)?;
    if let (Some(link), Some(dedup)) = (link, dedup) {
        let parse = |what: &str, e: String| anyhow::anyhow!("catalog setting {what}: {e}");
        let recorded = Recorded {
            link: link.parse().map_err(|e| parse(LINK_KEY, e))?,
            dedup: dedup.parse().map_err(|e| parse(DEDUP_KEY, e))?,
        };
        return Ok((recorded, true));
    }
    // A catalog made anew in a root that recorded them before.
    if let Some(side) = read_side(config) {
        return Ok((side, false));
    }
    let first = if !on_disk && crate::catalog::SnapshotRow::all(db)?.is_empty() {
        Recorded {
            link: config.link.unwrap_or(Link::Auto),
            dedup: config.dedup.unwrap_or(Dedup::Strict),
        }
    } else {
        Recorded {
            link: Link::Hardlink,
            dedup: config.dedup.unwrap_or(Dedup::Mode),
        }
    };
    Ok((first, false))
}

/// The root's recorded `LINK` and `DEDUP`, recorded now when this is the first open by
/// a writer (see `recorded_or_first`).
pub fn recorded(db: &Db, config: &Config, on_disk: bool) -> Result<Recorded> {
    let (recorded, known) = recorded_or_first(db, config, on_disk)?;
    if !known {
        settings::set(db, LINK_KEY, &recorded.link.to_string())?;
        settings::set(db, DEDUP_KEY, &recorded.dedup.to_string())?;
    }
    // Also beside the catalog (a root recorded before the side file gets it now).
    if read_side(config) != Some(recorded) {
        let path = side_file(config);
        crate::store::write_file(&path, side_text(recorded).as_bytes())
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(recorded)
}

/// `config` with the root's recorded `LINK` and `DEDUP` where it sets none (for `add`
/// and `verify --repair`, which link as the root does).
pub fn settled(config: &Config, db: &Db, on_disk: bool) -> Result<Config> {
    let recorded = recorded(db, config, on_disk)?;
    let mut out = config.clone();
    out.link = Some(config.link.unwrap_or(recorded.link));
    out.dedup = Some(config.dedup.unwrap_or(recorded.dedup));
    Ok(out)
}

/// Which copies serve a path when `add` or a repair links in a root with `config`
/// settled: clones where the root clones (`reflink`, or `auto` once a run cloned).
pub fn sharing_of(config: &Config, db: &Db) -> Result<Sharing> {
    let dedup = config.dedup.unwrap_or(Dedup::Mode);
    Ok(match config.link {
        Some(Link::Reflink) => Sharing::Clones,
        Some(Link::Auto) if settings::get(db, CLONED)?.is_some() => Sharing::Clones,
        _ => Sharing::Links(dedup),
    })
}

/// Resolves `LINK` for a run in the root at `root` (its `.phlb/tmp` exists: the writer
/// opened it): the root's recorded values unless the config overrides them (which
/// `say` hears); `reflink` where the filesystem cannot clone is an error (one line);
/// `auto` probes and picks.
pub fn resolve(
    config: &Config,
    root: &Path,
    db: &Db,
    say: &dyn crate::tell::Tell,
) -> Result<Linking> {
    let recorded = recorded(db, config, false)?;
    let link = config.link.unwrap_or(recorded.link);
    let dedup = config.dedup.unwrap_or(recorded.dedup);
    if link != recorded.link {
        say.note(&format!(
            "LINK = {link} for this run (the config or --link says so); this root records LINK = {}",
            recorded.link
        ));
    }
    if dedup != recorded.dedup && link != Link::Reflink {
        say.note(&format!(
            "DEDUP = {dedup} for this run (the config says so); this root records DEDUP = {}",
            recorded.dedup
        ));
    }
    let tmp = root.join(super::META_DIR).join("tmp");
    let probe = || {
        crate::store::can_clone(&tmp)
            .with_context(|| format!("{}: cannot probe for reflinks", tmp.display()))
    };
    let linking = match link {
        Link::Hardlink => Linking::hardlinks(dedup, "LINK = hardlink"),
        Link::Reflink if probe()? => Linking::clones("LINK = reflink"),
        Link::Reflink => bail!(
            "{}: LINK = reflink, but this filesystem cannot make reflinks (copy-on-write clones need btrfs, XFS made with reflink=1, or bcachefs); use LINK = hardlink or auto",
            root.display()
        ),
        Link::Auto if probe()? => Linking::clones("LINK = auto: the root's filesystem can clone"),
        Link::Auto => Linking::hardlinks(dedup, "LINK = auto: the root's filesystem cannot clone"),
    };
    if linking.sharing == Sharing::Clones && settings::get(db, CLONED)?.is_none() {
        settings::set(db, CLONED, "yes")?;
    }
    Ok(linking)
}

/// Files of one link looked at for shared extents before `add` gives up on finding clones.
const FILES_PROBED: usize = 1000;

/// For a root whose catalog records no `LINK` yet (a catalog `add` rebuilds): records
/// `reflink` (and that the root has cloned) when the snapshot folders `dirs` hold clones,
/// files of one link whose extents are shared with another file (`FIEMAP`), so the
/// rebuilt root keeps cloning instead of taking the rule for old roots (hardlink). At
/// most `FILES_PROBED` files are looked at; small files (btrfs keeps them inline) are
/// skipped.
pub fn record_found_clones(db: &Db, config: &Config, dirs: &[std::path::PathBuf]) -> Result<()> {
    if settings::get(db, LINK_KEY)?.is_some() || !holds_clones(dirs) {
        return Ok(());
    }
    settings::set(db, LINK_KEY, &Link::Reflink.to_string())?;
    let dedup = config.dedup.unwrap_or(Dedup::Strict);
    settings::set(db, DEDUP_KEY, &dedup.to_string())?;
    settings::set(db, CLONED, "yes")?;
    Ok(())
}

fn holds_clones(dirs: &[std::path::PathBuf]) -> bool {
    use std::os::unix::fs::MetadataExt;
    let files = dirs
        .iter()
        .flat_map(|d| {
            walkdir::WalkDir::new(d)
                .follow_links(false)
                .into_iter()
                .flatten()
        })
        .filter(|e| {
            e.file_type().is_file()
                && e.metadata()
                    .is_ok_and(|m| m.nlink() == 1 && m.len() >= 4096)
        })
        .take(FILES_PROBED);
    for e in files {
        let Ok(file) = crate::store::open_source(e.path()) else {
            continue;
        };
        match crate::sys::fiemap::any_shared(&file) {
            Ok(true) => return true,
            Ok(false) => {}
            // No FIEMAP here: no clones either.
            Err(_) => return false,
        }
    }
    false
}

/// The setting that says a run of this root has made clones: its snapshots hold paths
/// whose inodes are not their stored copy's, so their inode numbers say nothing about
/// whether the root was copied (`stale_inodes`).
pub const CLONED: &str = "cloned";
