//! Owns the connections. One thread gathers the request heads of every connection at
//! once (`poll`, nonblocking reads), so a client that sends slowly holds no worker and
//! delays nobody; a head that passes the gate (Host, method, token) goes to a fixed pool
//! of workers that build and send its page, and every other head gets its small answer
//! (400, 401, 421, the token redirect) from the gathering thread itself.
//!
//! Limits for clients without a token: at most `MAX_PENDING` connections may be sending
//! their request head at once, each for at most `HEAD_TIME` from its connect (whatever
//! its pace) and `http::MAX_HEAD` bytes; when a new connection would pass the cap, the
//! oldest one still sending is closed. A request with the token waits only for a free
//! worker, never for a slow head.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc::{sync_channel, Receiver, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{self, Request, Response};
use super::routes::{self, Gate};
use super::App;

/// Most connections sending their request head at once.
pub const MAX_PENDING: usize = 1024;
/// Longest time a connection may take to send its whole request head.
pub const HEAD_TIME: Duration = Duration::from_secs(5);
/// Requests with the token answered at once (their catalog queries share the pool's 4
/// connections; a download holds its worker while it streams).
const WORKERS: usize = 32;
/// Requests with the token waiting for a worker; past it they get 503.
const QUEUE: usize = 256;

/// A connection still sending its head.
struct Pending {
    stream: TcpStream,
    buf: Vec<u8>,
    until: Instant,
}

/// What reading a pending connection came to.
enum Progress {
    /// More to come.
    More,
    /// Closed, failed or over the size limit: drop it.
    Gone,
    /// A whole head.
    Head(Option<Request>),
}

/// Serves connections from `listeners` until the process is stopped.
pub fn serve(listeners: Vec<TcpListener>, app: Arc<App>) -> anyhow::Result<()> {
    raise_fd_limit();
    for l in &listeners {
        l.set_nonblocking(true)?;
    }
    let k = listeners.len();
    let (tx, rx) = sync_channel::<(TcpStream, Request)>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..WORKERS {
        let (app, rx) = (Arc::clone(&app), Arc::clone(&rx));
        std::thread::Builder::new()
            .name("serve".into())
            .spawn(move || work(&app, &rx))?;
    }
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        let now = Instant::now();
        pending.retain(|p| p.until > now);
        fds.clear();
        fds.extend(listeners.iter().map(|l| pollfd(l.as_raw_fd())));
        fds.extend(pending.iter().map(|p| pollfd(p.stream.as_raw_fd())));
        let wait = pending
            .iter()
            .map(|p| p.until.saturating_duration_since(now))
            .min()
            .map_or(-1, |d| d.as_millis().min(60_000) as i32 + 1);
        let n = crate::sys::poll::poll(&mut fds, wait);
        if n <= 0 {
            continue;
        }
        // Pending connections first, from the back, so removing one moves none unseen.
        for i in (0..pending.len()).rev() {
            if fds[k + i].revents == 0 {
                continue;
            }
            match read_some(&mut pending[i]) {
                Progress::More => {}
                Progress::Gone => {
                    pending.remove(i);
                }
                Progress::Head(req) => {
                    let p = pending.remove(i).expect("index in range");
                    dispatch(&app, &tx, p.stream, req);
                }
            }
        }
        for (l, fd) in listeners.iter().zip(&fds) {
            if fd.revents != 0 {
                accept_all(l, &mut pending);
            }
        }
    }
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Takes every waiting connection; past `MAX_PENDING` (or out of descriptors) the
/// oldest pending one makes room.
fn accept_all(listener: &TcpListener, pending: &mut VecDeque<Pending>) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                if pending.len() >= MAX_PENDING {
                    pending.pop_front();
                }
                if stream.set_nonblocking(true).is_ok() {
                    pending.push_back(Pending {
                        stream,
                        buf: Vec::new(),
                        until: Instant::now() + HEAD_TIME,
                    });
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                if pending.pop_front().is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Reads what a pending connection has sent.
fn read_some(p: &mut Pending) -> Progress {
    let mut chunk = [0u8; 4096];
    loop {
        let room = http::MAX_HEAD.saturating_sub(p.buf.len()).min(chunk.len());
        if room == 0 {
            let _ = p.stream.write(&http::to_bytes(false, bad_request()));
            return Progress::Gone;
        }
        match p.stream.read(&mut chunk[..room]) {
            Ok(0) => return Progress::Gone,
            Ok(n) => {
                let from = p.buf.len().saturating_sub(3);
                p.buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = http::head_end(&p.buf[from..]) {
                    return Progress::Head(http::parse_head(&p.buf[..from + end]));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::More,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Progress::Gone,
        }
    }
}

fn bad_request() -> Response {
    Response::new(400, "text/plain", "bad request\n")
}

/// Sends a whole head's answer: refusals at once, pages to a worker.
fn dispatch(
    app: &App,
    tx: &std::sync::mpsc::SyncSender<(TcpStream, Request)>,
    stream: TcpStream,
    req: Option<Request>,
) {
    let Some(req) = req else {
        return answer_now(stream, false, bad_request());
    };
    let head_only = req.method == "HEAD";
    match routes::gate(app, &req) {
        Gate::Answer(resp) => answer_now(stream, head_only, resp),
        Gate::Page(req) => match tx.try_send((stream, req)) {
            Ok(()) => {}
            Err(TrySendError::Full((stream, _)) | TrySendError::Disconnected((stream, _))) => {
                answer_now(
                    stream,
                    head_only,
                    Response::new(503, "text/plain", "busy; try again\n").with("Retry-After", "1"),
                )
            }
        },
    }
}

/// Writes a small answer without waiting (a fresh socket's buffer takes it whole; a
/// client that does not read loses it) and closes the connection.
fn answer_now(mut stream: TcpStream, head_only: bool, resp: Response) {
    let _ = stream.write(&http::to_bytes(head_only, resp));
    let _ = stream.shutdown(Shutdown::Write);
}

/// A worker: answers requests with the token, one at a time.
fn work(app: &App, rx: &Mutex<Receiver<(TcpStream, Request)>>) {
    loop {
        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok((mut stream, req)) = job else { return };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
        let resp = routes::page(app, &req);
        if let Err(e) = http::write_response(&mut stream, req.method == "HEAD", resp) {
            if e.kind() == ErrorKind::InvalidData {
                eprintln!("phlb serve: {} {}: {e}", req.method, req.path);
            }
        }
    }
}

/// Raises the soft limit of open descriptors to the hard one (at most 65536): the
/// pending connections must fit with the workers' files and the catalog.
fn raise_fd_limit() {
    use crate::sys::process;
    if let Ok(mut lim) = process::open_files_limit() {
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(65536);
            let _ = process::set_open_files_limit(&lim);
        }
    }
}
