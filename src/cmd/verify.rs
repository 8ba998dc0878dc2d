//! `phlb verify`: arguments to verify options, the call, findings and the summary as
//! text or JSON.

use anyhow::Result;

use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::ops::verify::{self, Depth, Fate, Findings, Options};
use crate::progress::Ui;
use crate::tell::Tell;
use crate::units::human_bytes;
use crate::Outcome;

/// Findings as lines on stdout (above the bar): `what: why`, or JSON lines.
struct Printed {
    json: bool,
}

impl Findings for Printed {
    fn problem(&self, what: &str, why: &str) {
        if self.json {
            let line = serde_json::json!({ "path": what, "problem": why });
            crate::progress::out(&line.to_string());
        } else {
            crate::progress::out(&format!("{what}: {why}"));
        }
    }

    fn repaired(&self, fate: Fate, line: &str) {
        if self.json {
            let key = match fate {
                Fate::Relinked => "repaired",
                Fate::Left => "left",
            };
            crate::progress::out(&serde_json::json!({ key: line }).to_string());
        } else {
            crate::progress::out(line);
        }
    }
}

/// Runs `phlb verify`.
pub fn run(config: &Config, ui: &Ui, args: &VerifyArgs) -> Result<Outcome> {
    let options = Options {
        snapshots: args.snapshots.clone(),
        depth: if args.fast { Depth::Fast } else { Depth::Full },
        repair: args.repair,
        wait: args.wait.into(),
    };
    let done = verify::verify(config, &options, ui.style, ui, &Printed { json: args.json })?;
    let found = done.problems;
    if args.json {
        let mut summary = serde_json::json!({
            "summary": true,
            "snapshots": done.snapshots,
            "entries": done.entries,
            "fast": args.fast,
            "hashed_bytes": done.hashed_bytes,
            "problems": found,
            "notes": done.notes,
        });
        if let Some(repaired) = done.repaired {
            summary["repaired"] = repaired.into();
            summary["left"] = (found - repaired).into();
        }
        let summary = crate::root::with_where(summary, &done.root, config.file.as_deref());
        println!("{summary}");
    } else {
        ui.step(&format!(
            "verified {} snapshot(s), {} entries{}: {}",
            done.snapshots,
            done.entries,
            if args.fast {
                " (fast: metadata and manifests, no content)".to_string()
            } else {
                format!(", {} of content hashed", human_bytes(done.hashed_bytes))
            },
            match (found, done.repaired) {
                (0, _) => "no problems".to_string(),
                (n, None) => format!("{n} path(s) with problems"),
                (n, Some(r)) => format!(
                    "{n} path(s) with problems: {r} repaired, {} left as they are",
                    n - r
                ),
            }
        ));
    }
    Ok(if found == 0 {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}
