//! Owns what a user sees while a command runs: a one-line bar on a terminal, plain
//! periodic lines otherwise, or nothing (`--quiet`, tests).

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

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
}

/// Prints a result line on stdout (always shown) without tearing a bar: the one way a
/// command's results reach stdout while work may still be showing progress.
#[allow(clippy::print_stdout)]
pub fn out(line: &str) {
    task::above_bar(|| println!("{line}"));
}

/// A command's lines: above the bar when one is shown, errors only with `-q`.
impl crate::tell::Tell for Ui {
    #[allow(clippy::print_stderr)] // a sink: where the engine's lines reach the user
    fn tell(&self, level: crate::tell::Level, text: &str) {
        if !self.quiet() || level.shown_when_quiet() {
            let line = crate::tell::line(level, text);
            task::above_bar(|| eprintln!("{line}"));
        }
    }
}

/// What an engine tells while it works; the command decides how it is shown (a bar,
/// plain lines, or nothing), and a caller such as a watch loop or a web server can pass
/// its own. Its lines go through `Tell`, the one sink.
pub trait Report: crate::tell::Tell {
    /// More work was found: one more file with `bytes` of content.
    fn grow(&self, bytes: u64);
    /// One more file is done, with `bytes` of content.
    fn advance(&self, bytes: u64);
    /// One more folder or symlink was found (not counted as a file).
    fn grow_other(&self) {}
    /// One more folder or symlink is done (not counted as a file).
    fn advance_other(&self) {}
}

impl Report for Progress {
    fn grow(&self, bytes: u64) {
        Progress::grow(self, bytes)
    }

    fn advance(&self, bytes: u64) {
        Progress::advance(self, bytes)
    }
}
