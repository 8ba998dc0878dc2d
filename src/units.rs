//! Owns how numbers are shown to people: byte sizes and durations.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

/// Formats a byte count in binary units, e.g. `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a duration as seconds with one decimal, e.g. `3.2 s`.
pub fn human_duration(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Formats an age in seconds in its two largest units, e.g. `2d 4h`, `3h 5min`, `40s`.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}min"),
        (0, h, m) => format!("{h}h {m}min"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Shows a path on one line: control characters (a newline in a name) are escaped.
pub fn one_line(path: &std::path::Path) -> String {
    escape_controls(&path.to_string_lossy())
}

/// Shows a path like `one_line`, without allocating for the usual UTF-8 path with no
/// control characters.
pub struct OneLine<'a>(pub &'a std::path::Path);

impl std::fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.to_str() {
            Some(s) if !s.chars().any(char::is_control) => f.write_str(s),
            _ => f.write_str(&one_line(self.0)),
        }
    }
}

/// Escapes control characters so that text stays on one line.
pub fn escape_controls(s: &str) -> String {
    if s.chars().any(char::is_control) {
        s.chars().flat_map(char::escape_default).collect()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (5 << 30, "5.0 GiB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_bytes(n), want);
        }
    }

    #[test]
    fn one_line_display_matches_one_line() {
        use std::os::unix::ffi::OsStrExt;
        let cases: [&[u8]; 4] = [
            b"plain/name.txt",
            b"with\nnewline",
            b"tab\there",
            b"bad\xffutf8",
        ];
        for raw in cases {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(raw));
            assert_eq!(OneLine(path).to_string(), one_line(path), "{raw:?}");
            assert!(!OneLine(path).to_string().contains('\n'));
        }
    }
}
