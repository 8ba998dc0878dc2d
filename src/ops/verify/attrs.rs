//! Owns verify's check of extended attributes: what a stored copy, folder or symlink in
//! a snapshot holds against the set the catalog recorded for it. A backup filesystem
//! without xattr support holds none (the catalog alone keeps them): nothing to compare.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::Result;

use crate::catalog::Db;
use crate::sys::xattr::{self, Attr};
use crate::xattr_set::XattrSet;

/// Every recorded attribute set, and which names this run can read.
pub(super) struct Sets {
    by_id: HashMap<i64, XattrSet>,
    as_root: bool,
    /// False when the root's filesystem holds no attributes (the catalog alone has them).
    on_disk: bool,
}

impl Sets {
    pub(super) fn load(db: &Db, root: &Path) -> Result<Sets> {
        let on_disk = matches!(
            crate::scan::XattrScan::for_root(true, root),
            crate::scan::XattrScan::Keep { .. }
        );
        Ok(Sets {
            by_id: crate::catalog::xattr_sets::all(db)?,
            as_root: crate::store::running_as_root(),
            on_disk,
        })
    }

    /// Why what `path` (not followed) holds differs from set `id` (0: none), when it
    /// does. Only names this run can read are compared.
    pub(super) fn differs(&self, path: &Path, id: i64) -> Option<String> {
        if !self.on_disk {
            return None;
        }
        let wanted = crate::xattr_set::readable(self.as_root);
        let read = crate::sys::at::with_cstr(path.as_os_str().as_bytes(), |p| {
            xattr::read_path(p, &wanted)
        });
        let now = match read {
            Ok(now) => now,
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return None,
            Err(e) => return Some(format!("cannot read its extended attributes: {e}")),
        };
        let recorded: Vec<&Attr> = match self.by_id.get(&id) {
            Some(set) => set.attrs().iter().filter(|a| wanted(&a.0)).collect(),
            None if id == 0 => Vec::new(),
            None => return Some(format!("attribute set {id} is not in the catalog")),
        };
        let name = |n: &[u8]| String::from_utf8_lossy(n).into_owned();
        let mut changes = Vec::new();
        for (n, v) in &recorded {
            match now.iter().find(|a| &a.0 == n) {
                None => changes.push(format!("{} removed", name(n))),
                Some(a) if &a.1 != v => changes.push(format!("{} changed", name(n))),
                Some(_) => {}
            }
        }
        for (n, _) in &now {
            if !recorded.iter().any(|a| &a.0 == n) {
                changes.push(format!("{} added", name(n)));
            }
        }
        (!changes.is_empty()).then(|| {
            format!(
                "extended attributes differ from the catalog: {}",
                changes.join(", ")
            )
        })
    }
}
