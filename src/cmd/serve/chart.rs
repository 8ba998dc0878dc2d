//! Owns the chart of the snapshots page: an inline SVG, drawn here, of bytes and new
//! bytes per snapshot over time (no script, no external file).

use std::fmt::Write;

use super::html::esc;
use crate::units::human_bytes;

const W: f64 = 640.0;
const H: f64 = 180.0;
const PAD: f64 = 40.0;

/// The chart for `points` (timestamp, bytes, new bytes), oldest first.
pub fn svg(name: &str, points: &[(String, i64, i64)]) -> String {
    let max = points
        .iter()
        .map(|p| p.1.max(p.2))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = points.len();
    let x = |i: usize| {
        if n <= 1 {
            PAD + (W - 2.0 * PAD) / 2.0
        } else {
            PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: i64| H - PAD / 2.0 - (H - PAD) * v as f64 / max;
    let line = |pick: fn(&(String, i64, i64)) -> i64| {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(pick(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" id=\"chart-{id}\" xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"bytes and new bytes per snapshot of {id}\">\
         <text x=\"4\" y=\"12\" font-size=\"11\">{top}</text>\
         <text x=\"4\" y=\"{base:.0}\" font-size=\"11\">0</text>\
         <line x1=\"{PAD}\" y1=\"{base:.0}\" x2=\"{right}\" y2=\"{base:.0}\" stroke=\"#999\"/>",
        id = esc(name),
        top = esc(&human_bytes(max as u64)),
        base = y(0),
        right = W - PAD,
    );
    if n > 0 {
        let _ = write!(
            out,
            "<polyline class=\"bytes\" fill=\"none\" stroke=\"#258\" stroke-width=\"2\" points=\"{}\"/>\
             <polyline class=\"new-bytes\" fill=\"none\" stroke=\"#c60\" stroke-width=\"2\" points=\"{}\"/>",
            line(|p| p.1),
            line(|p| p.2)
        );
        for (i, p) in points.iter().enumerate() {
            let _ = write!(
                out,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#258\"><title>{}: {} ({} new)</title></circle>",
                x(i),
                y(p.1),
                esc(&p.0),
                esc(&human_bytes(p.1.max(0) as u64)),
                esc(&human_bytes(p.2.max(0) as u64))
            );
        }
        let _ = write!(
            out,
            "<text x=\"{PAD}\" y=\"{H}\" font-size=\"11\">{}</text>\
             <text x=\"{}\" y=\"{H}\" font-size=\"11\" text-anchor=\"end\">{}</text>",
            esc(&points[0].0),
            W - PAD,
            esc(&points[n - 1].0)
        );
    }
    out.push_str(
        "<text x=\"400\" y=\"12\" font-size=\"11\" fill=\"#258\">— bytes</text>\
         <text x=\"480\" y=\"12\" font-size=\"11\" fill=\"#c60\">— new bytes</text></svg>",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_point_per_snapshot_and_escapes_labels() {
        let pts = vec![("a<b".to_string(), 100, 100), ("t2".to_string(), 150, 50)];
        let s = svg("docs", &pts);
        assert_eq!(s.matches("<circle").count(), 2);
        assert!(s.contains("a&lt;b") && !s.contains("a<b"));
        assert!(svg("empty", &[]).starts_with("<svg"));
    }
}
