//! Turns the selection options of `backup` and `watch` (`--exclude`, `--exclude-from`,
//! `--include`, `--files-from`, `--exclude-caches`, `--one-file-system`) into the run's
//! `Config`, reading the named files and checking every glob before any work.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::SelectArgs;
use crate::config::{CliSelect, Config};
use crate::scan::{Pattern, Selection};

/// The config of a run with `args` added; reads `--exclude-from` and `--files-from` and
/// compiles the selection once to refuse an invalid glob (exit 2) before anything runs.
pub fn with_selection(config: &Config, args: &SelectArgs) -> Result<Config> {
    let mut exclude: Vec<Pattern> = args
        .exclude
        .iter()
        .map(|g| Pattern::new(g.clone(), "--exclude"))
        .collect();
    for file in &args.exclude_from {
        for (n, line) in lines(file)? {
            let origin = format!("{}:{n}", file.display());
            exclude.push(Pattern::new(line, origin));
        }
    }
    let include = args
        .include
        .iter()
        .map(|g| Pattern::new(g.clone(), "--include"))
        .collect();
    let files_from = match &args.files_from {
        Some(file) => Some(
            lines(file)?
                .into_iter()
                .map(|(_, l)| PathBuf::from(l))
                .collect(),
        ),
        None => None,
    };
    let mut out = config.clone();
    out.select = CliSelect {
        exclude,
        include,
        files_from,
        exclude_caches: args.exclude_caches,
    };
    if args.one_file_system {
        out.one_file_system = true;
    }
    if args.cross_file_systems {
        out.one_file_system = false;
    }
    Selection::compile(&out.select_spec())?;
    Ok(out)
}

/// The lines of `file` that say something (not blank, not a `#` comment), numbered.
fn lines(file: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    let text = String::from_utf8(text)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", file.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect())
}
