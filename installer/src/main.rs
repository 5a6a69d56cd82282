//! `readyset-installer`: points a customer at the CloudFormation templates of the
//! release it was built for. It talks to no AWS API itself; the customer launches the
//! stack from the console link it prints.

mod constants;
mod templates;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::templates::{quick_create_link, template_url};

/// Installs ReadySet into your AWS account from the published CloudFormation templates.
#[derive(Parser)]
#[command(name = "readyset-installer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the URLs of the CloudFormation templates of this release.
    Templates,
    /// Print the AWS console link that creates a stack from one template.
    ///
    /// Example: readyset-installer launch --template readyset-mysql-super --region us-east-2
    Launch {
        /// Template to launch (see `readyset-installer templates`).
        #[arg(long)]
        template: String,
        /// AWS region to create the stack in; the release's AMIs exist only in some.
        #[arg(long)]
        region: String,
        /// Name suggested for the new stack.
        #[arg(long, default_value = constants::DEFAULT_STACK_NAME)]
        stack_name: String,
    },
}

fn version_text() -> String {
    format!("{} (CloudFormation templates {})", constants::READYSET_TAG, constants::CFN_VERSION)
}

fn main() -> ExitCode {
    let matches = Cli::command().version(version_text()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match cli.command {
        Command::Templates => {
            for name in constants::PUBLIC_TEMPLATES {
                println!("{name}\t{}", template_url(name));
            }
            ExitCode::SUCCESS
        }
        Command::Launch { template, region, stack_name } => match quick_create_link(&template, &region, &stack_name) {
            Ok(link) => {
                println!("{link}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                // Both kinds are a wrong argument, which clap also reports with 2.
                ExitCode::from(2)
            }
        },
    }
}
