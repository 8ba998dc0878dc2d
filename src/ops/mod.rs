//! The engine: each operation takes options of its own, does the work, and returns a
//! report. Nothing here reads the command line or prints; `cmd/` does both.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod backup;
pub mod dedup;
pub mod prune;
pub mod record;
pub mod restore;
pub mod select;
pub mod verify;
