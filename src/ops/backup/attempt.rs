//! Owns recording a `phlb backup` as attempts of its names (`root::attempts`): every
//! run past the argument checks, also one that failed before any snapshot started (a
//! missing source, a failing `PRE_COMMAND`, a catalog that cannot be opened). A run that
//! found the lock held and gave up, a dry run and a usage error are not recorded.

use std::path::PathBuf;

use anyhow::Result;

use crate::config::Config;
use crate::root::attempts::{self, Attempt};
use crate::tell::Tell;
use crate::Outcome;

/// The names a run of `options` is an attempt of, with their sources; empty for a usage
/// error (`--name` with several sources).
fn names(config: &Config, options: &super::Options) -> Vec<(String, String)> {
    if options.name.is_some() && options.sources.len() > 1 {
        return Vec::new();
    }
    // The sources on the command line, else the config's SOURCES (with their names).
    let given: Vec<(PathBuf, Option<String>)> = if options.sources.is_empty() {
        config
            .sources
            .iter()
            .map(|e| (e.path.clone(), e.name.clone()))
            .collect()
    } else {
        options
            .sources
            .iter()
            .map(|p| (p.clone(), options.name.clone()))
            .collect()
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (p, named) in &given {
        let shown: PathBuf = p
            .canonicalize()
            .or_else(|_| std::path::absolute(p))
            .unwrap_or_else(|_| p.clone());
        let name = named
            .clone()
            .or_else(|| shown.file_name().and_then(|n| n.to_str()).map(String::from));
        if let Some(name) = name {
            if !out.iter().any(|(n, _)| *n == name) {
                out.push((name, shown.display().to_string()));
            }
        }
    }
    out
}

/// Records the run that started at `started` (RFC 3339) and came to `result`; `done`
/// holds the names whose snapshot was made, with their exit code (0 or 1). A failure
/// to record is a warning.
pub fn record(
    config: &Config,
    tell: &dyn Tell,
    options: &super::Options,
    started: &str,
    done: &[(String, i32)],
    result: &Result<Outcome>,
) {
    if options.run == crate::ops::Run::DryRun {
        return;
    }
    let gave_up = result
        .as_ref()
        .err()
        .is_some_and(|e| e.chain().any(|c| c.is::<crate::lock::Held>()));
    if gave_up {
        return;
    }
    let list: Vec<Attempt> = names(config, options)
        .into_iter()
        .filter_map(|(name, source)| {
            let (exit, reason) = match (done.iter().find(|(n, _)| *n == name), result) {
                (Some((_, code)), _) => (*code, String::new()),
                (None, Err(e)) => (2, attempts::one_line(e)),
                (None, Ok(_)) => return None,
            };
            Some(Attempt {
                time: started.to_string(),
                name,
                source,
                exit,
                reason,
            })
        })
        .collect();
    if list.is_empty() {
        return;
    }
    // Recorded where the catalog would be; the root must exist (a missing root, as an
    // unmounted drive leaves it, is told by the run's own error).
    // Only into a root's own `.phlb`: never made here (a drive unmounted under the run
    // would get one on the system disk, and look like a root from then on).
    let meta = config.meta_dir();
    if !meta.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return;
    }
    let recorded = attempts::record(&meta, &list);
    if let Err(e) = recorded {
        tell.warning(&format!("{e:#}"));
    }
}

/// Records one snapshot attempt of `source` that `watch` made at `started` (RFC 3339):
/// its exit code (0 or 1), or the error that stopped it. A failure to record is a
/// warning.
pub fn record_snapshot(
    config: &Config,
    tell: &dyn Tell,
    source: &super::Source,
    started: &str,
    result: std::result::Result<i32, &anyhow::Error>,
) {
    let (exit, reason) = match result {
        Ok(code) => (code, String::new()),
        Err(e) => (2, attempts::one_line(e)),
    };
    let a = Attempt {
        time: started.to_string(),
        name: source.name.clone(),
        source: source.shown(),
        exit,
        reason,
    };
    if let Err(e) = attempts::record(&config.meta_dir(), &[a]) {
        tell.warning(&format!("{e:#}"));
    }
}
