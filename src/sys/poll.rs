//! Owns waiting for descriptors to become ready (`poll`).

/// Waits up to `timeout_ms` (-1: for ever) until one of `fds` is ready; the number
/// ready, 0 on timeout, -1 on error (as `poll` returns).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> libc::c_int {
    // SAFETY: `fds` is a live array of `fds.len()` pollfd structs.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) }
}
