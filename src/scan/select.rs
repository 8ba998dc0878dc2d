//! Owns what a backup selects: `SKIP_DIRS` / `SKIP_PATTERNS`, `--exclude`, `--include`,
//! `INCLUDE_DIRS` / `INCLUDE_PATTERNS` and `--files-from`, compiled once into glob sets
//! (globset) and judged per entry by its path inside the source.
//!
//! One glob syntax for all: `*` (not across `/`), `**` (across), `?`, `[...]`, `\`
//! escapes the next character. A pattern starting with `/` is anchored at the source's
//! top; any other matches at any depth (as if it began with `**/`). A trailing `/`
//! matches folders only.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};
use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// One pattern as given, with where it came from (for messages and `-v`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub glob: String,
    /// `--exclude`, `SKIP_DIRS`, `FILE:LINE`, ….
    pub origin: String,
}

impl Pattern {
    /// A pattern from `origin`.
    pub fn new(glob: impl Into<String>, origin: impl Into<String>) -> Pattern {
        Pattern {
            glob: glob.into(),
            origin: origin.into(),
        }
    }
}

/// The selection rules as configured and given on the command line, before compiling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectSpec {
    /// Folders never backed up (`SKIP_DIRS`).
    pub skip_dirs: Vec<Pattern>,
    /// Files and symlinks never backed up (`SKIP_PATTERNS`).
    pub skip_patterns: Vec<Pattern>,
    /// `--exclude` / `--exclude-from`: any kind (folders only with a trailing `/`).
    pub exclude: Vec<Pattern>,
    /// `--include`: re-includes what an exclude left out, also inside an excluded folder.
    pub include: Vec<Pattern>,
    /// `INCLUDE_DIRS`: when set, only these folders (with everything in them).
    pub include_dirs: Vec<Pattern>,
    /// `INCLUDE_PATTERNS`: when set, only files and symlinks matching these.
    pub include_patterns: Vec<Pattern>,
    /// `--files-from`: when set, only these paths (relative to the source, or absolute).
    pub files_from: Option<Vec<std::path::PathBuf>>,
    /// `--exclude-caches`: leave out folders holding a valid `CACHEDIR.TAG`.
    pub exclude_caches: bool,
}

/// Compiled patterns of one kind, with a label per pattern.
#[derive(Debug, Clone, Default)]
struct Set {
    set: GlobSet,
    labels: Vec<Arc<str>>,
}

impl Set {
    fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The label of the first pattern matching `c`.
    fn first(&self, c: &Candidate) -> Option<Arc<str>> {
        if self.is_empty() || !self.set.is_match_candidate(c) {
            return None;
        }
        let i = self.set.matches_candidate(c).into_iter().min()?;
        Some(self.labels[i].clone())
    }

    fn is_match(&self, c: &Candidate) -> bool {
        !self.is_empty() && self.set.is_match_candidate(c)
    }
}

/// A set for folders and one for everything else.
#[derive(Debug, Clone, Default)]
struct KindSets {
    dirs: Set,
    others: Set,
}

impl KindSets {
    fn of(&self, is_dir: bool) -> &Set {
        if is_dir {
            &self.dirs
        } else {
            &self.others
        }
    }
}

/// Which kinds a list of patterns applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Applies {
    Dirs,
    Others,
    /// Any kind, folders only for a pattern ending in `/`.
    Any,
}

/// The compiled selection, made once per run and shared by every walk of it.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    excludes: KindSets,
    includes: KindSets,
    include_dirs: Set,
    include_patterns: Set,
    files_from: Option<Vec<std::path::PathBuf>>,
    pub(crate) exclude_caches: bool,
}

/// The glob text globset gets for `pattern`, and whether it matches folders only.
fn normalize(pattern: &str) -> (String, bool) {
    let (p, dirs_only) = match pattern.strip_suffix('/') {
        Some(p) if !p.is_empty() => (p, true),
        _ => (pattern, false),
    };
    let glob = match p.strip_prefix('/') {
        Some(anchored) => anchored.to_string(),
        None => format!("**/{p}"),
    };
    (glob, dirs_only)
}

