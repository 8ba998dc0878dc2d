//! Owns the retention policy: which snapshots of one name a prune keeps, and why. Pure
//! decisions on snapshot times, with the semantics of restic's `forget` since 0.16
//! (restic#4366; `internal/restic/snapshot_policy.go`):
//!
//! - snapshots are taken newest first (phlb: in the creation order, so the newest is
//!   the one made last); a snapshot is kept for a bucket rule (hourly, daily, weekly,
//!   monthly, yearly) when its calendar bucket differs from that of the last snapshot the
//!   rule kept and the rule has count left, and the oldest snapshot is kept while a rule
//!   has count left; `keep-last` keeps the N newest; rules overlap, so one snapshot can
//!   be kept by several;
//! - buckets are read in the local calendar of the UTC offset recorded when each
//!   snapshot was made (as restic reads the offset stored in each snapshot's time);
//! - `keep-within` keeps every snapshot made after the span before the newest one (not
//!   before now), counted in the newest's recorded fixed offset as restic does:
//!   `latest.AddDate(0, -months, 0)` with Go's normalisation (Mar 29 − 1 month = "Feb
//!   29" = Mar 1), then minus the span's seconds (`1d` is exactly 24 h, also across a
//!   daylight-saving switch);
//! - a count or span of 0 is no rule, and a policy of only zeros is empty;
//! - phlb's one addition: the newest snapshot is always kept.
//!
//! Weeks are ISO weeks (a week 53 belongs to its ISO year).

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, Timelike};

use crate::duration::Span;

/// How many snapshots a rule may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Unlimited,
    Up(u32),
}

impl Count {
    /// Reads `unlimited` or a whole number ≥ 0.
    pub fn parse(text: &str) -> Result<Count, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(Count::Unlimited);
        }
        t.parse::<u32>()
            .map(Count::Up)
            .map_err(|_| format!("expected a whole number ≥ 0 or \"unlimited\", found {text:?}"))
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Count::Unlimited => f.write_str("unlimited"),
            Count::Up(n) => write!(f, "{n}"),
        }
    }
}

/// The rules that can keep a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Within,
    /// The newest snapshot of a name, which no policy removes.
    Newest,
}

impl Rule {
    /// The rule's name as the plan shows it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
            Rule::Within => "within",
            Rule::Newest => "newest",
        }
    }

    /// The calendar bucket of local time `t` for a bucket rule (`Last` gives each
    /// snapshot its own).
    fn bucket(self, t: NaiveDateTime, position: usize) -> i64 {
        let (y, m, d, h) = (
            t.year() as i64,
            t.month() as i64,
            t.day() as i64,
            t.hour() as i64,
        );
        match self {
            Rule::Hourly => ((y * 100 + m) * 100 + d) * 100 + h,
            Rule::Daily => (y * 100 + m) * 100 + d,
            Rule::Weekly => {
                let w = t.iso_week();
                w.year() as i64 * 100 + w.week() as i64
            }
            Rule::Monthly => y * 100 + m,
            Rule::Yearly => y,
            Rule::Last | Rule::Within | Rule::Newest => position as i64,
        }
    }
}

/// A retention policy: every rule is optional; a policy with none is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub last: Option<Count>,
    pub hourly: Option<Count>,
    pub daily: Option<Count>,
    pub weekly: Option<Count>,
    pub monthly: Option<Count>,
    pub yearly: Option<Count>,
    pub within: Option<Span>,
    /// Per-file retention (`--keep-versions`): each path keeps only its N newest distinct
    /// contents in the snapshots; not a snapshot rule.
    pub versions: Option<u32>,
}

impl Policy {
    /// True when no rule is given (or only counts and spans of 0, which restic also
    /// takes as no policy): prune refuses such a policy.
    pub fn is_empty(&self) -> bool {
        self.keeps_all_snapshots() && self.rules().versions.is_none()
    }

    /// True when no snapshot rule is given (only `versions`, or nothing, or only zeros):
    /// no snapshot is removed by it.
    pub fn keeps_all_snapshots(&self) -> bool {
        let rules = self.rules();
        rules.counted().is_empty() && rules.within.is_none()
    }

