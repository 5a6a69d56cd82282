//! Release automation for this repository, run as `cargo xtask <command>`.
//!
//! `domain` is the pure core (release names, configuration, ...); `adapters` touch the
//! world (checkout, processes, AWS); `commands` put the two together, one module each.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod domain;

use anyhow::Result;

use crate::{
    adapters::workspace::Workspace,
    cli::{Cli, Command},
};

pub fn run(cli: Cli) -> Result<()> {
    let workspace = Workspace::locate()?;
    match cli.command {
        Command::Release(args) => commands::release::run(&workspace, args, cli.dry_run),
        Command::BuildInstaller(args) => commands::build_installer::run(&workspace, args, cli.dry_run),
        Command::PublishInstaller(args) => commands::publish_installer::run(&workspace, args, cli.dry_run),
        Command::Status(args) => commands::status::run(&workspace, args),
        Command::Verify(args) => commands::verify::run(&workspace, args),
        Command::Rollback(args) => commands::rollback::run(&workspace, args, cli.dry_run),
        Command::Amis(command) => commands::amis::run(&workspace, command, cli.dry_run),
        Command::Cfn(command) => commands::cfn::run(&workspace, command, cli.dry_run),
        Command::Customers(command) => commands::customers::run(&workspace, command, cli.dry_run),
        Command::Rehearse(args) => commands::rehearse::run(&workspace, args, cli.dry_run),
        Command::Ci(args) => commands::ci::run(&workspace, args, cli.dry_run),
    }
}
