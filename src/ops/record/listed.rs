//! Owns how `add` reads a snapshot's manifest: path -> hex digest, asked in walk order.
//! A manifest phlb wrote lists its paths in the walk's order (byte order), so it is read
//! alongside the walk and never held whole; one in another order (made by hand) is.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::manifest;

/// A snapshot's manifest, asked for one path at a time in the walk's order.
pub(super) enum Listed {
    /// Lines in byte order of their paths: read as the walk goes.
    InOrder(Cursor),
    /// Lines in another order: held whole.
    Held(HashMap<PathBuf, String>),
}

impl Listed {
    /// Opens the manifest at `path`; an unreadable one lists nothing (as an empty one).
    pub(super) fn open(path: &Path) -> Listed {
        match in_order(path) {
            Ok(true) => match Cursor::open(path) {
                Ok(c) => Listed::InOrder(c),
                Err(_) => Listed::Held(HashMap::new()),
            },
            Ok(false) => Listed::Held(manifest::read(path).map(|(m, _)| m).unwrap_or_default()),
            Err(_) => Listed::Held(HashMap::new()),
        }
    }

    /// The digest the manifest gives `rel` (the last line naming it). Asked in the
    /// walk's order: a path before the one asked last may no longer be found.
    pub(super) fn get(&mut self, rel: &Path) -> Option<String> {
        match self {
            Listed::InOrder(c) => c.get(rel),
            Listed::Held(m) => m.get(rel).cloned(),
        }
    }
}

/// The manifest read line by line as the walk asks for paths in byte order.
pub(super) struct Cursor {
    lines: Lines,
    /// The first line not passed yet.
    next: Option<(PathBuf, String)>,
    /// The path found last and its digest: a path is looked at more than once.
    found: Option<(PathBuf, String)>,
}

impl Cursor {
    fn open(path: &Path) -> io::Result<Cursor> {
        let mut lines = Lines::new(File::open(path)?);
        let next = lines.next();
        Ok(Cursor {
            lines,
            next,
            found: None,
        })
    }

    fn get(&mut self, rel: &Path) -> Option<String> {
        if let Some((p, hex)) = &self.found {
            if p == rel {
                return Some(hex.clone());
            }
        }
        let want = rel.as_os_str().as_bytes();
        while let Some((p, _)) = &self.next {
            if p.as_os_str().as_bytes() >= want {
                break;
            }
            self.next = self.lines.next();
        }
        // A path given on more than one line: the last one counts, as in a map.
        let mut found = None;
        while let Some((p, hex)) = self.next.take() {
            if p.as_os_str().as_bytes() != want {
                self.next = Some((p, hex));
                break;
            }
            found = Some(hex);
            self.next = self.lines.next();
        }
        self.found = found.clone().map(|hex| (rel.to_path_buf(), hex));
        found
    }
}

/// True when every parsed line's path is at or after the one before, in byte order.
fn in_order(path: &Path) -> io::Result<bool> {
    let mut lines = Lines::new(File::open(path)?);
    let mut last: Option<PathBuf> = None;
    while let Some((p, _)) = lines.next() {
        if last
            .as_ref()
            .is_some_and(|l| l.as_os_str().as_bytes() > p.as_os_str().as_bytes())
        {
            return Ok(false);
        }
        last = Some(p);
    }
    Ok(lines.error.is_none())
}

/// The parsed lines of a manifest (unparsable and empty lines left out), each path in
/// its normal form (as `Path`'s equality sees it: no doubled or trailing `/`).
struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    error: Option<io::Error>,
}

impl Lines {
    fn new(file: File) -> Lines {
        Lines {
            reader: BufReader::new(file),
            buf: Vec::new(),
            error: None,
        }
    }

    fn next(&mut self) -> Option<(PathBuf, String)> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.error = Some(e);
                    return None;
                }
            }
            let text = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
            if text.is_empty() {
                continue;
            }
            if let Some((hex, rel)) = manifest::parse_line(text) {
                return Some((rel.components().collect(), hex));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(lines: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m");
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn ask(listed: &mut Listed, paths: &[&str]) -> Vec<Option<String>> {
        paths.iter().map(|p| listed.get(Path::new(p))).collect()
    }

    #[test]
    fn a_manifest_in_walk_order_is_read_alongside_and_answers_as_a_map_would() {
        let lines = [
            "aa  a-b",
            "bb  a/x",
            "b0  a/y",
            "cc  a/y",
            "",
            "not a line",
            "dd  b//c/",
            "ee  z",
        ];
        let (_d, path) = manifest(&lines);
        let asked = [
            "a-a", "a-b", "a-b", "a/x", "a/y", "a/y", "b/c", "q", "z", "zz",
        ];
        let mut cursor = Listed::open(&path);
        assert!(matches!(cursor, Listed::InOrder(_)));
        let mut held = Listed::Held(manifest::read(&path).unwrap().0);
        let want: Vec<Option<String>> = [
            None,
            Some("aa"),
            Some("aa"),
            Some("bb"),
            Some("cc"),
            Some("cc"),
            Some("dd"),
            None,
            Some("ee"),
            None,
        ]
        .iter()
        .map(|h| h.map(String::from))
        .collect();
        assert_eq!(ask(&mut cursor, &asked), want);
        assert_eq!(ask(&mut held, &asked), want);
    }

    #[test]
    fn a_manifest_out_of_order_is_held_whole() {
        let (_d, path) = manifest(&["bb  b", "aa  a"]);
        let mut listed = Listed::open(&path);
        assert!(matches!(listed, Listed::Held(_)));
        assert_eq!(
            ask(&mut listed, &["a", "b"]),
            vec![Some("aa".into()), Some("bb".into())]
        );
    }

    #[test]
    fn a_manifest_that_cannot_be_read_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut listed = Listed::open(&dir.path().join("gone"));
        assert_eq!(ask(&mut listed, &["a"]), vec![None]);
    }
}
