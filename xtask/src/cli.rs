//! The command line. Kept apart from `main` so tests (and the pipeline check) can parse
//! command lines with the exact definition the binary uses.

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::commands::{
    amis, build_installer, cfn, ci, customers, publish_installer, rehearse, release, rollback, status, verify,
};

const EXAMPLES: &str = "\
Examples:
  cargo xtask rehearse
      a whole release on this machine against the AWS emulator, no AWS account needed
  cargo xtask release v2024.06.1 --dry-run
      show the change that sets the release constants
  cargo xtask release v2024.06.1 --check
      fail unless this checkout carries that release
  cargo xtask build-installer --target x86_64-unknown-linux-musl
      build, strip and checksum the installer for one target
  cargo xtask publish-installer v2024.06.1 --artifacts target/dist/v2024.06.1 --dry-run
      show what publishing the installers would upload
  cargo xtask status v2024.06.1
      show where each object of a release stands
  cargo xtask verify v2024.06.1
      download a release as customers do and check it
  cargo xtask rollback v2024.05.2 --dry-run
      show what serving an earlier release again would change
  cargo xtask amis build --stage internal --dry-run
      show the Packer command that builds the images
  cargo xtask cfn render --amis target/dist/amis-internal.json --out target/cfn
      bake the AMIs into the CloudFormation templates
  cargo xtask cfn upload --dir target/cfn --internal 0123abc --dry-run
      show the keys an upload would write
  cargo xtask customers add 123456789012 --note Initech
      allow a customer account to launch the AMIs
  cargo xtask ci
      install missing tools, then run every check and test";

/// Release automation for ReadySet: AMIs, CloudFormation templates and the installer.
///
/// Every command that changes something accepts --dry-run, which prints the whole plan
/// and changes nothing. AWS credentials come from the standard chain (environment,
/// profile, SSO, instance role); AWS_ENDPOINT_URL points every AWS call elsewhere.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    /// Print the whole plan (commands, keys, sizes, checksums) and change nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Release(release::Args),
    BuildInstaller(build_installer::Args),
    PublishInstaller(publish_installer::Args),
    Status(status::Args),
    Verify(verify::Args),
    Rollback(rollback::Args),
    /// Build the AMIs with Packer.
    #[command(subcommand)]
    Amis(amis::Command),
    /// Render CloudFormation templates with AMIs and upload them.
    #[command(subcommand)]
    Cfn(cfn::Command),
    /// List, add or remove customer accounts allowed to launch the AMIs.
    #[command(subcommand)]
    Customers(customers::Command),
    Rehearse(rehearse::Args),
    Ci(ci::Args),
}

impl Cli {
    /// Parses the arguments of a `cargo xtask` line of the pipeline with the real command
    /// line definition, and says what the pipeline checks need to know about it.
    pub fn pipeline_use(args: &[String]) -> anyhow::Result<crate::domain::pipeline::XtaskUse> {
        use crate::domain::pipeline::XtaskUse;
        let cli = Cli::try_parse_from(std::iter::once("cargo xtask".to_owned()).chain(args.iter().cloned()))?;
        let writes = !cli.dry_run;
        Ok(match cli.command {
            Command::Release(args) => XtaskUse { reads_release_name: args.tag.is_none(), writes_to_aws: false },
            Command::PublishInstaller(args) => {
                XtaskUse { reads_release_name: args.tag.is_none(), writes_to_aws: writes }
            }
            Command::Verify(args) => XtaskUse { reads_release_name: args.tag.is_none(), writes_to_aws: false },
            Command::Rollback(_) => XtaskUse { reads_release_name: false, writes_to_aws: writes },
            Command::Amis(amis::Command::Build(args)) => XtaskUse {
                reads_release_name: args.stage == amis::AmiStage::Release && args.release.is_none(),
                writes_to_aws: writes,
            },
            Command::Cfn(cfn::Command::Upload { stage, .. }) => {
                XtaskUse { reads_release_name: matches!(stage.release, Some(None)), writes_to_aws: writes }
            }
            _ => XtaskUse::default(),
        })
    }
}

/// Reads durations such as `900`, `900s`, `15m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        text.trim().split_at(text.trim().find(|c: char| !c.is_ascii_digit()).unwrap_or(text.trim().len()));
    let value: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration; write it as 900s, 15m or 1h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("{text:?} has an unknown unit {unit:?}; use s, m or h (900s, 15m, 1h)")),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("15 minutes").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("m").unwrap_err().contains("not a duration"));
        assert!(parse_duration("").unwrap_err().contains("not a duration"));
    }
}
