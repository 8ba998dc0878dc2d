//! Owns matching a name against a shell glob (`fnmatch`).

use std::ffi::{CStr, CString};

/// True when `name` matches shell glob `pattern` (`fnmatch` without flags).
pub fn fnmatch(pattern: &CStr, name: &CStr) -> bool {
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(pattern.as_ptr(), name.as_ptr(), 0) == 0 }
}

/// True when snapshot path `rel` matches `glob` as `find` and `restore` take one: the
/// whole path, or (for a glob without `/`) its last name, as `fnmatch(3)` without flags
/// matches (`*` also crosses `/`; `[!a-z]` is a class that leaves a-z out; `\*` is a
/// literal `*`). The snapshot's top folder (`.`) matches `.` alone.
pub fn path_matches(glob: &[u8], rel: &[u8]) -> bool {
    // The snapshot's own folder is no name in it: only `.` itself names it.
    if rel == b"." {
        return glob == b".";
    }
    let (Ok(pattern), Ok(whole)) = (CString::new(glob), CString::new(rel)) else {
        return false;
    };
    if fnmatch(&pattern, &whole) {
        return true;
    }
    let name = rel.rsplit(|&b| b == b'/').next().unwrap_or(rel);
    !glob.contains(&b'/') && name != rel && CString::new(name).is_ok_and(|n| fnmatch(&pattern, &n))
}

/// True when SQLite's `GLOB` matches `glob` exactly as `path_matches` does: it has no
/// bracket class (SQLite negates one with `^`, fnmatch with `!`) and no backslash
/// (an escape to fnmatch, a plain character to SQLite).
pub fn sqlite_agrees(glob: &[u8]) -> bool {
    !glob.iter().any(|b| matches!(b, b'[' | b'\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        let cases = [
            ("*.pyc", "a.pyc", true),
            ("*.pyc", "a.py", false),
            ("*.tmp", ".x.tmp", true),
            ("data?", "data1", true),
        ];
        for (pat, name, want) in cases {
            let (p, n) = (CString::new(pat).unwrap(), CString::new(name).unwrap());
            assert_eq!(fnmatch(&p, &n), want, "{pat} {name}");
        }
    }

    #[test]
    fn paths_match_as_fnmatch_does_and_names_alone_without_a_slash() {
        let yes: [(&str, &str); 6] = [
            ("*.pdf", "a/b/c.pdf"),
            ("a/*", "a/b/c.pdf"),
            ("[!a-z]*", "Zeta"),
            ("\\*", "*"),
            ("c.pdf", "a/b/c.pdf"),
            ("?", "x/y"),
        ];
        for (g, p) in yes {
            assert!(path_matches(g.as_bytes(), p.as_bytes()), "{g} {p}");
        }
        let no: [(&str, &str); 4] = [
            ("[!a-z]*", "zeta"),
            ("\\*", "x"),
            ("b/c.pdf", "a/b/c.pdf"),
            ("[^a-z]*", "zeta"),
        ];
        for (g, p) in no {
            assert!(!path_matches(g.as_bytes(), p.as_bytes()), "{g} {p}");
        }
        assert!(sqlite_agrees(b"*.pdf") && !sqlite_agrees(b"[!a]*") && !sqlite_agrees(b"\\*"));
    }
}
