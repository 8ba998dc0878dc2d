//! Owns matching a name against a shell glob (`fnmatch`).

use std::ffi::CStr;

/// True when `name` matches shell glob `pattern` (`fnmatch` without flags).
pub fn fnmatch(pattern: &CStr, name: &CStr) -> bool {
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(pattern.as_ptr(), name.as_ptr(), 0) == 0 }
}
