//! Owns `PRE_COMMAND` and `POST_COMMAND`: shell commands (`sh -c`) run around each
//! source's snapshot with the run's facts in `PHLB_*` environment variables; their
//! output goes to stderr and is appended to the snapshot's `-backup.log`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::{make_snapshot, SnapshotReport, Source};
use crate::config::Config;
use crate::layout::SnapshotPaths;
use crate::progress::Ui;
use crate::root::BackupRoot;
use crate::tell::Tell;

/// Makes one snapshot of `source` between the config's hooks: a pre-command that fails
/// (or cannot start) stops it before anything is written (exit 2); the post-command
/// runs after every attempt, with `PHLB_EXIT` 0 (clean), 1 (some files failed) or 2
/// (the run failed), and its own failure is a warning.
pub fn snapshot_with_hooks(
    opened: &BackupRoot,
    config: &Config,
    source: &Source,
    ui: &Ui,
) -> Result<SnapshotReport> {
    let root = opened.path();
    let mut output = Vec::new();
    if let Some(cmd) = &config.pre_command {
        let ran = run_hook("pre", cmd, root, source, None, None)?;
        let _ = std::io::stderr().write_all(&ran.output);
        output.push(ran.output);
        if let Some(why) = ran.failed {
            // The post-command runs after every attempt, this one too (exit 2).
            if let Some(post) = &config.post_command {
                let after = run_hook("post", post, root, source, None, Some(2))?;
                let _ = std::io::stderr().write_all(&after.output);
            }
            bail!(
                "PRE_COMMAND {cmd:?}: {why}; no backup of {} made",
                source.name
            );
        }
    }
    let made = make_snapshot(opened, config, source, ui);
    let exit = match &made {
        Ok(m) if m.counts.failed > 0 => 1,
        Ok(_) => 0,
        Err(_) => 2,
    };
    let snapshot = made
        .as_ref()
        .ok()
        .map(|m| snapshot_paths(root, config, &m.label));
    if let Some(cmd) = &config.post_command {
        let dir = snapshot.as_ref().map(|p| p.dir.as_path());
        let ran = run_hook("post", cmd, root, source, dir, Some(exit))?;
        let _ = std::io::stderr().write_all(&ran.output);
        output.push(ran.output);
        if let Some(why) = ran.failed {
            ui.warning(&format!("POST_COMMAND {cmd:?}: {why}"));
        }
    }
    if let Some(paths) = &snapshot {
        let text: Vec<u8> = output.concat();
        if !text.is_empty() {
            append(&paths.log, &text)?;
        }
    }
    made
}

/// The side files of snapshot `label` (`NAME/TIMESTAMP`) in `root`.
fn snapshot_paths(root: &Path, config: &Config, label: &str) -> SnapshotPaths {
    use crate::snapshot_id::SnapshotId;
    let id = SnapshotId::parse(label).unwrap_or_else(|| SnapshotId::new(label, ""));
    SnapshotPaths::new(root, &id.name, &id.timestamp, config.hash.manifest_suffix())
}

/// What a hook printed (each line prefixed with its name) and why it failed, if it did.
struct Ran {
    output: Vec<u8>,
    failed: Option<String>,
}

fn run_hook(
    which: &str,
    cmd: &str,
    root: &Path,
    source: &Source,
    snapshot: Option<&Path>,
    exit: Option<i32>,
) -> Result<Ran> {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .env("PHLB_HOOK", which)
        .env("PHLB_NAME", &source.name)
        .env(
            "PHLB_SOURCE",
            match &source.remote {
                Some(r) => r.shown().into(),
                None => source.path.clone().into_os_string(),
            },
        )
        .env("PHLB_BACKUP_ROOT", root)
        .env("PHLB_SNAPSHOT", snapshot.unwrap_or(Path::new("")));
    if let Some(code) = exit {
        c.env("PHLB_EXIT", code.to_string());
    }
    // Output goes to a file, not a pipe: a background child the command leaves (`cmd &`)
    // would keep a pipe open and the run waiting for it.
    let what = || format!("{}_COMMAND {cmd:?}", which.to_uppercase());
    let tmp = root
        .join(crate::root::META_DIR)
        .join("tmp")
        .join(format!("hook-{}-{which}.out", std::process::id()));
    let file = crate::store::create_fresh(&tmp)
        .with_context(|| format!("{}: cannot make {}", what(), tmp.display()))?;
    c.stdout(file.try_clone()?).stderr(file);
    let status = c
        .status()
        .with_context(|| format!("{}: cannot start sh", what()));
    let printed = std::fs::read(&tmp).unwrap_or_default();
    let _ = std::fs::remove_file(&tmp);
    let status = status?;
    let mut output = Vec::new();
    for line in printed.split_inclusive(|b| *b == b'\n') {
        output.extend_from_slice(format!("{which}-command: ").as_bytes());
        output.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            output.push(b'\n');
        }
    }
    let failed = match status.code() {
        Some(0) => None,
        Some(n) => Some(format!("exited with {n}")),
        None => Some(format!("ended by a signal ({status})")),
    };
    Ok(Ran { output, failed })
}

/// Appends `text` to the log at `path`, never through a symlink.
fn append(path: &Path, text: &[u8]) -> Result<()> {
    std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| f.write_all(text))
        .with_context(|| format!("{}: cannot append the hooks' output", path.display()))
}
