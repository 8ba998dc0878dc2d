//! Owns how a backup run puts stored content at its paths (`LINK`): hardlinks (shared
//! under `DEDUP`) or copy-on-write clones, resolved once per run from the config and a
//! probe of whether the root's filesystem can clone.

use std::path::Path;

use anyhow::{bail, Result};

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

/// Resolves `LINK` for a run in the root at `root` (its `.phlb/tmp` exists: the writer
/// opened it): `reflink` where the filesystem cannot clone is an error (one line);
/// `auto` probes and picks.
pub fn resolve(config: &Config, root: &Path, db: &Db) -> Result<Linking> {
    let link = config.link.unwrap_or(Link::Hardlink);
    let tmp = root.join(super::META_DIR).join("tmp");
    let probe = || {
        crate::store::can_clone(&tmp)
            .map_err(|e| anyhow::anyhow!("{}: cannot probe for reflinks: {e}", tmp.display()))
    };
    let linking = match link {
        Link::Hardlink => Linking::hardlinks(config.dedup, "LINK = hardlink"),
        Link::Reflink if probe()? => Linking::clones("LINK = reflink"),
        Link::Reflink => bail!(
            "{}: LINK = reflink, but this filesystem cannot make reflinks (copy-on-write clones need btrfs, XFS made with reflink=1, or bcachefs); use LINK = hardlink or auto",
            root.display()
        ),
        Link::Auto if probe()? => Linking::clones("LINK = auto: the root's filesystem can clone"),
        Link::Auto => Linking::hardlinks(
            config.dedup,
            "LINK = auto: the root's filesystem cannot clone",
        ),
    };
    if linking.sharing == Sharing::Clones && settings::get(db, CLONED)?.is_none() {
        settings::set(db, CLONED, "yes")?;
    }
    Ok(linking)
}

/// The setting that says a run of this root has made clones: its snapshots hold paths
/// whose inodes are not their stored copy's, so their inode numbers say nothing about
/// whether the root was copied (`stale_inodes`).
pub const CLONED: &str = "cloned";
