//! Extended attributes, POSIX ACLs and file capabilities, through backup, the catalog,
//! verify, restore, diff and history: what lands on the snapshot's inodes is checked with
//! the system's own tools (`getfattr`, `getfacl`, `getcap`), and a restore is compared
//! with its source by `rsync -aHAXn -c -i`.

mod attacks;
mod changes;
mod kept;
mod no_support;
mod settled;

use std::path::Path;
use std::process::Command;

/// Runs `tool ARGS...` and returns its stdout; panics naming the tool when it fails.
pub fn tool(name: &str, args: &[&str], path: &Path) -> String {
    let out = Command::new(name)
        .args(args)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed (.ci/run installs it): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `setfattr -h -n NAME -v VALUE PATH` (on a symlink itself, never followed).
pub fn setfattr(path: &Path, name: &str, value: &str) {
    tool("setfattr", &["-h", "-n", name, "-v", value], path);
}

/// Every attribute of `path` (not followed), every namespace the caller can read, as
/// `getfattr` dumps them (hex values), without the `# file:` line.
pub fn attrs(path: &Path) -> Vec<String> {
    let out = tool(
        "getfattr",
        &["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"],
        path,
    );
    out.lines()
        .filter(|l| !l.starts_with("# file:") && !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// True when this process runs as root (capabilities and `trusted.*` need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
