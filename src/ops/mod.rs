//! The engine: each operation takes options of its own, does the work, and returns a
//! report. Nothing here reads the command line or prints; `cmd/` does both.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod backup;
pub mod dedup;
pub mod open;
pub mod prune;
pub mod query;
pub mod record;
pub mod restore;
pub mod verify;

/// Whether an operation acts or only tells what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Run {
    #[default]
    Real,
    /// Decide and tell as a real run would; write nothing (`--dry-run`).
    DryRun,
}
