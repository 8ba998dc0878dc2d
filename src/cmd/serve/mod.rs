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
use crate::config::Config;
use crate::ops::open::open_read;
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
    /// Every address it listens on (one, or each loopback address of `localhost`).
    pub bound: Vec<SocketAddr>,
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
    let addrs = auth::listen_addrs(&args.listen)?;
    for a in &addrs {
        auth::check_listen(*a, args.allow_remote)?;
    }
    let env_token = std::env::var("PHLB_SERVE_TOKEN").ok();
    let token = auth::token(
        args.token_file.as_deref(),
        env_token.as_deref().filter(|t| !t.is_empty()),
        config.serve_token.as_deref(),
    )?;
    let prefix = auth::prefix(&token);
    let (root, catalog) = open_read(config, ui)?;
    let listeners = listen(&args.listen, &addrs)?;
    let bound: Vec<SocketAddr> = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<std::io::Result<_>>()?;
    // Given as localhost: the URL says localhost (the Host check takes it).
    let shown = if args.listen.parse::<SocketAddr>().is_err() {
        format!("localhost:{}", bound[0].port())
    } else {
        bound[0].to_string()
    };
    crate::signals::as_service("serve", ui.quiet());
    let url = format!("http://{shown}{prefix}/?token={token}");
    // The URL goes to stdout (scripts and tests read it), one line, flushed.
    println!("{url}");
    std::io::stdout().flush()?;
    if !ui.quiet() {
        eprintln!(
            "phlb serve: {} read-only on {}; open the URL above (it holds the token)",
            root.display(),
            bound
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(" and ")
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
    conns::serve(listeners, app)?;
    Ok(Outcome::Clean)
}

/// Binds every address of `--listen`; with port 0 the first one picks the port and the
/// others take the same. An address the machine lacks (::1 with IPv6 off) is skipped
/// when another one was bound.
fn listen(given: &str, addrs: &[SocketAddr]) -> Result<Vec<TcpListener>> {
    let mut out: Vec<TcpListener> = Vec::new();
    let mut last_err = None;
    for a in addrs {
        let mut a = *a;
        if let Some(first) = out.first() {
            a.set_port(first.local_addr()?.port());
        }
        match TcpListener::bind(a) {
            Ok(l) => out.push(l),
            Err(e) if addrs.len() > 1 => last_err = Some((a, e)),
            Err(e) => return Err(e).with_context(|| format!("--listen {given}: cannot listen")),
        }
    }
    if out.is_empty() {
        let (a, e) = last_err.expect("an address was tried");
        return Err(e).with_context(|| format!("--listen {given} ({a}): cannot listen"));
    }
    Ok(out)
}
