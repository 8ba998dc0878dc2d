//! Owns which of a run's selection rules become rsync filter rules, so excluded files
//! never cross the network. phlb still applies every rule when it walks the mirror, so
//! a rule only needs to be translated when rsync is sure to leave out no more than phlb
//! does; a rule rsync cannot say that way is not sent, and what it leaves out crosses
//! the network (and is then left out of the snapshot).
//!
//! The glob forms agree (`*` and `?` stop at `/`, `[...]`, `\` escapes, a leading `/`
//! anchors, a trailing `/` means folders, a glob without a leading `/` matches at any
//! depth — rsync matches a pattern with an inner `/` against the end of the path, which
//! is phlb's "as if it began with `**/`"). What differs, and is handled:
//! - `**` as a whole path component: rsync's `a/**/b` needs one folder at least, phlb's
//!   also matches `a/b`; rsync leaves out less, which is safe. Any other `**` (`a**b`)
//!   crosses `/` in rsync only: not sent.
//! - A pattern without `*`, `?` or `[` is literal in rsync, so its `\` escapes are undone.
//! - `SKIP_PATTERNS` apply to files and symlinks only: each is sent as `+ GLOB/` (folders
//!   of that name stay) before `- GLOB`, after every rule that applies to folders.
//! - `--include` re-includes inside excluded folders, which rsync cannot do once a
//!   folder is left out: with any `--include`, no rule is sent.
//! - `INCLUDE_DIRS`, `INCLUDE_PATTERNS`, `--files-from` and `--exclude-caches` are not
//!   sent: everything crosses and phlb selects from the mirror.

use crate::scan::SelectSpec;

/// The rsync filter rules (each one `--filter` value) for `spec`.
pub fn rules(spec: &SelectSpec) -> Vec<String> {
    if !spec.include.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for p in &spec.skip_dirs {
        if let Some(g) = rsync_glob(&p.glob) {
            let g = if g.ends_with('/') { g } else { format!("{g}/") };
            out.push(format!("- {g}"));
        }
    }
    for p in &spec.exclude {
        if let Some(g) = rsync_glob(&p.glob) {
            out.push(format!("- {g}"));
        }
    }
    for p in &spec.skip_patterns {
        // A trailing `/` would make it a folder rule, which SKIP_PATTERNS never is.
        if p.glob.ends_with('/') {
            continue;
        }
        if let Some(g) = rsync_glob(&p.glob) {
            out.push(format!("+ {g}/"));
            out.push(format!("- {g}"));
        }
    }
    out
}

/// `glob` as rsync reads the same rule, or `None` when rsync would read it otherwise.
fn rsync_glob(glob: &str) -> Option<String> {
    if glob.is_empty() || glob.chars().any(char::is_control) || glob.contains("***") {
        return None;
    }
    // `**` only as a whole component (`**/`, `/**`, alone).
    let body = glob.trim_start_matches('/').trim_end_matches('/');
    if body
        .split('/')
        .any(|part| part.contains("**") && part != "**")
    {
        return None;
    }
    let wild = glob.contains(['*', '?', '[']);
    if wild {
        return Some(glob.to_string());
    }
    // Literal in rsync: phlb's escapes undone.
    let mut out = String::with_capacity(glob.len());
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Pattern;

    fn spec(skip_dirs: &[&str], skip_patterns: &[&str], exclude: &[&str]) -> SelectSpec {
        let pats = |v: &[&str]| v.iter().map(|g| Pattern::new(*g, "t")).collect();
        SelectSpec {
            skip_dirs: pats(skip_dirs),
            skip_patterns: pats(skip_patterns),
            exclude: pats(exclude),
            ..SelectSpec::default()
        }
    }

    #[test]
    fn folders_first_then_files_only_rules_with_their_guard() {
        let rules = rules(&spec(&[".cache"], &["*.tmp"], &["build/", "/top.txt"]));
        assert_eq!(
            rules,
            ["- .cache/", "- build/", "- /top.txt", "+ *.tmp/", "- *.tmp"]
        );
    }

    #[test]
    fn forms_rsync_reads_otherwise_are_not_sent() {
        for (glob, sent) in [
            ("*.log", Some("*.log")),
            ("/a/**/*.log", Some("/a/**/*.log")),
            ("**/x", Some("**/x")),
            ("a**b", None),
            ("a/***", None),
            ("\\[draft].txt", Some("\\[draft].txt")),
            ("\\a", Some("a")),
            ("we\\ird", Some("weird")),
            ("new\nline", None),
        ] {
            assert_eq!(rsync_glob(glob).as_deref(), sent, "{glob}");
        }
    }

    #[test]
    fn an_include_sends_nothing() {
        let mut s = spec(&[".cache"], &[], &["*.log"]);
        s.include = vec![Pattern::new("keep.log", "t")];
        assert!(rules(&s).is_empty());
    }
}
