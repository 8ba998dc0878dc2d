//! Owns the pages that look across snapshots: one path's history, the diff of two
//! snapshots, find by glob, and duplicates. The diff and duplicates read whole
//! snapshots, so their pages show at once and fetch the result after (`…/part`).

use std::collections::HashMap;
use std::fmt::Write;

use super::html::{bytes, esc, link, pager, pager_by, q, visible, visible_str};
use super::http::{Request, Response};
use super::routes::{ok_html, Answer, Fail};
use super::App;
use crate::catalog::snapshots::Status;
use crate::catalog::{queries, web, Db, SnapshotRow};
use crate::ops::query::{diff, history};

/// Rows per page of find, diff and duplicates.
const PER: i64 = 200;

/// The snapshot id of `NAME/TIMESTAMP`.
fn id_of(db: &Db, label: &str) -> Result<Option<i64>, Fail> {
    let Some(id) = crate::snapshot_id::SnapshotId::parse(label) else {
        return Ok(None);
    };
    Ok(SnapshotRow::find(db, &id.name, &id.timestamp)?.map(|s| s.id))
}

/// `/history?p=PATH_ID[&name=N]`: each version of one path, when it changed.
pub fn history(app: &App, req: &Request) -> Answer {
    let db = app.catalog.db()?;
    let pid = req.num("p").ok_or(Fail::NotFound)?;
    let path = web::path_of(&db, pid)?.ok_or(Fail::NotFound)?;
    let name = req.param("name").filter(|n| !n.is_empty());
    let sightings = queries::sightings(&db, &path, name)?.ok_or(Fail::NotFound)?;
    let mut body = format!(
        "<p>{} in {} snapshot(s){}</p><table id=\"versions\"><tr><th>first</th><th>last</th>\
         <th class=\"n\">snapshots</th><th>kind</th><th class=\"n\">size</th>\
         <th>mtime (UTC)</th><th>hash</th><th>trimmed</th></tr>",
        esc(&visible(&path)),
        sightings.len(),
        name.map(|n| format!(" of {}", esc(n))).unwrap_or_default()
    );
    for v in history::versions(sightings) {
        let cell = |label: &str| -> Result<String, Fail> {
            Ok(match id_of(&db, label)? {
                Some(id) => link(&format!("file?s={id}&p={pid}"), label),
                None => esc(label),
            })
        };
        let _ = write!(
            body,
            "<tr class=\"version\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            cell(&v.first)?,
            cell(&v.last)?,
            v.count,
            esc(&v.seen.kind),
            bytes(v.seen.size),
            esc(&v.seen.mtime),
            esc(v
                .seen
                .hash
                .as_deref()
                .map(|h| &h[..h.len().min(16)])
                .unwrap_or("")),
            esc(v.seen.trimmed_at.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>");
    ok_html(app, &format!("History of {}", visible(&path)), &body)
}

/// The two snapshots of a diff: `a` and `b`, or `b` and the run of its name before it.
fn pair(db: &Db, req: &Request) -> Result<(SnapshotRow, SnapshotRow), Fail> {
    let b = web::snapshot(db, req.num("b").ok_or(Fail::NotFound)?)?.ok_or(Fail::NotFound)?;
    let a = web::snapshot(db, req.num("a").ok_or(Fail::NotFound)?)?.ok_or(Fail::NotFound)?;
    Ok((a, b))
}

/// `/diff?a=ID&b=ID`: the page; the changes come from `/diff/part` after it shows.
pub fn diff(app: &App, req: &Request) -> Answer {
    let db = app.catalog.db()?;
    let (a, b) = pair(&db, req)?;
    let o = req.num("o").unwrap_or(0).max(0);
    let mo = req.num("mo").unwrap_or(0).max(0);
    let part = format!("diff/part?a={}&b={}&o={o}&mo={mo}", a.id, b.id);
    let body = format!(
        "<p>from {} to {}</p><div id=\"diff\" data-fill=\"{}\" data-html=\"1\" \
         data-pending=\"1\">computing…</div><noscript>{}</noscript>",
        link(&format!("browse?s={}", a.id), &a.label()),
        link(&format!("browse?s={}", b.id), &b.label()),
        esc(&part),
        link(&part, "show the changes")
    );
    ok_html(app, &format!("Diff {} → {}", a.label(), b.label()), &body)
}

/// `/diff/part?a=ID&b=ID&o=K`: the counts, a page of changes and the metadata changes,
/// as an HTML fragment.
pub fn diff_part(app: &App, req: &Request) -> Answer {
    let db = app.catalog.db()?;
    let (a, b) = pair(&db, req)?;
    let o = req.num("o").unwrap_or(0).max(0);
    let diff::Diff { changes, meta } = diff::between(&db, a.id, b.id)?;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for c in &changes {
        *counts.entry(c.what).or_default() += 1;
    }
    let mut out = String::from("<p id=\"totals\">");
    for what in ["added", "removed", "modified", "renamed", "moved"] {
        let _ = write!(
            out,
            "<span class=\"{what}\">{} {what}</span> ",
            counts.get(what).copied().unwrap_or(0)
        );
    }
    out.push_str(
        "</p><table id=\"changes\"><tr><th>change</th><th>path</th><th>from</th>\
         <th>kind</th><th class=\"n\">size</th></tr>",
    );
    let page: Vec<_> = changes.iter().skip(o as usize).take(PER as usize).collect();
    for c in &page {
        // Each row links to the file's page in the snapshot that holds it.
        let snap = if c.what == "removed" { a.id } else { b.id };
        let cell = link(
            &format!("file?s={snap}&p={}", c.path_id),
            &visible_str(&c.path),
        );
        let _ = write!(
            out,
            "<tr class=\"{w}\"><td>{w}</td><td>{cell}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&visible_str(c.from.as_deref().unwrap_or(""))),
            esc(&c.kind),
            bytes(c.size),
            w = c.what
        );
    }
    out.push_str("</table>");
    let mo = req.num("mo").unwrap_or(0).max(0);
    out.push_str(&pager(
        &format!("diff?a={}&b={}&mo={mo}&", a.id, b.id),
        o,
        PER,
        page.len(),
        Some(changes.len() as i64),
    ));
    let meta_total = meta.len() as i64;
    let meta: Vec<_> = meta.iter().skip(mo as usize).take(PER as usize).collect();
    // An empty table says nothing: shown only when there are metadata changes.
    if meta_total == 0 {
        return Ok(Response::new(200, "text/html; charset=utf-8", out));
    }
    out.push_str(
        "<h2>Metadata changes (same content)</h2><table id=\"meta-changes\"><tr><th>path</th>\
         <th>mode</th><th>mtime</th><th>extended attributes</th></tr>",
    );
    for m in &meta {
        let mode = if m.old_mode == m.new_mode {
            format!("{:04o}", m.new_mode & 0o7777)
        } else {
            format!("{:04o} → {:04o}", m.old_mode & 0o7777, m.new_mode & 0o7777)
        };
        let mtime = if m.old_mtime_ns == m.new_mtime_ns {
            String::new()
        } else {
            format!(
                "changed ({:+} s)",
                (m.new_mtime_ns - m.old_mtime_ns) / 1_000_000_000
            )
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
            link(
                &format!("file?s={}&p={}", b.id, m.path_id),
                &visible(&m.path)
            ),
            mode,
            esc(&mtime),
            if m.xattrs_changed { "changed" } else { "" }
        );
    }
    out.push_str("</table>");
    out.push_str(&pager_by(
        "mo",
        &format!("diff?a={}&b={}&o={o}&", a.id, b.id),
        mo,
        PER,
        meta.len(),
        Some(meta_total),
    ));
    Ok(Response::new(200, "text/html; charset=utf-8", out))
}

/// `/find?glob=G[&name=N][&o=K]`: paths matching a shell glob (in snapshots of name
/// N when given), with their newest snapshot.
pub fn find(app: &App, req: &Request) -> Answer {
    let glob = req.param("glob").unwrap_or("");
    let name = req.param("name").filter(|n| !n.is_empty());
    let mut body = format!(
        "<form method=\"get\" action=\"find\"><input name=\"glob\" value=\"{}\" \
         placeholder=\"*.pdf or notes/*\">{} <button>find</button></form>",
        esc(glob),
        name.map(|n| format!(
            " in {} <input type=\"hidden\" name=\"name\" value=\"{}\">",
            esc(n),
            esc(n)
        ))
        .unwrap_or_default()
    );
    if !glob.is_empty() {
        let db = app.catalog.db()?;
        let o = req.num("o").unwrap_or(0).max(0);
        let found = web::find_page(&db, glob, name, o, PER)?;
        body.push_str(
            "<table id=\"found\"><tr><th>path</th><th class=\"n\">snapshots</th>\
             <th>newest</th><th></th></tr>",
        );
        for m in &found {
            let _ = write!(
                body,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                link(
                    &format!("file?s={}&p={}", m.newest_id, m.path_id),
                    &visible_str(&m.path)
                ),
                m.snapshots,
                esc(&m.newest),
                link(&format!("history?p={}", m.path_id), "history")
            );
        }
        body.push_str("</table>");
        body.push_str(&pager(
            &match name {
                Some(n) => format!("find?glob={}&name={}&", q(glob), q(n)),
                None => format!("find?glob={}&", q(glob)),
            },
            o,
            PER,
            found.len(),
            None,
        ));
    }
    ok_html(app, "Find", &body)
}

/// The snapshots duplicates look in: `s`, or the newest complete one of every name.
fn dup_ids(db: &Db, root: &std::path::Path, req: &Request) -> Result<Vec<i64>, Fail> {
    if let Some(s) = req.num("s") {
        web::snapshot(db, s)?.ok_or(Fail::NotFound)?;
        return Ok(vec![s]);
    }
    let mut ids = Vec::new();
    for name in web::names(db)? {
        let present = |r: &SnapshotRow| crate::root::latest::on_disk(root, &r.name, &r.timestamp);
        if let (_, Some(c)) = web::newest(db, &name, &present)? {
            ids.push(c.id);
        }
    }
    Ok(ids)
}

/// `/duplicates[?s=ID]`: the page; the groups come from `/duplicates/part`.
pub fn duplicates(app: &App, req: &Request) -> Answer {
    let db = app.catalog.db()?;
    let ids = dup_ids(&db, &app.root, req)?;
    let mut labels = Vec::new();
    for id in &ids {
        if let Some(s) = web::snapshot(&db, *id)? {
            if s.status == Status::Complete || req.num("s").is_some() {
                labels.push(link(&format!("browse?s={}", s.id), &s.label()));
            }
        }
    }
    let o = req.num("o").unwrap_or(0).max(0);
    let part = match req.num("s") {
        Some(s) => format!("duplicates/part?s={s}&o={o}"),
        None => format!("duplicates/part?o={o}"),
    };
    let body = format!(
        "<p>in {}</p><div id=\"dups\" data-fill=\"{}\" data-html=\"1\" data-pending=\"1\">\
         computing…</div><noscript>{}</noscript>",
        labels.join(", "),
        esc(&part),
        link(&part, "show the groups")
    );
    ok_html(app, "Duplicates", &body)
}

/// `/duplicates/part[?s=ID]&o=K`: a page of content stored under more than one path,
/// most stored bytes first, with the stored copies (inodes) each takes.
pub fn duplicates_part(app: &App, req: &Request) -> Answer {
    let db = app.catalog.db()?;
    let ids = dup_ids(&db, &app.root, req)?;
    let o = req.num("o").unwrap_or(0).max(0);
    let groups = queries::duplicates(&db, &ids)?;
    let mut out = String::from(
        "<table id=\"groups\"><tr><th class=\"n\">size</th><th class=\"n\">paths</th>\
         <th class=\"n\">inodes</th><th class=\"n\">stored</th><th>hash</th><th>where</th></tr>",
    );
    let page: Vec<_> = groups.iter().skip(o as usize).take(PER as usize).collect();
    for g in &page {
        let paths: Vec<String> = g.paths.iter().map(|p| esc(&visible_str(p))).collect();
        let _ = write!(
            out,
            "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            bytes(g.size),
            g.paths.len(),
            g.inodes,
            bytes(g.stored_bytes),
            esc(&g.hash[..g.hash.len().min(16)]),
            paths.join("<br>")
        );
    }
    out.push_str("</table>");
    let base = match req.num("s") {
        Some(s) => format!("duplicates?s={s}&"),
        None => "duplicates?".to_string(),
    };
    out.push_str(&pager(&base, o, PER, page.len(), Some(groups.len() as i64)));
    Ok(Response::new(200, "text/html; charset=utf-8", out))
}
