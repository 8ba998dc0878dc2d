//! Owns phlb's one duration syntax, used by every option and ini key that takes a span
//! of time (`--keep-within`, `KEEP_WITHIN`, and later watch delays and ages).
//!
//! A duration is one or more `<number><unit>` parts, e.g. `30d`, `1d12h`, `90min`; a bare
//! number is seconds. Units: `s`, `min`, `h`, `d` (24 h), `w` (7 d), `mo` (calendar
//! month), `y` (calendar year = 12 months). A bare `m` is refused (minutes or months?),
//! and so is any other unit.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeDelta};

/// A span of time: whole calendar months plus seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub months: u32,
    pub secs: u64,
}

impl Span {
    /// The local time this span before `t` (months counted on the calendar, clamped to
    /// the month's last day), or None before the calendar's start.
    pub fn before(&self, t: NaiveDateTime) -> Option<NaiveDateTime> {
        let t = t.checked_sub_months(Months::new(self.months))?;
        let secs = i64::try_from(self.secs).ok()?;
        t.checked_sub_signed(TimeDelta::try_seconds(secs)?)
    }

    /// The instant this span before `t`, as restic's `--keep-within` counts it: in `t`'s
    /// fixed offset, months back on the calendar with Go's `AddDate` normalisation (a day
    /// past the month's end rolls into the next month: Mar 29 − 1 month = "Feb 29" =
    /// Mar 1 in 2026), then the seconds back; None before the calendar's start.
    pub fn before_go(&self, t: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        let local = t.naive_local();
        let months =
            i64::from(local.year()) * 12 + i64::from(local.month0()) - i64::from(self.months);
        let year = i32::try_from(months.div_euclid(12)).ok()?;
        let first = NaiveDate::from_ymd_opt(year, months.rem_euclid(12) as u32 + 1, 1)?;
        let day = first.checked_add_signed(TimeDelta::try_days(i64::from(local.day0()))?)?;
        let shifted = day.and_time(local.time());
        let secs = i64::try_from(self.secs).ok()?;
        let back = shifted.checked_sub_signed(TimeDelta::try_seconds(secs)?)?;
        back.and_local_timezone(*t.offset()).single()
    }

    /// The span as a fixed duration (a month counted as 30 days, a year as 365), for
    /// waits and ages that have no calendar.
    pub fn approx(&self) -> std::time::Duration {
        let month_secs = |m: u64| (m / 12) * 365 * 86_400 + (m % 12) * 30 * 86_400;
        std::time::Duration::from_secs(month_secs(self.months as u64).saturating_add(self.secs))
    }
}

impl std::fmt::Display for Span {
    /// Shows the span back in the syntax it is read in (e.g. `1y2mo`, `1d12h`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, mo) = (self.months / 12, self.months % 12);
        let mut out = String::new();
        if y > 0 {
            out += &format!("{y}y");
        }
        if mo > 0 {
            out += &format!("{mo}mo");
        }
        let mut s = self.secs;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("min", 60)] {
            if s >= size {
                out += &format!("{}{unit}", s / size);
                s %= size;
            }
        }
        if s > 0 || out.is_empty() {
            out += &format!("{s}s");
        }
        f.write_str(&out)
    }
}

