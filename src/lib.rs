//! phlb: hardlink-deduplicated snapshot backups driven by an embedded SQLite catalog.

pub mod catalog;
pub mod cli;
pub mod clock;
pub mod cmd;
pub mod config;
pub mod decide;
pub mod duration;
pub mod hash;
pub mod layers;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod ops;
pub mod output;
pub mod progress;
pub mod remote;
pub mod render;
pub mod retention;
pub mod root;
pub mod scan;
pub mod signals;
pub mod snapshot_id;
pub mod stamp;
pub mod store;
pub mod sys;
pub mod tell;
pub mod units;
pub mod workers;
pub mod xattr_set;

use anyhow::{Context, Result};

use crate::tell::Tell;
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
        Command::Completions(args) => return cmd::help::completions(args),
        Command::Man(args) if args.markdown => return cmd::help::markdown(),
        Command::Man(_) => return cmd::help::man(),
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
    if loaded.origins.contains_key("NO_CREATE_ROOT") {
        ui.note(&format!("NO_CREATE_ROOT ({}) no longer does anything: phlb never makes a backup root but ~/phlb-backups on its own (`phlb init DIR` makes one); remove the key",
            loaded.origins["NO_CREATE_ROOT"]
        ));
    }
    match &cli.command {
        Command::Init(_) | Command::Config(_) => {}
        Command::Backup(args) if args.init => {
            let made = cmd::init::init(&loaded.config, &loaded.config.backup_path, &ui)?;
            if !made.existed {
                ui.info(&format!("phlb: {}", made.line()));
            }
        }
        Command::Backup(_) | Command::Watch(_) => root::require(&loaded, true)?,
        _ => root::require(&loaded, false)?,
    }
    // Where a writing command's work went: said after its summary (backup says it in
    // its own summary and JSON lines).
    let say_where = !ui.quiet()
        && match &cli.command {
            Command::Add(a) => !a.json,
            Command::Verify(a) => !a.json,
            Command::Prune(a) => !a.removal.json,
            Command::Forget(a) => !a.removal.json,
            _ => false,
        };
    let result = dispatch(cli.command, &loaded, &ui, &cwd);
    if say_where && result.is_ok() {
        let root = loaded.config.backup_path.canonicalize();
        let root = root.as_deref().unwrap_or(&loaded.config.backup_path);
        ui.info(&format!(
            "phlb: {}",
            root::used_line(root, loaded.file.as_deref())
        ));
    }
    result
}

/// Runs the command.
fn dispatch(
    command: Command,
    loaded: &config::Loaded,
    ui: &progress::Ui,
    cwd: &std::path::Path,
) -> Result<Outcome> {
    let ui = *ui;
    match command {
        Command::Init(args) => cmd::init::run(&loaded.config, &ui, &args),
        Command::Backup(args) => cmd::backup::run(&loaded.config, &ui, &args),
        Command::Verify(args) => cmd::verify::run(&loaded.config, &ui, &args),
        Command::Add(args) => cmd::add::run(&loaded.config, &ui, &args),
        Command::List(args) => cmd::list::run(&loaded.config, &ui, &args),
        Command::Ls(args) => cmd::ls::run(&loaded.config, &ui, &args),
        Command::Diff(args) => cmd::diff::run(&loaded.config, &ui, &args),
        Command::Find(args) => cmd::find::run(&loaded.config, &ui, &args),
        Command::History(args) => cmd::history::run(&loaded.config, &ui, &args),
        Command::Duplicates(args) => cmd::duplicates::run(&loaded.config, &ui, &args),
        Command::Sql(args) => cmd::sql::run(&loaded.config, &ui, &args),
        Command::Prune(args) => cmd::prune::run_prune(&loaded.config, &ui, &args),
        Command::Forget(args) => cmd::prune::run_forget(&loaded.config, &ui, &args),
        Command::Watch(args) => cmd::watch::run(&loaded.config, &ui, &args),
        Command::Restore(args) => cmd::restore::run(&loaded.config, &ui, &args),
        Command::Serve(args) => cmd::serve::run(&loaded.config, &ui, &args),
        Command::Status(args) => cmd::status::run(&loaded.config, &ui, &args),
        Command::Config(args) => cmd::config::run(loaded, &args, cwd),
        Command::Completions(_) | Command::Man(_) => unreachable!("handled before the config"),
    }
}
