//! Owns the count of bytes moved inside files not done yet, so a bar moves while one
//! large file is read, copied or hashed instead of jumping when it ends.
//!
//! Chunk loops add what they read (`moved`, one atomic add per chunk, from any thread);
//! a file counted done takes its size back out (`take`), up to what is there. What is
//! shown is the bytes of files done plus what is left here, never more than the total:
//! a file read twice (hashed, then copied) is counted once, by the pass that reads it
//! through `Counted`.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

static MOVED: AtomicU64 = AtomicU64::new(0);

/// Counts `bytes` more read or written inside a file not done yet.
pub fn moved(bytes: u64) {
    MOVED.fetch_add(bytes, Ordering::Relaxed);
}

/// Bytes moved inside files not done yet.
pub(super) fn pending() -> u64 {
    MOVED.load(Ordering::Relaxed)
}

/// Takes up to `bytes` out of the moved count (a file of `bytes` is done).
pub(super) fn take(bytes: u64) {
    let _ = MOVED.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
        Some(m - m.min(bytes))
    });
}

/// Forgets what earlier work left (a new task starts).
pub(super) fn reset() {
    MOVED.store(0, Ordering::Relaxed);
}

/// How much of what a `Counted` reader reads counts as moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// All of it: the file is read once.
    Whole,
    /// The first half (rounded down): the file is read twice (hashed, then copied), and
    /// each pass moves the bar half of its size.
    FirstHalf,
    /// The other half (rounded up), for the second pass.
    SecondHalf,
}

/// A reader that counts (its share of) what it reads as moved.
pub struct Counted<R> {
    inner: R,
    share: Share,
}

impl<R> Counted<R> {
    /// Counts all that `inner` reads.
    pub fn whole(inner: R) -> Counted<R> {
        Counted::new(inner, Share::Whole)
    }

    /// Counts `share` of what `inner` reads.
    pub fn new(inner: R, share: Share) -> Counted<R> {
        Counted { inner, share }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let n64 = n as u64;
        moved(match self.share {
            Share::Whole => n64,
            Share::FirstHalf => n64 / 2,
            Share::SecondHalf => n64 - n64 / 2,
        });
        Ok(n)
    }
}
