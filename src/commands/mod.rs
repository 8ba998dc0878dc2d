//! One module per command: the only code that holds both the catalog and the pipeline.

pub mod add;
pub mod backup;
pub mod config;
pub mod dedup;
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
pub mod select;
pub mod serve;
pub mod sql;
pub mod status;
pub mod verify;
pub mod watch;
