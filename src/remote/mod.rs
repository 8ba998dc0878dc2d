//! Owns remote sources (`[user@]host:/path`, pulled with rsync over ssh): telling them
//! from local paths by rsync's rule, checking and normalising them (the identity a name
//! is bound to), the default snapshot name, and where a name's mirror lives. `rsync`
//! builds the command line and reads what rsync says; `filter` turns the selection into
//! rsync filter rules.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

pub mod filter;
pub mod rsync;

/// The folder in `.phlb` that holds one mirror per remote name.
pub const MIRRORS_DIR: &str = "mirrors";

/// A remote source as written, checked: `[user@]host:/absolute/path`, the path
/// normalised (no `//`, no `.` component, no trailing `/` but for `/` itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// The login user when given (`user@`); `None`: ssh's default for the host.
    pub user: Option<String>,
    pub host: String,
    pub path: String,
}

/// A remote source with its user made explicit: the identity a name is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub user: String,
    pub host: String,
    /// Absolute, normalised (see `RemoteSpec`).
    pub path: String,
}

impl Remote {
    /// `user@host`, as the catalog and the side file record the source's host.
    pub fn login(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }

    /// `user@host:/path`, as messages show it.
    pub fn shown(&self) -> String {
        format!("{}:{}", self.login(), self.path)
    }

    /// rsync's source argument: the folder's contents (`user@host:/path/`).
    pub fn rsync_arg(&self) -> String {
        if self.path == "/" {
            format!("{}:/", self.login())
        } else {
            format!("{}:{}/", self.login(), self.path)
        }
    }
}

/// rsync's rule: a colon before the first slash (or a colon and no slash) makes
/// `host:path` remote; `./a:b` and `/x/a:b` are local.
pub fn looks_remote(arg: &[u8]) -> bool {
    let colon = arg.iter().position(|&b| b == b':');
    let slash = arg.iter().position(|&b| b == b'/');
    match (colon, slash) {
        (Some(c), Some(s)) => c < s,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Checks and normalises a remote source `arg` (one that `looks_remote`); the error
/// says what is wrong and what to write instead.
pub fn parse(arg: &str) -> Result<RemoteSpec, String> {
    let (login, path) = arg
        .split_once(':')
        .ok_or_else(|| format!("{arg:?}: not a remote source ([user@]host:/path)"))?;
    if path.starts_with(':') || arg.starts_with("rsync:") {
        return Err(format!(
            "{arg:?}: rsync daemon sources (host::module, rsync://) are not supported; \
             give [user@]host:/path (rsync over ssh)"
        ));
    }
    let (user, host) = match login.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, login),
    };
    let bad_word = |w: &str| {
        w.is_empty()
            || w.starts_with('-')
            || w.chars().any(|c| c.is_whitespace() || c.is_control())
            || w.contains(['@', '[', ']', '\'', '"', '\\'])
    };
    if bad_word(host) {
        return Err(format!(
            "{arg:?}: {host:?} is not a host name (a local folder with a colon in its name is \
             written ./{arg})"
        ));
    }
    if let Some(u) = user {
        if bad_word(u) {
            return Err(format!("{arg:?}: {u:?} is not a user name"));
        }
    }
    if path.starts_with('~') {
        return Err(format!(
            "{arg:?}: `~` is the remote user's home, which depends on the login: \
             give the absolute path ({login}:/home/...)"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "{arg:?}: the remote path must be absolute ({login}:/...); a relative path \
             depends on the remote login's home (a local folder with a colon in its name \
             is written ./{arg})"
        ));
    }
    if path.contains('\0') {
        return Err(format!("{arg:?}: a path cannot hold a NUL byte"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                "{arg:?}: `..` in a remote path cannot be resolved here; give the path without it"
            ))
            }
            p => parts.push(p),
        }
    }
    Ok(RemoteSpec {
        user: user.map(String::from),
        host: host.to_string(),
        path: format!("/{}", parts.join("/")),
    })
}

impl RemoteSpec {
    /// The default snapshot name: `HOST-BASENAME`, or `HOST` for the remote `/`.
    pub fn default_name(&self) -> String {
        match self.path.rsplit('/').next() {
            Some(base) if !base.is_empty() => format!("{}-{base}", self.host),
            _ => self.host.clone(),
        }
    }

