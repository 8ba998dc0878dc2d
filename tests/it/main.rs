//! The integration tests: one binary that runs the real `phlb` on temp folders, one module
//! a command (`backup`, `add`, `verify`, `restore`, `prune`, ...), plus `faults` (kills,
//! crashes, full disks, catalog damage) and `races` (walk races, concurrent runs, lock
//! contention). Hostile input goes with the command it attacks. Slow tests are
//! `#[ignore]`d; `.ci/run` runs them with `--include-ignored`.

mod common;

mod add;
mod backup;
mod cli;
mod config;
mod docs;
mod faults;
mod prune;
mod queries;
mod races;
mod remote;
mod restore;
mod roots;
mod screen;
mod serve;
mod sql;
mod status;
mod time;
mod upgrade;
mod verify;
mod versions;
mod watch;
mod xattrs;
