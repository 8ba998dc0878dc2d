//! `phlb watch`: watches the sources and makes a normal incremental snapshot of each
//! one after its changes settle. Events only decide *when*; every snapshot is the same
//! full run `phlb backup` makes. `intake` and `filter` turn inotify events into news,
//! `timing` decides when a source is due, `compare` is the cheap comparison (at start
//! and when polling), and `service` is the loop that ties them together.

mod compare;
mod filter;
mod intake;
mod service;
mod timing;

use anyhow::Result;

use crate::cli::WatchArgs;
use crate::config::Config;
use crate::ops::backup::{check_sources_against_root, prepare_root, scan_options, sources_of_run};
use crate::progress::Ui;
use crate::Outcome;

/// Runs `phlb watch` until SIGINT or SIGTERM end the process (exit 0); returns only
/// with an error when it cannot start (exit 2).
pub fn run(config: &Config, ui: &Ui, args: &WatchArgs) -> Result<Outcome> {
    crate::signals::as_service("watch", ui.quiet());
    crate::signals::doing("");
    let config = &crate::cli::with_selection(config, &args.select)?;
    refuse_remote(config, args)?;
    let sources = sources_of_run(config, &args.sources, args.name.as_deref())?;
    if args.prune {
        crate::ops::prune::check_backup_policy(config)?;
    }
    let root = prepare_root(config)?;
    check_sources_against_root(&sources, &root)?;
    let filter = filter::Filter {
        sources: sources.iter().map(|s| s.path.clone()).collect(),
        root: root.clone(),
        skips: scan_options(config, &root)?,
    };
    let mut watch = service::Watch::new(config, ui, &sources, root, args.prune);
    watch.start(filter)?;
    watch.serve()
}

/// Refuses a remote source (`[user@]host:/path`, on the command line or in `SOURCES`):
/// watch reacts to this machine's filesystem events, which another machine's folder
/// does not send.
fn refuse_remote(config: &Config, args: &WatchArgs) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let given: Vec<&std::path::Path> = if args.sources.is_empty() {
        config.sources.iter().map(|s| s.path.as_path()).collect()
    } else {
        args.sources.iter().map(|p| p.as_path()).collect()
    };
    if let Some(p) = given
        .iter()
        .find(|p| crate::remote::looks_remote(p.as_os_str().as_bytes()))
    {
        anyhow::bail!(
            "{}: a remote source cannot be watched (watch reacts to this machine's \
             filesystem events); back it up with `phlb backup` from a timer or cron \
             (a local folder with a colon in its name is written ./NAME)",
            p.display()
        );
    }
    Ok(())
}
