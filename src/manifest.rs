//! Owns the manifest format: coreutils `sha256sum` lines, escaped exactly as coreutils does.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One manifest line (with trailing newline) for file `rel` with hex digest `hex`.
///
/// Like coreutils, a name holding `\` or a newline gets a leading `\` on the line and
/// those characters escaped as `\\` and `\n`; every other byte is written as it is.
pub fn line(hex: &str, rel: &Path) -> Vec<u8> {
    let name = rel.as_os_str().as_bytes();
    let escape = name.iter().any(|&b| b == b'\\' || b == b'\n');
    let mut out = Vec::with_capacity(hex.len() + name.len() + 4);
    if escape {
        out.push(b'\\');
    }
    out.extend_from_slice(hex.as_bytes());
    out.extend_from_slice(b"  ");
    for &b in name {
        match b {
            b'\\' if escape => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn escaping() {
        let cases: [(&[u8], &[u8]); 4] = [
            (b"a b", b"ab  a b\n"),
            (b"new\nline", b"\\ab  new\\nline\n"),
            (b"back\\slash", b"\\ab  back\\\\slash\n"),
            (b"bad\xff", b"ab  bad\xff\n"),
        ];
        for (name, want) in cases {
            assert_eq!(line("ab", Path::new(OsStr::from_bytes(name))), want);
        }
    }
}
