//! Facts of the Buildkite pipeline that commands and the pipeline check share: where the
//! pipeline is, the release block step and its field, and what a command line of the
//! xtask does with AWS (the check in `xtask-aws` enforces the queue rules with it).

use crate::domain::names::stage::Stage;

pub const PIPELINE_PATH: &str = ".buildkite/pipeline.yml";

/// The block step on main that asks for the release name and starts the release.
pub const RELEASE_BLOCK_LABEL: &str =
    ":rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release";

/// The field of that block step that holds the release name (a Buildkite meta-data key).
pub const RELEASE_NAME_FIELD: &str = "release-name";

/// The Buildkite concurrency group of every step that writes what customers get
/// (release AMIs and templates, the installer, rollback, customer access), with
/// concurrency 1: two releases never write at once.
pub const RELEASE_CONCURRENCY_GROUP: &str = "readyset/release";

/// What a parsed xtask command line does, as far as the pipeline checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XtaskUse {
    /// It takes the release name from Buildkite meta-data (none was given).
    pub reads_release_name: bool,
    /// It reads or writes AWS with the agent's credentials.
    pub aws: AwsUse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsUse {
    /// No AWS call with credentials (an emulator, a public URL, or nothing at all).
    None,
    Reads,
    /// Writes the artifacts of a stage (S3, CloudFront, EC2).
    Writes(Stage),
}