fn compile(lists: &[(&[Pattern], &str, Applies)]) -> Result<KindSets> {
    let (mut dirs, mut others) = (GlobSetBuilder::new(), GlobSetBuilder::new());
    let mut out = KindSets::default();
    for (patterns, kind, applies) in lists {
        for p in patterns.iter() {
            let (text, dirs_only) = normalize(&p.glob);
            let glob = GlobBuilder::new(&text)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| anyhow!("{}: invalid glob {:?}: {}", p.origin, p.glob, e.kind()))?;
            let label: Arc<str> = format!("{kind} {} ({})", p.glob, p.origin).into();
            let (to_dirs, to_others) = match applies {
                Applies::Dirs => (true, false),
                Applies::Others => (false, true),
                Applies::Any => (true, !dirs_only),
            };
            if to_dirs {
                dirs.add(glob.clone());
                out.dirs.labels.push(label.clone());
            }
            if to_others {
                others.add(glob);
                out.others.labels.push(label);
            }
        }
    }
    out.dirs.set = dirs.build()?;
    out.others.set = others.build()?;
    Ok(out)
}

impl Selection {
    /// Compiles `spec`; an invalid glob is an error naming it and where it came from.
    pub fn compile(spec: &SelectSpec) -> Result<Selection> {
        let excludes = compile(&[
            (&spec.skip_dirs, "SKIP_DIRS", Applies::Dirs),
            (&spec.skip_patterns, "SKIP_PATTERNS", Applies::Others),
            (&spec.exclude, "exclude", Applies::Any),
        ])?;
        let includes = compile(&[(&spec.include, "include", Applies::Any)])?;
        let include_dirs = compile(&[(&spec.include_dirs, "INCLUDE_DIRS", Applies::Dirs)])?.dirs;
        let include_patterns =
            compile(&[(&spec.include_patterns, "INCLUDE_PATTERNS", Applies::Others)])?.others;
        Ok(Selection {
            excludes,
            includes,
            include_dirs,
            include_patterns,
            files_from: spec.files_from.clone(),
            exclude_caches: spec.exclude_caches,
        })
    }

    /// The rules for one walk of the source at `source` (which resolves `--files-from`).
    pub fn for_source(&self, source: &Path) -> SourceRules<'_> {
        let files_from = self.files_from.as_ref().map(|lines| {
            let mut listed = HashSet::new();
            let mut ancestors = HashSet::new();
            for line in lines {
                let rel = if line.is_absolute() {
                    match line.strip_prefix(source) {
                        Ok(rel) => rel,
                        Err(_) => continue,
                    }
                } else {
                    line.as_path()
                };
                let rel: std::path::PathBuf = rel
                    .components()
                    .filter(|c| matches!(c, std::path::Component::Normal(_)))
                    .collect();
                if rel.as_os_str().is_empty() {
                    // The source itself: everything.
                    listed.insert(Vec::new());
                    continue;
                }
                let mut up = rel.parent();
                while let Some(p) = up.filter(|p| !p.as_os_str().is_empty()) {
                    ancestors.insert(p.as_os_str().as_bytes().to_vec());
                    up = p.parent();
                }
                listed.insert(rel.as_os_str().as_bytes().to_vec());
            }
            FilesFrom { listed, ancestors }
        });
        let everything = files_from
            .as_ref()
            .is_some_and(|f| f.listed.contains(&Vec::new()));
        let listed_top = (files_from.is_none() || everything) && self.include_dirs.is_empty();
        SourceRules {
            sel: self,
            files_from,
            top: Within {
                listed: listed_top,
                excluded: None,
            },
        }
    }
}

/// `--files-from` resolved for one source: the listed paths and the folders on their way.
struct FilesFrom {
    listed: HashSet<Vec<u8>>,
    ancestors: HashSet<Vec<u8>>,
}

/// Where a folder stands, inherited by what is in it.
#[derive(Debug, Clone, Default)]
pub struct Within {
    /// Inside a listed place (`--files-from`, `INCLUDE_DIRS`), or no such list is given.
    listed: bool,
    /// Inside an excluded folder (not re-included): the rule that left it out.
    excluded: Option<Arc<str>>,
}

impl Within {
    /// Whether this is inside an excluded folder walked only for `--include`.
    pub fn is_excluded(&self) -> bool {
        self.excluded.is_some()
    }
}

