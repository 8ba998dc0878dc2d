//! Owns HTML making: the one escaping function every catalog value goes through, the
//! page frame (navigation, style, script), pagers and links. No template engine.

use std::fmt::Write;

use super::http::encode;

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Raw path bytes as text a reader can trust, as `ls -b` shows names: bytes that are
/// not UTF-8 as `\xNN`, control characters as `\n`, `\t`, `\u{1b}`, invisible
/// format characters (bidi overrides, zero-width marks) as `\u{202e}`, and a backslash
/// doubled, so no name can pose as another or break a line. (Escape it for HTML after.)
pub fn visible(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        push_visible(&mut out, chunk.valid());
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// `visible` of text that is already UTF-8 (a path the catalog gave as a string).
pub fn visible_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_visible(&mut out, s);
    out
}

fn push_visible(out: &mut String, s: &str) {
    for c in s.chars() {
        let invisible = matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}');
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else if invisible {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
}

/// A link: `href` is built from escaped parts by the caller, `text` is escaped here.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A query-string value.
pub fn q(s: &str) -> String {
    encode(s)
}

/// Byte counts in human units, with the exact count as a tooltip.
pub fn bytes(n: i64) -> String {
    format!(
        "<span title=\"{n} bytes\">{}</span>",
        crate::units::human_bytes(n.max(0) as u64)
    )
}

/// The whole page: title, navigation, and `body` (already HTML). Every link of every
/// page is relative, resolved against `<base>`: the secret `prefix` the pages live under.
pub fn page(prefix: &str, title: &str, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <base href=\"{}/\">\
         <title>{} – phlb</title><link rel=\"stylesheet\" href=\"style.css\">\
         <script src=\"app.js\" defer></script></head><body>\
         <nav><b>phlb</b> <a href=\"./\">snapshots</a> <a href=\"find\">find</a> \
         <a href=\"duplicates\">duplicates</a></nav><main><h1>{}</h1>{body}</main></body></html>\n",
        esc(prefix),
        esc(title),
        esc(title)
    );
    out
}

/// "previous / next" links for a list shown `per` at a time from `offset` of `total`
/// (`total` None: unknown, next shown when the page was full); `base` ends in `?…&` or `?`.
pub fn pager(base: &str, offset: i64, per: i64, shown: usize, total: Option<i64>) -> String {
    pager_by("o", base, offset, per, shown, total)
}

/// `pager` with the offset in query parameter `param` (a page with two paged lists).
pub fn pager_by(
    param: &str,
    base: &str,
    offset: i64,
    per: i64,
    shown: usize,
    total: Option<i64>,
) -> String {
    let mut out = String::from("<p class=\"pager\">");
    if offset > 0 {
        // From past the end, "previous" is the last page.
        let back = match total {
            Some(t) if shown == 0 && offset >= t => (t - 1).max(0) / per * per,
            _ => (offset - per).max(0),
        };
        out += &link(&format!("{base}{param}={back}"), "« previous");
        out.push(' ');
    }
    let end = offset + shown as i64;
    match total {
        Some(t) if shown == 0 => {
            let _ = write!(out, "none here; {t} in all");
        }
        Some(t) => {
            let _ = write!(
                out,
                "{}–{end} of {t}",
                if shown == 0 { 0 } else { offset + 1 }
            );
        }
        None => {
            let _ = write!(out, "{}–{end}", if shown == 0 { 0 } else { offset + 1 });
        }
    }
    let more = match total {
        Some(t) => end < t,
        None => shown as i64 == per,
    };
    if more {
        out.push(' ');
        out += &link(&format!("{base}{param}={end}"), "next »");
    }
    out.push_str("</p>");
    out
}

/// The style sheet (`/style.css`).
pub const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
nav{background:#234;color:#fff;padding:.5em 1em}nav a{color:#cde;margin-left:1em}
main{padding:0 1em 2em}table{border-collapse:collapse;margin:.5em 0}
td,th{padding:.15em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}.stale,.bad{color:#b00;font-weight:bold}.ok{color:#070}
code,.mono{font-family:ui-monospace,monospace}.crumbs a{margin:0 .2em}
svg.chart{border:1px solid #ccc;background:#fcfcfc}.pager a{margin:0 .5em}
.added{color:#070}.removed{color:#b00}.modified{color:#a60}.renamed,.moved{color:#06a}";

/// The script (`/app.js`): fills figures that are slow to compute after the page shows
/// (`data-fill` holds the URL of a small JSON or HTML answer).
pub const JS: &str = "document.querySelectorAll('[data-fill]').forEach(function(el){
 fetch(el.getAttribute('data-fill'),{credentials:'same-origin'}).then(function(r){
  if(!r.ok)throw new Error(r.status);return r.text();}).then(function(t){
  if(el.hasAttribute('data-html')){el.innerHTML=t;}else{el.textContent=t;}
  el.removeAttribute('data-pending');
 }).catch(function(e){el.textContent='error '+e.message;el.className='bad';});
});";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_open_markup() {
        assert_eq!(
            esc("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(esc("a\"b'c&d"), "a&quot;b&#39;c&amp;d");
    }

    #[test]
    fn names_show_as_ls_b_would() {
        let cases: [(&[u8], &str); 6] = [
            (b"plain \xc3\xbc.txt", "plain \u{fc}.txt"),
            (b"evil\xe2\x80\xaetxt.exe", "evil\\u{202e}txt.exe"),
            (b"two\nlines", "two\\nlines"),
            (b"esc\x1b[31m", "esc\\u{1b}[31m"),
            (b"bad\xff", "bad\\xff"),
            (b"back\\slash", "back\\\\slash"),
        ];
        for (raw, want) in cases {
            assert_eq!(visible(raw), want, "{raw:?}");
        }
    }
}
