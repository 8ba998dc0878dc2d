//! `phlb serve` attacked as a local user would: the token in process arguments or a token
//! file another user controls, the cookie reaching other loopback servers, slow clients, a
//! FIFO in a snapshot.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use crate::common::serve::*;
use crate::common::*;

#[test]
fn fifo_where_a_file_was_does_not_hang_the_download() {
    // Regression: the download opened the file before checking its kind, and
    // without O_NONBLOCK, so a FIFO swapped in for a stored file held a worker forever.
    let env = fixture();
    let srv = Server::start(&env);
    let snap = env.snapshots("src").pop().unwrap();
    let b = snap.join("d/b.txt");
    std::fs::remove_file(&b).unwrap();
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(b.as_os_str())).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let started = std::time::Instant::now();
    let got = srv.get(&format!("/download?s=2&p={}", path_id(&env, "d/b.txt")));
    assert_eq!(got.status, 404);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Every process's arguments that hold `needle`, as `pid: args`.
fn argv_holding(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(args) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args = String::from_utf8_lossy(&args).replace('\0', " ");
        if args.contains(needle) {
            found.push(format!("{}: {args}", e.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn token_is_never_in_any_process_arguments() {
    // Regression: `--open` gave the URL with `?token=` to xdg-open (and on to the
    // browser) and `--token T` sat in serve's own argv; `ps` showed them to every user.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = fixture();
    let token = "argv-probe-7f3a9c1e5b2d4086";
    // A stand-in for xdg-open (and the browser it starts) that records what it got and
    // stays alive while the test looks.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let got = env.dir.path().join("xdg-open-args");
    std::fs::write(
        bin.join("xdg-open"),
        format!(
            "#!/bin/sh\necho \"$$ $1\" > {}.tmp\nmv {0}.tmp {0}\nexec sleep 60\n",
            got.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("xdg-open"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut child = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--open"])
        .env("PHLB_SERVE_TOKEN", token)
        .env("PATH", &path)
        .env("SUDO_UID", "65534")
        .env("SUDO_GID", "65534")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !got.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let opened = std::fs::read_to_string(&got).expect("xdg-open was run");
    let (opener, file) = opened.trim().split_once(' ').unwrap();
    let holding = argv_holding(token);
    let file = std::path::PathBuf::from(file);
    let meta = std::fs::metadata(&file);
    let html = std::fs::read_to_string(&file).unwrap_or_default();
    // SAFETY: kill with a pid we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    // SAFETY: kill with the pid of the stand-in this test started.
    unsafe { libc::kill(opener.parse().unwrap(), libc::SIGKILL) };
    assert!(
        holding.is_empty(),
        "the token is in process arguments: {holding:?}"
    );
    let meta = meta.expect("xdg-open got a file");
    assert_eq!(meta.mode() & 0o777, 0o600, "{}", file.display());
    assert_eq!(
        (meta.uid(), meta.gid()),
        (65534, 65534),
        "owned by SUDO_UID"
    );
    assert!(
        html.contains(url.trim()),
        "the file redirects to {url}: {html}"
    );
    assert!(!file.exists(), "the redirect file outlived the server");

    // `--token T` is refused with the reason; the token file must be private.
    let out = env
        .cmd()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "refused-0123456789abc",
        ])
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("ps"), "{}", stderr(&out));
    let tf = env.dir.path().join("token");
    std::fs::write(&tf, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&tf)
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&tf)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.trim().ends_with(&format!("/?token={token}")), "{line}");
}

/// A plain local HTTP server standing for another user's service on loopback: records
/// every request head it receives and answers from `pages` (path -> response).
struct Recorder {
    addr: String,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(pages: Vec<(&'static str, String)>) -> Recorder {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&heads);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let (seen, pages) = (std::sync::Arc::clone(&seen), pages.clone());
                // One thread a connection: the browser's idle preconnects block nobody.
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).is_ok_and(|n| n == 1) {
                        head.push(b[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    seen.lock().unwrap().push(head);
                    let resp = pages
                        .iter()
                        .find(|(p, _)| *p == path)
                        .map(|(_, r)| r.clone())
                        .unwrap_or_else(|| {
                            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                .into()
                        });
                    let _ = s.write_all(resp.as_bytes());
                });
            }
        });
        Recorder { addr, heads }
    }
}

