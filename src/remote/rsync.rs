//! Owns phlb's side of rsync: the command line that pulls a remote folder into its
//! mirror, and what rsync's exit code, its error lines and its `--stats` mean for the
//! run (pure: the engine runs the process, `ops::backup::pull`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::Remote;

/// rsync's options phlb always gives: archive with hardlinks, ACLs and xattrs, owners by
/// number, sparse files, the mirror made exactly the remote folder (files gone there and
/// files now excluded are deleted — after the transfer, so a file renamed in its folder
/// is sent as a difference to its old name, `--fuzzy`), and the statistics the log keeps.
/// Times are compared to the nanosecond (`--modify-window=-1`): with rsync's default
/// (whole seconds) a file changed twice in one second, same size, is not sent again, and
/// a folder made in the second of its source's mtime keeps the time rsync made it.
pub const ALWAYS: &[&str] = &[
    "-aHAX",
    "--modify-window=-1",
    "--numeric-ids",
    "--sparse",
    "--fuzzy",
    "--delete",
    "--delete-delay",
    "--delete-excluded",
    "--stats",
];

/// What a pull runs with.
pub struct Pull<'a> {
    /// `RSYNC`, split into words: the binary and options before phlb's.
    pub rsync: &'a [String],
    /// `SSH`: rsync's `-e` (the remote shell, with its options).
    pub ssh: &'a str,
    /// Stay on the remote folder's filesystem (`ONE_FILE_SYSTEM`).
    pub one_file_system: bool,
    /// Filter rules from the selection (`filter::rules`), each one `--filter` value.
    pub filters: &'a [String],
    /// Not root on this machine: owners, groups and special files are kept in
    /// `user.rsync.%stat` xattrs (`--fake-super`).
    pub fake_super: bool,
    /// `--rsync-opt`, after phlb's options (so they can override them).
    pub extra: &'a [String],
    pub remote: &'a Remote,
    /// The mirror's tree.
    pub dest: &'a Path,
}

impl Pull<'_> {
    /// The whole command line, program first.
    pub fn argv(&self) -> Vec<OsString> {
        let mut argv: Vec<OsString> = self.rsync.iter().map(OsString::from).collect();
        argv.extend(ALWAYS.iter().map(OsString::from));
        argv.push("-e".into());
        argv.push(self.ssh.into());
        if self.one_file_system {
            argv.push("--one-file-system".into());
        }
        if self.fake_super {
            argv.push("--fake-super".into());
        }
        for rule in self.filters {
            argv.push(format!("--filter={rule}").into());
        }
        argv.extend(self.extra.iter().map(OsString::from));
        argv.push("--".into());
        argv.push(self.remote.rsync_arg().into());
        let mut dest = self.dest.as_os_str().to_os_string();
        dest.push("/");
        argv.push(dest);
        argv
    }
}

/// What a pull that produced a mirror worth a snapshot said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// Files deleted on the remote side while rsync sent them (exit 24), relative.
    pub vanished: Vec<PathBuf>,
    /// Paths rsync could not transfer (exit 23), relative, with rsync's words; the
    /// remote folder itself (`.`) when rsync named none.
    pub failed: Vec<(PathBuf, String)>,
    /// `Number of regular files transferred`.
    pub files_sent: Option<u64>,
    /// `Total bytes received` (this side): what crossed the network.
    pub bytes_received: Option<u64>,
}

