//! Owns the wire format: parses one HTTP/1.1 request head (GET or HEAD, up to 16 KiB),
//! and writes one response with `Connection: close`. One request per connection keeps
//! the server small and lets a download be cut by closing the socket. (`conns` gathers
//! the heads.)

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

/// Longest request head read (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path part of the target, percent-decoded.
    pub path: String,
    /// The query parameters, percent-decoded (the last of a repeated name wins).
    pub query: HashMap<String, String>,
    /// The raw query string (for a redirect that drops the token).
    pub raw_query: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
}

impl Request {
    /// A header's value, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A query parameter as a number.
    pub fn num(&self, name: &str) -> Option<i64> {
        self.param(name).and_then(|v| v.parse().ok())
    }
}

/// Where a complete request head ends in `buf` (just past its blank line, `\r\n\r\n`
/// or a bare `\n\n`), if it does.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a request head (request line and headers, up to its blank line); None when it
/// is not a request we can read.
pub fn parse_head(head: &[u8]) -> Option<Request> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next()?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = HashMap::new();
    for h in lines {
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        // Two Host headers: which one a proxy or a check reads is anybody's guess.
        if headers
            .insert(name.clone(), value.trim().to_string())
            .is_some()
            && name == "host"
        {
            return None;
        }
    }
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let path = decode(path)?;
    let mut query = HashMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(k), Some(v)) = (decode(k), decode(&v.replace('+', " "))) {
            query.insert(k, v);
        }
    }
    Some(Request {
        method: method.to_string(),
        path,
        query,
        raw_query: raw_query.to_string(),
        headers,
    })
}

/// Percent-decodes `s` into UTF-8 text; None when it is not.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes `s` for a URL's query or path (all but `A-Za-z0-9-_.~`).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response to send.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// What follows the head.
pub enum Body {
    Bytes(Vec<u8>),
    /// Streamed with a known length; an error while reading cuts the connection, so the
    /// client never has a complete response.
    Stream(Box<dyn Read + Send>, u64),
}

impl Response {
    /// A response with a body of bytes and a content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::Bytes(body.into()),
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        421 => "Misdirected Request",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Headers every response carries: no caching, no sniffing, no referrer (URLs may hold
/// the token), and a content policy that runs only the server's own script.
const COMMON: &[(&str, &str)] = &[
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; \
         style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    ),
    ("Connection", "close"),
];

/// The response head, announcing `len` body bytes.
fn head(resp: &Response, len: u64) -> String {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in COMMON {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    head
}

/// A whole response with a body of bytes, as bytes (only the head for HEAD).
pub fn to_bytes(head_only: bool, resp: Response) -> Vec<u8> {
    let body = match resp.body {
        Body::Bytes(ref b) => b.as_slice(),
        Body::Stream(..) => &[],
    };
    let mut out = head(&resp, body.len() as u64).into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// Writes `resp` to `stream` (only the head for HEAD); an error in a streamed body
/// shuts the connection down before the announced length is reached.
pub fn write_response(stream: &mut TcpStream, head_only: bool, resp: Response) -> io::Result<()> {
    let len = match &resp.body {
        Body::Bytes(b) => b.len() as u64,
        Body::Stream(_, n) => *n,
    };
    stream.write_all(head(&resp, len).as_bytes())?;
    if head_only {
        return stream.flush();
    }
    match resp.body {
        Body::Bytes(b) => stream.write_all(&b)?,
        Body::Stream(mut r, _) => {
            if let Err(e) = io::copy(&mut r, stream) {
                let _ = stream.shutdown(Shutdown::Both);
                return Err(e);
            }
        }
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_coding_round_trips() {
        let cases = ["a b/c?d=e&f", "<img src=x onerror=alert(1)>", "ü.txt", ""];
        for s in cases {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s), "{s}");
        }
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%ff"), None);
    }

    #[test]
    fn heads_parse_or_are_refused() {
        let r =
            parse_head(b"GET /a%20b?x=1&y=%41 HTTP/1.1\r\nHost: h\r\nX-Y:  z \r\n\r\n").unwrap();
        assert_eq!(
            (r.path.as_str(), r.param("y"), r.header("x-y")),
            ("/a b", Some("A"), Some("z"))
        );
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").is_none());
        assert!(parse_head(b"GET / SPDY\r\n\r\n").is_none());
        assert!(parse_head(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n").is_none());
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
