//! The order of a restore: folders first (made private), then files on the workers,
//! then the files that were hardlinks of one already restored, then symlinks, and last
//! each folder's metadata, deepest first, so writing into a folder never changes its
//! restored mtime and a read-only folder is filled before it is closed.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;

use super::copy::os;
use super::copy::{files_on_workers, judge, Copier, Ctx, Done};
use super::ledger::{Ledger, What};
use super::meta;
use super::pick::{Picked, Role};
use super::target::{
    cname, in_or_below, look, make_dir, remove, remove_leftovers, split, Found, Replace, Temp,
};
use crate::catalog::entries::Recorded;
use crate::scan::Kind;
use crate::tell::Tell;
use crate::units::one_line;

/// Restores the folders and symlinks of `picked` and the files `files` hands over (in
/// runs, so a snapshot of a million files is never held whole) into the target of
/// `ctx`; `groups` gives the source hardlink group of the files that had one. A run
/// that cannot be read stops the restore with that error; what was restored is complete.
pub fn restore(
    ctx: &Ctx,
    picked: &[Picked],
    files: impl Iterator<Item = anyhow::Result<Vec<Recorded>>>,
    groups: &HashMap<Vec<u8>, i64>,
    workers: usize,
    tell: &mut Ledger,
) -> anyhow::Result<()> {
    let mut main = Copier::new(ctx);
    // Folders that could not be made: nothing below them is written.
    let mut blocked: HashSet<&[u8]> = HashSet::new();
    let mut finish: Vec<&Recorded> = Vec::new();
    for p in picked.iter().filter(|p| p.rec.kind == Kind::Dir) {
        let rel = &p.rec.path[..];
        if under(&blocked, rel) {
            blocked.insert(rel);
            continue;
        }
        if rel == b"." {
            finish.extend((p.role == Role::Restore).then_some(p.rec));
            tidy(ctx, rel);
            continue;
        }
        match folder(&mut main, ctx, p.rec) {
            Ok(made) => {
                if made || p.role == Role::Restore {
                    finish.push(p.rec);
                }
                if !made {
                    tidy(ctx, rel);
                }
            }
            Err(done) => {
                blocked.insert(rel);
                tell.done(rel, What::Folder, done);
            }
        }
    }
    let reachable = |rel: &[u8]| !under(&blocked, split(rel).0);
    let non_files = picked.iter().filter(|p| p.rec.kind != Kind::File);
    let skipped = non_files.filter(|p| !reachable(&p.rec.path)).count();
    tell.tally.failed += skipped as u64;
    // The first file of each source hardlink group is copied; the others link to it
    // once every run is copied.
    let mut leaders: HashMap<i64, Vec<u8>> = HashMap::new();
    let mut followers: Vec<Recorded> = Vec::new();
    let mut failed_leaders: HashSet<Vec<u8>> = HashSet::new();
    for run in files {
        let mut copies: Vec<&Recorded> = Vec::new();
        let run = run?;
        for rec in &run {
            if !reachable(&rec.path) {
                tell.tally.failed += 1;
                continue;
            }
            match groups.get(&rec.path) {
                Some(g) if leaders.contains_key(g) => followers.push(rec.clone()),
                Some(g) => {
                    leaders.insert(*g, rec.path.clone());
                    copies.push(rec);
                }
                None => copies.push(rec),
            }
        }
        files_on_workers(ctx, &copies, workers, |i, done| {
            let rec = copies[i];
            if !matches!(done, Done::Restored | Done::Unchanged) {
                failed_leaders.insert(rec.path.clone());
            }
            tell.done(&rec.path, What::File(rec.meta.size), done);
        });
    }
    let mut split_by_mount = false;
    for rec in &followers {
        let g = groups[&rec.path];
        let leader = leaders[&g].clone();
        if failed_leaders.contains(&leader) {
            // Its bytes are copied on their own; it leads the rest of its group.
            let done = main.file(rec);
            if matches!(done, Done::Restored | Done::Unchanged) {
                leaders.insert(g, rec.path.clone());
            }
            tell.done(&rec.path, What::File(rec.meta.size), done);
            continue;
        }
        match hardlink(&mut main, ctx, rec, &leader) {
            Some(done) => tell.done(&rec.path, What::HardLink, done),
            None => {
                // Another filesystem is mounted between the two (EXDEV): a copy of its
                // own, as backup does; said once.
                if !split_by_mount {
                    split_by_mount = true;
                    tell.progress.note(&format!(
                        "{}: not on the filesystem of {}, so files that were \
                         hardlinks of each other in the source are restored as separate \
                         copies where the target spans filesystems",
                        one_line(&tell.to.join(os(&rec.path))),
                        one_line(&tell.to.join(os(&leader))),
                    ));
                }
                let done = main.file(rec);
                tell.done(&rec.path, What::File(rec.meta.size), done);
            }
        }
    }
    for p in picked
        .iter()
        .filter(|p| p.rec.kind == Kind::Symlink && reachable(&p.rec.path))
    {
        let done = main.symlink(p.rec);
        tell.done(&p.rec.path, What::Symlink, done);
    }
    for rec in finish.into_iter().rev() {
        let set = ctx.target.dir(&rec.path).and_then(|fd| {
            let st = crate::sys::at::stat_fd(fd.as_fd())?;
            let owner = (st.st_uid, st.st_gid);
            meta::set_fd(fd.as_fd(), &rec.meta, ctx.as_root, owner, ctx.attrs.of(rec))
        });
        let done = match set {
            Ok(skipped) => {
                ctx.attrs.note(&rec.path, skipped);
                Done::Restored
            }
            Err(e) => Done::Failed(format!("cannot set the folder's metadata: {e}")),
        };
        tell.done(&rec.path, What::Folder, done);
    }
    Ok(())
}

