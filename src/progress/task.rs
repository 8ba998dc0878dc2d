//! Owns the progress of one task: counts updated from the working thread, shown by a
//! ticker thread of its own (a bar redrawn a few times a second, or a plain line every
//! few seconds), so the display moves while one long file is worked on and the work
//! itself never waits on the terminal.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::line::{self, Shown};
use super::moved;
use super::Style;
use crate::units::human_bytes;

const LINE_EVERY: Duration = Duration::from_secs(5);
const BAR_EVERY: Duration = Duration::from_millis(200);

/// What is on the terminal's last line. Held while it is drawn, cleared or printed
/// above, so lines never tear.
struct Screen {
    /// The bar line shown now; empty when none is.
    bar: String,
    /// The process is ending on a signal: the bar was cleared and is never drawn again.
    exiting: bool,
}

static SCREEN: Mutex<Screen> = Mutex::new(Screen {
    bar: String::new(),
    exiting: false,
});

fn screen() -> MutexGuard<'static, Screen> {
    SCREEN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Erases the bar's line, the cursor left at its start.
const ERASE: &[u8] = b"\r\x1b[2K";

/// Erases the bar's line when a bar is on the terminal, for a process about to end on a
/// signal (no destructor runs then), and keeps it from being drawn again.
pub fn clear_for_exit() {
    // The lock is taken with patience, not forever: a thread stuck holding it must not
    // keep the process from ending.
    let deadline = Instant::now() + Duration::from_millis(500);
    let guard = loop {
        match SCREEN.try_lock() {
            Ok(g) => break Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => break Some(p.into_inner()),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    match guard {
        Some(mut g) => {
            g.exiting = true;
            if !g.bar.is_empty() {
                crate::signals::write_stderr(ERASE);
            }
            // Still held: nothing draws between here and the end of the process.
            std::mem::forget(g);
        }
        None => crate::signals::write_stderr(ERASE),
    }
}

/// Shows `bar` as the terminal's last line (drawn over the one there).
fn draw(bar: String) {
    let mut s = screen();
    if s.exiting {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(ERASE);
    let _ = err.write_all(bar.as_bytes());
    let _ = err.flush();
    s.bar = bar;
}

/// Runs `print` (which prints whole lines) with the bar taken off the terminal and put
/// back after.
pub(super) fn above_bar(print: impl FnOnce()) {
    let s = screen();
    if s.bar.is_empty() || s.exiting {
        drop(s);
        return print();
    }
    let _ = std::io::stderr().write_all(ERASE);
    print();
    let _ = std::io::stdout().flush();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(s.bar.as_bytes());
    let _ = err.flush();
}

/// Takes the bar off the terminal.
fn erase() {
    let mut s = screen();
    if !s.bar.is_empty() && !s.exiting {
        let _ = std::io::stderr().write_all(ERASE);
        s.bar.clear();
    }
}

/// The counts a task's threads share.
struct Counts {
    /// What the line shows first: the command and what it works on.
    label: String,
    /// What is counted: `files`, or `names` for a removal.
    unit: &'static str,
    /// Counted in bytes too.
    with_bytes: bool,
    files_total: AtomicU64,
    bytes_total: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
    /// The bytes shown last: the line never goes back.
    shown: AtomicU64,
    started: Instant,
}

impl Counts {
    /// Files done and their total, never more than it.
    fn files(&self) -> (u64, u64) {
        let total = self.files_total.load(Ordering::Relaxed);
        (self.files.load(Ordering::Relaxed).min(total), total)
    }

    /// Bytes done (with those moved inside files not done yet) and their total; never
    /// more than the total, never less than shown before.
    fn bytes(&self) -> (u64, u64) {
        let total = self.bytes_total.load(Ordering::Relaxed);
        let now = (self.bytes.load(Ordering::Relaxed) + moved::pending()).min(total);
        let shown = self.shown.fetch_max(now, Ordering::Relaxed).max(now);
        (shown.min(total), total)
    }

    fn shown(&self) -> (u64, u64, Option<(u64, u64)>) {
        let (done, total) = self.files();
        let bytes = self.with_bytes.then(|| self.bytes());
        (done, total, bytes)
    }

    /// The time left at the pace so far, once there is a pace.
    fn eta(&self, done: u64, total: u64) -> Option<Duration> {
        let took = self.started.elapsed();
        (done > 0 && took >= Duration::from_secs(1))
            .then(|| took.mul_f64((total.saturating_sub(done)) as f64 / done as f64))
    }

    fn bar_line(&self, cols: usize) -> String {
        let (done, total, bytes) = self.shown();
        let (d, t) = bytes.unwrap_or((done, total));
        line::render(
            &Shown {
                label: &self.label,
                done,
                total,
                unit: self.unit,
                bytes,
                eta: self.eta(d, t),
            },
            cols,
        )
    }

    fn status_line(&self) -> String {
        let (done, total, bytes) = self.shown();
        let mut line = format!("phlb: {}: {done}/{total} {}", self.label, self.unit);
        if let Some((b, bt)) = bytes {
            line += &format!(", {}/{}", human_bytes(b), human_bytes(bt));
        }
        line
    }
}

/// Progress of one task measured in files and bytes (or in names removed).
pub struct Progress {
    style: Style,
    counts: Arc<Counts>,
    ticker: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
}

impl Progress {
    /// Starts showing progress of `label` (the command's name and what it works on)
    /// towards `files_total` files and `bytes_total` bytes.
    pub fn new(style: Style, label: &str, files_total: u64, bytes_total: u64) -> Progress {
        Progress::start(style, label, "files", true, files_total, bytes_total)
    }

    /// Starts showing progress of `label` towards `total` names removed (no bytes),
    /// moved on with `set_done`.
    pub fn counting(style: Style, label: &str, total: u64) -> Progress {
        Progress::start(style, label, "names", false, total, 0)
    }

    fn start(
        style: Style,
        label: &str,
        unit: &'static str,
        with_bytes: bool,
        files_total: u64,
        bytes_total: u64,
    ) -> Progress {
        if style != Style::Quiet {
            moved::reset();
        }
        let counts = Arc::new(Counts {
            label: crate::units::escape_controls(label),
            unit,
            with_bytes,
            files_total: AtomicU64::new(files_total),
            bytes_total: AtomicU64::new(bytes_total),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            started: Instant::now(),
        });
        let ticker = match style {
            Style::Quiet => None,
            _ => Some(ticker(style, Arc::clone(&counts))),
        };
        Progress {
            style,
            counts,
            ticker: Mutex::new(ticker),
        }
    }

    /// Says that `done` things of a `counting` progress are done.
    pub fn set_done(&self, done: u64) {
        self.counts.files.store(done, Ordering::Relaxed);
    }

    /// Counts one more file (or folder, or link) of `bytes` bytes as done.
    pub fn advance(&self, bytes: u64) {
        self.counts.files.fetch_add(1, Ordering::Relaxed);
        self.counts.bytes.fetch_add(bytes, Ordering::Relaxed);
        moved::take(bytes);
    }

    /// Raises the totals by one more entry of `bytes` bytes found while the work goes on.
    pub fn grow(&self, bytes: u64) {
        self.counts.files_total.fetch_add(1, Ordering::Relaxed);
        self.counts.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Stops the display and removes the bar.
    pub fn finish(&self) {
        let ticker = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stop, thread)) = ticker {
            drop(stop);
            let _ = thread.join();
            if self.style == Style::Bar {
                erase();
            }
        }
    }
}

/// Lines said while the work runs: above the bar, errors only with `-q`.
impl crate::tell::Tell for Progress {
    #[allow(clippy::print_stderr)] // a sink: where the engine's lines reach the user
    fn tell(&self, level: crate::tell::Level, text: &str) {
        if self.style != Style::Quiet || level.shown_when_quiet() {
            let line = crate::tell::line(level, text);
            above_bar(|| eprintln!("{line}"));
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The thread that shows the counts until its sender is dropped.
#[allow(clippy::print_stderr)] // the plain progress lines off a terminal
fn ticker(style: Style, counts: Arc<Counts>) -> (mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = mpsc::channel::<()>();
    let bar = style == Style::Bar;
    let every = if bar { BAR_EVERY } else { LINE_EVERY };
    let thread = std::thread::spawn(move || loop {
        if bar {
            draw(counts.bar_line(line::terminal_cols()));
        }
        match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) if !bar => eprintln!("{}", counts.status_line()),
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    });
    (stop, thread)
}
