use std::process::ExitCode;

use clap::Parser;
use xtask::{
    adapters::{environment::Environment, workspace::Workspace},
    cli::Cli,
};

fn main() -> ExitCode {
    xtask::quiet_on_closed_stdout();
    let cli = Cli::parse();
    xtask::report((|| {
        let workspace = Workspace::locate(Environment::capture()?)?;
        xtask_aws::run(&workspace, cli.command, cli.dry_run)
    })())
}
