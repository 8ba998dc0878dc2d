//! How a backup attempt is shown by `status` and `list`.

use crate::root::attempts::Attempt;

/// The last backup attempt as a short text: `2026-…Z exit 2: PRE_COMMAND …`, or `-`.
pub fn attempt_text(a: Option<&Attempt>) -> String {
    match a {
        None => "-".into(),
        Some(a) if a.reason.is_empty() => format!("{} exit {}", a.time, a.exit),
        Some(a) => format!("{} exit {}: {}", a.time, a.exit, a.reason),
    }
}
