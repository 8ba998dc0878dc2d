//! `restore --dry-run`: what a restore would write, leave or refuse, told by looking at
//! the target through the same no-symlink descriptors; nothing is read or written.

use std::collections::HashSet;

use super::copy::{judge, Ctx, Done};
use super::ledger::{Ledger, What};
use super::pick::Picked;
use super::target::{cname, look, split, Found, Replace};
use crate::scan::Kind;

/// Tells, for each of `picked`, what the restore would do. `ctx.target` is None when
/// the target folder does not exist yet (everything would be new).
pub fn tell_plan(ctx: Option<&Ctx>, picked: &[Picked], tell: &mut Ledger) {
    // Folders the restore would make (so everything below them is new) and folders it
    // could not enter.
    let mut new: HashSet<&[u8]> = HashSet::new();
    let mut blocked: HashSet<&[u8]> = HashSet::new();
    for p in picked {
        let rel = &p.rec.path[..];
        let what = match p.rec.kind {
            Kind::File => What::File(p.rec.meta.size),
            Kind::Dir => What::Folder,
            Kind::Symlink => What::Symlink,
        };
        let parent = split(rel).0;
        if rel == b"." {
            tell.done(rel, what, Done::Restored);
            continue;
        }
        if blocked.contains(parent) {
            blocked.insert(rel);
            tell.tally.failed += 1;
            continue;
        }
        let Some(ctx) = ctx.filter(|_| !new.contains(parent)) else {
            new.insert(rel);
            tell.done(rel, what, Done::Restored);
            continue;
        };
        let found = ctx.target.dir(parent).and_then(|fd| {
            let name = cname(split(rel).1)?;
            let found = look(std::os::fd::AsFd::as_fd(&fd), &name)?;
            let verdict = judge(ctx, std::os::fd::AsFd::as_fd(&fd), &name, p.rec);
            Ok((found, verdict))
        });
        let done = match (p.rec.kind, found) {
            (_, Err(e)) => Done::Failed(e.to_string()),
            (Kind::Dir, Ok((Found::Some(st), _))) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                Done::Restored
            }
            (Kind::Dir, Ok((Found::Some(_), _))) if ctx.replace == Replace::Never => Done::Refused(
                "a file or symlink is in the folder's place; nothing below it would be restored"
                    .into(),
            ),
            (Kind::Dir, Ok(_)) => {
                new.insert(rel);
                Done::Restored
            }
            (_, Ok((_, Some(verdict)))) => verdict,
            (_, Ok((_, None))) => Done::Restored,
        };
        if p.rec.kind == Kind::Dir && !matches!(done, Done::Restored) {
            blocked.insert(rel);
        }
        tell.done(rel, what, done);
    }
}
