//! Owns what a user sees while a command runs: a one-line bar on a terminal, plain
//! periodic lines otherwise, or nothing (`--quiet`, tests).

#![forbid(unsafe_code)]

use std::io::IsTerminal;

mod line;
mod moved;
mod task;

pub use moved::{moved, Counted, Share};
pub use task::{clear_for_exit, Progress};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A live bar on the terminal.
    Bar,
    /// A plain line every few seconds (not a terminal).
    Lines,
    /// Nothing but warnings and errors.
    Quiet,
}

impl Style {
    /// Picks the bar on a terminal, plain lines otherwise, nothing with `--quiet`.
    pub fn detect(quiet: bool) -> Style {
        if quiet {
            Style::Quiet
        } else if std::io::stderr().is_terminal() {
            Style::Bar
        } else {
            Style::Lines
        }
    }
}

/// What the user asked to see, decided once from the command line before any work:
/// commands ask it instead of passing `--quiet` and `--verbose` along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// How progress is shown.
    pub style: Style,
    /// Whether every file's action is shown.
    pub verbose: bool,
}

impl Ui {
    /// Decides what to show from `--quiet` and `--verbose`.
    pub fn new(quiet: bool, verbose: bool) -> Ui {
        Ui {
            style: Style::detect(quiet),
            verbose,
        }
    }

    /// True with `--quiet`: nothing but errors.
    pub fn quiet(&self) -> bool {
        self.style == Style::Quiet
    }

    /// Writes a note line to stderr unless quiet (above the bar, when one is shown).
    pub fn say(&self, line: String) {
        if !self.quiet() {
            let line = crate::output::without_codes(&line);
            task::above_bar(|| eprintln!("{line}"));
        }
    }
}

/// What an engine tells while it works; the command decides how it is shown (a bar,
/// plain lines, or nothing), and a caller such as a watch loop or a web server can pass
/// its own.
pub trait Report {
    /// More work was found: one more file with `bytes` of content.
    fn grow(&self, bytes: u64);
    /// One more file is done, with `bytes` of content.
    fn advance(&self, bytes: u64);
    /// One more folder or symlink was found (not counted as a file).
    fn grow_other(&self) {}
    /// One more folder or symlink is done (not counted as a file).
    fn advance_other(&self) {}
    /// A line the user sees unless quiet (a warning, a verbose action).
    fn warn(&self, line: &str);
    /// A line the user always sees (an error).
    fn error(&self, line: &str);
}

impl Report for Progress {
    fn grow(&self, bytes: u64) {
        Progress::grow(self, bytes)
    }

    fn advance(&self, bytes: u64) {
        Progress::advance(self, bytes)
    }

    fn warn(&self, line: &str) {
        Progress::warn(self, line)
    }

    fn error(&self, line: &str) {
        Progress::error(self, line)
    }
}
