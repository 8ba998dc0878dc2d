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
    // An empty pattern (`--exclude "$UNSET"`) would match everything and back up
    // nothing while reporting success.
    for (flag, globs) in [("--exclude", &args.exclude), ("--include", &args.include)] {
        if globs.iter().any(|g| g.trim().is_empty()) {
            anyhow::bail!("{flag}: an empty pattern; give a glob such as '*.tmp' or 'build/'");
        }
    }
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
        Some(file) => {
            let mut listed = Vec::new();
            for (n, line) in lines(file)? {
                let path = PathBuf::from(&line);
                // `a/b/../x` would be taken as a/b/x (a path is never resolved by name):
                // refused instead of backing up another file than the one listed.
                if path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    anyhow::bail!(
                        "{}:{n}: {line:?}: `..` in a listed path; list the path without it",
                        file.display()
                    );
                }
                listed.push(path);
            }
            Some(listed)
        }
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
