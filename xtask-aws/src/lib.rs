//! The `cargo xtask` commands that talk to AWS. The `xtask` binary hands them here (see
//! `xtask::adapters::aws_binary`); this binary also runs every other command through
//! `xtask::run_local`, so the pipeline ships this one binary.

pub mod adapters;
pub mod commands;
pub mod pipeline;

use anyhow::Result;
use xtask::{
    adapters::workspace::Workspace,
    cli::{AmisCommand, Command},
    AwsCommand,
};

/// Runs any command: the lean ones in `xtask`, the AWS ones here.
pub fn run(workspace: &Workspace, command: Command, dry_run: bool) -> Result<()> {
    let Some(command) = xtask::run_local(workspace, command, dry_run)? else {
        return Ok(());
    };
    match command {
        AwsCommand::PublishInstaller(args) => commands::publish_installer::run(workspace, args, dry_run),
        AwsCommand::Status(args) => commands::status::run(workspace, args),
        AwsCommand::Verify(args) => commands::verify::run(workspace, args),
        AwsCommand::Rollback(args) => commands::rollback::run(workspace, args, dry_run),
        AwsCommand::Amis(AmisCommand::Build(args)) => commands::amis_build::run(workspace, args, dry_run),
        AwsCommand::Amis(AmisCommand::Promote(args)) => commands::amis_promote::run(workspace, args, dry_run),
        AwsCommand::CfnUpload(args) => commands::cfn_upload::run(workspace, args, dry_run),
        AwsCommand::CustomersSync(args) => commands::customers_sync::run(workspace, args, dry_run),
        AwsCommand::Rehearse(args) => commands::rehearse::run(workspace, args, dry_run),
        AwsCommand::BenchPublish(args) => commands::bench_publish::run(workspace, args, dry_run),
    }
}
