//! `phlb add`: arguments to recording options, the call, and the answer as text or JSON.

use anyhow::Result;

use crate::cli::AddArgs;
use crate::config::Config;
use crate::ops::record::{self, Link, Manifests, Options, Skipped};
use crate::progress::Ui;
use crate::tell::Tell;
use crate::units::{human_bytes, one_line};
use crate::Outcome;

/// Runs `phlb add`.
pub fn run(config: &Config, ui: &Ui, args: &AddArgs) -> Result<Outcome> {
    let options = Options {
        paths: args.paths.clone(),
        link: if args.no_link { Link::No } else { Link::Yes },
        manifests: if args.trust_manifests {
            Manifests::Trust
        } else {
            Manifests::Check
        },
        wait: args.wait.into(),
    };
    if args.dry_run {
        return dry_run(config, ui, args, &options);
    }
    let done = record::record(config, &options, ui.style, ui)?;
    let t = &done.tally;
    let missing = done.marked_missing;
    if args.json {
        let doc = serde_json::json!({
            "added": t.added,
            "files": t.files,
            "hashed_bytes": t.hashed_bytes,
            "marked_missing": missing,
            "relinked": t.relinked,
            "freed_bytes": t.freed,
            "manifests_written": t.manifests_written,
            "problems": t.problems,
            "skipped": skipped_json(&done.skipped),
        });
        let doc = crate::root::with_where(doc, &done.root, config.file.as_deref());
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if !ui.quiet() {
        if t.added == 0 && missing == 0 && done.skipped.is_empty() {
            println!("nothing to do: every snapshot folder is in the catalog");
        } else if t.added == 0 && missing == 0 {
            println!(
                "added nothing; skipped {} folder(s) named above",
                done.skipped.len()
            );
        } else {
            println!(
                "added {} snapshot(s) with {} files ({} hashed); marked {missing} missing\nlinked {} files to identical stored copies, freeing {}; wrote {} manifest(s); {} problem(s); skipped {} folder(s)",
                t.added,
                t.files,
                human_bytes(t.hashed_bytes),
                t.relinked,
                human_bytes(t.freed),
                t.manifests_written,
                t.problems,
                done.skipped.len()
            );
        }
    }
    Ok(if t.problems == 0 && done.skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// `phlb add --dry-run`: says which folders would be recorded and which snapshots
/// marked missing; writes nothing.
fn dry_run(config: &Config, ui: &Ui, args: &AddArgs, options: &Options) -> Result<Outcome> {
    let plan = record::plan(config, options)?;
    if args.json {
        let doc = serde_json::json!({
            "dry_run": true,
            "would_record": plan.would_record,
            "would_mark_missing": plan.would_mark_missing,
            "skipped": skipped_json(&plan.skipped),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        for s in &plan.skipped {
            ui.error(&format!("{}: {}", one_line(&s.path), s.reason));
        }
        if !ui.quiet() {
            for label in &plan.would_record {
                println!("would record {label} (hash its files, link identical content)");
            }
            for label in &plan.would_mark_missing {
                println!("would mark {label} missing (its folder is gone)");
            }
            println!(
                "dry run, nothing written: would record {} snapshot(s), mark {} missing, skip {} folder(s)",
                plan.would_record.len(),
                plan.would_mark_missing.len(),
                plan.skipped.len()
            );
        }
    }
    Ok(if plan.skipped.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

/// The folders `add` skipped, as JSON objects (path, reason).
fn skipped_json(skipped: &[Skipped]) -> Vec<serde_json::Value> {
    skipped
        .iter()
        .map(|s| serde_json::json!({ "path": one_line(&s.path), "reason": s.reason }))
        .collect()
}