/// Removes what a killed restore left in the existing folder `rel` (temp files, which
/// never carry a real name); a folder that cannot be listed is simply left.
fn tidy(ctx: &Ctx, rel: &[u8]) {
    if let Ok(fd) = ctx.target.dir(rel) {
        let _ = remove_leftovers(fd.as_fd());
    }
}

/// True when `rel` is, or is below, a folder in `blocked`.
fn under(blocked: &HashSet<&[u8]>, rel: &[u8]) -> bool {
    if blocked.is_empty() {
        return false;
    }
    in_or_below(blocked, rel)
}

/// Makes folder `rec` in the target (private until the end), or enters the one there;
/// returns whether it was made. A file or symlink in its place is replaced only with
/// `--force`, never followed.
fn folder(copier: &mut Copier, ctx: &Ctx, rec: &Recorded) -> Result<bool, Done> {
    let (dir, name) = copier.place(&rec.path).map_err(Done::Failed)?;
    match look(dir, &name) {
        Ok(Found::Nothing) => {}
        Ok(Found::Some(st)) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => return Ok(false),
        Ok(Found::Some(_)) if ctx.replace == Replace::Never => {
            return Err(Done::Refused(
                "a file or symlink is in the folder's place; not followed or replaced (--force \
                 replaces it), nothing below it restored"
                    .into(),
            ))
        }
        Ok(Found::Some(_)) => remove(dir, &name).map_err(|e| Done::Failed(e.to_string()))?,
        Err(e) => return Err(Done::Failed(e.to_string())),
    }
    make_dir(dir, &name)
        .map(|()| true)
        .map_err(|e| Done::Failed(format!("cannot make the folder: {e}")))
}

/// Restores `rec` as a hardlink of the restored file `leader` (they shared an inode in
/// the source); None when the two are on different filesystems (EXDEV), nothing done.
fn hardlink(copier: &mut Copier, ctx: &Ctx, rec: &Recorded, leader: &[u8]) -> Option<Done> {
    let (from_dir, from_name) = split(leader);
    let from = match (ctx.target.dir(from_dir), cname(from_name)) {
        (Ok(fd), Ok(name)) => (fd, name),
        (Err(e), _) | (_, Err(e)) => return Some(Done::Failed(e.to_string())),
    };
    let (dir, name) = match copier.place(&rec.path) {
        Ok(p) => p,
        Err(why) => return Some(Done::Failed(why)),
    };
    if let Some(done) = judge(ctx, dir, &name, rec) {
        let same_inode = match (look(dir, &name), look(from.0.as_fd(), &from.1)) {
            (Ok(Found::Some(a)), Ok(Found::Some(b))) => a.st_ino == b.st_ino,
            _ => false,
        };
        if !matches!(done, Done::Unchanged) || same_inode || ctx.replace == Replace::Never {
            return Some(done);
        }
    }
    let temp = Temp::new(dir);
    let made = temp
        .create_link(from.0.as_fd(), &from.1)
        .and_then(|()| temp.rename_to(&name, ctx.replace));
    match made {
        Ok(()) => Some(Done::Restored),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => None,
        Err(e) => Some(Done::Failed(format!(
            "cannot link to {}: {e}",
            String::from_utf8_lossy(leader)
        ))),
    }
}
