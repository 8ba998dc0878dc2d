//! Owns who may talk to the server: the token (query, cookie or Bearer header, compared
//! in constant time), where the token comes from (never the command line), the secret
//! path prefix the cookie is scoped to, the Host check against the listen address (no
//! DNS rebinding), and the loopback rule for the listen address.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::http::Request;

/// Name of the cookie that carries the token after the first visit.
pub const COOKIE: &str = "phlb_token";

/// The token to require: `--token-file`, else `PHLB_SERVE_TOKEN` (`env`), else
/// `SERVE_TOKEN`, else a random one (128 bits from the kernel). A token is never taken
/// from the command line: every local user can read any process's arguments.
pub fn token(file: Option<&Path>, env: Option<&str>, configured: Option<&str>) -> Result<String> {
    if let Some(f) = file {
        return token_file(f);
    }
    if let Some(t) = env {
        return crate::config::check_token(t).map_err(|e| anyhow::anyhow!("PHLB_SERVE_TOKEN: {e}"));
    }
    if let Some(t) = configured {
        return crate::config::check_token(t).map_err(|e| anyhow::anyhow!("SERVE_TOKEN: {e}"));
    }
    let mut bytes = [0u8; 16];
    let n = crate::sys::process::random(&mut bytes);
    if !n.is_ok_and(|n| n == bytes.len()) {
        bail!(
            "cannot draw a random token: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(crate::hash::hex(&bytes))
}

/// The token in `path` (one line; a trailing newline is dropped): a regular file that
/// no other user may read or write, as ssh wants of a key.
fn token_file(path: &Path) -> Result<String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("--token-file {shown}"))?;
    if !meta.is_file() {
        bail!("--token-file {shown}: not a regular file");
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "--token-file {shown}: other users may read or change it (mode {:04o}); \
             `chmod 600 {shown}`",
            meta.mode() & 0o7777
        );
    }
    // Owned by another user, it is theirs to read and to set (found by an attack).
    let me = crate::store::running_uid();
    if meta.uid() != me && meta.uid() != 0 {
        bail!(
            "--token-file {shown}: owned by another user (uid {}); use a file you own",
            meta.uid()
        );
    }
    // A folder on the way that others may write (not sticky) lets them swap the file.
    let abs = std::path::absolute(path).with_context(|| format!("--token-file {shown}"))?;
    for dir in abs.ancestors().skip(1) {
        let Ok(d) = std::fs::metadata(dir) else {
            continue;
        };
        let others_write = d.mode() & 0o022 != 0 && d.mode() & 0o1000 == 0;
        if others_write || (d.uid() != me && d.uid() != 0) {
            bail!(
                "--token-file {shown}: {} may be changed by another user, who could swap the \
                 file; keep the token in a folder only you (or root) can change",
                dir.display()
            );
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("--token-file {shown}"))?;
    let t = text.strip_suffix('\n').unwrap_or(&text);
    let t = t.strip_suffix('\r').unwrap_or(t);
    crate::config::check_token(t).map_err(|e| anyhow::anyhow!("--token-file {shown}: {e}"))
}

/// Why `--token T` is refused.
pub const TOKEN_ARG_REFUSED: &str = "--token: a token on the command line is shown by `ps` \
     to every local user (and with it every backed-up file); use --token-file FILE (mode \
     0600), PHLB_SERVE_TOKEN or SERVE_TOKEN in the ini";

/// The secret path prefix every page lives under (`/` and 24 hex digits), derived from
/// the token: browsers send a cookie to every port of a host, but only under its
/// `Path`, so the cookie reaches no other server on 127.0.0.1 unless that server knows
/// the prefix; two phlb servers with two tokens keep two cookies. The same token gives
/// the same prefix, so a bookmark survives a restart.
pub fn prefix(token: &str) -> String {
    let mut h = crate::hash::HashAlgo::Sha256.hasher();
    h.update(b"phlb serve path prefix\0");
    h.update(token.as_bytes());
    format!("/{}", &crate::hash::hex(&h.finish())[..24])
}

