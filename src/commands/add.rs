//! `phlb add`: records snapshot folders found on disk in the catalog (a full rebuild, or
//! what is missing), hashes each inode once, and hardlinks identical content.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::catalog::entries::{
    copies_by_ino, copies_for_hash, copy_locations, record_copy, record_entry,
};
use crate::catalog::snapshots::Totals;
use crate::catalog::{Access, Catalog, SnapshotRow};
use crate::cli::{AddArgs, Global};
use crate::commands::select::existing_root;
use crate::config::Config;
use crate::hash::{hex, HashAlgo};
use crate::layout::{is_timestamp, SnapshotPaths, IN_PROGRESS};
use crate::plan::{copy_serves, has_room, CopyMeta, LinkKey};
use crate::prefetch::Reader;
use crate::progress::{Progress, Style};
use crate::scan::{self, Entry, Kind, ScanOptions};
use crate::store;
use crate::units::{human_bytes, one_line};
use crate::{lock, manifest, Outcome};

/// A snapshot folder to record.
#[derive(Debug, Clone)]
struct Folder {
    name: String,
    timestamp: String,
    dir: PathBuf,
}

/// What an add run did, over all snapshots.
#[derive(Debug, Default)]
struct Tally {
    added: u64,
    files: u64,
    hashed_bytes: u64,
    relinked: u64,
    freed: u64,
    problems: u64,
    manifests_written: u64,
}

