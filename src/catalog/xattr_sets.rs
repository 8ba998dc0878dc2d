//! Owns the `xattr_sets` table: each distinct set of extended attributes once, found
//! by its hash, and the ids entries and stored copies refer to it by.

use std::collections::HashMap;

use anyhow::{Context, Result};
use rusqlite::OptionalExtension;

use super::Db;
use crate::xattr_set::XattrSet;

/// The id of the set with hash `hash`, when the catalog has it.
pub fn find(db: &Db, hash: &[u8]) -> Result<Option<i64>> {
    Ok(db
        .conn()
        .prepare_cached("SELECT id FROM xattr_sets WHERE hash = ?1")?
        .query_row([hash], |r| r.get(0))
        .optional()?)
}

/// The ids of the attribute sets the entries of snapshot `run_id` hold, by hash.
pub fn hashes_of_run(db: &Db, run_id: i64) -> Result<std::collections::HashMap<[u8; 32], i64>> {
    let mut st = db.conn().prepare(
        "SELECT id, hash FROM xattr_sets WHERE id IN
           (SELECT DISTINCT xattr_set_id FROM entries
            WHERE snapshot_id = ?1 AND xattr_set_id IS NOT NULL)",
    )?;
    let rows = st.query_map([run_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        let (id, hash) = row?;
        if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
            out.insert(hash, id);
        }
    }
    Ok(out)
}

/// The largest id given out so far (0 when none).
pub fn max_id(db: &Db) -> Result<i64> {
    Ok(db
        .conn()
        .query_row("SELECT coalesce(max(id), 0) FROM xattr_sets", [], |r| {
            r.get(0)
        })?)
}

/// Records `set` under `id` when its hash is new (a set recorded already keeps its id).
pub fn record(db: &Db, id: i64, set: &XattrSet) -> Result<()> {
    db.conn()
        .prepare_cached("INSERT OR IGNORE INTO xattr_sets (id, hash, body) VALUES (?1, ?2, ?3)")?
        .execute(rusqlite::params![id, &set.hash()[..], set.encode()])?;
    Ok(())
}

/// The id of `set`: the one recorded, or a new one (for writers holding the catalog in a
/// transaction of their own: `add`).
pub fn id_of(db: &Db, set: &XattrSet) -> Result<i64> {
    if let Some(id) = find(db, &set.hash())? {
        return Ok(id);
    }
    let id = max_id(db)? + 1;
    record(db, id, set)?;
    Ok(id)
}

/// The set with id `id`.
pub fn body(db: &Db, id: i64) -> Result<XattrSet> {
    let bytes: Vec<u8> = db
        .conn()
        .prepare_cached("SELECT body FROM xattr_sets WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .with_context(|| format!("attribute set {id} is not in the catalog"))?;
    XattrSet::decode(&bytes)
}

/// Every recorded set by id (a catalog holds one row per distinct set, so few).
pub fn all(db: &Db) -> Result<HashMap<i64, XattrSet>> {
    let mut stmt = db.conn().prepare("SELECT id, body FROM xattr_sets")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, body) = row?;
        out.insert(id, XattrSet::decode(&body)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let catalog =
            crate::catalog::Catalog::open(dir.path(), crate::catalog::Access::Write).unwrap();
        let db = catalog.db().unwrap();
        let set = XattrSet::new(vec![(b"user.a".to_vec(), b"1".to_vec())]).unwrap();
        let id = id_of(&db, &set).unwrap();
        assert_eq!(id_of(&db, &set).unwrap(), id);
        assert_eq!(body(&db, id).unwrap(), set);
        assert_eq!(find(&db, &set.hash()).unwrap(), Some(id));
        assert_eq!(max_id(&db).unwrap(), id);
        assert_eq!(all(&db).unwrap()[&id], set);
    }
}