/// Refuses a listen address other than loopback unless `allow_remote`.
pub fn check_listen(addr: SocketAddr, allow_remote: bool) -> Result<()> {
    if !addr.ip().is_loopback() && !allow_remote {
        bail!(
            "--listen {addr}: not a loopback address; phlb serve sends every backed-up file in \
             plain HTTP to whoever has the token, so it listens on 127.0.0.1 or ::1 unless \
             you add --allow-remote"
        );
    }
    Ok(())
}

/// The addresses `--listen` names: an IP address with its port, or `localhost:PORT`
/// (every loopback address `localhost` resolves to, usually 127.0.0.1 and ::1).
pub fn listen_addrs(listen: &str) -> Result<Vec<SocketAddr>> {
    if let Ok(a) = listen.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let bad = || {
        anyhow::anyhow!(
            "--listen {listen}: give an IP address and port (127.0.0.1:8765, [::1]:8765) or \
             localhost:PORT"
        )
    };
    let (host, port) = listen.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(bad());
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", port))
        .with_context(|| format!("--listen {listen}: cannot resolve localhost"))?;
    for a in resolved.filter(|a| a.ip().is_loopback()) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        bail!("--listen {listen}: localhost resolves to no loopback address");
    }
    Ok(out)
}

/// True when the request's Host header names an address the server listens on (for
/// loopback also `localhost`), with its port, which may be left out when it is 80 (as
/// clients do); a server on an unspecified address (0.0.0.0, ::) with --allow-remote
/// takes any Host, the token still being required.
pub fn host_ok(req: &Request, bound: &[SocketAddr]) -> bool {
    let Some(host) = req.header("host") else {
        return false;
    };
    if bound.iter().any(|b| b.ip().is_unspecified()) {
        return true;
    }
    let mut allowed = Vec::new();
    for b in bound {
        let port = b.port();
        let ip = match b {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let mut names = vec![ip];
        if b.ip().is_loopback() {
            names.push("localhost".into());
        }
        for n in names {
            if port == 80 {
                allowed.push(n.clone());
            }
            allowed.push(format!("{n}:{port}"));
        }
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// How the request carries the token, if it does.
#[derive(Debug, PartialEq, Eq)]
pub enum Carried {
    /// In the URL (`?token=`): answered with a cookie and a redirect to the URL without it.
    Query,
    /// In an `Authorization: Bearer` header (scripts), good on any path.
    Bearer,
    /// In the cookie, which counts only under the secret prefix (where it is scoped).
    Cookie,
    /// Not at all, or a wrong one.
    No,
}

/// Where `req` carries the right `token`.
pub fn carried(req: &Request, token: &str) -> Carried {
    if req.param("token").is_some_and(|t| same(t, token)) {
        return Carried::Query;
    }
    // The scheme name is case-insensitive (RFC 9110).
    let bearer = req
        .header("authorization")
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, t)| same(t.trim(), token));
    let cookie = req.header("cookie").is_some_and(|c| {
        c.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && same(v, token))
    });
    if bearer {
        Carried::Bearer
    } else if cookie {
        Carried::Cookie
    } else {
        Carried::No
    }
}

/// Compares in time that depends only on the lengths, not on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The `Set-Cookie` value that keeps the token for pages under `prefix` only.
pub fn cookie(token: &str, prefix: &str) -> String {
    format!("{COOKIE}={token}; Path={prefix}/; HttpOnly; SameSite=Strict")
}

/// The part of `path` below the secret `prefix` (`/` for the prefix itself), or None
/// when `path` is not under it.
pub fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("/")
    } else {
        rest.starts_with('/').then_some(rest)
    }
}

