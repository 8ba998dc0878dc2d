//! Owns how an mtime is stored: nanoseconds since the epoch in 64 bits where they fit
//! (1677 to 2262), and exactly as text beside them for any other time, so a file from
//! the year 2400 keeps its time to the nanosecond.

/// Splits `ns` (nanoseconds since the epoch) into the `mtime_ns` and `mtime_exact`
/// column values.
pub fn to_columns(ns: i128) -> (i64, Option<String>) {
    match i64::try_from(ns) {
        Ok(v) => (v, None),
        Err(_) => {
            let near = if ns < 0 { i64::MIN } else { i64::MAX };
            let (s, n) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
            (near, Some(format!("{s}.{n:09}")))
        }
    }
}

/// Puts an mtime back together from its `mtime_ns` and `mtime_exact` columns.
pub fn from_columns(ns: i64, exact: Option<&str>) -> i128 {
    let Some(text) = exact else {
        return i128::from(ns);
    };
    let parsed = text.split_once('.').and_then(|(s, n)| {
        let s: i128 = s.parse().ok()?;
        let n: i128 = n.parse().ok()?;
        Some(s * 1_000_000_000 + n)
    });
    parsed.unwrap_or(i128::from(ns))
}

/// Reads an mtime from the `mtime_ns` column at `at` and `mtime_exact` right after it.
pub(super) fn read(r: &rusqlite::Row, at: usize) -> rusqlite::Result<i128> {
    let ns: i64 = r.get(at)?;
    let exact: Option<String> = r.get(at + 1)?;
    Ok(from_columns(ns, exact.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_round_trips() {
        let cases: [i128; 6] = [
            0,
            1_700_000_000_123_456_789,
            -1,
            13_569_465_600 * 1_000_000_000 + 7, // 2400-01-01
            -2_208_988_800 * 1_000_000_000 - 3, // before 1900
            i128::from(i64::MAX) + 1,
        ];
        for ns in cases {
            let (v, exact) = to_columns(ns);
            assert_eq!(from_columns(v, exact.as_deref()), ns, "{ns}");
        }
        assert_eq!(to_columns(5), (5, None));
    }
}
