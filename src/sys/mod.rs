//! Owns phlb's raw system calls: every call into `libc` that needs `unsafe` is wrapped
//! here in a small safe function (each with a `// SAFETY:` comment saying why it is
//! sound), and the rest of phlb calls those. The decisions (what to open, what an error
//! means, what to do next) stay with the callers; only the raw calls live here.
//!
//! The rule: `sys/` is the only place besides `lock/` (the `flock`s of the root's locks)
//! and `signals.rs` (signal masks, `sigwait`, `_exit`) that may hold `unsafe`. Every
//! other module tree starts with `#![forbid(unsafe_code)]`, and the test below fails
//! when `unsafe` shows up anywhere else.

pub mod at;
pub mod fiemap;
pub mod file;
pub mod flush;
pub mod fs_info;
pub mod glob;
pub mod meta;
pub mod mounts;
pub mod poll;
pub mod process;
pub mod terminal;
pub mod users;
pub mod xattr;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file below `dir`.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// True when `line`, without its `//` comment, holds the word `unsafe` (not as part
    /// of a longer name such as `unsafe_code`).
    fn says_unsafe(line: &str) -> bool {
        let code = line.split("//").next().unwrap_or("");
        let word = |c: char| c.is_alphanumeric() || c == '_';
        code.match_indices("unsafe").any(|(i, m)| {
            let before = code[..i].chars().next_back();
            let after = code[i + m.len()..].chars().next();
            !before.is_some_and(word) && !after.is_some_and(word)
        })
    }

    #[test]
    fn unsafe_lives_only_in_sys_lock_and_signals() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let allowed = [src.join("sys"), src.join("lock"), src.join("signals.rs")];
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(files.len() > 20, "found the sources in {}", src.display());
        let mut found = Vec::new();
        for file in files
            .iter()
            .filter(|f| !allowed.iter().any(|a| f.starts_with(a)))
        {
            let text = std::fs::read_to_string(file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if says_unsafe(line) {
                    let rel = file.strip_prefix(&src).unwrap_or(file);
                    found.push(format!("src/{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "`unsafe` outside src/sys/, src/lock/ and src/signals.rs (wrap the call in a \
             safe function in src/sys/):\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_check_sees_unsafe_but_not_comments_or_the_forbid() {
        assert!(says_unsafe("    let n = unsafe { libc::geteuid() };"));
        assert!(says_unsafe("unsafe fn f() {}"));
        assert!(!says_unsafe("#![forbid(unsafe_code)]"));
        assert!(!says_unsafe("    // SAFETY: unsafe is fine here"));
        assert!(!says_unsafe("//! no unsafe here"));
        assert!(!says_unsafe("let not_unsafe_at_all = 1;"));
    }
}
