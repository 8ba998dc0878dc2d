//! One module per command: the only code that holds both the catalog and the pipeline.

pub mod add;
pub mod backup;
pub mod config;
pub mod select;
pub mod verify;
