//! Typed access to the catalog's key/value settings.

use anyhow::Result;
use rusqlite::OptionalExtension;

use super::Db;

/// The value stored under `key`, if any.
pub fn get(db: &Db, key: &str) -> Result<Option<String>> {
    let conn = db.conn();
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Stores `value` under `key`.
pub fn set(db: &Db, key: &str, value: &str) -> Result<()> {
    let conn = db.conn();
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )?;
    Ok(())
}
