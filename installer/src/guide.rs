//! What the installer does when run with no arguments, as the `curl | sh` wrapper runs
//! it: say which release this is, list its templates, and lead to the console link.
//! Questions go to the terminal (`/dev/tty`), never to standard input, which is the
//! pipe that carried the wrapper; without a terminal it prints the next command.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    process::ExitCode,
};

use crate::{
    constants::{
        CFN_VERSION, DEFAULT_STACK_NAME, NESTING_TEMPLATES, PUBLIC_TEMPLATES, READYSET_TAG, SUPPORTED_REGIONS,
    },
    templates::{launch_link, preparation, template_url, StackName},
};

pub fn run() -> ExitCode {
    println!("ReadySet {READYSET_TAG} (CloudFormation templates {CFN_VERSION})\n");
    println!("Templates of this release:");
    let width = PUBLIC_TEMPLATES.iter().map(|name| name.len()).max().unwrap_or(0);
    for name in PUBLIC_TEMPLATES {
        println!("  {name:width$}  {}", template_url(name));
    }
    println!();
    let chosen = Terminal::open().and_then(|mut terminal| terminal.choose());
    match chosen {
        Some((template, region)) => {
            let stack_name = StackName::parse(DEFAULT_STACK_NAME).expect("the default stack name follows the rule");
            let link = launch_link(template, region, &stack_name).expect("both were chosen from the valid lists");
            println!("Have ready:");
            for step in preparation(template, region) {
                println!("  - {step}");
            }
            println!("Then create the stack from this link, signed in to the AWS account that will run ReadySet:");
            println!("{link}");
        }
        None => println!("{}", next_step()),
    }
    ExitCode::SUCCESS
}

/// The one line that says what to run next, in the form the customer ran this one
/// (the wrapper passes its own command line).
fn next_step() -> String {
    let command = std::env::var("READYSET_INSTALLER_COMMAND").unwrap_or_else(|_| String::from("readyset-installer"));
    format!("Next: {command} launch --template {} --region <{}>", whole_deployment(), SUPPORTED_REGIONS.join("|"))
}

/// The template that nests all the others, offered first.
fn whole_deployment() -> &'static str {
    NESTING_TEMPLATES.first().copied().unwrap_or(PUBLIC_TEMPLATES[0])
}

struct Terminal {
    input: BufReader<File>,
    output: File,
}

impl Terminal {
    /// `None` when the process has no controlling terminal (a pipeline, CI, cron).
    fn open() -> Option<Terminal> {
        let output = OpenOptions::new().read(true).write(true).open("/dev/tty").ok()?;
        let input = BufReader::new(output.try_clone().ok()?);
        Some(Terminal { input, output })
    }

    /// The template and region, or `None` when the terminal closes before both are given.
    fn choose(&mut self) -> Option<(&'static str, &'static str)> {
        let default_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find_map(|region| SUPPORTED_REGIONS.iter().copied().find(|known| *known == region));
        let template = self.ask("Template", PUBLIC_TEMPLATES, Some(whole_deployment()))?;
        let region = self.ask("Region", SUPPORTED_REGIONS, default_region)?;
        Some((template, region))
    }

    /// Asks until the answer is one of `choices` (or empty, for the default).
    fn ask(&mut self, what: &str, choices: &[&'static str], default: Option<&'static str>) -> Option<&'static str> {
        loop {
            let hint = default.map(|d| format!(" [{d}]")).unwrap_or_default();
            write!(self.output, "{what} ({}){hint}: ", choices.join(", ")).ok()?;
            let mut line = String::new();
            if self.input.read_line(&mut line).ok()? == 0 {
                writeln!(self.output).ok()?;
                return None;
            }
            let answer = line.trim();
            match (answer, default) {
                ("", Some(default)) => return Some(default),
                _ => match choices.iter().find(|choice| **choice == answer) {
                    Some(choice) => return Some(choice),
                    None => writeln!(self.output, "`{answer}` is not one of them; type one as shown.").ok()?,
                },
            }
        }
    }
}
