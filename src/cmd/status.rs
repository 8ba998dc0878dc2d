//! `phlb status`: per snapshot name, the newest complete snapshot, its age and whether
//! it is stale by `MAX_AGE`, and how the last run went; exit 1 when any name is stale or
//! its last run failed. The web UI's snapshots page shows the same `NameStatus`.

use anyhow::Result;

use crate::cli::StatusArgs;
use crate::config::Config;
use crate::ops::open::open_read;
use crate::ops::query::status::{statuses, stuck_removals, with_attempts, NameStatus};
use crate::output::{Cell, Format, Table};
use crate::progress::Ui;
use crate::render::status::attempt_text;
use crate::root::attempts::{self};
use crate::Outcome;

/// Runs `phlb status` (with `-q`: no table, only the exit code; `--json` still prints).
pub fn run(config: &Config, ui: &Ui, args: &StatusArgs) -> Result<Outcome> {
    let (root, catalog) = open_read(config, ui)?;
    let db = catalog.db()?;
    let meta = config.meta_dir();
    let alive = |name: &str, ts: &str| crate::lock::run::alive(&meta, name, ts);
    let list = statuses(&db, config, crate::clock::now_utc(), &alive)?;
    let list = with_attempts(list, attempts::last_per_name(&meta)?, config);
    // While a writer runs it may be deleting them right now.
    let stuck = match crate::lock::hold_shared(&meta) {
        Ok(_) => stuck_removals(&db, &root)?,
        Err(_) => Vec::new(),
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
    for s in &list {
        if let Some(a) = s.last_attempt.as_ref().filter(|a| a.failed()) {
            println!(
                "{}: last backup attempt failed: {}",
                s.name,
                attempt_text(Some(a))
            );
        }
    }
    if let Some(max) = config.max_age {
        println!("MAX_AGE = {max}");
    }
    Ok(outcome)
}
