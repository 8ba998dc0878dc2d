//! Owns the snapshots page: per name its newest complete snapshot and age (stale past
//! `MAX_AGE`, the facts of `phlb status`), a chart, and a paged table of its runs whose
//! only-here bytes are fetched after the page shows (`/only-here`, one small query each).

use std::fmt::Write;

use super::html::{bytes, esc, link, pager, q};
use super::http::{Request, Response};
use super::routes::{ok_html, Answer, Fail};
use super::{chart, App};
use crate::catalog::web;
use crate::ops::query::status;

/// Runs per page of a name's table.
const PER: i64 = 25;
/// Most snapshots one chart shows (the newest).
const CHART_POINTS: i64 = 500;

/// `/`: every name with its state, chart and (paged) runs; `?name=N&o=K` pages one name.
pub fn page(app: &App, req: &Request) -> Answer {
    let db = app.catalog.db()?;
    let meta = app.config.meta_dir();
    let alive = |name: &str, ts: &str| crate::lock::run::alive(&meta, name, ts);
    let states = status::statuses(&db, &app.config, crate::clock::now_utc(), &alive)?;
    let states = status::with_attempts(
        states,
        crate::root::attempts::last_per_name(&meta)?,
        &app.config,
    );
    let mut body = String::new();
    if let Some(max) = app.config.max_age {
        let _ = write!(body, "<p>MAX_AGE = {}</p>", esc(&max.to_string()));
    }
    if states.is_empty() {
        body.push_str("<p>No snapshots in the catalog yet.</p>");
    }
    body.push_str(
        "<table id=\"names\"><tr><th>name</th><th>source</th><th>newest complete</th><th>age</th>\
         <th>state</th><th>last run</th><th>last backup attempt</th></tr>",
    );
    for s in &states {
        let newest = match (s.newest_id, &s.newest) {
            (Some(id), Some(label)) => link(&format!("browse?s={id}"), label),
            _ => "-".into(),
        };
        let state = match (s.stale, s.failed) {
            _ if s.clock.is_some() => "<span class=\"bad\">clock wrong</span>",
            (true, true) => "<span class=\"stale\">stale, last run failed</span>",
            (true, false) => "<span class=\"stale\">stale</span>",
            (false, true) => "<span class=\"bad\">last run failed</span>",
            (false, false) => "<span class=\"ok\">ok</span>",
        };
        let _ = write!(
            body,
            "<tr class=\"name\" data-name=\"{n}\"><td><a href=\"#n-{n}\">{n}</a></td><td>{}</td>\
             <td>{newest}</td><td>{}</td><td>{state}</td><td>{} {}</td><td class=\"attempt{}\">{}</td></tr>",
            esc(s.source.as_deref().unwrap_or("-")),
            esc(&s.age_text()),
            esc(s.last_run.as_deref().unwrap_or("-")),
            esc(s.last_status.as_deref().unwrap_or("")),
            if s.last_attempt.as_ref().is_some_and(|a| a.failed()) {
                " bad"
            } else {
                ""
            },
            esc(&crate::render::status::attempt_text(s.last_attempt.as_ref())),
            n = esc(&s.name),
        );
    }
    body.push_str("</table>");
    // What removals left undone (an immutable file), as `phlb status` lists them.
    for line in status::stuck_removals(&db, &app.root)? {
        let _ = write!(
            body,
            "<p class=\"bad stuck\">stuck removal: {} (a run could not delete it; its warning says how to fix it)</p>",
            esc(&line)
        );
    }
    let only = req.param("name");
    for s in states.iter().filter(|s| only.is_none_or(|n| n == s.name)) {
        let offset = if only.is_some() {
            req.num("o").unwrap_or(0).max(0)
        } else {
            0
        };
        name_section(&db, &app.root, &s.name, offset, &mut body)?;
    }
    ok_html(app, "Snapshots", &body)
}

/// One name's chart and a page of its runs.
fn name_section(
    db: &crate::catalog::Db,
    root: &std::path::Path,
    name: &str,
    offset: i64,
    body: &mut String,
) -> Result<(), Fail> {
    let points: Vec<(String, i64, i64)> = web::chart_points(db, name, CHART_POINTS)?
        .into_iter()
        .map(|r| (r.timestamp, r.bytes, r.new_bytes))
        .collect();
    let total = web::run_count(db, name)?;
    // One more than shown, so the last row shown has an older run to diff with.
    let mut runs = web::runs(db, name, offset, PER + 1)?;
    for r in runs.iter_mut() {
        // A folder deleted by hand: `missing`, one `lstat` per run shown.
        r.status = crate::root::latest::shown_status(root, &r.name, &r.timestamp, r.status);
    }
    let older_of_last = (runs.len() as i64 > PER).then(|| runs.pop()).flatten();
    let _ = write!(
        body,
        "<h2 id=\"n-{n}\">{n}</h2>{}\
         <table class=\"runs\"><tr><th>snapshot</th><th>status</th><th class=\"n\">files</th>\
         <th class=\"n\">bytes</th><th class=\"n\">new bytes</th><th class=\"n\">only here</th>\
         <th class=\"n\">duration</th><th></th></tr>",
        chart::svg(name, &points),
        n = esc(name)
    );
    for (i, r) in runs.iter().enumerate() {
        let status = if r.failed > 0 {
            format!("{}, {} failed", r.status, r.failed)
        } else {
            r.status.to_string()
        };
        let older = runs
            .get(i + 1)
            .or(older_of_last.as_ref().filter(|_| i + 1 == runs.len()))
            .map(|o| o.id);
        let diff = older
            .map(|o| link(&format!("diff?a={o}&b={}", r.id), "diff"))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\" data-fill=\"only-here?s={}\" \
             data-pending=\"1\">…</td><td class=\"n\">{}</td><td>{diff}</td></tr>",
            link(&format!("browse?s={}", r.id), &r.timestamp),
            esc(&status),
            r.files,
            bytes(r.bytes),
            bytes(r.new_bytes),
            r.id,
            esc(&duration(&r.started_at, r.finished_at.as_deref())),
        );
    }
    body.push_str("</table>");
    body.push_str(&pager(
        &format!("./?name={}&", q(name)),
        offset,
        PER,
        runs.len(),
        Some(total),
    ));
    Ok(())
}

/// How long a run took, from its recorded start and end.
fn duration(started: &str, finished: Option<&str>) -> String {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (parse(started), finished.and_then(parse)) {
        (Some(a), Some(b)) => {
            let ms = (b - a).num_milliseconds().max(0);
            format!("{:.1} s", ms as f64 / 1000.0)
        }
        _ => "-".into(),
    }
}

/// `/only-here?s=ID`: the bytes only that snapshot holds, as text (filled in by the page).
pub fn only_here(app: &App, req: &Request) -> Answer {
    let id = req.num("s").ok_or(Fail::NotFound)?;
    let db = app.catalog.db()?;
    web::snapshot(&db, id)?.ok_or(Fail::NotFound)?;
    let n = web::only_here(&db, id)?;
    Ok(Response::new(
        200,
        "text/plain; charset=utf-8",
        crate::units::human_bytes(n.max(0) as u64),
    ))
}
