//! Owns getting a run's writes onto the disk before the run may count as complete.
//!
//! While a run writes, a background thread asks the filesystem to write out whatever is
//! dirty, again and again (`syncfs`), so the disk works while the run reads and hashes
//! and little is left to wait for at the end. `finish` then waits for the rest and
//! reports any write error the filesystem saw during the run.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Pause between two background flushes.
const PAUSE: Duration = Duration::from_millis(200);

/// Flushes the filesystem of one folder in the background until `finish`.
pub struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Opened when the run starts: the kernel reports a writeback error only to
    /// descriptors that were open before it happened.
    last: File,
    seen: Arc<Mutex<Option<io::Error>>>,
}

/// Writes every dirty page and inode of the filesystem holding `dir` to disk and waits.
fn sync_fs(dir: &File) -> io::Result<()> {
    // SAFETY: `dir` is an open descriptor for the whole call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Flusher {
    /// Starts flushing the filesystem that holds folder `dir`.
    pub fn start(dir: &Path) -> io::Result<Flusher> {
        let last = File::open(dir)?;
        let background = File::open(dir)?;
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Option<io::Error>>> = Arc::default();
        let thread = {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            std::thread::Builder::new()
                .name("flusher".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Err(e) = sync_fs(&background) {
                            seen.lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                        }
                        std::thread::park_timeout(PAUSE);
                    }
                })?
        };
        Ok(Flusher {
            stop,
            thread: Some(thread),
            last,
            seen,
        })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }

    /// Stops the background flushes, then waits until everything the run wrote is on
    /// disk; an error here or seen by a background flush means it may not be.
    pub fn finish(mut self) -> io::Result<()> {
        self.stop();
        sync_fs(&self.last)?;
        match self.seen.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes the entries of folder `dir` (a rename into it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reports_success_after_writes() {
        let dir = tempfile::tempdir().unwrap();
        let flusher = Flusher::start(dir.path()).unwrap();
        std::fs::write(dir.path().join("a"), vec![7u8; 1 << 20]).unwrap();
        std::thread::sleep(PAUSE);
        flusher.finish().unwrap();
        sync_dir(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap().len(), 1 << 20);
    }

    #[test]
    fn start_on_a_missing_folder_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Flusher::start(&dir.path().join("missing")).is_err());
    }
}
