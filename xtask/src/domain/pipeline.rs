//! Names of the Buildkite steps a person acts on, shared by the commands that tell the
//! release engineer what to do next and by `.buildkite/pipeline.yml`.

/// The block step on main that asks for the release name and starts the release.
pub const RELEASE_BLOCK_LABEL: &str =
    ":rocket: Deploy :amazon-ec2: AMIs and :aws-cloudformation: CloudFormation release";

/// The field of that block step that holds the release name (a Buildkite meta-data key).
pub const RELEASE_NAME_FIELD: &str = "release-name";