/// The URL `path` (below the prefix) with the request's query minus its `token`
/// parameter (where to send the browser after it got the cookie), under `prefix`.
pub fn without_token(req: &Request, path: &str, prefix: &str) -> String {
    // A parameter named `token` however it is spelled (`tok%65n`): one left in would
    // redirect to itself forever.
    let rest: Vec<&str> = req
        .raw_query
        .split('&')
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            !p.is_empty() && super::http::decode(key).as_deref() != Some("token")
        })
        .collect();
    // One leading slash only: `//evil.com` would send the browser to another host.
    let path = format!(
        "{prefix}/{}",
        super::http::encode(path)
            .replace("%2F", "/")
            .trim_start_matches('/')
    );
    if rest.is_empty() {
        path
    } else {
        format!("{path}?{}", rest.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn req(host: &str, headers: &[(&str, &str)], query: &str) -> Request {
        let mut h: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        h.insert("host".into(), host.into());
        let q = query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Request {
            method: "GET".into(),
            path: "/browse".into(),
            query: q,
            raw_query: query.into(),
            headers: h,
        }
    }

    #[test]
    fn token_is_found_where_it_may_be() {
        let t = "0123456789abcdef";
        let cases = [
            (req("h", &[], "token=0123456789abcdef"), Carried::Query),
            (
                req("h", &[("cookie", "a=b; phlb_token=0123456789abcdef")], ""),
                Carried::Cookie,
            ),
            (
                req("h", &[("authorization", "Bearer 0123456789abcdef")], ""),
                Carried::Bearer,
            ),
            (
                req("h", &[("authorization", "Bearer 0123456789abcdeX")], ""),
                Carried::No,
            ),
            (req("h", &[("cookie", "phlb_token=0123")], ""), Carried::No),
            (req("h", &[], "token="), Carried::No),
        ];
        for (r, want) in cases {
            assert_eq!(carried(&r, t), want, "{r:?}");
        }
    }

    #[test]
    fn host_must_name_the_listen_address() {
        let bound: &[SocketAddr] = &["127.0.0.1:8765".parse().unwrap()];
        assert!(host_ok(&req("127.0.0.1:8765", &[], ""), bound));
        assert!(host_ok(&req("localhost:8765", &[], ""), bound));
        assert!(!host_ok(&req("evil.example:8765", &[], ""), bound));
        assert!(!host_ok(&req("127.0.0.1:8766", &[], ""), bound));
        assert!(!host_ok(&req("127.0.0.1", &[], ""), bound));
        // The default port may be left out; both loopback addresses of localhost count.
        let both: &[SocketAddr] = &["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()];
        for h in [
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:80",
            "localhost",
            "LOCALHOST:80",
        ] {
            assert!(host_ok(&req(h, &[], ""), both), "{h}");
        }
        assert!(!host_ok(&req("127.0.0.2", &[], ""), both));
        assert_eq!(listen_addrs("127.0.0.1:0").unwrap().len(), 1);
        assert!(listen_addrs("localhost:0")
            .unwrap()
            .iter()
            .all(|a| a.ip().is_loopback()));
        assert!(listen_addrs("example.com:80").is_err());
        assert!(check_listen("0.0.0.0:1".parse().unwrap(), false).is_err());
        assert!(check_listen("[::1]:1".parse().unwrap(), false).is_ok());
    }

    #[test]
    fn redirect_drops_only_the_token() {
        let r = req("h", &[], "s=3&token=0123456789abcdef&d=7");
        assert_eq!(without_token(&r, "/browse", "/p"), "/p/browse?s=3&d=7");
        let r = req("h", &[], "tok%65n=0123456789abcdef");
        assert_eq!(without_token(&r, "/", "/p"), "/p/");
        assert_eq!(below("/p/browse", "/p"), Some("/browse"));
        assert_eq!(below("/p", "/p"), Some("/"));
        assert_eq!(below("/pq/browse", "/p"), None);
        assert_eq!(below("/browse", "/p"), None);
    }
}
