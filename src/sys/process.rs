//! Owns what phlb asks about processes and this machine: whether a process exists, the
//! host name, random bytes, and the limit of open descriptors.

use std::io;

/// Sends signal 0 to process `pid`, which only asks whether it exists (`kill`): Ok when
/// it does and may be signalled, else the error (ESRCH: none; EPERM: another user's).
pub fn signal_zero(pid: libc::pid_t) -> io::Result<()> {
    // SAFETY: kill with signal 0 only asks whether the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Writes this machine's host name into `buf` (`gethostname`: NUL-terminated when it
/// fits).
pub fn hostname(buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: the buffer is valid for its whole length, which is passed.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Fills `buf` with random bytes from the kernel (`getrandom`); how many it wrote.
pub fn random(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: getrandom writes at most `len` bytes into the buffer we own.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The soft and hard limits of open descriptors (`RLIMIT_NOFILE`).
pub fn open_files_limit() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit with a valid rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim)
}

/// Sets the limits of open descriptors (`RLIMIT_NOFILE`).
pub fn set_open_files_limit(lim: &libc::rlimit) -> io::Result<()> {
    // SAFETY: setrlimit reads the valid rlimit struct given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lets the child `cmd` starts, and every process it forks, inherit descriptor `fd`
/// (cleared of close-on-exec in the child only): a lock held through it stays held for as
/// long as any of them lives.
pub fn inherit_fd(cmd: &mut std::process::Command, fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls fcntl,
    // which is async-signal-safe, on a descriptor the child got from this process.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Makes the child `cmd` starts die with this process (`PR_SET_PDEATHSIG`, SIGKILL): a
/// helper such as rsync never outlives a phlb that was killed, so it cannot go on
/// writing after the writer lock is free.
pub fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls prctl,
    // which is async-signal-safe, and reads errno.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
