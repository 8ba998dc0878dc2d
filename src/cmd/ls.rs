//! `phlb ls`: one folder of a snapshot (or everything below it), from the catalog alone.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};

use crate::catalog::listing::{self, LsEntry};
use crate::cli::LsArgs;
use crate::config::Config;
use crate::ops::open::{open_read, resolve};
use crate::output::{Cell, Table};
use crate::progress::Ui;
use crate::scan::Kind;
use crate::Outcome;

/// Runs `phlb ls`.
pub fn run(config: &Config, ui: &Ui, args: &LsArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let snap = resolve(&db, &root, &args.snapshot)?;
    let dir = inside(args.path.as_deref().unwrap_or(Path::new("")))?;
    let dir_bytes = dir.as_os_str().as_bytes();
    let entries = if dir_bytes.is_empty() {
        listing::below(&db, snap.id, b"", args.recursive)?
    } else {
        match listing::entry_at(&db, snap.id, dir_bytes)? {
            None => bail!("{}: not in snapshot {}", dir.display(), snap.label()),
            Some(e) if e.kind != Kind::Dir => vec![e],
            Some(_) => listing::below(&db, snap.id, dir_bytes, args.recursive)?,
        }
    };
    let json = args.out.json;
    let long = args.long || json;
    let columns: &[&str] = match (long, json) {
        (false, _) => &["path"],
        (true, true) => &["path", "kind", "mode", "size", "mtime", "target"],
        (true, false) => &["kind", "mode", "size", "mtime (local)", "path"],
    };
    let mut t = Table::new(columns);
    for e in entries {
        t.push(row(e, long, json));
    }
    crate::output::print_table(&t, args.out.json, args.out.bytes);
    Ok(Outcome::Clean)
}

/// One output row: the path alone, or the long form (the table puts the path last, with
/// a symlink's target after an arrow as `ls -l` does).
fn row(e: LsEntry, long: bool, json: bool) -> Vec<Cell> {
    let path = String::from_utf8_lossy(&e.path).into_owned();
    if !long {
        return vec![path.into()];
    }
    let target = e
        .target
        .as_deref()
        .map(|t| String::from_utf8_lossy(t).into_owned());
    let mode = format!("{:04o}", e.mode & 0o7777);
    let (kind, size, time) = (
        e.kind.as_str().into(),
        Cell::Bytes(e.size),
        Cell::Time(e.mtime_ns),
    );
    if json {
        return vec![path.into(), kind, mode.into(), size, time, target.into()];
    }
    let shown = match target {
        Some(t) => format!("{path} -> {t}"),
        None => path,
    };
    vec![kind, mode.into(), size, time, shown.into()]
}

/// PATH as a path inside the snapshot: relative, without `.`, and never above its top.
fn inside(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                bail!("{}: give a path inside the snapshot", path.display())
            }
        }
    }
    Ok(out)
}