/// Reads a duration; the error says what was wrong, for a one-line message.
pub fn parse(text: &str) -> Result<Span, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. 30d, 12h, 90min or 3600 (seconds)".into());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let secs = t.parse().map_err(|_| format!("{text:?}: too large"))?;
        return Ok(Span { months: 0, secs });
    }
    let mut span = Span::default();
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{text:?}: expected a number before {rest:?}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let too_large = || format!("{text:?}: too large");
        let add_secs = |span: &mut Span, size: u64| -> Result<(), String> {
            let s = n.checked_mul(size).ok_or_else(too_large)?;
            span.secs = span.secs.checked_add(s).ok_or_else(too_large)?;
            Ok(())
        };
        let add_months = |span: &mut Span, size: u64| -> Result<(), String> {
            let m = n.checked_mul(size).ok_or_else(too_large)?;
            let m = u32::try_from(m).map_err(|_| too_large())?;
            span.months = span.months.checked_add(m).ok_or_else(too_large)?;
            Ok(())
        };
        match unit {
            "s" => add_secs(&mut span, 1)?,
            "min" => add_secs(&mut span, 60)?,
            "h" => add_secs(&mut span, 3_600)?,
            "d" => add_secs(&mut span, 86_400)?,
            "w" => add_secs(&mut span, 7 * 86_400)?,
            "mo" => add_months(&mut span, 1)?,
            "y" => add_months(&mut span, 12)?,
            "m" => {
                return Err(format!(
                    "{text:?}: \"m\" is ambiguous; write \"min\" for minutes or \"mo\" for months"
                ))
            }
            "" => return Err(format!("{text:?}: a unit is missing after {n}")),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use s, min, h, d, w, mo or y)"
                ))
            }
        }
    }
    Ok(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit_and_refuses_the_rest() {
        let ok = [
            ("90", 0, 90),
            ("90s", 0, 90),
            ("5min", 0, 300),
            ("26h", 0, 93_600),
            ("30d", 0, 2_592_000),
            ("2w", 0, 1_209_600),
            ("1mo", 1, 0),
            ("2y", 24, 0),
            ("1y2mo3d4h", 14, 3 * 86_400 + 4 * 3_600),
            (" 1d ", 0, 86_400),
        ];
        for (text, months, secs) in ok {
            assert_eq!(parse(text), Ok(Span { months, secs }), "{text}");
        }
        let bad = [
            ("", "empty"),
            ("5m", "ambiguous"),
            ("5x", "unknown unit \"x\""),
            ("d", "expected a number"),
            ("5d3", "a unit is missing"),
            ("-5d", "expected a number"),
            ("99999999999999999999", "too large"),
            ("9999999999999y", "too large"),
        ];
        for (text, want) in bad {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn shows_back_what_it_reads() {
        for text in [
            "30d",
            "1y2mo",
            "1d12h",
            "1h30min",
            "45s",
            "0s",
            "1d1h1min1s",
        ] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn months_count_on_the_calendar() {
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let one_month = parse("1mo").unwrap();
        assert_eq!(
            one_month.before(t("2026-03-31 10:00")),
            Some(t("2026-02-28 10:00"))
        );
        assert_eq!(
            parse("1d").unwrap().before(t("2026-01-01 00:30")),
            Some(t("2025-12-31 00:30"))
        );
    }

    #[test]
    fn keep_within_counts_back_as_go_adddate() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
        let cases = [
            // Mar 29 − 1 month = "Feb 29" = Mar 1 (2026 is no leap year).
            (
                "1mo",
                "2026-03-29T10:00:00+02:00",
                "2026-03-01T10:00:00+02:00",
            ),
            (
                "1mo",
                "2026-03-31T10:00:00+02:00",
                "2026-03-03T10:00:00+02:00",
            ),
            (
                "1mo",
                "2024-03-30T10:00:00+01:00",
                "2024-03-01T10:00:00+01:00",
            ),
            ("1y", "2024-02-29T00:00:00Z", "2023-03-01T00:00:00Z"),
            ("1mo", "2026-01-15T00:00:00Z", "2025-12-15T00:00:00Z"),
            // A day is 24 h in the recorded fixed offset, whatever DST did since.
            (
                "1d",
                "2025-10-26T03:00:00+01:00",
                "2025-10-25T03:00:00+01:00",
            ),
            ("1mo1d", "2026-03-31T10:00:00Z", "2026-03-02T10:00:00Z"),
        ];
        for (span, latest, want) in cases {
            let got = parse(span).unwrap().before_go(t(latest)).unwrap();
            assert_eq!(got, t(want), "{span} before {latest}");
            assert_eq!(got.offset(), t(latest).offset());
        }
    }
}
