//! Owns who phlb runs as: the effective user and group, and a user's home folder from
//! the password database.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// The effective user id.
pub fn effective_uid() -> libc::uid_t {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective group id.
pub fn effective_gid() -> libc::gid_t {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// The home folder the password database gives user `uid` (`getpwuid_r`), maybe empty;
/// `None` when there is no entry or it cannot be read.
pub fn passwd_home(uid: libc::uid_t) -> Option<OsString> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value to be overwritten.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf` (whose length it is told) and sets
    // `found`; the strings it points to live in `buf`, read before `buf` is dropped.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: pw_dir is a NUL-terminated string inside `buf`, alive here.
    let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
    Some(std::ffi::OsStr::from_bytes(dir.to_bytes()).to_os_string())
}
