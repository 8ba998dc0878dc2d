//! Per snapshot name, how its backups look now: the newest complete snapshot, its age
//! and whether it is stale by `MAX_AGE`, and how the last run and attempt went. `status`
//! and the web UI's snapshots page show the same `NameStatus`.

use crate::catalog::snapshots::Status;
use crate::catalog::web;
use crate::catalog::{Db, SnapshotRow};
use crate::config::Config;
use crate::root::attempts::Attempt;
use crate::units::human_age;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What one snapshot name's backups look like now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NameStatus {
    pub name: String,
    /// The source that owns the name (`host:/path` of its newest snapshot's source), or
    /// None when its snapshots were all copied in by hand.
    pub source: Option<String>,
    /// `NAME/TIMESTAMP` of the newest complete snapshot.
    pub newest: Option<String>,
    #[serde(skip)]
    pub newest_id: Option<i64>,
    /// When it was taken (from its folder name, so it survives a catalog rebuild), UTC.
    pub taken_at: Option<String>,
    /// Seconds since then.
    pub age_secs: Option<i64>,
    /// Older than `MAX_AGE` (or no complete snapshot while `MAX_AGE` is set).
    pub stale: bool,
    /// `NAME/TIMESTAMP` and status of the newest run of any status.
    pub last_run: Option<String>,
    pub last_status: Option<String>,
    /// Files the last run could not back up.
    pub last_failed: i64,
    /// The last run failed: files failed, or it was killed (incomplete, its run lock
    /// free); or the last backup attempt failed (see `last_attempt`).
    pub failed: bool,
    /// The clock was wrong for one of its snapshots (see `stamp::CLOCK_SLACK_SECS`).
    pub clock: Option<String>,
    /// The last `phlb backup` of this name, as `.phlb/attempts` records it: it may have
    /// failed before any snapshot started.
    pub last_attempt: Option<Attempt>,
}

impl NameStatus {
    /// True when monitoring should alert.
    pub fn problem(&self) -> bool {
        self.stale || self.failed || self.clock.is_some()
    }

    /// The age as a short text (`3h 2min`), or `-`.
    pub fn age_text(&self) -> String {
        self.age_secs.map(human_age).unwrap_or_else(|| "-".into())
    }
}

/// When run `r` was made: its recorded instant (UTC), whatever the reader's time zone.
pub fn taken_at(r: &SnapshotRow) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(r.stamp.instant_ns)
}

/// The status of every name in the catalog at time `now`; `alive(name, timestamp)` says
/// whether an incomplete run is still running (then it is running, not failed).
pub fn statuses(
    db: &Db,
    config: &Config,
    now: DateTime<Utc>,
    alive: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<NameStatus>> {
    let mut out = Vec::new();
    for name in web::names(db)? {
        // A snapshot whose folder is gone (deleted by hand) is `missing`, never newest.
        let root = &config.backup_path;
        let present = |r: &SnapshotRow| crate::root::latest::on_disk(root, &r.name, &r.timestamp);
        let (mut last, complete) = web::newest(db, &name, &present)?;
        if let Some(l) = last.as_mut() {
            l.status = crate::root::latest::shown_status(root, &l.name, &l.timestamp, l.status);
        }
        let taken = complete.as_ref().map(taken_at);
        let age_secs = taken.map(|t| (now - t).num_seconds());
        let stale = match (config.max_age, age_secs) {
            (None, _) => false,
            (Some(max), Some(age)) => age > max.approx().as_secs() as i64,
            (Some(_), None) => true,
        };
        let clock = crate::ops::open::clock_problems(db, Some(&name))?
            .first()
            .map(|a| a.to_string());
        let failed = last.as_ref().is_some_and(|l| {
            l.failed > 0 || (l.status == Status::Incomplete && !alive(&l.name, &l.timestamp))
        });
        out.push(NameStatus {
            newest: complete.as_ref().map(SnapshotRow::label),
            newest_id: complete.as_ref().map(|c| c.id),
            taken_at: complete.as_ref().map(|c| c.stamp.rfc3339()),
            age_secs,
            stale,
            last_run: last.as_ref().map(SnapshotRow::label),
            last_status: last.as_ref().map(|l| l.status.to_string()),
            last_failed: last.as_ref().map_or(0, |l| l.failed),
            failed,
            clock,
            source: SnapshotRow::sources_of_name(db, &name)?
                .first()
                .map(|s| s.show()),
            name,
            last_attempt: None,
        });
    }
    Ok(out)
}

/// What removals left undone on disk while no writer runs (an immutable file): the
/// folders in `.phlb/trash`, and the snapshots with trimmed versions still there.
pub fn stuck_removals(db: &Db, root: &std::path::Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = crate::root::stuck::in_trash(root)
        .iter()
        .map(|p| crate::units::one_line(p))
        .collect();
    for p in crate::catalog::trim::pending(db)? {
        out.push(format!(
            "{} old version{} trimmed from {}",
            p.paths.len(),
            if p.paths.len() == 1 { "" } else { "s" },
            p.run.label()
        ));
    }
    Ok(out)
}

/// Adds the last backup attempt of each name to `list` (`last_per_name` of
/// `root::attempts`): a failed one makes its name failed; a name that was attempted but
/// has no snapshot in the catalog is added (stale too when `MAX_AGE` is set).
pub fn with_attempts(
    mut list: Vec<NameStatus>,
    attempts: BTreeMap<String, Attempt>,
    config: &Config,
) -> Vec<NameStatus> {
    for (name, a) in attempts {
        let failed = a.failed();
        match list.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.failed |= failed;
                s.last_attempt = Some(a);
            }
            None => list.push(NameStatus {
                name,
                newest: None,
                newest_id: None,
                taken_at: None,
                age_secs: None,
                stale: config.max_age.is_some(),
                last_run: None,
                last_status: None,
                last_failed: 0,
                failed,
                clock: None,
                source: None,
                last_attempt: Some(a),
            }),
        }
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list
}
