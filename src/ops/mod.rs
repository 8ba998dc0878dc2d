//! The engine: each operation takes options of its own, does the work, and returns a
//! report. Nothing here reads the command line or prints; `cmd/` does both.

#![forbid(unsafe_code)]

pub mod backup;
pub mod dedup;
pub mod prune;
pub mod record;
pub mod restore;
pub mod select;
pub mod verify;
