use std::process::ExitCode;

use clap::Parser;
use xtask::{
    adapters::{aws_binary, environment::Environment, workspace::Workspace},
    cli::Cli,
};

fn main() -> ExitCode {
    xtask::quiet_on_closed_stdout();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&args);
    xtask::report((|| {
        let workspace = Workspace::locate(Environment::capture()?)?;
        match xtask::run_local(&workspace, cli.command, cli.dry_run)? {
            None => Ok(()),
            Some(_) => aws_binary::hand_over(&workspace, &args[1..]),
        }
    })())
}
