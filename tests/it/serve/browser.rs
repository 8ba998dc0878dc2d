//! serve in a real browser (headless Chromium): pages, slow clients and redirects, newest by creation.

use super::*;

/// Loads `path` (with the token, which the server turns into a cookie) in headless
/// Chromium and returns the rendered DOM; saves a screenshot beside the test binaries.
fn chromium(srv: &Server, path: &str, shot: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("http://{}{path}{sep}token={TOKEN}", srv.addr);
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=5000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium must be installed (.ci/run installs it)")
    };
    let dom = run(&["--dump-dom"]);
    assert!(dom.status.success(), "chromium failed on {path}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("serve-{shot}.png"));
    let _ = run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1200,900",
    ]);
    assert!(shot.is_file(), "no screenshot of {path}");
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        !dom.contains("class=\"bad\""),
        "{path} shows an error: {dom}"
    );
    assert!(
        !dom.contains("data-pending"),
        "{path} left a figure unfilled: {dom}"
    );
    assert!(
        !dom.contains("<h1>Not found") && !dom.contains("401"),
        "{path}: {dom}"
    );
    dom
}

#[test]
#[ignore = "needs chromium (.ci/run installs it)"]
fn pages_render_in_a_real_browser() {
    let env = fixture();
    let srv = Server::start(&env);
    let home = chromium(&srv, "/", "snapshots");
    assert!(
        home.contains("<svg class=\"chart\"") && home.contains("<polyline"),
        "{home}"
    );
    assert!(home.contains("<h1>Snapshots</h1>"), "{home}");
    let browse = chromium(&srv, "/browse?s=2", "browse");
    assert!(
        browse.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{browse}"
    );
    assert!(
        !browse.contains("<img"),
        "the hostile name became an element: {browse}"
    );
    let a = path_id(&env, "a.txt");
    let hist = chromium(&srv, &format!("/history?p={a}"), "history");
    assert_eq!(hist.matches("class=\"version\"").count(), 2, "{hist}");
    let diff = chromium(&srv, "/diff?a=1&b=2", "diff");
    assert!(
        diff.contains("id=\"changes\"") && diff.contains("d/new.txt"),
        "{diff}"
    );
}

#[test]
fn slow_clients_open_redirects_and_doubled_hosts_are_turned_away() {
    // Regression: 20 connections trickling a byte every few seconds blocked
    // every other client; `//evil.com/?token=T` redirected off-site; with two Host
    // headers the last one won.
    let env = fixture();
    let srv = Server::start(&env);
    let trickle: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(&srv.addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nX-A: ").unwrap();
            s
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let stop = std::sync::Arc::clone(&stop);
        let mut socks: Vec<TcpStream> = trickle.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for s in &mut socks {
                    let _ = s.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let got = srv.get("/");
    assert_eq!(got.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.join().unwrap();
    drop(trickle);

    let got = srv.raw(&format!("//evil.com/?token={TOKEN}"), &[]);
    assert_eq!(got.status, 303);
    let location = got
        .head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap()
        .to_string();
    assert!(
        location.starts_with('/') && !location.starts_with("//"),
        "{location}"
    );

    let host = srv.addr.clone();
    let got = srv.raw(
        "/",
        &[
            ("Host", "evil.com"),
            ("Host", host.as_str()),
            ("Authorization", &format!("Bearer {TOKEN}")),
        ],
    );
    assert!((400..500).contains(&got.status), "{}", got.status);
    // The scheme name of Authorization is case-insensitive.
    let got = srv.raw("/", &[("Authorization", &format!("bearer {TOKEN}"))]);
    assert_eq!(got.status, 200);
}

#[test]
fn web_ui_newest_is_the_snapshot_made_last_not_the_latest_named() {
    let env = Env::new();
    env.write("a.txt", b"v1");
    // A clock 5 h fast for the first run, right for the second.
    backup_at(&env, "2026-01-01 15:00:00");
    env.write("a.txt", b"v2");
    backup_at(&env, "2026-01-01 10:05:00");
    let srv = Server::start(&env);
    let page = srv.get("/").text();
    let newest = page
        .find("src/2026-01-01-100500")
        .expect("the newest complete");
    assert!(
        newest < page.find("2026-01-01-150000").unwrap(),
        "made last comes first: {page}"
    );
    assert!(page.contains("clock wrong"), "{page}");
}
