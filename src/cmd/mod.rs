//! The front ends, one module per command: arguments in, engine options out, the call,
//! and the answer rendered as text or JSON. No module here imports another.

#![forbid(unsafe_code)]
pub mod add;
pub mod backup;
pub mod config;
pub mod diff;
pub mod duplicates;
pub mod find;
pub mod help;
pub mod history;
pub mod init;
pub mod list;
pub mod ls;
pub mod prune;
pub mod restore;
pub mod serve;
pub mod sql;
pub mod status;
pub mod verify;
pub mod watch;
