//! Owns telling when the clock was wrong for a snapshot: an instant in the future, or
//! runs of one name whose instants go back against the order they were made in.

use super::Stamp;

/// How far a snapshot's instant may lie before that of one made before it, or after
/// now, before phlb calls the clock wrong: 10 minutes (a clock stepped by NTP, a machine
/// resumed from sleep). One threshold for prune (which refuses), status (a failure) and
/// every other reader (one warning per command).
pub const CLOCK_SLACK_SECS: i64 = 600;

/// A snapshot as the clock check sees it.
#[derive(Debug, Clone)]
pub struct Timed {
    /// `NAME/TIMESTAMP`.
    pub label: String,
    pub name: String,
    /// Made by a backup run (a tree copied in by hand takes its place by its instant).
    pub made_by_run: bool,
    pub stamp: Stamp,
}

/// A sign that the clock was wrong when a snapshot was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// Its instant is in the future.
    Future { label: String, instant: String },
    /// `later` was made after `earlier`, but its instant is earlier.
    Disorder {
        earlier: String,
        earlier_at: String,
        later: String,
        later_at: String,
    },
}

impl Anomaly {
    /// What the user can do about it.
    pub fn fix(&self) -> String {
        match self {
            Anomaly::Future { label, .. } => {
                format!("if the clock is right now, remove it with `phlb forget {label}` (or wait)")
            }
            Anomaly::Disorder { .. } => {
                "remove the one made with the wrong clock with `phlb forget NAME/TIMESTAMP`"
                    .to_string()
            }
        }
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Anomaly::Future { label, instant } => write!(
                f,
                "{label}: made at {instant}, in the future: the clock was wrong when it was made"
            ),
            Anomaly::Disorder {
                earlier,
                earlier_at,
                later,
                later_at,
            } => write!(
                f,
                "{later}: made after {earlier} (at {earlier_at}) but its time is {later_at}, \
                 earlier: the clock was wrong for one of them; the newest is the one made last, \
                 {later}"
            ),
        }
    }
}

/// The clock anomalies among `snapshots` at `now_ns` (see `CLOCK_SLACK_SECS`): instants in
/// the future, and runs of one name whose instants go back against the creation order.
pub fn clock_anomalies(snapshots: impl Iterator<Item = Timed>, now_ns: i64) -> Vec<Anomaly> {
    let slack = CLOCK_SLACK_SECS * 1_000_000_000;
    let mut all: Vec<Timed> = snapshots.collect();
    let mut out = Vec::new();
    for t in &all {
        if t.stamp.instant_ns > now_ns.saturating_add(slack) {
            out.push(Anomaly::Future {
                label: t.label.clone(),
                instant: t.stamp.rfc3339(),
            });
        }
    }
    all.retain(|t| t.made_by_run);
    all.sort_by(|a, b| {
        (&a.name, a.stamp.sequence, a.stamp.instant_ns).cmp(&(
            &b.name,
            b.stamp.sequence,
            b.stamp.instant_ns,
        ))
    });
    let mut latest: Option<&Timed> = None;
    for t in &all {
        match latest {
            Some(l) if l.name == t.name => {
                if t.stamp.instant_ns < l.stamp.instant_ns.saturating_sub(slack) {
                    out.push(Anomaly::Disorder {
                        earlier: l.label.clone(),
                        earlier_at: l.stamp.rfc3339(),
                        later: t.label.clone(),
                        later_at: t.stamp.rfc3339(),
                    });
                }
                if t.stamp.instant_ns > l.stamp.instant_ns {
                    latest = Some(t);
                }
            }
            _ => latest = Some(t),
        }
    }
    out
}
