//! Owns what happens on Ctrl-C (SIGINT) and SIGTERM: one thread waits for them, clears
//! the progress bar, says in one line what was stopped, and ends the process the way a
//! kill would (exit 130 or 143), which the on-disk protocol already makes safe.
//!
//! Both signals are blocked in every thread (the mask is set before any thread starts
//! and threads inherit it) and taken with `sigwait` by the waiting thread, so no code
//! runs in a signal handler. A command that can stop more gently (`sql` interrupts its
//! query) registers a hook; the process then ends when the command returns, or after a
//! short grace period if it does not.
//!
//! A service (`watch`) is ended by these signals as its normal way to stop: it says so
//! with `as_service`, and then the line reads `phlb: watch stopped[; <doing>]` and the
//! exit code is 0.

#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long a command with a stop hook gets to return after the hook ran.
const GRACE: Duration = Duration::from_secs(2);

/// What the process is doing, for the `phlb: interrupted: …` line.
static DOING: Mutex<String> = Mutex::new(String::new());
/// A gentler way to stop the current command, if it has one.
static HOOK: Mutex<Option<Box<dyn FnOnce() + Send>>> = Mutex::new(None);
/// The signal received, 0 while none was.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// 0 for a command (exit 130/143), `SERVICE` or `SERVICE_QUIET` for a service (exit 0).
static MODE: AtomicU8 = AtomicU8::new(0);
/// The service's name, for its last line.
static SERVICE_NAME: Mutex<&str> = Mutex::new("");
const SERVICE: u8 = 1;
const SERVICE_QUIET: u8 = 2;
/// Set by whichever thread prints the line and exits, so only one does.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Makes SIGPIPE end the process as it ends other programs (its default action), for
/// output into a closed pipe; call it first in `main`.
pub fn default_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Blocks SIGINT and SIGTERM and starts the thread that waits for them; call it first in
/// `main`, before any other thread exists. A signal the parent set to be ignored (a
/// background job's SIGINT) stays ignored.
pub fn install() {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; sigaction with a null
    // new action only reads the current one; pthread_sigmask changes this thread's mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let mut old: libc::sigaction = std::mem::zeroed();
            let ignored = libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN;
            if !ignored {
                libc::sigaddset(&mut set, sig);
            }
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        set
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || wait(set));
    if spawned.is_err() {
        // Without the thread the signals would stay blocked forever: give them back.
        // SAFETY: as above, on this thread's own mask.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

/// Says what the process is doing, as the line printed on interruption will name it
/// (e.g. "backup of docs/2026-11-30-101500 stopped; …").
pub fn doing(what: impl Into<String>) {
    *DOING.lock().unwrap_or_else(|e| e.into_inner()) = what.into();
}

/// Makes SIGINT and SIGTERM the normal end of service `name`: the process exits 0 after
/// the line `phlb: NAME stopped` and, when something was going on, `; <doing>` (no line
/// when `quiet`), wherever it was, as a kill would leave it. `doing("")` while idle.
pub fn as_service(name: &'static str, quiet: bool) {
    *SERVICE_NAME.lock().unwrap_or_else(|e| e.into_inner()) = name;
    MODE.store(
        if quiet { SERVICE_QUIET } else { SERVICE },
        Ordering::SeqCst,
    );
}

/// Registers `hook` to stop the current command gently on a signal; the command then
/// returns soon and `main` ends the process through `exit_if_stopped`.
pub fn on_stop(hook: impl FnOnce() + Send + 'static) {
    *HOOK.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(hook));
}

/// Removes the hook `on_stop` registered.
pub fn clear_on_stop() {
    HOOK.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// True once SIGINT or SIGTERM has arrived.
pub fn stopped() -> bool {
    RECEIVED.load(Ordering::SeqCst) != 0
}

/// Prints the interruption line and exits if a signal arrived; returns otherwise.
pub fn exit_if_stopped() {
    let sig = RECEIVED.load(Ordering::SeqCst);
    if sig != 0 {
        exit_now(sig);
    }
}

/// The thread that waits for the signals.
fn wait(set: libc::sigset_t) {
    loop {
        let mut sig = 0;
        // SAFETY: `set` is an initialised signal set and `sig` a valid out pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        RECEIVED.store(sig, Ordering::SeqCst);
        let hook = HOOK.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hook) = hook {
            hook();
            std::thread::sleep(GRACE);
        }
        exit_now(sig);
    }
}

/// Clears the bar, prints `phlb: interrupted: …` once and ends the process at once (no
/// destructors, no flushing: exactly where a kill would leave things).
fn exit_now(sig: i32) -> ! {
    if EXITING.swap(true, Ordering::SeqCst) {
        // The other thread is printing and exiting right now.
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    crate::progress::clear_for_exit();
    crate::lock::clear_for_exit();
    let doing = DOING.lock().map(|d| d.clone()).unwrap_or_default();
    let mode = MODE.load(Ordering::SeqCst);
    if mode == SERVICE {
        let name = SERVICE_NAME.lock().map(|n| *n).unwrap_or("");
        let tail = if doing.is_empty() {
            String::new()
        } else {
            format!("; {doing}")
        };
        write_stderr(format!("phlb: {name} stopped{tail}\n").as_bytes());
    }
    let doing = if doing.is_empty() {
        "the command stopped before it finished".to_string()
    } else {
        doing
    };
    if mode == 0 {
        write_stderr(format!("phlb: interrupted: {doing}\n").as_bytes());
    }
    let code = match (mode, sig) {
        (SERVICE | SERVICE_QUIET, _) => 0,
        (_, libc::SIGTERM) => 143,
        _ => 130,
    };
    // SAFETY: _exit ends the process without running anything else; always sound.
    unsafe { libc::_exit(code) }
}

/// Writes to stderr without taking the lock of `std::io::stderr` (another thread may hold it).
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe a live byte slice.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}
