//! Owns checking what a backup is asked to do before anything is written: the sources
//! (exist, are folders, have unique names, lie outside the root) and the backup root
//! (made if allowed, safe, canonical).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::Source;
use crate::catalog::{Db, SnapshotRow};
use crate::config::Config;
use crate::layout::check_name;
use crate::store;

/// Refuses a source inside the backup root `root`, and a `<name>` folder there that
/// another user could have prepared. A remote source is exempt: the folder it is
/// snapshotted from is its own mirror, which phlb keeps in the root.
pub(crate) fn check_sources_against_root(sources: &[Source], root: &Path) -> Result<()> {
    for s in sources.iter().filter(|s| s.remote.is_none()) {
        if s.path.starts_with(root) {
            bail!(
                "{}: source is inside the backup root {}",
                s.path.display(),
                root.display()
            );
        }
    }
    // Every folder a run will write into is checked before anything is written.
    for s in sources {
        store::check_own_dir(&root.join(&s.name))?;
    }
    Ok(())
}

/// Checks every source before anything is written: exists, is a folder, has a unique
/// name; a remote one (`[user@]host:/path`, by rsync's rule) is checked and normalised
/// instead, its login user made explicit.
pub(crate) fn resolve_sources(
    config: &Config,
    paths: &[PathBuf],
    name: Option<&str>,
) -> Result<Vec<Source>> {
    if name.is_some() && paths.len() > 1 {
        bail!("--name needs a single SOURCE; each source gets its own snapshot name");
    }
    let mut out: Vec<Source> = Vec::new();
    for p in paths {
        if crate::remote::looks_remote(p.as_os_str().as_bytes()) {
            out.push(remote_source(config, p, name)?);
            continue;
        }
        let path = p
            .canonicalize()
            .with_context(|| format!("{}: cannot back up", p.display()))?;
        if !path.is_dir() {
            bail!("{}: cannot back up: not a folder", p.display());
        }
        std::fs::read_dir(&path).with_context(|| format!("{}: cannot back up", p.display()))?;
        let name = match name {
            Some(n) => n.to_string(),
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .map(String::from)
                .with_context(|| format!("{}: give a snapshot name with --name", p.display()))?,
        };
        check_name(&name).map_err(|e| anyhow::anyhow!("{}: {e}; use --name", p.display()))?;
        out.push(Source {
            path,
            name,
            moved: false,
            remote: None,
        });
    }
    check_unique_names(&out)?;
    Ok(out)
}

/// A remote source `arg`, checked and with its login user made explicit; its folder
/// (the mirror) is set once the backup root is known.
fn remote_source(config: &Config, arg: &Path, name: Option<&str>) -> Result<Source> {
    let text = arg.to_str().with_context(|| {
        format!(
            "{}: a remote source must be UTF-8 text (a local folder with a colon in its \
             name is written ./NAME)",
            arg.display()
        )
    })?;
    let spec = crate::remote::parse(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = name.map_or_else(|| spec.default_name(), String::from);
    check_name(&name).map_err(|e| anyhow::anyhow!("{text}: {e}; use --name"))?;
    let user = super::pull::login_user(config, &spec)?;
    Ok(Source {
        path: PathBuf::new(),
        name,
        moved: false,
        remote: Some(spec.with_user(&user)),
    })
}

/// The sources of a run: those on the command line, else the config's `SOURCES` (so a
/// scheduled `phlb backup` needs no paths). Checked as `resolve_sources` checks them.
pub(crate) fn sources_of_run(
    config: &Config,
    paths: &[PathBuf],
    name: Option<&str>,
) -> Result<Vec<Source>> {
    if !paths.is_empty() {
        return resolve_sources(config, paths, name);
    }
    if name.is_some() {
        bail!(
            "--name needs a SOURCE on the command line (a SOURCES entry names itself as NAME=PATH)"
        );
    }
    if config.sources.is_empty() {
        bail!("no SOURCE given and the config has no SOURCES: name a folder (phlb backup DIR) or set SOURCES in the ini");
    }
    let mut out = Vec::new();
    for entry in &config.sources {
        out.extend(resolve_sources(
            config,
            std::slice::from_ref(&entry.path),
            entry.name.as_deref(),
        )?);
    }
    check_unique_names(&out)?;
    Ok(out)
}

/// Refuses two sources that would share one snapshot name.
fn check_unique_names(sources: &[Source]) -> Result<()> {
    for (i, s) in sources.iter().enumerate() {
        if let Some(other) = sources[..i].iter().find(|o| o.name == s.name) {
            bail!(
                "{} and {} would both be snapshot {:?}; back them up separately with --name",
                other.shown(),
                s.shown(),
                s.name
            );
        }
    }
    Ok(())
}

/// Refuses to back `source` up under a name whose history is of another source (a name
/// is one source: host and canonical path, recorded by its first backup and kept in the
/// side files), unless the user said it moved (`--source-moved`: said in a note, and the
/// new path owns the name from this run on). A name whose snapshots are all trees copied
/// in by hand takes the source of its next backup. True when the run continues the
/// history of another source (it is recorded as `source_moved`).
pub(crate) fn check_owner(db: &Db, source: &Source, say: &dyn crate::tell::Tell) -> Result<bool> {
    let sources = SnapshotRow::sources_of_name(db, &source.name)?;
    let Some(owner) = sources.first() else {
        return Ok(false);
    };
    let this = source.id();
    if *owner == this {
        return Ok(false);
    }
    let name = &source.name;
    if source.moved {
        say.note(&format!(
            "{name}: continuing the history of {} from {} (--source-moved); \
             the first run reads every file once",
            owner.show(),
            this.show()
        ));
        return Ok(true);
    }
    bail!(
        "{name}: this name holds the backups of {}, and {} is another source (a name is one \
         source: a different folder, the same one at another path such as a drive mounted \
         elsewhere or a bind mount, or another host); back it up under its own name with \
         `--name NEW_NAME`, or, if the folder really moved, continue its history with \
         `--source-moved`",
        owner.show(),
        this.show()
    )
}

/// Makes sure the backup root exists (or says why not) and returns its canonical path.
pub(crate) fn prepare_root(config: &Config) -> Result<PathBuf> {
    let root = &config.backup_path;
    // Judged before anything is created: a missing root is made only below folders that
    // nobody else controls.
    store::check_root_safe(root)?;
    if !root.exists() {
        // Only the default root gets here missing (`crate::root::require` refuses the
        // others): the README's first command works on a fresh machine.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .with_context(|| format!("{}: cannot create backup root", root.display()))?;
    }
    if !root.is_dir() {
        bail!("{}: backup root is not a folder", root.display());
    }
    store::check_root_safe(root)?;
    root.canonicalize()
        .with_context(|| format!("{}: cannot open backup root", root.display()))
}
