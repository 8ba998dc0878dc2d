//! Renderings more than one front end shows: a removal's plan and result (`prune`,
//! `forget`, `backup --prune`). Front ends (`cmd/`) use these; nothing below does.

#![forbid(unsafe_code)]

pub mod prune;
pub mod status;
