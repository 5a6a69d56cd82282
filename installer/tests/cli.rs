//! The installer as a customer runs it: the real binary, its output and exit codes.

use std::process::{Command, Output};

fn installer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readyset-installer"))
        .args(args)
        .output()
        .expect("the readyset-installer binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Reads the constants from the source file rather than the crate, so the test checks
/// what the binary was built from.
fn constant(name: &str) -> String {
    let source = include_str!("../src/constants.rs");
    let line = source
        .lines()
        .find(|line| line.starts_with(&format!("pub const {name}: &str = \"")))
        .unwrap_or_else(|| panic!("{name} is defined in constants.rs"));
    line.split('"').nth(1).unwrap().to_owned()
}

#[test]
fn version_prints_the_tag_and_the_template_version() {
    let output = installer(&["--version"]);
    assert!(output.status.success());
    assert_eq!(
        stdout(&output),
        format!(
            "readyset-installer {} (CloudFormation templates {})\n",
            constant("READYSET_TAG"),
            constant("CFN_VERSION")
        )
    );
}

#[test]
fn templates_lists_every_public_template_url_of_this_version() {
    let output = installer(&["templates"]);
    assert!(output.status.success());
    let text = stdout(&output);
    let version = constant("CFN_VERSION");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines.contains(&format!(
        "readyset-mysql-super\thttps://readysettech-cfn-public-us-east-2.s3.us-east-2.amazonaws.com/{version}/readyset/templates/readyset-mysql-super.yaml"
    ).as_str()));
    assert!(!text.contains("benchmark"), "internal-only templates are not listed: {text}");
}

#[test]
fn launch_prints_a_quick_create_link() {
    let output = installer(&["launch", "--template", "readyset-server", "--region", "us-west-2"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let link = stdout(&output);
    assert!(link.starts_with(
        "https://console.aws.amazon.com/cloudformation/home?region=us-west-2#/stacks/create/review?templateURL="
    ));
    assert!(link.trim_end().ends_with("readyset-server.yaml&stackName=readyset&param_DeploymentName=readyset"));
    assert_eq!(
        stderr(&output),
        "Before you create the stack from that link, have ready:\n  - an EC2 key pair in us-west-2 (KeyName), to \
         reach the instances through the bastion; to make one: aws ec2 create-key-pair --region us-west-2 --key-name \
         readyset --query KeyMaterial --output text > readyset.pem\n  - on the review page, tick \"I acknowledge that \
         AWS CloudFormation might create IAM resources\" (CAPABILITY_IAM): the server and each adapter get a role that \
         may tell the stack whether ReadySet started, and an adapter's may also read that one secret\n"
    );
}

#[test]
fn launch_refuses_an_unknown_template_listing_the_valid_ones() {
    let output = installer(&["launch", "--template", "readyset-benchmark", "--region", "us-east-2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    let message = stderr(&output);
    assert!(message.contains("unknown template `readyset-benchmark`"), "{message}");
    assert!(message.contains("readyset-mysql-super, readyset-vpc"), "{message}");
}

#[test]
fn launch_refuses_an_unsupported_region_listing_the_valid_ones() {
    let output = installer(&["launch", "--template", "readyset-server", "--region", "ap-south-1"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("region `ap-south-1`"), "{message}");
    assert!(message.contains("us-east-1, us-east-2, us-west-2"), "{message}");
}

#[test]
fn missing_arguments_are_usage_errors() {
    let output = installer(&["launch", "--template", "readyset-server"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--region"));
}

/// With no arguments and no terminal (`setsid` detaches it from any), the installer
/// lists the release and prints the command to run next, and succeeds. The terminal
/// case is tested through the wrapper in the xtask's `customer` tests.
#[test]
fn no_arguments_without_a_terminal_print_the_next_step() {
    let output = Command::new("setsid")
        .args(["-w", env!("CARGO_BIN_EXE_readyset-installer")])
        .env_remove("READYSET_INSTALLER_COMMAND")
        .output()
        .expect("setsid (util-linux) runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!(
            "ReadySet {} (CloudFormation templates {})\n",
            constant("READYSET_TAG"),
            constant("CFN_VERSION")
        )),
        "{text}"
    );
    assert!(
        text.ends_with("Next: readyset-installer launch --template readyset-mysql-super --region <us-east-1|us-east-2|us-west-2>\n"),
        "{text}"
    );
}