    /// The policy without its zeros: a count, span or `versions` of 0 is no rule (how
    /// people switch a rule off, e.g. `KEEP_WITHIN = 0`).
    pub fn rules(&self) -> Policy {
        let count = |c: Option<Count>| c.filter(|c| *c != Count::Up(0));
        Policy {
            last: count(self.last),
            hourly: count(self.hourly),
            daily: count(self.daily),
            weekly: count(self.weekly),
            monthly: count(self.monthly),
            yearly: count(self.yearly),
            within: self.within.filter(|s| *s != Span::default()),
            versions: self.versions.filter(|&n| n > 0),
        }
    }

    /// Fills the rules this policy leaves out from `defaults`.
    pub fn or(self, defaults: &Policy) -> Policy {
        Policy {
            last: self.last.or(defaults.last),
            hourly: self.hourly.or(defaults.hourly),
            daily: self.daily.or(defaults.daily),
            weekly: self.weekly.or(defaults.weekly),
            monthly: self.monthly.or(defaults.monthly),
            yearly: self.yearly.or(defaults.yearly),
            within: self.within.or(defaults.within),
            versions: self.versions.or(defaults.versions),
        }
    }

    fn counted(&self) -> Vec<(Rule, Count)> {
        [
            (Rule::Last, self.last),
            (Rule::Hourly, self.hourly),
            (Rule::Daily, self.daily),
            (Rule::Weekly, self.weekly),
            (Rule::Monthly, self.monthly),
            (Rule::Yearly, self.yearly),
        ]
        .into_iter()
        .filter_map(|(rule, count)| Some((rule, count?)))
        .collect()
    }

    /// The policy in the words of its options, e.g. `--keep-daily 7 --keep-within 30d`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .counted()
            .into_iter()
            .map(|(rule, count)| format!("--keep-{} {count}", rule.name()))
            .collect();
        if let Some(span) = self.within {
            parts.push(format!("--keep-within {span}"));
        }
        if let Some(n) = self.versions {
            parts.push(format!("--keep-versions {n}"));
        }
        parts.join(" ")
    }
}

/// What the policy says of one snapshot: the rules that keep it (empty: remove it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub kept_by: Vec<Rule>,
}

impl Verdict {
    pub fn keep(&self) -> bool {
        !self.kept_by.is_empty()
    }
}

/// Applies `policy` to the snapshots of one name, given in the creation order (oldest
/// first: the last is the newest), each as its instant in the offset recorded when it was
/// made. Returns one verdict per snapshot, in the order of `times`.
pub fn select(policy: &Policy, times: &[DateTime<FixedOffset>]) -> Vec<Verdict> {
    let policy = policy.rules();
    let mut verdicts = vec![Verdict::default(); times.len()];
    let Some(&latest) = times.last() else {
        return verdicts;
    };
    let oldest = times.len() - 1;
    let mut rules: Vec<(Rule, Count, Option<i64>)> = policy
        .counted()
        .into_iter()
        .map(|(rule, count)| (rule, count, None))
        .collect();
    // `None` from `before_go`: the span reaches past the calendar's start, so it holds
    // every snapshot.
    let within = policy.within.map(|span| span.before_go(latest));
    for (position, i) in (0..times.len()).rev().enumerate() {
        let t = times[i];
        for (rule, left, last) in rules.iter_mut() {
            if *left == Count::Up(0) {
                continue;
            }
            let bucket = rule.bucket(t.naive_local(), position);
            if *last != Some(bucket) || position == oldest {
                *last = Some(bucket);
                if let Count::Up(n) = left {
                    *n -= 1;
                }
                verdicts[i].kept_by.push(*rule);
            }
        }
        if let Some(limit) = within {
            if limit.is_none_or(|limit| t > limit) {
                verdicts[i].kept_by.push(Rule::Within);
            }
        }
    }
    if let Some(newest) = verdicts.last_mut() {
        if newest.kept_by.is_empty() {
            newest.kept_by.push(Rule::Newest);
        }
    }
    verdicts
}

#[cfg(test)]
mod tests;
