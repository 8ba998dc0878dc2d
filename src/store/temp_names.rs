//! Owns the names of phlb's temp files (`.phlb-tmp-<pid>-<n>`): making them, and telling
//! them from real names.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, asked once (it names temp files).
fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Prefix of the temp names phlb writes files under before renaming them into place.
const TEMP_PREFIX: &str = ".phlb-tmp-";

/// True when `name` is one phlb gives a temp file (`.phlb-tmp-<pid>-<n>`).
pub fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    let Some(rest) = name.as_bytes().strip_prefix(TEMP_PREFIX.as_bytes()) else {
        return false;
    };
    let mut parts = rest.split(|&b| b == b'-');
    let digits =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// A temp file name (`.phlb-tmp-<pid>-<n>`), unique within this process.
pub fn temp_name() -> String {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{TEMP_PREFIX}{}-{n}", pid())
}

/// A name for a temp file beside `path`, unique within this process.
pub fn temp_beside(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    dir.join(temp_name())
}