#[test]
#[ignore = "needs chromium (.ci/run installs it)"]
fn cookie_reaches_no_other_loopback_port_and_two_servers_coexist() {
    // Regression: the cookie had `Path=/`, and browsers do not scope cookies by
    // port, so every other server on 127.0.0.1 the browser visited got `phlb_token`, and
    // a second phlb serve overwrote the first one's cookie.
    let env = fixture();
    let a = Server::start_with(&env, "server-a-token-0123456789");
    let b = Server::start_with(&env, "server-b-token-9876543210");
    let url = |s: &Server, t: &str| format!("http://{}{}/?token={t}", s.addr, s.prefix);
    // The other server's page opens both phlb URLs (as a user would in two tabs), then
    // asks itself for `/probe` (any cookie of 127.0.0.1 scoped to `/` comes along), and
    // loads server A's script without a token: it loads only if A's cookie survived B's.
    let start = format!(
        "<!DOCTYPE html><html><body>\
         <iframe src=\"{}\"></iframe><iframe src=\"{}\"></iframe>\
         <script>setTimeout(function(){{fetch('/probe');\
         var s=document.createElement('script');s.src='http://{}{}/app.js';\
         s.onload=function(){{document.body.setAttribute('data-a','kept');}};\
         s.onerror=function(){{document.body.setAttribute('data-a','lost');}};\
         document.body.appendChild(s);}}, 3000);</script></body></html>",
        url(&a, "server-a-token-0123456789"),
        url(&b, "server-b-token-9876543210"),
        a.addr,
        a.prefix
    );
    let pages = vec![(
        "/start",
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{start}",
            start.len()
        ),
    )];
    let other = Recorder::start(pages);
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{}/start", other.addr))
        .output()
        .expect("chromium must be installed (.ci/run installs it)");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let heads = other.heads.lock().unwrap().clone();
    assert!(
        heads.iter().any(|h| h.starts_with("GET /probe ")),
        "the page never asked the other server again: {heads:?}\n{dom}"
    );
    for h in &heads {
        assert!(
            !h.contains("phlb_token") && !h.contains("-token-"),
            "another loopback server got phlb's cookie: {h}"
        );
    }
    assert!(
        dom.contains("data-a=\"kept\""),
        "server A lost its cookie to server B: {dom}"
    );
}

#[test]
fn five_hundred_trickling_connections_do_not_delay_token_requests() {
    // Regression: 130 connections trickling a byte every 0.5 s delayed a real
    // request to ~9 s, for as long as they kept at it (64 workers each held up to the
    // 5 s head deadline, behind a blocking accept loop).
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let env = fixture();
    let srv = Server::start(&env);
    let addr: std::net::SocketAddr = srv.addr.parse().unwrap();
    let open = move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        s.set_write_timeout(Some(Duration::from_secs(1))).ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").ok()?;
        Some(s)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let live = Arc::new(AtomicUsize::new(0));
    // 500 connections, each sending one byte every 0.5 s; a closed one is opened again.
    let feeder = {
        let (stop, live) = (Arc::clone(&stop), Arc::clone(&live));
        std::thread::spawn(move || {
            let mut socks: Vec<Option<TcpStream>> = (0..500).map(|_| None).collect();
            while !stop.load(Ordering::Relaxed) {
                let round = std::time::Instant::now();
                let mut n = 0;
                for s in socks.iter_mut() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let alive = s.as_mut().is_some_and(|s| s.write_all(b"a").is_ok());
                    if !alive {
                        *s = open();
                    }
                    n += usize::from(s.is_some());
                }
                live.store(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500).saturating_sub(round.elapsed()));
            }
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while live.load(Ordering::Relaxed) < 450 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut took = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(12);
    while std::time::Instant::now() < until {
        let t = std::time::Instant::now();
        let got = srv.get("/");
        took.push(t.elapsed());
        assert_eq!(got.status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    let trickling = live.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    feeder.join().unwrap();
    took.sort();
    let p95 = took[took.len() * 95 / 100];
    let max = *took.last().unwrap();
    eprintln!(
        "{} token requests beside {trickling} trickling connections: p95 {p95:?}, max {max:?}",
        took.len()
    );
    assert!(trickling >= 450, "only {trickling} trickling connections");
    assert!(max < Duration::from_secs(5), "p95 {p95:?}, max {max:?}");

    // A connection that sends nothing is closed after the 5 s head time.
    let mut idle = TcpStream::connect(&srv.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let t = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(10)).contains(&t.elapsed()),
        "{:?}",
        t.elapsed()
    );
}

#[test]
#[ignore = "needs root (chown to another user)"]
fn a_token_file_another_user_owns_or_can_swap_is_refused() {
    // Regression: serve took a token file owned by `nobody`, or
    // in a folder anyone may write, whose owner could read or set root's token.
    let env = Env::new();
    let theirs = env.dir.path().join("theirs");
    fs::write(&theirs, "abcdefghijklmnopqrstuvwxyz012345\n").unwrap();
    set_mode(&theirs, 0o600);
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let open = env.dir.path().join("open");
    fs::create_dir(&open).unwrap();
    set_mode(&open, 0o777);
    fs::write(open.join("t"), "abcdefghijklmnopqrstuvwxyz012345\n").unwrap();
    set_mode(&open.join("t"), 0o600);
    for file in [theirs, open.join("t")] {
        let out = env
            .cmd()
            .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert_code(&out, 2);
        assert!(stderr(&out).contains("another user"), "{}", stderr(&out));
    }
}
