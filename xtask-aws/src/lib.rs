//! The `cargo xtask` commands that talk to AWS. The `xtask` binary hands them here (see
//! `xtask::adapters::aws_binary`); this binary also runs every other command through
//! `xtask::run_local`, so the pipeline ships this one binary.

pub mod adapters;
pub mod commands;
pub mod pipeline;
pub mod pipeline_use;

use anyhow::Result;
use xtask::{
    adapters::workspace::Workspace,
    cli::{AmisCommand, CfnCommand, Command, CustomersCommand, SigningKeyCommand},
};

/// Runs any command: the lean ones in `xtask`, the AWS ones here.
pub fn run(workspace: &Workspace, command: Command, dry_run: bool) -> Result<()> {
    let Some(command) = xtask::run_local(workspace, command, dry_run)? else {
        return Ok(());
    };
    match command {
        Command::PublishInstaller(args) => commands::publish_installer::run(workspace, args, dry_run),
        Command::Status(args) => commands::status::run(workspace, args),
        Command::Verify(args) => commands::verify::run(workspace, args),
        Command::Rollback(args) => commands::rollback::run(workspace, args, dry_run),
        Command::Amis(AmisCommand::Build(args)) => commands::amis_build::run(workspace, args, dry_run),
        Command::Amis(AmisCommand::Promote(args)) => commands::amis_promote::run(workspace, args, dry_run),
        Command::Amis(AmisCommand::List(args)) => commands::amis_list::run(workspace, args),
        Command::Amis(AmisCommand::Prune(args)) => commands::amis_prune::run(workspace, args, dry_run),
        Command::Cfn(CfnCommand::Upload(args)) => commands::cfn_upload::run(workspace, args, dry_run),
        Command::Customers(CustomersCommand::Sync(args)) => commands::customers_sync::run(workspace, args, dry_run),
        Command::Rehearse(args) => commands::rehearse::run(workspace, args, dry_run),
        Command::Preflight(args) => commands::preflight::run(workspace, args),
        Command::ReleaseLock(command) => commands::release_lock::run(workspace, command, dry_run),
        Command::SigningKey(SigningKeyCommand::Export(args)) => {
            commands::signing_key_export::run(workspace, args, dry_run)
        }
        Command::Bench(xtask::cli::BenchCommand::Publish(args)) => {
            commands::bench_publish::run(workspace, args, dry_run)
        }
        Command::Bench(xtask::cli::BenchCommand::Amis(args)) => commands::bench_amis::run(workspace, args, dry_run),
        local => unreachable!("run_local returned {local:?}, which needs no AWS: run_local runs those itself"),
    }
}
