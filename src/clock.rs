//! Owns reading the wall clock. A clock set before 1970 (a dead RTC battery) is a time
//! like any other, never a panic.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Local, Utc};

/// The current time in UTC.
pub fn now_utc() -> DateTime<Utc> {
    utc(SystemTime::now())
}

/// `t` in UTC, before 1970 as well as after.
fn utc(t: SystemTime) -> DateTime<Utc> {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    };
    DateTime::from_timestamp(secs, nanos).unwrap_or_default()
}

/// The current time in the local time zone.
pub fn now_local() -> DateTime<Local> {
    now_utc().with_timezone(&Local)
}

/// The current time in UTC as RFC 3339 with whole seconds, as the catalog stores it.
pub fn now_rfc3339() -> String {
    now_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn clock_set_before_1970_is_a_time_not_a_panic() {
        let t = super::utc(UNIX_EPOCH - Duration::new(1, 500_000_000));
        assert_eq!(t.timestamp(), -2);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert_eq!(
            super::utc(UNIX_EPOCH - Duration::from_secs(86_400)).to_rfc3339(),
            "1969-12-31T00:00:00+00:00"
        );
        assert!(super::now_utc().timestamp() > 0);
    }
}
