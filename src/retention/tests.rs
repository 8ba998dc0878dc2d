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
