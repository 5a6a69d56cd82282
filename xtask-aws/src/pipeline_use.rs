//! What each xtask command line does with AWS credentials and Buildkite meta-data: the
//! pipeline check (`pipeline.rs`) holds every step of `.buildkite/pipeline.yml` to its
//! queue with it. The match is exhaustive, so a new command cannot pass the check by
//! default.

use anyhow::Result;
use clap::Parser;
use xtask::{
    cli::{AmisCommand, CfnCommand, Cli, Command, CustomersCommand, ReleaseLockCommand},
    domain::{
        names::stage::Stage,
        pipeline::buildkite::{AwsUse, XtaskUse},
    },
};

/// Parses the arguments of a `cargo xtask` line of the pipeline with the real command
/// line definition, and says what the pipeline checks need to know about it.
pub fn of_args(args: &[String]) -> Result<XtaskUse> {
    let cli = Cli::try_parse_from(std::iter::once("cargo xtask".to_owned()).chain(args.iter().cloned()))?;
    Ok(of_command(&cli.command, cli.dry_run))
}

pub fn of_command(command: &Command, dry_run: bool) -> XtaskUse {
    let writes = |stage| if dry_run { AwsUse::Reads } else { AwsUse::Writes(stage) };
    let (reads_release_name, aws) = match command {
        Command::Release(args) => (args.tag.is_none(), AwsUse::None),
        Command::BuildInstaller(_) => (false, AwsUse::None),
        Command::PublishInstaller(args) => (args.tag.is_none(), writes(Stage::Release)),
        Command::Status(_) => (false, AwsUse::Reads),
        // Anonymous reads of public URLs only.
        Command::Verify(args) => (args.tag.is_none(), AwsUse::None),
        Command::Rollback(_) => (false, writes(Stage::Release)),
        Command::Amis(AmisCommand::Build(_)) => (false, writes(Stage::Internal)),
        Command::Amis(AmisCommand::List(_)) => (false, AwsUse::Reads),
        Command::Amis(AmisCommand::Prune(args)) if args.apply => (false, writes(args.stage)),
        Command::Amis(AmisCommand::Prune(_)) => (false, AwsUse::Reads),
        Command::Amis(AmisCommand::Promote(args)) => {
            (args.stage == Stage::Release && args.release.is_none(), writes(args.stage))
        }
        Command::Cfn(CfnCommand::Render(_)) => (false, AwsUse::None),
        Command::Cfn(CfnCommand::Upload(args)) => {
            (matches!(args.stage.release, Some(None)), writes(args.stage.stage()))
        }
        Command::Customers(CustomersCommand::List | CustomersCommand::Add { .. } | CustomersCommand::Remove { .. }) => {
            (false, AwsUse::None)
        }
        // Customer access to every alpha and release AMI: a release-stage write.
        Command::Customers(CustomersCommand::Sync(_)) => (false, writes(Stage::Release)),
        // The rehearsal talks to its own emulator only, and refuses any other endpoint.
        Command::Rehearse(_) | Command::Bench(_) => (false, AwsUse::None),
        // Reads the key from KMS; writes only a file of the checkout.
        Command::SigningKey(_) | Command::Preflight(_) => (false, AwsUse::Reads),
        // The lock orders the writes of the release stage.
        Command::ReleaseLock(ReleaseLockCommand::Show) => (false, AwsUse::Reads),
        Command::ReleaseLock(_) => (false, writes(Stage::Release)),
        Command::IamPolicy(_) | Command::ReleaseInfra(_) | Command::Ci(_) => (false, AwsUse::None),
    };
    XtaskUse { reads_release_name, aws }
}
