//! Table-driven checks of the policy on synthetic times.

use super::*;
use crate::duration;

fn t(s: &str) -> DateTime<FixedOffset> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .fixed_offset()
}

/// Runs `policy` on `times` (in the creation order, UTC) and gives for each time the rule
/// names that keep it, `-` for a removed one.
fn run(policy: Policy, times: &[&str]) -> Vec<String> {
    let times: Vec<_> = times.iter().map(|s| t(s)).collect();
    show(select(&policy, &times))
}

fn show(verdicts: Vec<Verdict>) -> Vec<String> {
    verdicts
        .into_iter()
        .map(|v| {
            if v.keep() {
                v.kept_by
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join("+")
            } else {
                "-".into()
            }
        })
        .collect()
}

fn up(n: u32) -> Option<Count> {
    Some(Count::Up(n))
}

#[test]
fn policies_on_synthetic_times() {
    let cases: Vec<(&str, Policy, Vec<&str>, Vec<&str>)> = vec![
        (
            "keep-last keeps the N newest",
            Policy {
                last: up(2),
                ..Policy::default()
            },
            vec!["2026-01-01 10:00", "2026-01-02 10:00", "2026-01-03 10:00"],
            vec!["-", "last", "last"],
        ),
        (
            "two in one day: daily keeps the newer of them",
            Policy {
                daily: up(5),
                ..Policy::default()
            },
            vec!["2026-01-01 09:00", "2026-01-01 18:00", "2026-01-02 08:00"],
            // The oldest is kept while the rule has count left (restic 0.16+).
            vec!["daily", "daily", "daily"],
        ),
        (
            "ties in time: the later recorded one counts as newer",
            Policy {
                daily: up(1),
                ..Policy::default()
            },
            vec!["2026-01-01 09:00", "2026-01-01 09:00"],
            vec!["-", "daily"],
        ),
        (
            "missing days are not counted: daily 3 reaches back over a gap",
            Policy {
                daily: up(3),
                ..Policy::default()
            },
            vec![
                "2026-01-01 10:00",
                "2026-01-05 10:00",
                "2026-01-20 10:00",
                "2026-01-21 10:00",
            ],
            vec!["-", "daily", "daily", "daily"],
        ),
        (
            "ISO week 53 of 2026 spans the new year",
            Policy {
                weekly: up(2),
                ..Policy::default()
            },
            vec![
                "2026-12-27 10:00", // Sunday: week 52
                "2026-12-28 10:00", // Monday: week 53 of 2026
                "2027-01-03 10:00", // Sunday: still week 53 of 2026
            ],
            vec!["weekly", "-", "weekly"],
        ),
        (
            "year boundary for monthly and yearly",
            Policy {
                monthly: up(2),
                yearly: up(2),
                ..Policy::default()
            },
            vec!["2025-11-30 10:00", "2025-12-31 23:59", "2026-01-01 00:00"],
            vec!["-", "monthly+yearly", "monthly+yearly"],
        ),
        (
            "hourly buckets",
            Policy {
                hourly: up(2),
                ..Policy::default()
            },
            vec!["2026-01-01 10:05", "2026-01-01 10:55", "2026-01-01 11:00"],
            vec!["-", "hourly", "hourly"],
        ),
        (
            "keep-within counts from the newest snapshot, not from now",
            Policy {
                within: Some(duration::parse("2d").unwrap()),
                ..Policy::default()
            },
            vec![
                "2020-01-01 10:00",
                "2020-01-08 09:59",
                "2020-01-08 10:00",
                "2020-01-10 10:00",
            ],
            // Made *after* the span before the newest, as restic: 10:00 itself goes.
            vec!["-", "-", "-", "within"],
        ),
        (
            "the newest is kept even by counts of 0",
            Policy {
                daily: up(0),
                ..Policy::default()
            },
            vec!["2026-01-01 10:00", "2026-01-02 10:00"],
            vec!["-", "newest"],
        ),
        (
            "unlimited keeps one per bucket",
            Policy {
                daily: Some(Count::Unlimited),
                ..Policy::default()
            },
            vec![
                "2026-01-01 10:00",
                "2026-01-01 11:00",
                "2026-01-02 10:00",
                "2026-01-09 10:00",
            ],
            vec!["daily", "daily", "daily", "daily"],
        ),
        (
            "rules overlap: last and daily keep the same snapshot",
            Policy {
                last: up(1),
                daily: up(2),
                ..Policy::default()
            },
            vec!["2026-01-01 10:00", "2026-01-01 12:00", "2026-01-02 10:00"],
            vec!["-", "daily", "last+daily"],
        ),
        (
            "the newest is the one made last, whatever its time",
            Policy {
                last: up(1),
                ..Policy::default()
            },
            vec!["2026-01-03 10:00", "2026-01-01 10:00", "2026-01-02 10:00"],
            vec!["-", "-", "last"],
        ),
    ];
    for (what, policy, times, want) in cases {
        assert_eq!(run(policy, &times), want, "{what}");
    }
}

#[test]
fn a_policy_with_no_rule_is_empty() {
    assert!(Policy::default().is_empty());
    // Counts of 0 alone are no policy either (restic: "no policy was specified").
    assert!(Policy {
        daily: up(0),
        last: up(0),
        ..Policy::default()
    }
    .is_empty());
    assert!(!Policy {
        daily: up(0),
        last: up(1),
        ..Policy::default()
    }
    .is_empty());
    // A span of 0 is no rule either (`KEEP_WITHIN = 0` switches it off).
    assert!(Policy {
        within: Some(duration::Span::default()),
        last: up(0),
        ..Policy::default()
    }
    .is_empty());
    assert!(!Policy {
        within: Some(duration::parse("1s").unwrap()),
        ..Policy::default()
    }
    .is_empty());
}

