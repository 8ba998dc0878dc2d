//! `phlb serve`: a read-only web UI on the catalog. `http` reads requests and writes
//! responses, `auth` checks token, Host and listen address, `routes` maps URLs to the
//! pages in `snapshots` (with `chart`), `browse` (folders, a file, download) and `views`
//! (history, diff, find, duplicates); `html` escapes and frames them.
//!
//! Everything is named by catalog id (snapshot id, path id), never by a path from the
//! URL; files are opened beneath the snapshot folder without following symlinks. The
//! catalog is opened read-only and nothing is written anywhere.

mod auth;
mod browse;
mod chart;
mod html;
mod http;
mod open;
mod routes;
mod snapshots;
mod views;

use std::collections::HashSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::catalog::Catalog;
use crate::cli::ServeArgs;
use crate::commands::select::open_read;
use crate::config::Config;
use crate::progress::Ui;
use crate::Outcome;

/// Most connections answered at once (their catalog queries share the pool's 4
/// connections); each may take at most a few seconds to send its request head.
const WORKERS: usize = 64;

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
    let busy = Arc::new((Mutex::new(0usize), Condvar::new()));
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        {
            let (count, cv) = &*busy;
            let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
            while *n >= WORKERS {
                n = cv.wait(n).unwrap_or_else(|e| e.into_inner());
            }
            *n += 1;
        }
        let (app, done) = (Arc::clone(&app), Arc::clone(&busy));
        let spawned = std::thread::Builder::new()
            .name("serve".into())
            .spawn(move || {
                answer(&app, stream);
                let (count, cv) = &*done;
                *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
                cv.notify_one();
            });
        if spawned.is_err() {
            let (count, _) = &*busy;
            *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        }
    }
    Ok(Outcome::Clean)
}

/// Reads one request from `stream` and answers it.
fn answer(app: &App, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let req = match http::read_request(&stream) {
        Ok(Some(r)) => r,
        Ok(None) => {
            let _ = http::write_response(
                &mut stream,
                false,
                http::Response::new(400, "text/plain", "bad request\n"),
            );
            return;
        }
        Err(_) => return,
    };
    let head_only = req.method == "HEAD";
    let resp = routes::handle(app, &req);
    if let Err(e) = http::write_response(&mut stream, head_only, resp) {
        if e.kind() == std::io::ErrorKind::InvalidData {
            eprintln!("phlb serve: {} {}: {e}", req.method, req.path);
        }
    }
}
