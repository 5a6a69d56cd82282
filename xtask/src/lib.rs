//! Release automation for this repository, run as `cargo xtask <command>`.
//!
//! `domain` is the pure core (release names, configuration, plans); `adapters` touch the
//! world (checkout, environment, processes); `commands` put the two together, one module
//! each. This crate holds the commands that need no AWS; the `xtask-aws` crate holds the
//! rest and runs these through [`run_local`]. See ARCHITECTURE.md.

pub mod adapters;
pub mod cli;
pub mod commands;
pub mod domain;

use anyhow::Result;

use crate::{
    adapters::workspace::Workspace,
    cli::{CfnCommand, Command, CustomersCommand, ReleaseInfraCommand},
};

/// Runs a command that needs no AWS, or returns it untouched for `xtask-aws` to run.
pub fn run_local(workspace: &Workspace, command: Command, dry_run: bool) -> Result<Option<Command>> {
    match command {
        Command::Release(args) => commands::release::run(workspace, args, dry_run)?,
        Command::BuildInstaller(args) => commands::build_installer::run(workspace, args, dry_run)?,
        Command::Cfn(CfnCommand::Render(args)) => commands::cfn_render::run(workspace, args, dry_run)?,
        Command::Customers(CustomersCommand::List) => commands::customers::list(workspace)?,
        Command::Customers(CustomersCommand::Add { id, note }) => {
            commands::customers::add(workspace, &id, &note, dry_run)?
        }
        Command::Customers(CustomersCommand::Remove { id }) => commands::customers::remove(workspace, &id, dry_run)?,
        Command::Ci(args) => commands::ci::run(workspace, args, dry_run)?,
        Command::IamPolicy(args) => commands::iam_policy::run(workspace, args)?,
        Command::ReleaseInfra(ReleaseInfraCommand::Template) => commands::release_infra::template(workspace)?,
        // Listed rather than matched by `_`, so a new command must say where it runs.
        aws @ (Command::PublishInstaller(_)
        | Command::Status(_)
        | Command::Verify(_)
        | Command::Rollback(_)
        | Command::Amis(_)
        | Command::Cfn(CfnCommand::Upload(_))
        | Command::Customers(CustomersCommand::Sync(_))
        | Command::Rehearse(_)
        | Command::SigningKey(_)
        | Command::Preflight(_)
        | Command::ReleaseLock(_)
        | Command::Bench(_)) => return Ok(Some(aws)),
    }
    Ok(None)
}

/// How a binary ends: a message for each cause of an error, and the exit code.
pub fn report(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Printing into a closed pipe (`cargo xtask status v1 | head`) makes `println!` panic.
/// The usual cure, the default SIGPIPE action, would also kill the xtask when a network
/// peer resets a connection it writes to, so SIGPIPE stays ignored and this panic alone
/// ends the process quietly, as other tools end, with the shell's code for it.
pub fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>().map(String::as_str).unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
