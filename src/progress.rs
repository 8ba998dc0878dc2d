//! Owns what a user sees while a command runs: an indicatif bar on a terminal, plain
//! periodic lines otherwise, or nothing (`--quiet`, tests). The only user of indicatif.

use std::cell::Cell;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::human_bytes;

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

    /// Writes a note line to stderr unless quiet.
    pub fn say(&self, line: String) {
        if !self.quiet() {
            eprintln!("{}", crate::output::without_codes(&line));
        }
    }
}

/// `label` cut to 20 characters (a snapshot's `NAME/TIMESTAMP` may be long), so the bar
/// line fits an 80-column terminal.
fn short_label(label: &str) -> String {
    if label.chars().count() <= 20 {
        return label.to_string();
    }
    let tail: String = label
        .chars()
        .rev()
        .take(19)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

const LINE_EVERY: Duration = Duration::from_secs(5);

/// How many bars are on the terminal now (for `clear_for_exit`).
static BARS_SHOWN: AtomicUsize = AtomicUsize::new(0);

/// Erases the bar's line when a bar is on the terminal, for a process about to end on a
/// signal (indicatif gets no chance to clear it then).
pub fn clear_for_exit() {
    if BARS_SHOWN.load(Ordering::SeqCst) > 0 {
        crate::signals::write_stderr(b"\r\x1b[2K");
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

/// Progress of one task measured in files and bytes.
pub struct Progress {
    style: Style,
    bar: Option<ProgressBar>,
    label: String,
    files_total: Cell<u64>,
    bytes_total: Cell<u64>,
    files: Cell<u64>,
    bytes: Cell<u64>,
    last_line: Cell<Instant>,
    /// Counts things (files removed) instead of bytes.
    counting: bool,
}

impl Progress {
    /// Starts showing progress of `label` towards `files_total` files and `bytes_total` bytes.
    pub fn new(style: Style, label: &str, files_total: u64, bytes_total: u64) -> Progress {
        let bar = (style == Style::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(bytes_total),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            // Fits 80 columns: the bar takes what the terminal has left, the label is cut.
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{wide_bar}] {msg}, {binary_bytes}/{binary_total_bytes}, ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(format!("0/{files_total} files"));
            bar.set_prefix(short_label(label));
            BARS_SHOWN.fetch_add(1, Ordering::SeqCst);
            bar
        });
        Progress {
            style,
            bar,
            label: label.to_string(),
            files_total: Cell::new(files_total),
            bytes_total: Cell::new(bytes_total),
            files: Cell::new(0),
            bytes: Cell::new(0),
            last_line: Cell::new(Instant::now()),
            counting: false,
        }
    }

    /// Starts showing progress of `label` towards `total` things (no bytes), moved on
    /// with `set_done`.
    pub fn counting(style: Style, label: &str, total: u64) -> Progress {
        let mut p = Progress::new(Style::Quiet, label, total, 0);
        p.style = style;
        p.counting = true;
        p.bar = (style == Style::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{wide_bar}] {pos}/{len} files, ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(short_label(label));
            BARS_SHOWN.fetch_add(1, Ordering::SeqCst);
            bar
        });
        p
    }

    /// Says that `done` things of a `counting` progress are done.
    pub fn set_done(&self, done: u64) {
        self.files.set(done);
        match (&self.bar, self.style) {
            (Some(bar), _) => bar.set_position(done),
            (None, Style::Lines) if self.last_line.get().elapsed() >= LINE_EVERY => {
                self.last_line.set(Instant::now());
                eprintln!("{}", self.status_line());
            }
            _ => {}
        }
    }

    /// Counts one more file (or folder, or link) of `bytes` bytes as done.
    pub fn advance(&self, bytes: u64) {
        let files = self.files.get() + 1;
        self.files.set(files);
        self.bytes.set(self.bytes.get() + bytes);
        match self.style {
            Style::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(self.bytes.get());
                    if files % 16 == 1 || files == self.files_total.get() {
                        bar.set_message(format!("{files}/{} files", self.files_total.get()));
                    }
                }
            }
            Style::Lines => {
                if self.last_line.get().elapsed() >= LINE_EVERY {
                    self.last_line.set(Instant::now());
                    eprintln!("{}", self.status_line());
                }
            }
            Style::Quiet => {}
        }
    }

    fn status_line(&self) -> String {
        if self.counting {
            return format!(
                "phlb: {}: {}/{} files",
                self.label,
                self.files.get(),
                self.files_total.get()
            );
        }
        format!(
            "phlb: {}: {}/{} files, {}/{}",
            self.label,
            self.files.get(),
            self.files_total.get(),
            human_bytes(self.bytes.get()),
            human_bytes(self.bytes_total.get())
        )
    }

    /// Raises the totals by one more entry of `bytes` bytes found while the work goes on.
    pub fn grow(&self, bytes: u64) {
        self.files_total.set(self.files_total.get() + 1);
        self.bytes_total.set(self.bytes_total.get() + bytes);
        if let Some(bar) = &self.bar {
            bar.set_length(self.bytes_total.get());
            if self.files_total.get() % 64 == 1 {
                bar.set_message(format!(
                    "{}/{} files",
                    self.files.get(),
                    self.files_total.get()
                ));
            }
        }
    }

    /// Prints a warning line (hidden with `--quiet`) without tearing the bar.
    pub fn warn(&self, line: &str) {
        if self.style != Style::Quiet {
            self.print(line);
        }
    }

    /// Prints an error line (always shown) without tearing the bar.
    pub fn error(&self, line: &str) {
        self.print(line);
    }

    /// Prints a result line on stdout (always shown) without tearing the bar.
    pub fn out(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn print(&self, line: &str) {
        let line = crate::output::without_codes(line);
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.finish_and_clear();
                BARS_SHOWN.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
