//! The questions several front ends ask of the catalog: what changed between two
//! snapshots (`diff`, the web UI), the versions of a path (`history`, `find`, the web
//! UI), and how each name's backups look now (`status`, `list`, the web UI).

pub mod diff;
pub mod history;
pub mod status;
