//! `phlb serve` through the real binary: every page, the token, Host, traversal,
//! damaged downloads, a real browser.

mod answers;
mod attack;
mod browser;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::common::serve::*;
use crate::common::*;

#[test]
fn every_page_answers_and_escapes_file_names() {
    let env = fixture();
    let srv = Server::start(&env);
    let a = path_id(&env, "a.txt");
    let d = path_id(&env, "d");
    let x = env.sql_int("SELECT id FROM paths WHERE path LIKE '<img%'");

    let home = srv.get("/");
    assert_eq!(home.status, 200);
    let t = home.text();
    assert!(
        t.contains("<svg class=\"chart\"") && t.contains("polyline"),
        "{t}"
    );
    assert!(t.contains("data-fill=\"only-here?s=1\""), "{t}");
    assert!(t.contains(">ok<"), "{t}");

    assert_eq!(srv.get("/only-here?s=2").status, 200);

    let top = srv.get("/browse?s=2").text();
    assert!(top.contains("&lt;img src=x onerror=alert(1)&gt;"), "{top}");
    assert!(!top.contains(XSS), "unescaped name in {top}");
    assert!(top.contains(">d/<") && top.contains(">a.txt<"), "{top}");

    let sub = srv.get(&format!("/browse?s=2&d={d}")).text();
    assert!(sub.contains("class=\"crumbs\"") && sub.contains(">b.txt<") && sub.contains(">e/<"));
    assert!(!sub.contains(">a.txt<"), "only one level: {sub}");

    let file = srv.get(&format!("/file?s=2&p={x}")).text();
    assert!(file.contains("&lt;img") && !file.contains(XSS), "{file}");

    let dl = srv.get(&format!("/download?s=2&p={a}"));
    assert_eq!(
        (dl.status, dl.body.as_slice()),
        (200, &b"second version\n"[..])
    );
    assert!(dl.complete);
    let old = srv.get(&format!("/download?s=1&p={a}"));
    assert_eq!(old.body, b"first\n");

    let hist = srv.get(&format!("/history?p={a}")).text();
    assert_eq!(hist.matches("class=\"version\"").count(), 2, "{hist}");

    let diff = srv.get("/diff?a=1&b=2").text();
    assert!(diff.contains("data-fill=\"diff/part?a=1&amp;b=2"), "{diff}");
    let part = srv.get("/diff/part?a=1&b=2").text();
    assert!(
        part.contains("1 added") && part.contains("1 modified"),
        "{part}"
    );
    assert!(
        part.contains(">d/new.txt<") && part.contains(">a.txt<"),
        "{part}"
    );

    let found = srv.get("/find?glob=*.txt").text();
    assert!(
        found.contains(">d/e/deep.txt<") && found.contains("history"),
        "{found}"
    );

    assert_eq!(srv.get("/duplicates").status, 200);
    assert!(srv
        .get("/duplicates/part?s=2")
        .text()
        .contains("id=\"groups\""));
    assert_eq!(srv.get("/style.css").status, 200);
    assert!(srv.get("/app.js").text().contains("data-fill"));
}

#[test]
fn no_token_no_data_and_the_url_token_becomes_a_cookie() {
    let env = fixture();
    let srv = Server::start(&env);
    for path in ["/", "/browse?s=1", "/download?s=1&p=2", "/style.css"] {
        let got = srv.raw(path, &[]);
        assert_eq!(got.status, 401, "{path}");
        assert!(!got.text().contains("a.txt"));
    }
    let wrong = srv.raw("/", &[("Authorization", "Bearer test-token-0123456788")]);
    assert_eq!(wrong.status, 401);
    let first = srv.raw(&format!("/browse?s=1&token={TOKEN}"), &[]);
    assert_eq!(first.status, 303);
    let p = &srv.prefix;
    assert!(
        first
            .head
            .contains(&format!("Location: {p}/browse?s=1\r\n")),
        "{}",
        first.head
    );
    assert!(
        first
            .head
            .contains(&format!("Path={p}/; HttpOnly; SameSite=Strict")),
        "{}",
        first.head
    );
    let cookie = format!("phlb_token={TOKEN}");
    let under = format!("{p}/browse?s=1");
    assert_eq!(srv.raw(&under, &[("Cookie", &cookie)]).status, 200);
    // The cookie counts only under the prefix it is scoped to.
    assert_eq!(srv.raw("/browse?s=1", &[("Cookie", &cookie)]).status, 401);
}

