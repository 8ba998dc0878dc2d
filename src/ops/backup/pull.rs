//! Owns pulling a remote source into its mirror: asking ssh for the login user a spec
//! leaves out, running rsync (`remote::rsync` builds its command line and judges its
//! end), and putting what rsync said into the run's log and counters.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::snapshot::Run;
use super::Source;
use crate::config::{Config, LogLevel};
use crate::progress::Report;
use crate::remote::rsync::{judge, Pull, Pulled};
use crate::remote::{split_words, Remote, RemoteSpec};
use crate::tell::Tell;

/// ssh's login user for `spec`'s host when the spec names none (`SSH -G host`, which
/// reads ssh's config and connects nowhere).
pub fn login_user(config: &Config, spec: &RemoteSpec) -> Result<String> {
    if let Some(user) = &spec.user {
        return Ok(user.clone());
    }
    let words = split_words(&config.ssh).map_err(|e| anyhow::anyhow!("SSH: {e}"))?;
    let ask = || {
        format!(
            "{}: cannot ask ssh for the login user (`{} -G`)",
            spec.host, words[0]
        )
    };
    let out = Command::new(&words[0])
        .args(&words[1..])
        .arg("-G")
        .arg(&spec.host)
        .stdin(Stdio::null())
        .output()
        .with_context(ask)?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        bail!("{}: {}", ask(), said.lines().next().unwrap_or("failed"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("user "))
        .map(str::trim)
        .filter(|u| !u.is_empty());
    user.map(String::from)
        .with_context(|| format!("{}: ssh names no login user", ask()))
}

/// What a pull left for the snapshot run: rsync's verdict and everything it wrote.
pub struct Done {
    pub pulled: Pulled,
    /// rsync's command line, as the log shows it.
    pub argv: String,
    pub stderr: String,
    pub stdout: String,
}

/// Pulls `remote` into the mirror of `source` in the backup root `root` (made private
/// first). A pull that leaves nothing worth a snapshot is an error naming the source
/// and rsync's reason; the mirror keeps every file rsync finished, so the next pull
/// sends only the rest.
pub fn pull(
    config: &Config,
    root: &Path,
    source: &Source,
    remote: &Remote,
    say: &dyn Tell,
) -> Result<Done> {
    let mirror = crate::remote::mirror_dir(root, &source.name);
    crate::store::make_private_dir(mirror.parent().unwrap_or(root))?;
    crate::store::make_private_dir(&mirror)?;
    crate::store::make_dir(&source.path)
        .with_context(|| format!("{}: cannot create the mirror", source.path.display()))?;
    let rsync = split_words(&config.rsync).map_err(|e| anyhow::anyhow!("RSYNC: {e}"))?;
    let filters = crate::remote::filter::rules(&config.select_spec());
    let pull = Pull {
        rsync: &rsync,
        ssh: &config.ssh,
        one_file_system: config.one_file_system,
        filters: &filters,
        fake_super: !crate::store::running_as_root(),
        extra: &config.rsync_opts,
        remote,
        dest: &source.path,
    };
    let argv = pull.argv();
    let shown_argv = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    say.step(&format!("pulling {} into its mirror", remote.shown()));
    crate::signals::doing(format!(
        "pull of {} stopped; no snapshot was made, the mirror keeps what rsync finished",
        remote.shown()
    ));
    // rsync forks: its receiver outlives a phlb killed with SIGKILL (only the process
    // phlb started dies with it) and writes on into the mirror. Every rsync process
    // holds this lock (an inherited descriptor), so the next pull waits until the last
    // of them is gone: never two writers in one mirror.
    let held = mirror_lock(&mirror, remote, say)?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::sys::process::die_with_parent(&mut cmd);
    crate::sys::process::inherit_fd(&mut cmd, std::os::fd::AsRawFd::as_raw_fd(&held));
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => bail!(
            "{}: cannot pull: cannot run {:?} (RSYNC): {e}; no snapshot made",
            remote.shown(),
            argv[0]
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    match judge(out.status.code(), &stderr, &stdout, remote, &source.path) {
        Ok(pulled) => Ok(Done {
            pulled,
            argv: shown_argv,
            stderr,
            stdout,
        }),
        Err(why) => bail!("{}: cannot pull: {why}; no snapshot made", remote.shown()),
    }
}

/// Takes the mirror's lock (`<mirror>/lock`), waiting, with a line saying why, while an
/// rsync of a killed run still writes there.
fn mirror_lock(mirror: &Path, remote: &Remote, say: &dyn Tell) -> Result<std::fs::File> {
    let path = mirror.join("lock");
    let file = crate::lock::open_lock_file(&path)
        .with_context(|| format!("{}: cannot open", path.display()))?;
    let lock_err = |e| anyhow::anyhow!("{}: cannot lock: {e}", path.display());
    if !crate::sys::file::try_lock_exclusive(&file).map_err(lock_err)? {
        say.step(&format!(
            "waiting for the rsync of an interrupted pull of {} to end",
            remote.shown()
        ));
        crate::sys::file::lock_exclusive(&file).map_err(lock_err)?;
    }
    Ok(file)
}

impl Done {
    /// Writes rsync's command line, its statistics and every line it wrote to stderr
    /// into the run's log.
    pub(super) fn log_into(&self, log: &mut super::counts::Log) {
        log.line(LogLevel::Info, &format!("pull: {}", self.argv));
        for line in self.stdout.lines().filter(|l| !l.trim().is_empty()) {
            log.line(LogLevel::Info, &format!("pull: {line}"));
        }
        for line in self.stderr.lines().filter(|l| !l.trim().is_empty()) {
            log.line(LogLevel::Warning, &format!("pull: {line}"));
        }
    }

    /// Counts what rsync transferred, the files it saw vanish and those it could not
    /// transfer (shown as `user@host:/path/REL`) into the run.
    pub(super) fn count_into(&self, run: &mut Run, remote: &Remote, progress: &dyn Report) {
        run.counts.pulled_files = self.pulled.files_sent.unwrap_or(0);
        run.counts.pulled_bytes = self.pulled.bytes_received.unwrap_or(0);
        let shown = |rel: &Path| -> PathBuf {
            let base = remote.shown();
            if rel == Path::new(".") {
                PathBuf::from(base)
            } else {
                PathBuf::from(format!("{}/{}", base.trim_end_matches('/'), rel.display()))
            }
        };
        for rel in &self.pulled.vanished {
            run.vanished(&shown(rel), progress);
        }
        for (rel, why) in &self.pulled.failed {
            let why = format!("rsync could not transfer it ({why}); the snapshot holds the mirror's older copy, if any");
            run.fail(&shown(rel), &why, progress);
        }
    }
}
