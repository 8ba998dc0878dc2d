//! Owns the manifest format: coreutils `sha256sum` lines, escaped exactly as coreutils does.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// One manifest line (with trailing newline) for file `rel` with hex digest `hex`.
///
/// Like coreutils 9.1, a name holding `\`, a newline or a carriage return gets a leading
/// `\` on the line and those characters escaped as `\\`, `\n` and `\r`; every other
/// byte (tabs, other control bytes, bytes of 0x80 and up) is written as it is.
pub fn line(hex: &str, rel: &Path) -> Vec<u8> {
    let mut out = Vec::with_capacity(hex.len() + rel.as_os_str().len() + 4);
    line_into(&mut out, hex, rel);
    out
}

/// Appends the manifest line of `rel` with digest `hex` to `out` (see `line`).
pub fn line_into(out: &mut Vec<u8>, hex: &str, rel: &Path) {
    let name = rel.as_os_str().as_bytes();
    let escape = name.iter().any(|&b| matches!(b, b'\\' | b'\n' | b'\r'));
    if escape {
        out.push(b'\\');
    }
    out.extend_from_slice(hex.as_bytes());
    out.extend_from_slice(b"  ");
    for &b in name {
        match b {
            b'\\' if escape => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
    out.push(b'\n');
}

/// Parses one manifest line (without its newline) back into (hex digest, relative path).
pub fn parse_line(line: &[u8]) -> Option<(String, PathBuf)> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let split = line.windows(2).position(|w| w == b"  ")?;
    let hex = std::str::from_utf8(&line[..split])
        .ok()?
        .to_ascii_lowercase();
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let raw = &line[split + 2..];
    let mut name = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if escaped && b == b'\\' {
            match bytes.next() {
                Some(b'n') => name.push(b'\n'),
                Some(b'r') => name.push(b'\r'),
                Some(&other) => name.push(other),
                None => return None,
            }
        } else {
            name.push(b);
        }
    }
    Some((hex, PathBuf::from(OsString::from_vec(name))))
}

/// Reads a whole manifest into path -> hex digest; unparsable lines are counted.
pub fn read(path: &Path) -> std::io::Result<(HashMap<PathBuf, String>, usize)> {
    let mut map = HashMap::new();
    let bad = for_each(path, |hex, rel| {
        map.insert(rel, hex);
    })?;
    Ok((map, bad))
}

/// Calls `f(hex, path)` for each line of the manifest at `path`, reading it piece by
/// piece; returns the number of lines that could not be parsed.
pub fn for_each(path: &Path, mut f: impl FnMut(String, PathBuf)) -> std::io::Result<usize> {
    use std::io::BufRead;
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut line = Vec::new();
    let mut bad = 0;
    loop {
        line.clear();
        if file.read_until(b'\n', &mut line)? == 0 {
            return Ok(bad);
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        match parse_line(text) {
            Some((hex, rel)) => f(hex, rel),
            None => bad += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn escaping() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"a b", b"ab  a b\n"),
            (b"new\nline", b"\\ab  new\\nline\n"),
            (b"back\\slash", b"\\ab  back\\\\slash\n"),
            (b"bad\xff", b"ab  bad\xff\n"),
            // What `sha256sum` of coreutils 9.1 writes for these names, byte for byte.
            (b"a\r", b"\\ab  a\\r\n"),
            (b"\r\n\\", b"\\ab  \\r\\n\\\\\n"),
            (b"tab\there", b"ab  tab\there\n"),
            (b"c\x01\x7f\x80", b"ab  c\x01\x7f\x80\n"),
        ];
        for (name, want) in cases {
            let rel = Path::new(OsStr::from_bytes(name));
            assert_eq!(line("ab", rel), want);
            let (hex, back) = parse_line(&want[..want.len() - 1]).unwrap();
            assert_eq!((hex.as_str(), back.as_path()), ("ab", rel));
        }
    }
}
