//! Owns how the engine speaks to the user: one sink, `Tell`, that every operation and
//! every layer below it reports notes, warnings, errors and verbose per-file actions
//! through. The front end (`cmd/`) picks the sink once: `progress::Ui` for a command's
//! lines, `progress::Progress` while a bar or periodic lines run (both honour `-q`, which
//! leaves errors only), or `Silent` for a caller that keeps its own record. Nothing at or
//! below `ops/` prints on its own (`#![deny(clippy::print_stdout, clippy::print_stderr)]`),
//! and the `phlb: note:` / `phlb: warning:` / `phlb: error:` prefix is written in
//! `line` and nowhere else.

#![forbid(unsafe_code)]

/// How much a line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something the user may want to know; nothing went wrong (hidden by `-q`).
    Note,
    /// Something went wrong but the work goes on (hidden by `-q`).
    Warning,
    /// Something failed (always shown).
    Error,
    /// A step of the work said as it happens: `phlb: waiting: …`, `phlb: NAME: recorded`
    /// (hidden by `-q`).
    Step,
    /// A plain line without a prefix: one file's action under `--verbose`, a count, a
    /// path (hidden by `-q`).
    Info,
}

impl Level {
    /// True for the lines `-q` still shows.
    pub fn shown_when_quiet(self) -> bool {
        self == Level::Error
    }
}

/// The line the user sees for `text` at `level`: the prefix, and the text without raw OS
/// error codes.
pub fn line(level: Level, text: &str) -> String {
    let text = crate::output::without_codes(text);
    match level {
        Level::Note => format!("phlb: note: {text}"),
        Level::Warning => format!("phlb: warning: {text}"),
        Level::Error => format!("phlb: error: {text}"),
        Level::Step => format!("phlb: {text}"),
        Level::Info => text,
    }
}

/// Where the engine's lines go.
pub trait Tell: Sync {
    /// Says `text` at `level`.
    fn tell(&self, level: Level, text: &str);

    /// Says a note (hidden by `-q`).
    fn note(&self, text: &str) {
        self.tell(Level::Note, text)
    }

    /// Says a warning (hidden by `-q`).
    fn warning(&self, text: &str) {
        self.tell(Level::Warning, text)
    }

    /// Says an error (always shown).
    fn error(&self, text: &str) {
        self.tell(Level::Error, text)
    }

    /// Says a step of the work (hidden by `-q`).
    fn step(&self, text: &str) {
        self.tell(Level::Step, text)
    }

    /// Says a plain line: a verbose action, a count (hidden by `-q`).
    fn info(&self, text: &str) {
        self.tell(Level::Info, text)
    }
}

/// A borrowed sink is a sink: `&ui` passes where `&dyn Tell` is asked.
impl<T: Tell + ?Sized> Tell for &T {
    fn tell(&self, level: Level, text: &str) {
        (**self).tell(level, text)
    }
}

/// A sink that drops every line: for callers that report through their own channel
/// (the web server's answers) and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Tell for Silent {
    fn tell(&self, _: Level, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_written_once_and_codes_are_dropped() {
        assert_eq!(line(Level::Note, "x"), "phlb: note: x");
        assert_eq!(line(Level::Warning, "x"), "phlb: warning: x");
        assert_eq!(
            line(Level::Error, "a: No such file (os error 2)"),
            "phlb: error: a: No such file"
        );
        assert_eq!(line(Level::Info, "copied a"), "copied a");
        assert_eq!(line(Level::Step, "waiting"), "phlb: waiting");
        assert!(Level::Error.shown_when_quiet() && !Level::Note.shown_when_quiet());
    }
}
