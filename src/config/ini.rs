//! Parses the `[phlb]` ini format into a `Config`; every error names file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use chrono::format::{Item, StrftimeItems};

use super::{home_dir, Config};

/// Parses ini text; returns the config and, per key, the `file:line` that set it.
pub fn parse(text: &str, file: &Path) -> Result<(Config, BTreeMap<&'static str, String>)> {
    let mut config = Config::default();
    let mut origins = BTreeMap::new();
    let mut in_section = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let at = || format!("{}:{}", file.display(), line_no);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let Some(name) = section.strip_suffix(']') else {
                bail!("{}: malformed section header {line:?}", at());
            };
            if !name.trim().eq_ignore_ascii_case("phlb") {
                bail!(
                    "{}: unknown section [{}], expected [phlb]",
                    at(),
                    name.trim()
                );
            }
            in_section = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("{}: expected KEY = value, found {line:?}", at());
        };
        if !in_section {
            bail!("{}: key outside the [phlb] section", at());
        }
        let key = key.trim().to_ascii_uppercase();
        let value = strip_comment(value.trim());
        if LIST_KEYS.contains(&key.as_str()) {
            check_list_value(value).map_err(|e| anyhow::anyhow!("{}: {key}: {e}", at()))?;
        }
        let stored =
            set(&mut config, &key, value).map_err(|e| anyhow::anyhow!("{}: {key}: {e}", at()))?;
        origins.insert(stored, at());
    }
    Ok((config, origins))
}

/// The keys whose value is a comma-separated list.
const LIST_KEYS: [&str; 5] = [
    "SKIP_DIRS",
    "SKIP_PATTERNS",
    "INCLUDE_DIRS",
    "INCLUDE_PATTERNS",
    "SOURCES",
];

/// A value without its trailing comment. The rule keeps real values intact: `#` starts
/// a comment only after whitespace (so `a#b` is a value), and `;` only at the start of
/// a line (so `PRE_COMMAND = a ; b` is one shell command). At the very start of a value
/// `#` starts a comment only when a space or the end follows, so `KEY = # note` is an
/// empty value and `SKIP_PATTERNS = #*#` a pattern.
pub fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    let blank = |b: u8| b == b' ' || b == b'\t';
    if bytes.first() == Some(&b'#') && bytes.get(1).is_none_or(|&b| blank(b)) {
        return "";
    }
    let cut = (1..bytes.len()).find(|&i| bytes[i] == b'#' && blank(bytes[i - 1]));
    match cut {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

/// A list value must not carry what looks like a `;` comment: it would silently become
/// part of the last item.
fn check_list_value(value: &str) -> Result<(), String> {
    if value.contains(" ;") || value.contains("\t;") {
        return Err(format!(
            "{value:?} holds a ';' after a space: a comment after a value starts with ' #' \
             (';' starts a comment only at the start of a line)"
        ));
    }
    Ok(())
}

fn set(c: &mut Config, key: &str, value: &str) -> Result<&'static str, String> {
    Ok(match key {
        "BACKUP_PATH" => {
            if value.is_empty() {
                return Err("must not be empty".into());
            }
            c.backup_path = expand_home(value);
            "BACKUP_PATH"
        }
        "SUB_DIR_FORMATTER" => {
            check_formatter(value)?;
            c.sub_dir_formatter = value.to_string();
            "SUB_DIR_FORMATTER"
        }
        "SKIP_DIRS" => {
            c.skip_dirs = list(value);
            "SKIP_DIRS"
        }
        "SKIP_PATTERNS" => {
            c.skip_patterns = list(value);
            "SKIP_PATTERNS"
        }
        "INCLUDE_DIRS" => {
            c.include_dirs = list(value);
            "INCLUDE_DIRS"
        }
        "INCLUDE_PATTERNS" => {
            c.include_patterns = list(value);
            "INCLUDE_PATTERNS"
        }
        "PRE_COMMAND" => {
            c.pre_command = (!value.is_empty()).then(|| value.to_string());
            "PRE_COMMAND"
        }
        "RSYNC" => {
            crate::remote::split_words(value)?;
            c.rsync = value.to_string();
            "RSYNC"
        }
        "SSH" => {
            crate::remote::split_words(value)?;
            c.ssh = value.to_string();
            "SSH"
        }
        "POST_COMMAND" => {
            c.post_command = (!value.is_empty()).then(|| value.to_string());
            "POST_COMMAND"
        }
        "HASH" => {
            c.hash = value.parse()?;
            "HASH"
        }
        "DEDUP" => {
            c.dedup = if value.is_empty() {
                None
            } else {
                Some(value.parse()?)
            };
            "DEDUP"
        }
        "LINK" => {
            c.link = if value.is_empty() {
                None
            } else {
                Some(value.parse()?)
            };
            "LINK"
        }
        "ONE_FILE_SYSTEM" => {
            c.one_file_system = boolean(value)?;
            "ONE_FILE_SYSTEM"
        }
        "WORKERS" => {
            c.workers = if value.eq_ignore_ascii_case("auto") {
                None
            } else {
                Some(positive(value)? as usize)
            };
            "WORKERS"
        }
        "LOG_LEVEL" => {
            c.log_level = value.parse()?;
            "LOG_LEVEL"
        }
        "MAX_LINKS" => {
            c.max_links = positive(value)?;
            "MAX_LINKS"
        }
        // Retired: every root but the default one is made by `phlb init`, so a missing
        // root is always an error. Still accepted (an old ini keeps working); the
        // command says once that it does nothing.
        "NO_CREATE_ROOT" => {
            boolean(value)?;
            "NO_CREATE_ROOT"
        }
        "SYNC" => {
            c.sync = boolean(value)?;
            "SYNC"
        }
        "XATTRS" => {
            c.xattrs = boolean(value)?;
            "XATTRS"
        }
        "KEEP_LAST" => keep_count(&mut c.keep.last, value, "KEEP_LAST")?,
        "KEEP_HOURLY" => keep_count(&mut c.keep.hourly, value, "KEEP_HOURLY")?,
        "KEEP_DAILY" => keep_count(&mut c.keep.daily, value, "KEEP_DAILY")?,
        "KEEP_WEEKLY" => keep_count(&mut c.keep.weekly, value, "KEEP_WEEKLY")?,
        "KEEP_MONTHLY" => keep_count(&mut c.keep.monthly, value, "KEEP_MONTHLY")?,
        "KEEP_YEARLY" => keep_count(&mut c.keep.yearly, value, "KEEP_YEARLY")?,
        "KEEP_VERSIONS" => {
            c.keep.versions = if value.is_empty() {
                None
            } else {
                Some(positive(value)?.min(u32::MAX as u64) as u32)
            };
            "KEEP_VERSIONS"
        }
        "KEEP_WITHIN" => {
            c.keep.within = if value.is_empty() {
                None
            } else {
                Some(crate::duration::parse(value)?)
            };
            "KEEP_WITHIN"
        }
        "WATCH_DELAY" => {
            c.watch.delay = crate::duration::parse(value)?;
            "WATCH_DELAY"
        }
        "WATCH_MAX_WAIT" => {
            c.watch.max_wait = positive_span(value)?;
            "WATCH_MAX_WAIT"
        }
        "WATCH_MIN_INTERVAL" => {
            c.watch.min_interval = crate::duration::parse(value)?;
            "WATCH_MIN_INTERVAL"
        }
        "MAX_AGE" => {
            c.max_age = if value.is_empty() {
                None
            } else {
                Some(positive_span(value)?)
            };
            "MAX_AGE"
        }
        "SERVE_TOKEN" => {
            c.serve_token = if value.is_empty() {
                None
            } else {
                Some(crate::config::check_token(value)?)
            };
            "SERVE_TOKEN"
        }
        "SOURCES" => {
            c.sources = list(value)
                .iter()
                .map(|item| super::sources::parse_entry(item))
                .collect::<Result<_, _>>()?;
            "SOURCES"
        }
        _ => return Err("unknown key".into()),
    })
}