/// Judges a finished rsync: `code` its exit code (`None`: ended by a signal), `stderr`
/// and `stdout` what it wrote. Ok with the details when the mirror is worth a snapshot
/// (0, 23, 24); else the one line that says why not.
pub fn judge(
    code: Option<i32>,
    stderr: &str,
    stdout: &str,
    remote: &Remote,
    dest: &Path,
) -> Result<Pulled, String> {
    let mut pulled = Pulled {
        files_sent: stat(stdout, "Number of regular files transferred:"),
        bytes_received: stat(stdout, "Total bytes received:"),
        ..Pulled::default()
    };
    let Some(code) = code else {
        return Err("rsync was killed by a signal; the mirror keeps what it finished".into());
    };
    let rel = |p: &str| relative(p, remote, dest);
    match code {
        0 => Ok(pulled),
        23 | 24 => {
            let top_missing = stderr.lines().find(|l| {
                l.contains(&format!("change_dir \"{}\" failed", remote.path))
                    || l.contains(&format!("link_stat \"{}", remote.path))
            });
            if let Some(line) = top_missing {
                return Err(line.trim_start_matches("rsync: ").to_string());
            }
            for line in stderr.lines() {
                if let Some(at) = line.find("file has vanished: \"") {
                    let rest = &line[at + "file has vanished: ".len()..];
                    if let Some(p) = quoted(rest, Which::First) {
                        pulled.vanished.push(rel(&p));
                    }
                } else if let Some(why) = failure(line) {
                    pulled.failed.push((rel(&why.0), why.1));
                }
            }
            if code == 23 && pulled.failed.is_empty() {
                pulled.failed.push((
                    PathBuf::from("."),
                    "rsync could not transfer some files or attributes (see the log)".into(),
                ));
            }
            Ok(pulled)
        }
        20 => Err("rsync was stopped by a signal; the mirror keeps what it finished".into()),
        _ => Err(format!("{} (rsync exit {code})", first_said(stderr))),
    }
}

/// The line that explains a failed connection: the first that is not rsync's closing
/// summary, nor ssh's note about known hosts.
fn first_said(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .find(|l| {
            !l.is_empty()
                && !l.starts_with("rsync error:")
                && !l.starts_with("Warning: Permanently added")
        })
        .unwrap_or("rsync failed without saying why")
        .to_string()
}

/// A `--stats` number: the line starting with `label`, its first number (commas dropped).
fn stat(stdout: &str, label: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| l.starts_with(label))?;
    let digits: String = line[label.len()..]
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    digits.parse().ok()
}

/// An error line naming a path (`rsync: [sender] … "PATH" …: why (errno)`): the path
/// (for a rename, the final name) and the line.
fn failure(line: &str) -> Option<(String, String)> {
    let said = line.strip_prefix("rsync: ")?;
    if !said.ends_with(')') {
        return None;
    }
    let which = if said.contains("\" -> \"") {
        Which::Last
    } else {
        Which::First
    };
    let path = quoted(said, which)?;
    Some((path, said.to_string()))
}

#[derive(Clone, Copy)]
enum Which {
    First,
    Last,
}

/// The first or last `"…"` of `text`, rsync's `\#ooo` escapes undone.
fn quoted(text: &str, which: Which) -> Option<String> {
    let inner = match which {
        Which::First => {
            let start = text.find('"')? + 1;
            // A quote in a name: the quoted part ends at the last `"` before `: ` or
            // ` failed` (or the end).
            let rest = &text[start..];
            let end = ["\": ", "\" failed", "\" -> "]
                .iter()
                .filter_map(|m| rest.find(m))
                .min()
                .or_else(|| rest.rfind('"'))?;
            &rest[..end]
        }
        Which::Last => {
            let end = text.rfind('"')?;
            let start = text[..end].rfind("\" -> \"")? + "\" -> \"".len();
            &text[start..end]
        }
    };
    Some(unescape(inner))
}

