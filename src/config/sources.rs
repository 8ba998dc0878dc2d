//! Owns the `SOURCES` key: the folders `phlb backup` and `phlb watch` take when the
//! command line names none.
//!
//! Syntax (comma separated, like `SKIP_DIRS`): each entry is a path, or `NAME=PATH` to
//! give its snapshot name (`=` and not `:`, so rsync's `[user@]host:/path` stays
//! unambiguous for remote sources). A path must be absolute or start with `~/`: a cron
//! job or a service starts in a folder that is not yours, so a relative path would back
//! up whatever folder that happens to be. A remote source (rsync's rule: a colon before
//! the first slash) is checked as `remote::parse` checks it and kept as written.

use std::path::PathBuf;

/// One configured source: its folder and, when given, its snapshot name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub name: Option<String>,
    /// A local folder, or a remote `[user@]host:/path` as written (checked), as the
    /// command line passes sources too.
    pub path: PathBuf,
}

/// Parses one `SOURCES` item (already split on commas and trimmed).
pub fn parse_entry(item: &str) -> Result<SourceEntry, String> {
    let (name, path) = match item.split_once('=') {
        // `NAME=PATH`: the name part has no `/` (a path containing `=` starts with `/`
        // or `~`, so it is never taken for a name).
        Some((n, p)) if !n.contains('/') && !n.starts_with('~') => {
            let n = n.trim();
            crate::layout::check_name(n).map_err(|e| format!("{item:?}: {e}"))?;
            (Some(n.to_string()), p.trim())
        }
        _ => (None, item),
    };
    if crate::remote::looks_remote(path.as_bytes()) {
        crate::remote::parse(path)?;
        return Ok(SourceEntry {
            name,
            path: PathBuf::from(path),
        });
    }
    let expanded = super::ini::expand_home(path);
    if !expanded.is_absolute() {
        return Err(format!(
            "{item:?}: a source must be an absolute path or start with ~/ \
             (a scheduled run starts in a folder that is not yours)"
        ));
    }
    Ok(SourceEntry {
        name,
        path: expanded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_paths_or_named_paths() {
        let e = parse_entry("/srv/www").unwrap();
        assert_eq!((e.name, e.path), (None, PathBuf::from("/srv/www")));
        let e = parse_entry("www=/srv/www").unwrap();
        assert_eq!(e.name.as_deref(), Some("www"));
        assert_eq!(e.path, PathBuf::from("/srv/www"));
        // A `=` inside the path is part of the path.
        let e = parse_entry("/data/a=b").unwrap();
        assert_eq!((e.name, e.path), (None, PathBuf::from("/data/a=b")));
        let e = parse_entry("~/Documents").unwrap();
        assert!(e.path.is_absolute() && e.path.ends_with("Documents"));
    }

    #[test]
    fn remote_entries_are_kept_as_written() {
        let e = parse_entry("me@host:/srv/").unwrap();
        assert_eq!((e.name, e.path), (None, PathBuf::from("me@host:/srv/")));
        let e = parse_entry("www=host:/srv/www").unwrap();
        assert_eq!(e.name.as_deref(), Some("www"));
        assert_eq!(e.path, PathBuf::from("host:/srv/www"));
    }

    #[test]
    fn relative_remote_and_bad_names_are_refused() {
        assert!(parse_entry("Documents").unwrap_err().contains("absolute"));
        assert!(parse_entry("./a:b").unwrap_err().contains("absolute"));
        assert!(parse_entry("host:srv").unwrap_err().contains("absolute"));
        assert!(parse_entry("host:~/srv").unwrap_err().contains("`~`"));
        assert!(parse_entry(".x=/srv")
            .unwrap_err()
            .contains("snapshot name"));
    }
}
