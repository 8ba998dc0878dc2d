//! Owns `--open`: the browser gets the URL through a file, never through process
//! arguments (every local user reads those with `ps`): a 0600 HTML file that redirects
//! to the URL with the token (as Jupyter does), owned by the user who ran the command
//! (`SUDO_UID` under sudo, so the desktop browser can read it), removed when serve stops.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::html::esc;

/// Writes the redirect file for `url` and hands its path to `xdg-open`.
pub fn in_browser(url: &str) -> Result<()> {
    let path = write_redirect(url)?;
    let remove = path.clone();
    crate::signals::on_stop(move || {
        let _ = std::fs::remove_file(&remove);
    });
    let spawned = std::process::Command::new("xdg-open")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        eprintln!(
            "phlb serve: --open: cannot run xdg-open ({e}); open {} in a browser",
            path.display()
        );
    }
    Ok(())
}

/// The redirect file: a fresh name in the temp folder, created exclusively with mode
/// 0600 (never through a symlink), given to `SUDO_UID`:`SUDO_GID` when root runs it
/// through sudo.
fn write_redirect(url: &str) -> Result<PathBuf> {
    let mut rnd = [0u8; 8];
    let _ = crate::sys::process::random(&mut rnd);
    let path = std::env::temp_dir().join(format!(
        "phlb-serve-{}-{}.html",
        std::process::id(),
        crate::hash::hex(&rnd)
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .with_context(|| format!("--open: {}: cannot create", path.display()))?;
    if let Some((uid, gid)) = sudo_user() {
        if let Err(e) = crate::sys::meta::chown_fd(f.as_fd(), uid, gid) {
            let _ = std::fs::remove_file(&path);
            return Err(e).with_context(|| {
                format!(
                    "--open: {}: cannot give it to SUDO_UID {uid}",
                    path.display()
                )
            });
        }
    }
    let u = esc(url);
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta http-equiv=\"refresh\" content=\"0;url={u}\"><title>phlb serve</title></head>\
         <body><p><a href=\"{u}\">Open phlb serve</a></p></body></html>\n"
    );
    f.write_all(page.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("--open: {}: cannot write", path.display()))?;
    Ok(path)
}

/// The user and group sudo ran us for, when we run as root through sudo.
fn sudo_user() -> Option<(libc::uid_t, libc::gid_t)> {
    if crate::sys::users::effective_uid() != 0 {
        return None;
    }
    let uid: libc::uid_t = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    let gid = std::env::var("SUDO_GID")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(libc::gid_t::MAX);
    Some((uid, gid))
}