/// Undoes rsync's escapes of bytes it will not print (`\#ooo`, octal).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'#')
            && b.len() >= i + 5
            && b[i + 2..i + 5].iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let n = b[i + 2..i + 5]
                .iter()
                .fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
            out.push(n as u8);
            i += 5;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` as rsync named it (absolute on the sender, in the mirror on the receiver, or
/// already relative), relative to the remote folder.
fn relative(path: &str, remote: &Remote, dest: &Path) -> PathBuf {
    let dest = dest.to_string_lossy();
    for base in [remote.path.as_str(), dest.as_ref()] {
        let base = base.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
            return PathBuf::from(rest);
        }
    }
    PathBuf::from(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote() -> Remote {
        Remote {
            user: "root".into(),
            host: "h".into(),
            path: "/srv/data".into(),
        }
    }

    #[test]
    fn the_command_line_pulls_the_contents_into_the_mirror() {
        let r = remote();
        let pull = Pull {
            rsync: &["rsync".into()],
            ssh: "ssh -p 2",
            one_file_system: true,
            filters: &["- *.tmp".into()],
            fake_super: false,
            extra: &["--bwlimit=1m".into()],
            remote: &r,
            dest: Path::new("/b/.phlb/mirrors/n/tree"),
        };
        let argv: Vec<String> = pull
            .argv()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        let tail = &argv[argv.len() - 5..];
        assert_eq!(
            tail,
            [
                "--filter=- *.tmp",
                "--bwlimit=1m",
                "--",
                "root@h:/srv/data/",
                "/b/.phlb/mirrors/n/tree/",
            ]
        );
        assert!(argv.contains(&"--one-file-system".to_string()));
        assert_eq!(argv[0], "rsync");
        assert!(argv.windows(2).any(|w| w == ["-e", "ssh -p 2"]));
    }

    #[test]
    fn exit_codes_decide_whether_a_snapshot_follows() {
        let r = remote();
        let dest = Path::new("/b/m/tree");
        let refused = "ssh: connect to host 127.0.0.2 port 9: Connection refused\n\
                       rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]\n\
                       rsync error: error in rsync protocol data stream (code 12) at io.c(285)\n";
        let err = judge(Some(12), refused, "", &r, dest).unwrap_err();
        assert!(err.starts_with("ssh: connect to host 127.0.0.2"), "{err}");
        let denied = "root@127.0.0.1: Permission denied (publickey).\n";
        assert!(judge(Some(255), denied, "", &r, dest)
            .unwrap_err()
            .contains("Permission denied"));
        let missing =
            "rsync: [sender] change_dir \"/srv/data\" failed: No such file or directory (2)\n";
        assert!(judge(Some(23), missing, "", &r, dest)
            .unwrap_err()
            .contains("No such file"));
        assert!(judge(None, "", "", &r, dest).is_err());
        assert!(judge(Some(20), "", "", &r, dest).is_err());
    }

    #[test]
    fn partial_and_vanished_name_their_paths() {
        let r = remote();
        let dest = Path::new("/b/m/tree");
        let said = "file has vanished: \"/srv/data/gone\\#012x\"\n\
                    rsync: [sender] send_files failed to open \"/srv/data/d/secret\": Permission denied (13)\n\
                    rsync: [receiver] rename \"/b/m/tree/.a.yUI5LG\" -> \"a\": Operation not permitted (1)\n\
                    rsync: [Receiver] write error: Broken pipe (32)\n";
        let stats = "Number of regular files transferred: 1,234\nTotal bytes received: 5,678,901\n";
        let pulled = judge(Some(23), said, stats, &r, dest).unwrap();
        assert_eq!(pulled.vanished, [PathBuf::from("gone\nx")]);
        let failed: Vec<&Path> = pulled.failed.iter().map(|(p, _)| p.as_path()).collect();
        assert_eq!(failed, [Path::new("d/secret"), Path::new("a")]);
        assert_eq!(pulled.files_sent, Some(1234));
        assert_eq!(pulled.bytes_received, Some(5_678_901));
        // Exit 23 without a named path still fails the run.
        let pulled = judge(Some(23), "rsync: [Receiver] write error: x\n", "", &r, dest).unwrap();
        assert_eq!(pulled.failed.len(), 1);
        assert!(judge(Some(0), "", "", &r, dest).unwrap().failed.is_empty());
    }
}
