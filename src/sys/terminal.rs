//! Owns asking the terminal its size.

/// The number of columns of the terminal on stderr; `None` when stderr is no terminal
/// or it does not say.
pub fn stderr_cols() -> Option<u16> {
    // SAFETY: an all-zero winsize is a valid value to be overwritten.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize to the valid pointer given.
    let rc = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some(ws.ws_col)
}
