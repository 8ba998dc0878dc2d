//! Owns showing the effective config: each key with its value as the ini writes it and
//! where it came from.

use super::Loaded;

/// An optional value as the ini writes it: empty when unset.
fn shown(value: Option<impl std::fmt::Display>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Each key of the effective config with its value as the ini writes it and where it
/// came from (`--backup-root`, `PHLB_BACKUP_ROOT`, `file:line` or `default`).
pub fn entries(loaded: &Loaded) -> Vec<(&'static str, String, String)> {
    let c = &loaded.config;
    let list = |v: &[String]| v.join(", ");
    let workers = c
        .workers
        .map(|n| n.to_string())
        .unwrap_or_else(|| "auto".to_string());
    let rows: Vec<(&'static str, String)> = vec![
        ("BACKUP_PATH", c.backup_path.display().to_string()),
        (
            "SOURCES",
            c.sources
                .iter()
                .map(|s| match &s.name {
                    Some(n) => format!("{n}={}", s.path.display()),
                    None => s.path.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("SUB_DIR_FORMATTER", c.sub_dir_formatter.clone()),
        ("SKIP_DIRS", list(&c.skip_dirs)),
        ("SKIP_PATTERNS", list(&c.skip_patterns)),
        ("INCLUDE_DIRS", list(&c.include_dirs)),
        ("INCLUDE_PATTERNS", list(&c.include_patterns)),
        ("HASH", c.hash.to_string()),
        ("DEDUP", shown(c.dedup)),
        ("LINK", shown(c.link)),
        ("ONE_FILE_SYSTEM", c.one_file_system.to_string()),
        ("WORKERS", workers),
        ("LOG_LEVEL", c.log_level.to_string()),
        ("MAX_LINKS", c.max_links.to_string()),
        ("SYNC", c.sync.to_string()),
        ("XATTRS", c.xattrs.to_string()),
        ("KEEP_LAST", shown(c.keep.last)),
        ("KEEP_HOURLY", shown(c.keep.hourly)),
        ("KEEP_DAILY", shown(c.keep.daily)),
        ("KEEP_WEEKLY", shown(c.keep.weekly)),
        ("KEEP_MONTHLY", shown(c.keep.monthly)),
        ("KEEP_YEARLY", shown(c.keep.yearly)),
        ("KEEP_WITHIN", shown(c.keep.within)),
        ("KEEP_VERSIONS", shown(c.keep.versions)),
        ("WATCH_DELAY", c.watch.delay.to_string()),
        ("WATCH_MAX_WAIT", c.watch.max_wait.to_string()),
        ("WATCH_MIN_INTERVAL", c.watch.min_interval.to_string()),
        ("MAX_AGE", shown(c.max_age)),
        // Never shown; `render` says whether one is set.
        ("SERVE_TOKEN", String::new()),
        ("PRE_COMMAND", shown(c.pre_command.as_ref())),
        ("POST_COMMAND", shown(c.post_command.as_ref())),
        ("RSYNC", c.rsync.clone()),
        ("SSH", c.ssh.clone()),
    ];
    rows.into_iter()
        .map(|(key, value)| {
            let origin = loaded.origins.get(key).cloned();
            (key, value, origin.unwrap_or_else(|| "default".to_string()))
        })
        .collect()
}

/// Renders the effective config as ini text, with where each value came from.
pub fn render(loaded: &Loaded) -> String {
    let mut out = match &loaded.file {
        Some(f) => format!("# config file: {}\n", f.display()),
        None => "# config file: none found, built-in defaults\n".to_string(),
    };
    out.push_str(
        "# precedence: command line > environment (PHLB_BACKUP_ROOT, PHLB_CONFIG) > ini > default\n",
    );
    out.push_str("[phlb]\n");
    // Each line reads back as the same value: the origin is a trailing ` #` comment
    // (the ini's comment rule), a value's explanation goes into it too, and the token
    // is never written out.
    for (key, value, origin) in entries(loaded) {
        let line = match key {
            "WORKERS" if loaded.config.workers.is_none() => format!(
                "{key} = {value}    # {origin}; {} here",
                loaded.config.worker_count()
            ),
            "DEDUP" if loaded.config.link == Some(crate::decide::Link::Reflink) => {
                format!("{key} = {value}    # {origin}; does not apply under LINK = reflink (each path is its own clone)")
            }
            "DEDUP" if loaded.config.dedup.is_none() => {
                format!("{key} =    # {origin}: the root's recorded policy (new roots: strict; roots made before: mode)")
            }
            "LINK" if loaded.config.link.is_none() => {
                format!("{key} =    # {origin}: the root's recorded way (new roots: auto)")
            }
            "SERVE_TOKEN" if loaded.config.serve_token.is_some() => {
                format!("# {key} = (set by {origin}, not shown)")
            }
            _ => format!("{key} = {value}    # {origin}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