/// Runs `phlb add`.
pub fn run(config: &Config, global: &Global, args: &AddArgs) -> Result<Outcome> {
    let root = existing_root(config)?;
    let meta_dir = root.join(".phlb");
    store::make_private_dir(&meta_dir)?;
    let _lock = lock::acquire(&meta_dir)?;
    let catalog = Catalog::open(&meta_dir, Access::Write)?;
    let conn = catalog.conn()?;
    let style = Style::detect(global.quiet);
    let say = |line: String| {
        if !global.quiet {
            eprintln!("{line}");
        }
    };
    let folders = if args.paths.is_empty() {
        discover(&root, config, &say)?
    } else {
        let mut v = Vec::new();
        for p in &args.paths {
            v.extend(classify(&root, config, p)?);
        }
        v
    };
    let mut tally = Tally::default();
    let mut missing = 0u64;
    for snap in SnapshotRow::all(&conn)? {
        if snap.status == "complete" && !root.join(&snap.name).join(&snap.timestamp).is_dir() {
            snap.mark_missing(&conn)?;
            say(format!(
                "phlb: {}: folder is gone; marked missing",
                snap.label()
            ));
            missing += 1;
        }
    }
    let mut ordered = folders;
    ordered.sort_by(|a, b| (&a.timestamp, &a.name).cmp(&(&b.timestamp, &b.name)));
    let mut importer = Importer {
        config,
        args,
        root: &root,
        style,
        live: HashMap::new(),
    };
    for folder in &ordered {
        let label = format!("{}/{}", folder.name, folder.timestamp);
        if let Some(row) = SnapshotRow::find(&conn, &folder.name, &folder.timestamp)? {
            if row.status == "complete" {
                continue;
            }
            row.delete(&conn)?;
        }
        importer.import(&conn, folder, &mut tally)?;
        say(format!("phlb: {label}: recorded"));
    }
    if !global.quiet {
        if tally.added == 0 && missing == 0 {
            println!("nothing to do: every snapshot folder is in the catalog");
        } else {
            println!(
                "added {} snapshot(s) with {} files ({} hashed); marked {missing} missing\nlinked {} files to identical stored copies, freeing {}; wrote {} manifest(s); {} problem(s)",
                tally.added,
                tally.files,
                human_bytes(tally.hashed_bytes),
                tally.relinked,
                human_bytes(tally.freed),
                tally.manifests_written,
                tally.problems
            );
        }
    }
    Ok(if tally.problems == 0 {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// Every `<name>/<timestamp>/` folder under the root (folders with other names are named).
fn discover(root: &Path, config: &Config, say: &dyn Fn(String)) -> Result<Vec<Folder>> {
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
fn classify(root: &Path, config: &Config, path: &Path) -> Result<Vec<Folder>> {
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

/// One physical file of a snapshot being recorded, and the paths that share it.
struct Inode {
    /// Index into the scanned entries of each path holding this inode.
    entries: Vec<usize>,
    meta: CopyMeta,
    size: u64,
    nlink: u64,
    hash: Option<Vec<u8>>,
    /// The catalog already knows this inode as stored copy `id`.
    known_copy: Option<i64>,
    /// The manifest disagrees: record, never link.
    suspect: bool,
}

/// A stored copy this add run can link to.
#[derive(Debug, Clone)]
struct LinkTarget {
    copy_id: i64,
    path: PathBuf,
    nlink: u64,
}

struct Importer<'a> {
    config: &'a Config,
    args: &'a AddArgs,
    root: &'a Path,
    style: Style,
    live: HashMap<LinkKey, LinkTarget>,
}

impl Importer<'_> {
    /// Records one snapshot folder in a single transaction, relinking duplicates first.
    fn import(
        &mut self,
        conn: &rusqlite::Connection,
        folder: &Folder,
        tally: &mut Tally,
    ) -> Result<()> {
        let label = format!("{}/{}", folder.name, folder.timestamp);
        let (algo, manifest_path) = self.manifest_of(folder);
        let listed = manifest_path
            .as_ref()
            .map(|p| manifest::read(p).map(|(m, _)| m).unwrap_or_default());
        let opts = ScanOptions {
            one_file_system: true,
            ..ScanOptions::default()
        };
        let scan = scan::scan(&folder.dir, &opts);
        for p in &scan.problems {
            tally.problems += 1;
            eprintln!("phlb: error: {}: {}", one_line(&p.path), p.message);
        }
        let mut inodes: HashMap<u64, Inode> = HashMap::new();
        for (i, e) in scan.entries.iter().enumerate() {
            if e.kind != Kind::File {
                continue;
            }
            let inode = inodes.entry(e.ino).or_insert_with(|| Inode {
                entries: Vec::new(),
                meta: e.meta.into(),
                size: e.meta.size,
                nlink: fs::symlink_metadata(folder.dir.join(&e.rel))
                    .map(|m| {
                        use std::os::unix::fs::MetadataExt;
                        m.nlink()
                    })
                    .unwrap_or(1),
                hash: None,
                known_copy: None,
                suspect: false,
            });
            inode.entries.push(i);
        }
        self.find_hashes(
            conn,
            folder,
            &scan.entries,
            &mut inodes,
            listed.as_ref(),
            algo,
            tally,
        )?;
        let tx = conn.unchecked_transaction()?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let row = SnapshotRow::create(
            &tx,
            &folder.name,
            &folder.timestamp,
            b"",
            &algo.to_string(),
            &now,
        )?;
        let mut totals = Totals::default();
        let mut copy_of: HashMap<u64, i64> = HashMap::new();
        let mut inos: Vec<u64> = inodes.keys().copied().collect();
        inos.sort_by_key(|ino| inodes[ino].entries[0]);
        for ino in inos {
            let inode = &inodes[&ino];
            let Some(hash) = inode.hash.clone() else {
                continue;
            };
            let copy_id = match inode.known_copy {
                Some(id) => id,
                None => match self.relink(&tx, folder, &scan.entries, inode, &hash, tally)? {
                    Some(id) => {
                        totals.linked += inode.entries.len() as u64;
                        id
                    }
                    None => {
                        let first = folder.dir.join(&scan.entries[inode.entries[0]].rel);
                        let id = record_copy(&tx, None, &hash, inode.size, ino, inode.meta)?;
                        totals.copied += 1;
                        totals.new_bytes += inode.size;
                        if !inode.suspect {
                            self.live.insert(
                                LinkKey::new(self.config.dedup, &hash, inode.meta),
                                LinkTarget {
                                    copy_id: id,
                                    path: first,
                                    nlink: inode.nlink,
                                },
                            );
                        }
                        id
                    }
                },
            };
            copy_of.insert(ino, copy_id);
        }
        let mut lines: Vec<u8> = Vec::new();
        for e in &scan.entries {
            let copy_id = if e.kind == Kind::File {
                match copy_of.get(&e.ino) {
                    Some(&id) => Some(id),
                    None => continue,
                }
            } else {
                None
            };
            if e.kind == Kind::File {
                totals.files += 1;
                totals.bytes += e.meta.size;
                if let Some(h) = &inodes[&e.ino].hash {
                    lines.extend(manifest::line(&hex(h), &e.rel));
                }
            }
            let target = e.target.as_ref().map(|t| t.as_os_str().as_bytes());
            record_entry(
                &tx,
                row.id,
                None,
                e.rel.as_os_str().as_bytes(),
                e.kind,
                &e.meta,
                copy_id,
                target,
            )?;
        }
        let failed = scan.problems.len() as u64
            + inodes
                .values()
                .filter(|i| i.hash.is_none())
                .map(|i| i.entries.len() as u64)
                .sum::<u64>();
        totals.failed = failed;
        row.set_totals(&tx, &totals, &now)?;
        row.mark_complete(&tx)?;
        tx.commit()
            .with_context(|| format!("{label}: cannot record"))?;
        if manifest_path.is_none() && failed == 0 {
            let paths = SnapshotPaths::new(
                self.root,
                &folder.name,
                &folder.timestamp,
                algo.manifest_suffix(),
            );
            let tmp = paths.work_manifest.clone();
            fs::write(&tmp, &lines)
                .and_then(|_| fs::rename(&tmp, &paths.manifest))
                .with_context(|| format!("{}: cannot write manifest", paths.manifest.display()))?;
            tally.manifests_written += 1;
        }
        tally.added += 1;
        tally.files += totals.files;
        Ok(())
    }

    /// The manifest beside a folder (its suffix tells the hash), or the configured hash.
    fn manifest_of(&self, folder: &Folder) -> (HashAlgo, Option<PathBuf>) {
        for algo in [HashAlgo::Sha256, HashAlgo::Sha512] {
            let p = SnapshotPaths::new(
                self.root,
                &folder.name,
                &folder.timestamp,
                algo.manifest_suffix(),
            )
            .manifest;
            if p.is_file() {
                return (algo, Some(p));
            }
        }
        (self.config.hash, None)
    }

    /// Gives every inode its hash: from the catalog when it knows the inode, from the
    /// manifest with --trust-manifests, else by reading it (in parallel, once per inode).
    #[allow(clippy::too_many_arguments)]
    fn find_hashes(
        &self,
        conn: &rusqlite::Connection,
        folder: &Folder,
        entries: &[Entry],
        inodes: &mut HashMap<u64, Inode>,
        listed: Option<&HashMap<PathBuf, String>>,
        algo: HashAlgo,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut to_read: Vec<u64> = Vec::new();
        for (&ino, inode) in inodes.iter_mut() {
            let first = &entries[inode.entries[0]];
            let want_len = match algo {
                HashAlgo::Sha256 => 32,
                HashAlgo::Sha512 => 64,
            };
            let known = copies_by_ino(conn, ino)?
                .into_iter()
                .find(|(c, h)| c.size == inode.size && c.meta == inode.meta && h.len() == want_len);
            if let Some((copy, hash)) = known {
                inode.known_copy = Some(copy.id);
                inode.hash = Some(hash);
                continue;
            }
            if self.args.trust_manifests {
                if let Some(h) = listed
                    .and_then(|m| m.get(&first.rel))
                    .and_then(|h| unhex(h))
                {
                    inode.hash = Some(h);
                    continue;
                }
            }
            to_read.push(ino);
        }
        to_read.sort_by_key(|ino| inodes[ino].entries[0]);
        let paths: Vec<PathBuf> = to_read
            .iter()
            .map(|ino| folder.dir.join(&entries[inodes[ino].entries[0]].rel))
            .collect();
        let total: u64 = to_read.iter().map(|ino| inodes[ino].size).sum();
        let progress = Progress::new(
            self.style,
            &format!("add {}/{}", folder.name, folder.timestamp),
            to_read.len() as u64,
            total,
        );
        std::thread::scope(|scope| {
            let mut reader = Reader::reads(scope, paths, algo, self.config.worker_count());
            for ino in &to_read {
                let inode = inodes.get_mut(ino).expect("listed inode");
                let path = folder.dir.join(&entries[inode.entries[0]].rel);
                match reader.next_read() {
                    Ok(read) => {
                        tally.hashed_bytes += read.meta.size;
                        inode.hash = Some(read.hash);
                    }
                    Err(why) => {
                        tally.problems += 1;
                        progress.error(&format!("phlb: error: {}: {why}", one_line(&path)));
                    }
                }
                progress.advance(inode.size);
            }
        });
        progress.finish();
        if let Some(listed) = listed {
            for inode in inodes.values_mut() {
                let Some(hash) = &inode.hash else { continue };
                for &i in &inode.entries {
                    let rel = &entries[i].rel;
                    match listed.get(rel) {
                        Some(h) if *h == hex(hash) => {}
                        Some(_) => {
                            inode.suspect = true;
                            tally.problems += 1;
                            eprintln!(
                                "phlb: error: {}: content differs from the manifest; recorded as found, not linked",
                                one_line(&folder.dir.join(rel))
                            );
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Replaces every path of `inode` by a hardlink to a stored copy with the same content
    /// that the policy allows; returns that copy's id, or None to keep the inode as a copy.
    fn relink(
        &mut self,
        conn: &rusqlite::Connection,
        folder: &Folder,
        entries: &[Entry],
        inode: &Inode,
        hash: &[u8],
        tally: &mut Tally,
    ) -> Result<Option<i64>> {
        if self.args.no_link || inode.suspect {
            return Ok(None);
        }
        let need = inode.entries.len() as u64;
        let max = self.config.max_links;
        let key = LinkKey::new(self.config.dedup, hash, inode.meta);
        let mut target = self
            .live
            .get(&key)
            .cloned()
            .filter(|t| has_room(t.nlink + need - 1, max));
        if target.is_none() {
            for copy in copies_for_hash(conn, hash)? {
                if copy.size != inode.size || !copy_serves(self.config.dedup, inode.meta, copy.meta)
                {
                    continue;
                }
                for loc in copy_locations(conn, copy.id, 4)? {
                    let src = self.root.join(&loc.snapshot_dir).join(&loc.rel);
                    if let Some(nlink) = store::check_stored_copy(&src, copy.ino, copy.size) {
                        if has_room(nlink + need - 1, max) {
                            target = Some(LinkTarget {
                                copy_id: copy.id,
                                path: src,
                                nlink,
                            });
                        }
                        break;
                    }
                }
                if target.is_some() {
                    break;
                }
            }
        }
        let Some(mut target) = target else {
            return Ok(None);
        };
        for &i in &inode.entries {
            let path = folder.dir.join(&entries[i].rel);
            store::replace_with_link(&target.path, &path)
                .with_context(|| format!("{}: cannot replace with a hardlink", path.display()))?;
            target.nlink += 1;
        }
        tally.relinked += need;
        if inode.nlink == need {
            tally.freed += inode.size;
        }
        self.live.insert(key, target.clone());
        Ok(Some(target.copy_id))
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
