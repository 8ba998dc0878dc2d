//! `phlb serve`: a read-only web UI on the catalog. `conns` gathers request heads and
//! runs the workers, `http` parses heads and writes responses, `auth` checks token,
//! Host and listen address, `routes` maps URLs to the pages in `snapshots` (with
//! `chart`), `browse` (folders, a file, download) and `views` (history, diff, find,
//! duplicates); `html` escapes and frames them; `open` hands the URL to a browser.
//!
//! Everything is named by catalog id (snapshot id, path id), never by a path from the
//! URL; files are opened beneath the snapshot folder without following symlinks. The
//! catalog is opened read-only and nothing is written anywhere.

mod auth;
mod browse;
mod chart;
mod conns;
mod html;
mod http;
mod open;
mod routes;
mod snapshots;
mod views;

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use crate::catalog::Catalog;
use crate::cli::ServeArgs;
use crate::commands::select::open_read;
use crate::config::Config;
use crate::progress::Ui;
use crate::Outcome;

/// What every request handler shares.
pub struct App {
    pub catalog: Catalog,
    pub root: PathBuf,
    pub config: Config,
    pub token: String,
    /// The secret path prefix the pages live under (`auth::prefix`).
    pub prefix: String,
    pub bound: SocketAddr,
    /// Stored copies a download found damaged since the start.
    pub damaged: Arc<DamageLog>,
}

/// Stored copies (by copy id) a download found damaged since the start: shown on the
/// file's page (serve writes nothing; `phlb verify` records them in the catalog).
#[derive(Default)]
pub struct DamageLog(Mutex<HashSet<i64>>);

impl DamageLog {
    /// Remembers a damaged copy.
    pub fn add(&self, copy_id: i64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(copy_id);
    }

    /// True when a download found this copy damaged.
    pub fn contains(&self, copy_id: i64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&copy_id)
    }
}

/// Runs `phlb serve` until SIGINT or SIGTERM (exit 0).
pub fn run(config: &Config, ui: &Ui, args: &ServeArgs) -> Result<Outcome> {
    if args.token.is_some() {
        anyhow::bail!(auth::TOKEN_ARG_REFUSED);
    }
    auth::check_listen(args.listen, args.allow_remote)?;
    let env_token = std::env::var("PHLB_SERVE_TOKEN").ok();
    let token = auth::token(
        args.token_file.as_deref(),
        env_token.as_deref().filter(|t| !t.is_empty()),
        config.serve_token.as_deref(),
    )?;
    let prefix = auth::prefix(&token);
    let (root, catalog) = open_read(config)?;
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("--listen {}: cannot listen", args.listen))?;
    let bound = listener.local_addr()?;
    crate::signals::as_service("serve", ui.quiet());
    let url = format!("http://{bound}{prefix}/?token={token}");
    // The URL goes to stdout (scripts and tests read it), one line, flushed.
    println!("{url}");
    std::io::stdout().flush()?;
    if !ui.quiet() {
        eprintln!(
            "phlb serve: {} read-only on {bound}; open the URL above (it holds the token)",
            root.display()
        );
    }
    if args.open {
        open::in_browser(&url)?;
    }
    let app = Arc::new(App {
        catalog,
        root,
        config: config.clone(),
        token,
        prefix,
        bound,
        damaged: Arc::default(),
    });
    conns::serve(listener, app)?;
    Ok(Outcome::Clean)
}
