//! Owns the extended attributes a restore puts back: each recorded set, read from the
//! catalog once (so a backup filesystem without xattr support restores them too), put
//! on what the restore makes in the order the kernel needs, and the ones the target
//! would not take (no support there, or not this user's to set), counted and said once.
//!
//! Decision: a target that cannot hold an attribute does not fail the path (its bytes,
//! mode, owner and mtime are restored); the restore says so once, naming the first path
//! and the cause, and counts the paths in its summary, as backup does for its own disk.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use anyhow::Result;

use crate::catalog::entries::{snapshot_xattr_sets, Recorded};
use crate::catalog::{xattr_sets, Db};
use crate::sys::xattr::{self, Attr};
use crate::xattr_set::XattrSet;

/// The recorded sets a restore needs, and what the target would not take.
#[derive(Default)]
pub struct Attrs {
    sets: HashMap<i64, XattrSet>,
    dropped: Mutex<Dropped>,
}

/// Paths some of whose attributes were not put back, and the first one's cause.
#[derive(Default, Debug, Clone)]
pub struct Dropped {
    pub paths: u64,
    pub first: Option<(Vec<u8>, String)>,
}

impl Attrs {
    /// Reads every set the entries of snapshot `snapshot_id` refer to.
    pub fn load(db: &Db, snapshot_id: i64) -> Result<Attrs> {
        let mut sets = HashMap::new();
        for id in snapshot_xattr_sets(db, snapshot_id)? {
            sets.insert(id, xattr_sets::body(db, id)?);
        }
        Ok(Attrs {
            sets,
            dropped: Mutex::default(),
        })
    }

    /// The set recorded for `rec` (None: it had none).
    pub fn of(&self, rec: &Recorded) -> Option<&XattrSet> {
        self.sets.get(&rec.meta.xattrs)
    }

    /// True when what `fd` reads back of the attributes this restore handles equals the
    /// set recorded for `rec` (a file in the target left untouched must carry them).
    pub fn same_on(&self, dir: BorrowedFd, name: &CStr, rec: &Recorded, as_root: bool) -> bool {
        let wanted = crate::xattr_set::readable(as_root);
        let now = match xattr::read_at(dir, name, &wanted) {
            Ok(now) => now,
            // A target without support: nothing could be put there, so nothing differs.
            Err(e) if xattr::unsupported(&e) => return true,
            Err(_) => return false,
        };
        let recorded: Vec<Attr> = self
            .of(rec)
            .map(|s| s.attrs().iter().filter(|a| wanted(&a.0)).cloned().collect())
            .unwrap_or_default();
        XattrSet::new(now) == XattrSet::new(recorded)
    }

    /// Remembers, when `skipped` says why, that some attributes of `rel` were not put
    /// back.
    pub fn note(&self, rel: &[u8], skipped: Option<String>) {
        let Some(why) = skipped else { return };
        let mut d = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        d.paths += 1;
        d.first.get_or_insert((rel.to_vec(), why));
    }

    /// What the target would not take, once the restore is over.
    pub fn dropped_so_far(&self) -> Dropped {
        self.dropped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Puts `attrs` on the open file or folder `fd`, one by one. An attribute the target
/// cannot hold is skipped and its cause returned; a failing disk stops with the error.
pub fn put_fd(fd: BorrowedFd, attrs: &[&Attr]) -> io::Result<Option<String>> {
    put_each(attrs, |name, value| xattr::set_fd(fd, name, value))
}

/// Puts `attrs` on entry `name` of folder `dir` (a symlink itself, not followed).
pub fn put_at(dir: BorrowedFd, name: &CStr, attrs: &[&Attr]) -> io::Result<Option<String>> {
    put_each(attrs, |attr, value| xattr::set_at(dir, name, attr, value))
}

fn put_each(
    attrs: &[&Attr],
    mut set: impl FnMut(&[u8], &[u8]) -> io::Result<()>,
) -> io::Result<Option<String>> {
    let mut skipped = None;
    for (name, value) in attrs {
        match set(name, value) {
            Ok(()) => {}
            Err(e) if xattr::unsupported(&e) => {
                skipped.get_or_insert_with(|| {
                    format!(
                        "extended attribute {} not put back: {e}",
                        String::from_utf8_lossy(name)
                    )
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(skipped)
}
