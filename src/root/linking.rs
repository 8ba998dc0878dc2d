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

/// Most bytes the side file may hold (it holds two short lines).
const SIDE_MOST: u64 = 4096;

/// The values in the side file: None when there is none; an error naming it and the
/// cause when it is not a regular file of its own (a symlink is not followed, a FIFO
/// not waited on), too big, or does not say exactly one valid `link` and one valid
/// `dedup` (an empty file left by a crash, a typo): a catalog rebuilt from it must not
/// take a weaker DEDUP quietly.
fn read_side(config: &Config) -> Result<Option<Recorded>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = side_file(config);
    let bad = |why: String| {
        anyhow::anyhow!(
            "{}: {why}; it should say `link = …` and `dedup = …` as the root recorded them \
             (see docs/config.md), or be removed to take the rule for a root without them",
            path.display()
        )
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(format!("cannot open ({e})"))),
    };
    let md = file
        .metadata()
        .map_err(|e| bad(format!("cannot read ({e})")))?;
    if !md.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if md.len() > SIDE_MOST {
        return Err(bad(format!("{} bytes, more than {SIDE_MOST}", md.len())));
    }
    let mut text = String::new();
    file.take(SIDE_MOST)
        .read_to_string(&mut text)
        .map_err(|e| bad(format!("cannot read ({e})")))?;
    let (mut link, mut dedup) = (None, None);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad(format!("`{}` is not `key = value`", line.trim())));
        };
        let (key, value) = (key.trim(), value.trim());
        let slot_taken = match key {
            LINK_KEY => link
                .replace(value.parse::<Link>().map_err(|e| bad(e.to_string()))?)
                .is_some(),
            DEDUP_KEY => dedup
                .replace(value.parse::<Dedup>().map_err(|e| bad(e.to_string()))?)
                .is_some(),
            other => return Err(bad(format!("unknown key `{other}`"))),
        };
        if slot_taken {
            return Err(bad(format!("`{key}` given twice")));
        }
    }
    match (link, dedup) {
        (Some(link), Some(dedup)) => Ok(Some(Recorded { link, dedup })),
        _ => Err(bad(format!(
            "it must give both `{LINK_KEY}` and `{DEDUP_KEY}`"
        ))),
    }
}

/// Writes the side file (a new file renamed over the old, synced first: a crash leaves
/// the old one or the new one, never an empty one).
fn write_side(config: &Config, recorded: Recorded) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = side_file(config);
    let tmp = path.with_file_name(format!(".{SIDE_FILE}.{}.tmp", std::process::id()));
    // What a run killed here left.
    if let Ok(list) = std::fs::read_dir(path.parent().unwrap_or(&path)) {
        for e in list.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(&format!(".{SIDE_FILE}.")) && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(side_text(recorded).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        crate::sys::flush::sync_dir(path.parent().unwrap_or(&path))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("{}: cannot write", path.display()))
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
    if let Some(side) = read_side(config)? {
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
    // Also beside the catalog (a root recorded before the side file gets it now). The
    // catalog's values are the root's: a side file that disagrees, or cannot be read,
    // is written anew from them.
    if read_side(config).ok().flatten() != Some(recorded) {
        write_side(config, recorded)?;
    }
    Ok(recorded)
}

/// The notes a run owes when the config overrides the root's recorded values: LINK
/// always, DEDUP where hardlinks are made.
fn override_notes(link: Link, dedup: Dedup, recorded: Recorded) -> Vec<String> {
    let mut notes = Vec::new();
    if link != recorded.link {
        notes.push(format!(
            "LINK = {link} for this run (the config or --link says so); this root records LINK = {}",
            recorded.link
        ));
    }
    if dedup != recorded.dedup && link != Link::Reflink {
        notes.push(format!(
            "DEDUP = {dedup} for this run (the config says so); this root records DEDUP = {}",
            recorded.dedup
        ));
    }
    notes
}

/// `config` with the root's recorded `LINK` and `DEDUP` where it sets none (for `add`
/// and `verify --repair`, which link as the root does); a value the config overrides is
/// said to `say`, as a backup says it.
pub fn settled(
    config: &Config,
    db: &Db,
    on_disk: bool,
    say: &dyn crate::tell::Tell,
) -> Result<Config> {
    let recorded = recorded(db, config, on_disk)?;
    let link = config.link.unwrap_or(recorded.link);
    let dedup = config.dedup.unwrap_or(recorded.dedup);
    for note in override_notes(link, dedup, recorded) {
        say.note(&note);
    }
    let mut out = config.clone();
    out.link = Some(link);
    out.dedup = Some(dedup);
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
    for note in override_notes(link, dedup, recorded) {
        say.note(&note);
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