#[test]
fn traversal_and_symlink_escape_get_404() {
    let env = fixture();
    let srv = Server::start(&env);
    let link = path_id(&env, "escape");
    for path in [
        "/download?s=1&p=../../etc/passwd".to_string(),
        "/download?s=1&p=/etc/passwd".to_string(),
        "/browse?s=1&d=../..".to_string(),
        "/../../etc/passwd".to_string(),
        "/download?s=999&p=1".to_string(),
        format!("/download?s=2&p={link}"),
    ] {
        let got = srv.get(&path);
        assert_eq!(got.status, 404, "{path}");
        assert!(!got.text().contains("root:"), "{path}");
    }
    // A stored file swapped for a symlink on disk is not followed.
    let snap = env.snapshots("src").pop().unwrap();
    let b = snap.join("d/b.txt");
    std::fs::remove_file(&b).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &b).unwrap();
    let got = srv.get(&format!("/download?s=2&p={}", path_id(&env, "d/b.txt")));
    assert_eq!(got.status, 404);
    assert!(!got.text().contains("root:"));
    // And neither is a folder on its way swapped for one.
    let e = snap.join("d/e");
    std::fs::rename(&e, snap.join("d/e-moved")).unwrap();
    std::os::unix::fs::symlink(snap.join("d/e-moved"), &e).unwrap();
    let got = srv.get(&format!(
        "/download?s=2&p={}",
        path_id(&env, "d/e/deep.txt")
    ));
    assert_eq!(got.status, 404);
}

#[test]
fn wrong_host_header_is_refused() {
    let env = fixture();
    let srv = Server::start(&env);
    let bearer = format!("Bearer {TOKEN}");
    let port = srv.addr.rsplit(':').next().unwrap().to_string();
    for host in [
        "evil.example",
        &format!("evil.example:{port}"),
        "127.0.0.1:1",
    ] {
        let got = srv.raw("/", &[("Host", host), ("Authorization", &bearer)]);
        assert!((400..500).contains(&got.status), "{host}: {}", got.status);
        assert!(!got.text().contains("src"), "{host}");
    }
    let ok = srv.raw(
        "/",
        &[
            ("Host", &format!("localhost:{port}")),
            ("Authorization", &bearer),
        ],
    );
    assert_eq!(ok.status, 200);
}

#[test]
fn non_loopback_listen_is_refused_without_allow_remote() {
    let env = fixture();
    let out = env
        .cmd()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("PHLB_SERVE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--allow-remote"), "{}", stderr(&out));
    let bad = env
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PHLB_SERVE_TOKEN", "short")
        .output()
        .unwrap();
    assert_code(&bad, 2);
}

#[test]
fn download_of_damaged_copy_is_cut_and_shown() {
    let env = Env::new();
    // Bigger than one chunk, so the cut happens mid-stream.
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    env.write("big.bin", &data);
    let snap = env.backup();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(snap.join("big.bin"))
        .unwrap();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::Start(2_999_000)).unwrap();
    f.write_all(b"\xff").unwrap();
    drop(f);
    let srv = Server::start(&env);
    let id = path_id(&env, "big.bin");
    let got = srv.get(&format!("/download?s=1&p={id}"));
    assert_eq!(got.status, 200);
    assert!(!got.complete, "a damaged file arrived complete");
    assert!(got.body.len() < data.len());
    let page = srv.get(&format!("/file?s=1&p={id}")).text();
    assert!(page.contains("id=\"damaged\""), "{page}");
}

#[test]
fn a_snapshot_deleted_by_hand_is_missing_to_every_reader_and_latest_is_the_newest_on_disk() {
    // Regression: after `rm -rf` of the newest snapshot, `restore src/latest`
    // failed, the on-disk `latest` dangled until a prune, and `list`, `status` and the
    // web UI showed the deleted snapshot `complete` until a `verify` ran.
    let env = Env::new();
    env.write("f", b"old");
    let s1 = backup_at(&env, "2026-07-01 10:00:00");
    env.write("f", b"new");
    let s2 = backup_at(&env, "2026-07-02 10:00:00");
    std::fs::remove_dir_all(&s2).unwrap();
    let leaf = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap().to_string();
    for spec in ["src", "src/latest"] {
        let to = env.dir.path().join(format!("r-{}", spec.replace('/', "-")));
        let out = env.restore(&[spec], &to);
        assert_ok(&out);
        assert_eq!(std::fs::read(to.join("f")).unwrap(), b"old", "{spec}");
    }
    let list = String::from_utf8_lossy(&env.run(&["list"]).stdout).into_owned();
    let line = list.lines().find(|l| l.contains(&leaf(&s2))).unwrap();
    assert!(line.contains("missing"), "{list}");
    let status: serde_json::Value =
        serde_json::from_slice(&env.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(
        status["names"][0]["newest"],
        format!("src/{}", leaf(&s1)),
        "{status}"
    );
    assert_eq!(status["names"][0]["last_status"], "missing", "{status}");
    let srv = Server::start(&env);
    let page = srv.get("/").text();
    let row = page
        .split("<tr")
        .find(|r| r.contains(&leaf(&s2)))
        .expect("the deleted snapshot's row");
    assert!(
        row.contains("missing") && !row.contains("complete"),
        "{row}"
    );
    drop(srv);
    // The next writing run (here a backup of another name) points `latest` back.
    std::fs::create_dir(env.dir.path().join("other")).unwrap();
    assert_ok(&env.run(&["backup", env.dir.path().join("other").to_str().unwrap()]));
    assert_eq!(
        std::fs::read_link(env.root.join("src/latest")).unwrap(),
        std::path::Path::new(&leaf(&s1))
    );
}
