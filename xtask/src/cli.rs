//! The command line. Kept apart from `main` so tests (and the pipeline check) can parse
//! command lines with the exact definition the binary uses.

use clap::{Parser, Subcommand};

use crate::commands::{build_installer, ci, release};

const EXAMPLES: &str = "\
Examples:
  cargo xtask release v2024.06.1 --dry-run        show the change that sets the release constants
  cargo xtask release v2024.06.1 --check          fail unless the checkout carries that release
  cargo xtask build-installer --target x86_64-unknown-linux-musl
                                                  build, strip and checksum the installer for one target
  cargo xtask ci                                  install missing tools, run every check and test";

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
    Ci(ci::Args),
}
