//! `readyset-installer`: points a customer at the CloudFormation templates of the
//! release it was built for. It talks to no AWS API itself; the customer launches the
//! stack from the console link it prints.

mod asks;
mod constants;
mod guide;
mod templates;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::templates::{capabilities, launch_link, preparation, template_url, StackName};

/// Installs ReadySet into your AWS account from the published CloudFormation templates.
///
/// Without a command it shows this release's templates and, on a terminal, asks for a
/// region and prints the console link that launches the whole deployment.
#[derive(Parser)]
#[command(name = "readyset-installer")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List the URLs of the CloudFormation templates of this release.
    Templates {
        /// Print a JSON array of {"name", "url"} objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the AWS console link that creates a stack from one template.
    ///
    /// The link goes to standard output; what to have ready before opening it (a key
    /// pair, the secret holding your database's URL, the IAM acknowledgement) goes to
    /// standard error.
    ///
    /// Example: readyset-installer launch --template readyset-mysql-super --region us-east-2
    Launch {
        /// Template to launch (see `readyset-installer templates`).
        #[arg(long)]
        template: String,
        /// AWS region to create the stack in; the release's AMIs exist only in some.
        #[arg(long)]
        region: String,
        /// Name suggested for the new stack: a letter, then letters, digits and hyphens,
        /// at most 128 characters (CloudFormation's rule).
        #[arg(long, default_value = constants::DEFAULT_STACK_NAME, value_parser = StackName::parse)]
        stack_name: StackName,
        /// Print one JSON object (template, region, stack_name, template_url, console_url,
        /// prepare, capabilities) instead of the link and, on standard error, what to prepare.
        #[arg(long)]
        json: bool,
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
        None => guide::run(),
        Some(Command::Templates { json }) => {
            templates(json);
            ExitCode::SUCCESS
        }
        Some(Command::Launch { template, region, stack_name, json }) => launch(&template, &region, &stack_name, json),
    }
}

fn templates(json: bool) {
    if json {
        let list: Vec<_> = constants::PUBLIC_TEMPLATES
            .iter()
            .map(|name| serde_json::json!({ "name": name, "url": template_url(name) }))
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return;
    }
    for name in constants::PUBLIC_TEMPLATES {
        println!("{name}\t{}", template_url(name));
    }
}

fn launch(template: &str, region: &str, stack_name: &StackName, json: bool) -> ExitCode {
    let link = match launch_link(template, region, stack_name) {
        Ok(link) => link,
        Err(error) => {
            eprintln!("error: {error}");
            // Both kinds are a wrong argument, which clap also reports with 2.
            return ExitCode::from(2);
        }
    };
    if json {
        let object = serde_json::json!({
            "template": template,
            "region": region,
            "stack_name": stack_name.as_str(),
            "template_url": template_url(template),
            "console_url": link,
            "prepare": preparation(template, region),
            "capabilities": capabilities(template),
        });
        println!("{object}");
    } else {
        println!("{link}");
        let steps = preparation(template, region);
        if !steps.is_empty() {
            eprintln!("Before you create the stack from that link, have ready:");
            for step in steps {
                eprintln!("  - {step}");
            }
        }
    }
    ExitCode::SUCCESS
}