    /// This spec with its user made explicit (`user`: ssh's default for the host when
    /// none was written).
    pub fn with_user(&self, default_user: &str) -> Remote {
        Remote {
            user: self
                .user
                .clone()
                .unwrap_or_else(|| default_user.to_string()),
            host: self.host.clone(),
            path: self.path.clone(),
        }
    }
}

/// The mirror of remote name `name` in the backup root `root`: a private folder phlb
/// owns (`.phlb/mirrors/NAME`), holding `tree`, rsync's copy of the remote folder.
pub fn mirror_dir(root: &Path, name: &str) -> PathBuf {
    root.join(crate::root::META_DIR)
        .join(MIRRORS_DIR)
        .join(name)
}

/// The folder rsync pulls into and a snapshot is made from (see `mirror_dir`).
pub fn mirror_tree(root: &Path, name: &str) -> PathBuf {
    mirror_dir(root, name).join("tree")
}

/// Splits a `RSYNC` or `SSH` value into words as a shell would for plain words and
/// quotes (`'…'`, `"…"`, `\`); no expansion of any kind.
pub fn split_words(value: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("{value:?}: a ' is not closed")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err(format!("{value:?}: a \" is not closed")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("{value:?}: a \" is not closed")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("an empty command".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsyncs_rule_tells_remote_from_local() {
        for (arg, remote) in [
            ("host:/srv", true),
            ("me@host:/srv", true),
            ("host:", true),
            ("a:b", true),
            ("./a:b", false),
            ("/data/a:b", false),
            ("dir/a:b", false),
            ("plain", false),
            ("/abs", false),
        ] {
            assert_eq!(looks_remote(arg.as_bytes()), remote, "{arg}");
        }
    }

    #[test]
    fn remote_paths_are_normalised() {
        for (arg, user, host, path) in [
            ("host:/srv/www", None, "host", "/srv/www"),
            ("host:/srv/www/", None, "host", "/srv/www"),
            ("host://srv//www/./", None, "host", "/srv/www"),
            ("me@host:/", Some("me"), "host", "/"),
            ("me@host://", Some("me"), "host", "/"),
        ] {
            let spec = parse(arg).unwrap();
            assert_eq!(spec.user.as_deref(), user, "{arg}");
            assert_eq!(
                (spec.host.as_str(), spec.path.as_str()),
                (host, path),
                "{arg}"
            );
        }
    }

    #[test]
    fn home_relative_and_hostile_remotes_are_refused() {
        for (arg, says) in [
            ("host:~/docs", "`~`"),
            ("host:docs", "absolute"),
            ("a:b", "absolute"),
            ("host:", "absolute"),
            ("host:/a/../b", "`..`"),
            ("host::module", "daemon"),
            ("-oProxyCommand=x:/srv", "not a host"),
            (":/srv", "not a host"),
            ("-l@host:/srv", "not a user"),
            ("@host:/srv", "not a user"),
            ("ho st:/srv", "not a host"),
        ] {
            let err = parse(arg).unwrap_err();
            assert!(err.contains(says), "{arg}: {err}");
        }
    }

    #[test]
    fn the_default_name_is_host_and_basename() {
        let name = |arg| parse(arg).unwrap().default_name();
        assert_eq!(name("laptop:/home/ann/"), "laptop-ann");
        assert_eq!(name("me@laptop:/"), "laptop");
        assert_eq!(name("10.0.0.5:/etc"), "10.0.0.5-etc");
    }

    #[test]
    fn identity_fills_in_the_user_and_both_forms_agree() {
        let a = parse("host:/srv/").unwrap().with_user("root");
        let b = parse("root@host:/srv").unwrap().with_user("other");
        assert_eq!(a, b);
        assert_eq!(a.shown(), "root@host:/srv");
        assert_eq!(a.rsync_arg(), "root@host:/srv/");
        assert_eq!(parse("h:/").unwrap().with_user("u").rsync_arg(), "u@h:/");
    }

    #[test]
    fn commands_split_into_words() {
        let w = split_words("ssh -p 2222 -o 'UserKnownHostsFile=/a b' \"-i\" k\\ ey").unwrap();
        assert_eq!(
            w,
            [
                "ssh",
                "-p",
                "2222",
                "-o",
                "UserKnownHostsFile=/a b",
                "-i",
                "k ey"
            ]
        );
        assert!(split_words("  ").is_err());
        assert!(split_words("ssh 'x").is_err());
    }
}