#[test]
fn counts_read_numbers_and_unlimited_only() {
    assert_eq!(Count::parse("7"), Ok(Count::Up(7)));
    assert_eq!(Count::parse("Unlimited"), Ok(Count::Unlimited));
    for bad in ["-1", "", "x", "1.5"] {
        assert!(Count::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_span_past_the_calendar_start_keeps_everything() {
    let policy = Policy {
        within: Some(duration::parse("999999y").unwrap()),
        ..Policy::default()
    };
    assert_eq!(
        run(policy, &["0001-01-01 00:00", "2026-01-01 00:00"]),
        vec!["within", "within"]
    );
}

/// Runs `policy` on times with their recorded offsets (RFC 3339), in the creation order.
fn run_zoned(policy: Policy, times: &[&str]) -> Vec<String> {
    let times: Vec<_> = times
        .iter()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap())
        .collect();
    show(select(&policy, &times))
}

#[test]
fn buckets_and_keep_within_across_the_2025_dst_switches() {
    let within = |s: &str| Policy {
        within: Some(duration::parse(s).unwrap()),
        ..Policy::default()
    };
    let cases: Vec<(&str, Policy, Vec<&str>, Vec<&str>)> = vec![
        (
            "Berlin, summer time ends: days are the recorded offset's, not UTC's",
            Policy {
                daily: up(2),
                ..Policy::default()
            },
            vec![
                "2025-10-25T10:00:00+02:00",
                "2025-10-25T23:30:00+02:00", // 21:30Z
                "2025-10-26T00:10:00+02:00", // 22:10Z, same UTC day, next local day
            ],
            vec!["-", "daily", "daily"],
        ),
        (
            "Berlin, the repeated hour: 02:30 summer time and 02:10 winter time share hour 02",
            Policy {
                hourly: up(3),
                ..Policy::default()
            },
            vec![
                "2025-10-26T01:30:00+02:00",
                "2025-10-26T02:30:00+02:00",
                "2025-10-26T02:10:00+01:00",
            ],
            vec!["hourly", "-", "hourly"],
        ),
        (
            "Berlin, the repeated hour: the newest is the one made last, named earlier",
            Policy {
                last: up(1),
                ..Policy::default()
            },
            vec!["2025-10-26T02:30:00+02:00", "2025-10-26T02:10:00+01:00"],
            vec!["-", "last"],
        ),
        (
            "Berlin, --keep-within 1d across summer time's end is 24 h, not a wall-clock day",
            within("1d"),
            vec![
                "2025-10-25T12:30:00+02:00", // 25 h before the newest
                "2025-10-25T13:30:00+02:00", // 23.5 h before
                "2025-10-26T12:00:00+01:00",
            ],
            vec!["-", "within", "within"],
        ),
        (
            "Berlin, --keep-within 1d across summer time's start is 24 h too",
            within("1d"),
            vec![
                "2025-03-29T10:30:00+01:00", // 24.5 h before the newest
                "2025-03-29T11:30:00+01:00", // 23.5 h before (24.5 h by the wall clock)
                "2025-03-30T12:00:00+02:00",
            ],
            vec!["-", "within", "within"],
        ),
        (
            "Berlin, summer time starts: 01:50 and 03:10 are 20 minutes apart",
            within("1h"),
            vec!["2025-03-30T01:50:00+01:00", "2025-03-30T03:10:00+02:00"],
            vec!["within", "within"],
        ),
        (
            "New York, summer time starts: 01:50 EST and 03:10 EDT are 20 minutes apart",
            within("1h"),
            vec!["2025-03-09T01:50:00-05:00", "2025-03-09T03:10:00-04:00"],
            vec!["within", "within"],
        ),
        (
            "New York, summer time ends: 01:30 EDT then 01:10 EST, the later made is newest",
            Policy {
                last: up(1),
                hourly: up(1),
                ..Policy::default()
            },
            vec!["2025-11-02T01:30:00-04:00", "2025-11-02T01:10:00-05:00"],
            vec!["-", "last+hourly"],
        ),
        (
            "New York, --keep-within 1d across summer time's end",
            within("1d"),
            vec![
                "2025-11-01T11:30:00-04:00", // 25.5 h before the newest
                "2025-11-01T12:30:00-04:00", // 24.5 h before
                "2025-11-01T13:30:00-04:00", // 23.5 h before
                "2025-11-02T12:00:00-05:00",
            ],
            vec!["-", "-", "within", "within"],
        ),
        (
            "New York, days across summer time's end in the recorded offsets",
            Policy {
                daily: up(5),
                ..Policy::default()
            },
            vec![
                "2025-11-01T23:30:00-04:00", // 03:30Z Nov 2
                "2025-11-02T00:30:00-04:00", // 04:30Z Nov 2
                "2025-11-02T23:30:00-05:00", // 04:30Z Nov 3, still Nov 2 there
            ],
            vec!["daily", "-", "daily"],
        ),
        (
            "month end: Mar 29 - 1 month is Mar 1 (Go's AddDate), so Feb 28 goes",
            within("1mo"),
            vec!["2026-02-28T12:00:00Z", "2026-03-29T10:00:00Z"],
            vec!["-", "within"],
        ),
        (
            "month end: only what is made after Mar 1 10:00 is within",
            within("1mo"),
            vec![
                "2026-03-01T10:00:00Z",
                "2026-03-01T10:00:01Z",
                "2026-03-29T10:00:00Z",
            ],
            vec!["-", "within", "within"],
        ),
    ];
    for (what, policy, times, want) in cases {
        assert_eq!(run_zoned(policy, &times), want, "{what}");
    }
}
