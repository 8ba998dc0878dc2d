//! `phlb status`: per snapshot name, the newest complete snapshot, its age and whether
//! it is stale by `MAX_AGE`, and how the last run went; exit 1 when any name is stale or
//! its last run failed. The web UI's snapshots page shows the same `NameStatus`.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::catalog::web::{self, Run};
use crate::catalog::{Db, SnapshotRow};
use crate::cli::StatusArgs;
use crate::commands::select::open_read;
use crate::config::Config;
use crate::output::{Cell, Format, Table};
use crate::progress::Ui;
use crate::units::human_age;
use crate::Outcome;

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
    /// The last run failed: files failed, or it was killed (incomplete, no writer alive).
    pub failed: bool,
    /// The clock was wrong for one of its snapshots (see `stamp::CLOCK_SLACK_SECS`).
    pub clock: Option<String>,
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
pub fn taken_at(r: &Run) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(r.stamp.instant_ns)
}

/// The status of every name in the catalog at time `now`; `writer_alive` says whether
/// a writing run holds the root (then a newest incomplete run is running, not failed).
pub fn statuses(
    db: &Db,
    config: &Config,
    now: DateTime<Utc>,
    writer_alive: bool,
) -> Result<Vec<NameStatus>> {
    let mut out = Vec::new();
    for name in web::names(db)? {
        // A snapshot whose folder is gone (deleted by hand) is `missing`, never newest.
        let root = &config.backup_path;
        let present = |r: &Run| crate::root::latest::on_disk(root, &r.name, &r.timestamp);
        let (mut last, complete) = web::newest(db, &name, &present)?;
        if let Some(l) = last.as_mut() {
            l.status = crate::root::latest::shown_status(root, &l.name, &l.timestamp, &l.status)
                .to_string();
        }
        let taken = complete.as_ref().map(taken_at);
        let age_secs = taken.map(|t| (now - t).num_seconds());
        let stale = match (config.max_age, age_secs) {
            (None, _) => false,
            (Some(max), Some(age)) => age > max.approx().as_secs() as i64,
            (Some(_), None) => true,
        };
        let clock = crate::commands::select::clock_problems(db, Some(&name))?
            .first()
            .map(|a| a.to_string());
        let failed = last
            .as_ref()
            .is_some_and(|l| l.failed > 0 || (l.status == "incomplete" && !writer_alive));
        out.push(NameStatus {
            newest: complete
                .as_ref()
                .map(|c| format!("{}/{}", c.name, c.timestamp)),
            newest_id: complete.as_ref().map(|c| c.id),
            taken_at: complete.as_ref().map(|c| c.stamp.rfc3339()),
            age_secs,
            stale,
            last_run: last.as_ref().map(|l| format!("{}/{}", l.name, l.timestamp)),
            last_status: last.as_ref().map(|l| l.status.clone()),
            last_failed: last.as_ref().map_or(0, |l| l.failed),
            failed,
            clock,
            source: SnapshotRow::sources_of_name(db, &name)?
                .first()
                .map(|s| s.show()),
            name,
        });
    }
    Ok(out)
}

/// What removals left undone on disk while no writer runs (an immutable file): the
/// folders in `.phlb/trash`, and the snapshots with trimmed versions still there.
fn stuck_removals(db: &Db, root: &std::path::Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = crate::root::stuck::in_trash(root)
        .iter()
        .map(|p| crate::units::one_line(p))
        .collect();
    for p in crate::catalog::trim::pending(db)? {
        out.push(format!(
            "{} old version{} trimmed from {}/{}",
            p.paths.len(),
            if p.paths.len() == 1 { "" } else { "s" },
            p.name,
            p.timestamp
        ));
    }
    Ok(out)
}

/// Runs `phlb status` (with `-q`: no table, only the exit code; `--json` still prints).
pub fn run(config: &Config, ui: &Ui, args: &StatusArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config)?;
    let db = catalog.db()?;
    let alive = crate::lock::writer_running(&config.meta_dir());
    let list = statuses(&db, config, crate::clock::now_utc(), alive)?;
    let stuck = if alive {
        Vec::new() // a writer may be deleting them right now
    } else {
        stuck_removals(&db, &root)?
    };
    let outcome = if list.iter().any(NameStatus::problem) {
        Outcome::Problems
    } else {
        Outcome::Clean
    };
    if args.json {
        let doc = serde_json::json!({
            "max_age": config.max_age.map(|m| m.to_string()),
            "ok": outcome == Outcome::Clean,
            "names": list,
            "stuck_removals": stuck,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(outcome);
    }
    if ui.quiet() {
        return Ok(outcome);
    }
    let mut t = Table::new(&["name", "source", "newest", "age", "state", "last run"]);
    for s in &list {
        let mut state: Vec<&str> = Vec::new();
        if s.stale {
            state.push("STALE");
        }
        if s.failed {
            state.push("LAST RUN FAILED");
        }
        if s.clock.is_some() {
            state.push("CLOCK WRONG");
        }
        let state = if state.is_empty() {
            "ok".to_string()
        } else {
            state.join(", ")
        };
        let last = match (&s.last_run, &s.last_status) {
            (Some(r), Some(st)) if s.last_failed > 0 => {
                format!("{r} ({st}, {} failed)", s.last_failed)
            }
            (Some(r), Some(st)) => format!("{r} ({st})"),
            _ => "-".into(),
        };
        t.push(vec![
            s.name.clone().into(),
            s.source.clone().into(),
            s.newest.clone().into(),
            Cell::Text(s.age_text()),
            state.into(),
            last.into(),
        ]);
    }
    print!("{}", t.render(Format::Table, false));
    for line in &stuck {
        println!(
            "stuck removal: {line} (a run could not delete it; its warning says how to fix it)"
        );
    }
    if let Some(max) = config.max_age {
        println!("MAX_AGE = {max}");
    }
    Ok(outcome)
}
