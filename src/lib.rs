//! phlb: hardlink-deduplicated snapshot backups driven by an embedded SQLite catalog.

pub mod catalog;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod duration;
pub mod flush;
pub mod fsat;
pub mod hash;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod output;
pub mod plan;
pub mod prefetch;
pub mod progress;
pub mod retention;
pub mod root;
pub mod scan;
pub mod signals;
pub mod stamp;
pub mod store;
pub mod units;
pub mod xattr;

use anyhow::{Context, Result};

use cli::{Cli, Command};

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked (exit 0).
    Clean,
    /// The command finished but some files failed or problems were found (exit 1).
    Problems,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Problems => 1,
        }
    }
}

/// Loads the config once and dispatches to the command.
pub fn run(cli: Cli) -> Result<Outcome> {
    // These two need no config: they work even where the config is broken.
    match &cli.command {
        Command::Completions(args) => return commands::help::completions(args),
        Command::Man => return commands::help::man(),
        _ => {}
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let loaded = config::load(
        cli.global.config.as_deref(),
        cli.global.backup_root.as_deref(),
        &config::Env::from_process(),
        &cwd,
    )?;
    let ui = progress::Ui::new(cli.global.quiet, cli.global.verbose);
    match cli.command {
        Command::Backup(args) => commands::backup::run(&loaded.config, &ui, &args),
        Command::Verify(args) => commands::verify::run(&loaded.config, &ui, &args),
        Command::Add(args) => commands::add::run(&loaded.config, &ui, &args),
        Command::List(args) => commands::list::run(&loaded.config, &args),
        Command::Ls(args) => commands::ls::run(&loaded.config, &args),
        Command::Diff(args) => commands::diff::run(&loaded.config, &args),
        Command::Find(args) => commands::find::run(&loaded.config, &args),
        Command::History(args) => commands::history::run(&loaded.config, &args),
        Command::Duplicates(args) => commands::duplicates::run(&loaded.config, &args),
        Command::Sql(args) => commands::sql::run(&loaded.config, &args),
        Command::Prune(args) => commands::prune::run_prune(&loaded.config, &ui, &args),
        Command::Forget(args) => commands::prune::run_forget(&loaded.config, &ui, &args),
        Command::Watch(args) => commands::watch::run(&loaded.config, &ui, &args),
        Command::Restore(args) => commands::restore::run(&loaded.config, &ui, &args),
        Command::Serve(args) => commands::serve::run(&loaded.config, &ui, &args),
        Command::Status(args) => commands::status::run(&loaded.config, &ui, &args),
        Command::Config(args) => commands::config::run(&loaded, &args, &cwd),
        Command::Completions(_) | Command::Man => unreachable!("handled before the config"),
    }
}
