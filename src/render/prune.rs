//! Owns how prune, forget and `backup --prune` show a removal's plan and result: text
//! lines for people, or one JSON document (a JSON line `{"prune": …}` after backup's).

use std::os::unix::ffi::OsStrExt;

use serde_json::{json, Value};

use std::path::Path;

use anyhow::Result;

use crate::catalog::trim::Old;
use crate::config::Config;
use crate::ops::prune::{Action, Freed, Item, Plan, Run, Shows};
use crate::units::{human_bytes, one_line};

/// Sizes as the user asked: exact counts or human units.
fn size(bytes: u64, exact: bool) -> String {
    if exact {
        format!("{bytes} B")
    } else {
        human_bytes(bytes)
    }
}

/// One line per snapshot: `keep`/`remove`, its label, and the rules or the reason.
pub fn plan_lines(items: &[Item]) -> Vec<String> {
    let width = items
        .iter()
        .map(|i| i.member.label().chars().count())
        .max()
        .unwrap_or(0);
    items
        .iter()
        .map(|i| {
            let label = crate::units::escape_controls(&i.member.label());
            match &i.action {
                Action::Keep(rules) => {
                    let why: Vec<&str> = rules.iter().map(|r| r.name()).collect();
                    let why = if why.is_empty() {
                        "-".to_string()
                    } else {
                        why.join(", ")
                    };
                    format!("keep    {label:width$}  {why}")
                }
                Action::Remove(reason) => format!("remove  {label:width$}  {}", reason.name()),
                Action::Gone => format!(
                    "gone    {label:width$}  folder deleted by hand; counts for nothing (`phlb forget --missing` drops it)"
                ),
            }
        })
        .collect()
}

/// One line per snapshot that loses older versions (`trim`), and with `verbose` one
/// line per path.
pub fn trim_lines(items: &[Item], olds: &[Old], verbose: bool) -> Vec<String> {
    let mut out = Vec::new();
    for i in items {
        let mine: Vec<&Old> = olds
            .iter()
            .filter(|o| o.snapshot_id == i.member.id)
            .collect();
        if mine.is_empty() {
            continue;
        }
        out.push(format!(
            "trim    {}  {} older version{}",
            crate::units::escape_controls(&i.member.label()),
            mine.len(),
            if mine.len() == 1 { "" } else { "s" }
        ));
        if verbose {
            for o in mine {
                out.push(format!(
                    "  {}",
                    one_line(std::path::Path::new(std::ffi::OsStr::from_bytes(&o.path)))
                ));
            }
        }
    }
    out
}

/// The lines saying what the removal frees and which files lose their last copy.
pub fn freed_lines(
    freed: &Freed,
    removed: usize,
    dry_run: bool,
    show_lost: bool,
    exact: bool,
) -> Vec<String> {
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let what = format!(
        "{} in {} stored cop{} ({} on disk)",
        size(freed.bytes, exact),
        freed.copies,
        plural(freed.copies as usize, "y", "ies"),
        size(freed.disk_bytes, exact),
    );
    let snapshots = format!("{removed} snapshot{}", plural(removed, "", "s"));
    let mut out = vec![if dry_run {
        format!("would remove {snapshots}, freeing {what}")
    } else {
        format!("removing {snapshots} frees {what}")
    }];
    let lost = freed.lost.len();
    if lost > 0 {
        let hint = if show_lost {
            ":"
        } else {
            " (--show-lost lists them)"
        };
        out.push(format!(
            "{lost} file{} {} {} last copy in what is removed{hint}",
            plural(lost, "", "s"),
            plural(lost, "has", "have"),
            plural(lost, "its", "their"),
        ));
        if show_lost {
            for l in &freed.lost {
                out.push(format!(
                    "  {}/{}  {}",
                    crate::units::escape_controls(&l.snapshot),
                    one_line(&l.path),
                    size(l.size, exact)
                ));
            }
        }
    }
    out
}

/// The plan and result as one JSON document.
pub fn json(
    items: &[Item],
    olds: &[Old],
    freed: &Freed,
    dry_run: bool,
    show_lost: bool,
    removed: usize,
) -> Value {
    let snapshots: Vec<Value> = items
        .iter()
        .map(|i| {
            let (action, kept_by, reason) = match &i.action {
                Action::Keep(rules) => (
                    "keep",
                    rules.iter().map(|r| r.name()).collect::<Vec<_>>(),
                    None,
                ),
                Action::Remove(r) => ("remove", Vec::new(), Some(r.name())),
                Action::Gone => ("gone", Vec::new(), Some("folder deleted by hand")),
            };
            let trimmed: Vec<String> = olds
                .iter()
                .filter(|o| o.snapshot_id == i.member.id)
                .map(|o| String::from_utf8_lossy(&o.path).into_owned())
                .collect();
            json!({
                "snapshot": i.member.label(),
                "trim": trimmed,
                "name": i.member.name,
                "timestamp": i.member.timestamp,
                "status": i.member.status.as_str(),
                "action": action,
                "kept_by": kept_by,
                "reason": reason,
            })
        })
        .collect();
    let mut doc = json!({
        "dry_run": dry_run,
        "snapshots": snapshots,
        "removed": removed,
        "freed": {
            "bytes": freed.bytes,
            "copies": freed.copies,
            "disk_bytes": freed.disk_bytes,
        },
        "lost_files": freed.lost.len(),
    });
    if show_lost {
        doc["lost"] = freed
            .lost
            .iter()
            .map(|l| {
                json!({
                    "snapshot": l.snapshot,
                    "path": l.path.to_string_lossy(),
                    "size": l.size,
                })
            })
            .collect();
    }
    doc
}

/// How a removal is shown.
pub struct Printed<'a> {
    pub config: &'a Config,
    /// One JSON document (or line) instead of text.
    pub json: bool,
    /// The JSON as one line `{"prune": …}` (after `backup --json`'s lines).
    pub json_line: bool,
    /// List every file whose last copy goes (`--show-lost`).
    pub show_lost: bool,
    /// Exact byte counts (`--bytes`).
    pub bytes: bool,
    /// `-q`: no text at all.
    pub quiet: bool,
    /// `--verbose`: each trimmed version too.
    pub verbose: bool,
}

impl Printed<'_> {
    fn text(&self) -> bool {
        !self.json && !self.quiet
    }

    fn print_json(&self, doc: Value, root: &Path) -> Result<()> {
        let doc = crate::root::with_where(doc, root, self.config.file.as_deref());
        if self.json_line {
            println!("{}", json!({ "prune": doc }));
        } else {
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Ok(())
    }
}

impl Shows for Printed<'_> {
    fn plan(&self, plan: &Plan) {
        if !self.text() {
            return;
        }
        for line in plan_lines(plan.items).into_iter().chain(trim_lines(
            plan.items,
            plan.olds,
            self.verbose,
        )) {
            println!("{line}");
        }
        let removes = plan.items.iter().filter(|i| i.removes()).count();
        let dry_run = plan.run == Run::DryRun;
        for line in freed_lines(plan.freed, removes, dry_run, self.show_lost, self.bytes) {
            println!("{line}");
        }
    }

    fn done(&self, plan: &Plan, removed: usize) -> Result<()> {
        let dry_run = plan.run == Run::DryRun;
        if self.json {
            let doc = json(
                plan.items,
                plan.olds,
                plan.freed,
                dry_run,
                self.show_lost,
                removed,
            );
            self.print_json(doc, plan.root)?;
        } else if self.text() && !dry_run {
            println!(
                "removed {removed} snapshot{}",
                if removed == 1 { "" } else { "s" }
            );
        }
        Ok(())
    }
}
