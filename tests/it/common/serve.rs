//! Test helper for `phlb serve`: a running server on an ephemeral port against a temp
//! root, fetched with a plain TcpStream client, and a root with two snapshots to serve.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::*;

pub const TOKEN: &str = "test-token-0123456789";

pub const XSS: &str = "<img src=x onerror=alert(1)>";

/// A running `phlb serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The secret path prefix of the pages (`/` and hex digits).
    pub prefix: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What came back.
pub struct Got {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// The body has the length the head announced.
    pub complete: bool,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Server {
    pub fn start(env: &Env) -> Server {
        Server::start_with(env, TOKEN)
    }

    /// Starts `phlb serve` with `token` (given through PHLB_SERVE_TOKEN).
    pub fn start_with(env: &Env, token: &str) -> Server {
        Server::start_on(env, token, "127.0.0.1:0")
    }

    /// Starts `phlb serve --listen LISTEN` with `token`.
    pub fn start_on(env: &Env, token: &str, listen: &str) -> Server {
        let mut child = env
            .cmd()
            .args(["serve", "--listen", listen])
            .env("PHLB_SERVE_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim();
        assert!(url.ends_with(&format!("/?token={token}")), "{url}");
        let rest = url.trim_start_matches("http://");
        let (addr, path) = rest.split_once('/').unwrap();
        let prefix = format!("/{}", path.split('/').next().unwrap());
        Server {
            child,
            addr: addr.to_string(),
            prefix,
        }
    }

    /// GET `path` with `headers` (a Host header naming the server unless one is given).
    pub fn raw(&self, path: &str, headers: &[(&str, &str)]) -> Got {
        self.raw_to(&self.addr, path, headers)
    }

    /// `raw`, connecting to `to`.
    pub fn raw_to(&self, to: &str, path: &str, headers: &[(&str, &str)]) -> Got {
        let mut s = TcpStream::connect(to).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            req += &format!("Host: {}\r\n", self.addr);
        }
        for (k, v) in headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += "\r\n";
        s.write_all(req.as_bytes()).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let split = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a response head");
        let head = String::from_utf8_lossy(&all[..split]).into_owned();
        let body = all[split + 4..].to_vec();
        let status = head[9..12].parse().unwrap();
        let len: Option<usize> = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(|v| v.trim().parse().unwrap());
        Got {
            status,
            complete: len == Some(body.len()),
            head,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Got {
        self.raw(path, &[("Authorization", &format!("Bearer {TOKEN}"))])
    }
}

/// A root with two snapshots of a tree holding the hostile name, a folder and a
/// symlink out of the tree.
pub fn fixture() -> Env {
    let env = Env::new();
    env.write("a.txt", b"first\n");
    env.write(XSS, b"x\n");
    env.write("d/b.txt", b"bee\n");
    env.write("d/e/deep.txt", b"deep\n");
    std::os::unix::fs::symlink("/etc/passwd", env.src.join("escape")).unwrap();
    env.backup();
    std::thread::sleep(Duration::from_millis(1100));
    env.write("a.txt", b"second version\n");
    env.write("d/new.txt", b"new\n");
    env.backup();
    env
}

pub fn path_id(env: &Env, path: &str) -> i64 {
    env.sql_int(&format!(
        "SELECT id FROM paths WHERE path = CAST('{path}' AS BLOB)"
    ))
}
