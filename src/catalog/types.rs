//! The one place where phlb's domain values meet SQL columns: snapshot status, entry
//! kind and hash algorithm read and written as the text the catalog and its views use.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use super::snapshots::Status;
use crate::hash::HashAlgo;
use crate::scan::Kind;

impl FromSql for Status {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        match v.as_str()? {
            "complete" => Ok(Status::Complete),
            "incomplete" => Ok(Status::Incomplete),
            "missing" => Ok(Status::Missing),
            other => Err(FromSqlError::Other(
                format!("unknown snapshot status {other:?}").into(),
            )),
        }
    }
}

impl ToSql for Status {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Kind {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = v.as_str()?;
        Kind::parse(text)
            .ok_or_else(|| FromSqlError::Other(format!("unknown entry kind {text:?}").into()))
    }
}

impl ToSql for Kind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for HashAlgo {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

impl ToSql for HashAlgo {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.to_string().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn values_round_trip_through_sql() {
        let conn = Connection::open_in_memory().unwrap();
        for s in [Status::Complete, Status::Incomplete, Status::Missing] {
            let back: Status = conn.query_row("SELECT ?1", [s], |r| r.get(0)).unwrap();
            assert_eq!(back, s);
        }
        for k in [Kind::File, Kind::Dir, Kind::Symlink] {
            let back: Kind = conn.query_row("SELECT ?1", [k], |r| r.get(0)).unwrap();
            assert_eq!(back, k);
        }
        for h in [HashAlgo::Sha256, HashAlgo::Sha512] {
            let back: HashAlgo = conn.query_row("SELECT ?1", [h], |r| r.get(0)).unwrap();
            assert_eq!(back, h);
            let text: String = conn.query_row("SELECT ?1", [h], |r| r.get(0)).unwrap();
            assert_eq!(text, h.to_string());
        }
        let bad: rusqlite::Result<HashAlgo> = conn.query_row("SELECT 'md5'", [], |r| r.get(0));
        assert!(bad.is_err());
        let bad: rusqlite::Result<Status> = conn.query_row("SELECT 'gone'", [], |r| r.get(0));
        assert!(bad.is_err());
    }
}