/// Sets one count rule of the retention policy; an empty value leaves the rule unused.
fn keep_count(
    rule: &mut Option<crate::retention::Count>,
    value: &str,
    key: &'static str,
) -> Result<&'static str, String> {
    *rule = if value.is_empty() {
        None
    } else {
        Some(crate::retention::Count::parse(value)?)
    };
    Ok(key)
}

/// A duration above zero (a polling interval of 0 would never rest).
fn positive_span(value: &str) -> Result<crate::duration::Span, String> {
    let span = crate::duration::parse(value)?;
    if span.approx().is_zero() {
        return Err(format!("must be above 0, found {value:?}"));
    }
    Ok(span)
}

pub(super) fn expand_home(value: &str) -> PathBuf {
    match value.strip_prefix('~') {
        Some("") => home_dir(),
        Some(rest) if rest.starts_with('/') => home_dir().join(&rest[1..]),
        _ => PathBuf::from(value),
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, found {value:?}")),
    }
}

fn positive(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a whole number above 0, found {value:?}")),
    }
}

/// Checks that a strftime pattern is valid and yields a single, non-empty folder name.
pub fn check_formatter(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if StrftimeItems::new(value).any(|item| matches!(item, Item::Error)) {
        return Err(format!("invalid strftime pattern {value:?}"));
    }
    let mut sample = String::new();
    {
        use std::fmt::Write;
        if write!(sample, "{}", crate::clock::now_local().format(value)).is_err() {
            return Err(format!("strftime pattern {value:?} cannot be written out"));
        }
    }
    if sample.contains('/') || sample.starts_with('.') || sample.trim().is_empty() {
        return Err(format!(
            "{value:?} must give a plain folder name, gives {sample:?}"
        ));
    }
    if let Some(own) = crate::layout::collides_with_own_names(&sample) {
        return Err(format!(
            "{value:?} gives {sample:?}, which could be taken for phlb's own {own:?}; choose a pattern without it"
        ));
    }
    if !crate::layout::is_timestamp(&sample, value) {
        return Err(format!(
            "{value:?} gives {sample:?}, which cannot be read back as a time; use a pattern with the date and time, e.g. %Y-%m-%d-%H%M%S"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
