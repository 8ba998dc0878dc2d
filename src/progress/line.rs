//! Owns the text of the progress bar's line: laid out to the terminal's width, never
//! wider (a line that wraps cannot be redrawn or cleared in place), the name shortened
//! in the middle when room is short.

use std::time::Duration;

use crate::units::human_bytes;

/// Everything one bar line shows.
#[derive(Debug, Clone)]
pub struct Shown<'a> {
    /// The command and what it works on (`backup Documents/2026-12-07-022634`).
    pub label: &'a str,
    pub done: u64,
    pub total: u64,
    /// The unit of `done` and `total` (`files`, `names`).
    pub unit: &'a str,
    /// Bytes done and their total, when the work is measured in bytes.
    pub bytes: Option<(u64, u64)>,
    /// The estimated time left, when known.
    pub eta: Option<Duration>,
}

/// The narrowest bar worth drawing (between its brackets).
const MIN_BAR: usize = 5;
/// The name is never shortened below this while the bar can still give up room.
const MIN_LABEL: usize = 20;

/// The bar line for a terminal `cols` columns wide: at most `cols - 3` characters. The
/// columns left free take the `^C` the terminal echoes when Ctrl-C is pressed: echoed
/// past the last column it would wrap onto a line of its own, and the bar's line above
/// it could no longer be cleared.
pub fn render(s: &Shown, cols: usize) -> String {
    let width = cols.saturating_sub(3).max(1);
    // Each count takes the width of its largest value, so the line keeps its layout
    // (and the name its length) as the numbers grow.
    let total = s.total.to_string();
    let counts = format!("{:>w$}/{total} {}", s.done, s.unit, w = total.len());
    let counts = match s.bytes {
        Some((b, bt)) => {
            let bt = human_bytes(bt);
            let w = bt.len().max(9);
            format!("{counts}, {:>w$}/{bt}", human_bytes(b))
        }
        None => counts,
    };
    let eta = s.eta.map_or_else(|| "-".to_string(), eta_text);
    let eta = format!(", ETA {eta:>7}");
    let tail = format!(" {counts}{eta}");
    let label_len = s.label.chars().count();
    // Room left for the label, a space and the bar in brackets.
    let room = width.saturating_sub(tail.chars().count());
    let label_room = label_len.min(room.saturating_sub(MIN_BAR + 3).max(MIN_LABEL.min(room)));
    let label = shorten_middle(s.label, label_room);
    let bar_room = room.saturating_sub(label.chars().count() + 3);
    let line = if bar_room >= 3 {
        let fill = fraction(s).map_or(0, |f| (f * bar_room as f64) as usize);
        let fill = fill.min(bar_room);
        let mut bar = "=".repeat(fill);
        if fill < bar_room {
            bar.push('>');
            bar.push_str(&" ".repeat(bar_room - fill - 1));
        }
        format!("{label} [{bar}]{tail}")
    } else {
        format!("{label}{tail}")
    };
    // A terminal too narrow even for the counts: cut, never wrap.
    shorten_middle(&line, width)
}

/// How far along the work is, 0 to 1, by bytes when it has them.
fn fraction(s: &Shown) -> Option<f64> {
    let (done, total) = s.bytes.unwrap_or((s.done, s.total));
    (total > 0).then(|| (done as f64 / total as f64).clamp(0.0, 1.0))
}

/// `text` in at most `max` characters: the middle replaced by `…` when it is longer, so
/// both the start of a name and the end of a timestamp stay readable.
pub fn shorten_middle(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A time left in its two largest units: `45s`, `3m 05s`, `2h 10m`.
pub fn eta_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

/// The width of the terminal on stderr, 80 when it cannot be asked.
pub fn terminal_cols() -> usize {
    match crate::sys::terminal::stderr_cols() {
        Some(cols) if cols > 0 => usize::from(cols),
        _ => 80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(label: &str) -> Shown<'_> {
        Shown {
            label,
            done: 12_345,
            total: 53_590,
            unit: "files",
            bytes: Some((629_145_600, 1_567_000_000_000)),
            eta: Some(Duration::from_secs(3 * 3600 + 25 * 60)),
        }
    }

    #[test]
    fn progress_line_never_wider_than_the_terminal() {
        let long = format!("backup {}/2026-12-07-022634", "Documents".repeat(30));
        for cols in [20, 40, 80, 120, 160, 162, 200] {
            for label in ["backup Documents/2026-12-07-022634", long.as_str()] {
                let line = render(&shown(label), cols);
                // Room is left for an echoed `^C` (see `render`).
                assert!(line.chars().count() <= cols - 3, "{cols}: {line}");
            }
        }
    }

    #[test]
    fn progress_name_cut_to_one_character() {
        // Was `…s/2026-12-07-022634` at 80, 120 and 160 columns.
        for cols in [120, 160] {
            let line = render(&shown("backup Documents/2026-12-07-022634"), cols);
            assert!(
                line.starts_with("backup Documents/2026-12-07-022634 ["),
                "{cols}: {line}"
            );
        }
        // At 80 columns with big counts the name gives way in the middle, not to one
        // character, and the bar is still drawn.
        let line = render(&shown("backup Documents/2026-12-07-022634"), 80);
        assert!(line.starts_with("backup Doc"), "{line}");
        assert!(line.contains("…") && line.contains("022634 ["), "{line}");
        let long = format!("backup {}/2026-12-07-022634", "Documents".repeat(30));
        let line = render(&shown(&long), 80);
        assert!(line.starts_with("backup Doc"), "{line}");
        assert!(line.contains("…"), "{line}");
        assert!(line.contains("022634 ["), "{line}");
    }

    #[test]
    fn shorten_middle_keeps_both_ends() {
        assert_eq!(shorten_middle("abcdefghij", 10), "abcdefghij");
        assert_eq!(shorten_middle("abcdefghij", 5), "ab…ij");
        assert_eq!(shorten_middle("abcdefghij", 1), "…");
        assert_eq!(shorten_middle("abcdefghij", 0), "");
    }

    #[test]
    fn eta_in_two_units() {
        assert_eq!(eta_text(Duration::from_secs(45)), "45s");
        assert_eq!(eta_text(Duration::from_secs(185)), "3m 05s");
        assert_eq!(eta_text(Duration::from_secs(7800)), "2h 10m");
    }
}