/// What becomes of one entry.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Backed up; a folder passes `Within` on to its content.
    Keep(Within),
    /// A folder kept only if something in it is kept: walked, its own entry held back.
    /// With a rule, it was excluded (and is said to be skipped if nothing in it is kept).
    Hold(Within, Option<Arc<str>>),
    /// Left out by this rule.
    Skip(Arc<str>),
    /// Left out silently (inside a folder already said to be skipped).
    Drop,
}

/// The selection as one walk of one source applies it.
pub struct SourceRules<'a> {
    sel: &'a Selection,
    files_from: Option<FilesFrom>,
    top: Within,
}

impl SourceRules<'_> {
    /// Where the source's top folder stands.
    pub fn top(&self) -> Within {
        self.top.clone()
    }

    /// Whether `--exclude-caches` is on.
    pub fn exclude_caches(&self) -> bool {
        self.sel.exclude_caches
    }

    /// Judges the entry at `rel` (relative to the source, no leading `./`) inside a
    /// folder standing at `parent`.
    pub fn judge(&self, rel: &Path, is_dir: bool, parent: &Within) -> Verdict {
        let sel = self.sel;
        let c = Candidate::new(rel);
        // Places: --files-from and INCLUDE_DIRS.
        let mut listed = parent.listed;
        let mut may_hold_listed = true;
        if !listed {
            let key = rel.as_os_str().as_bytes();
            let in_ff = self
                .files_from
                .as_ref()
                .is_some_and(|f| f.listed.contains(key));
            if in_ff || (is_dir && sel.include_dirs.is_match(&c)) {
                listed = true;
            } else {
                let via_ff = self
                    .files_from
                    .as_ref()
                    .is_some_and(|f| f.ancestors.contains(key));
                may_hold_listed = is_dir && (via_ff || !sel.include_dirs.is_empty());
            }
        }
        // Excludes, and --include that overrides them.
        let own = sel.excludes.of(is_dir).first(&c);
        let excluded = own.clone().or_else(|| parent.excluded.clone());
        let excluded = match excluded {
            Some(_) if sel.includes.of(is_dir).is_match(&c) => None,
            other => other,
        };
        if let Some(rule) = excluded {
            let inherited = own.is_none();
            if is_dir && !(sel.includes.dirs.is_empty() && sel.includes.others.is_empty()) {
                let within = Within {
                    listed,
                    excluded: Some(rule.clone()),
                };
                return Verdict::Hold(within, (!inherited).then_some(rule));
            }
            return if inherited {
                Verdict::Drop
            } else {
                Verdict::Skip(rule)
            };
        }
        if !listed {
            if may_hold_listed {
                let within = Within {
                    listed: false,
                    excluded: None,
                };
                return Verdict::Hold(within, None);
            }
            let why = if self.files_from.is_some() {
                "not in --files-from"
            } else {
                "not in INCLUDE_DIRS"
            };
            return Verdict::Skip(why.into());
        }
        let within = Within {
            listed: true,
            excluded: None,
        };
        if !sel.include_patterns.is_empty() {
            if is_dir {
                return Verdict::Hold(within, None);
            }
            if !sel.include_patterns.is_match(&c) {
                return Verdict::Skip("not in INCLUDE_PATTERNS".into());
            }
        }
        Verdict::Keep(within)
    }

    /// Whether a walk leaves out `rel` (for a watch judging its events): some folder on
    /// its way, or the path itself, is skipped.
    pub fn leaves_out(&self, rel: &Path, is_dir: bool) -> bool {
        let names: Vec<_> = rel
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        let mut within = self.top();
        let mut path = std::path::PathBuf::new();
        for (i, name) in names.iter().enumerate() {
            path.push(name);
            let dir = i + 1 < names.len() || is_dir;
            match self.judge(&path, dir, &within) {
                // A folder walked only for what --include keeps in it is itself left out.
                Verdict::Hold(w, _) if i + 1 == names.len() && w.is_excluded() => return true,
                Verdict::Keep(w) | Verdict::Hold(w, _) => within = w,
                Verdict::Skip(_) | Verdict::Drop => return true,
            }
        }
        false
    }
}

/// The signature a valid `CACHEDIR.TAG` starts with (bford.info/cachedir).
pub const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

#[cfg(test)]
mod tests;
