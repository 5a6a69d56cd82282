//! Constants baked into each release of the installer.
//!
//! `cargo xtask release <tag>` rewrites the string literals of `READYSET_TAG` and
//! `CFN_VERSION` in place and leaves every other byte of this file alone, so keep each
//! of them a single `pub const NAME: &str = "...";` item (no `#[cfg]` variants): the
//! xtask refuses to guess between two definitions.
//!
//! The bucket, region and template list below are copies of facts whose source is
//! `[workspace.metadata.release]` in the root `Cargo.toml` (and the AMI regions of
//! `ops/image-deploy/`, the templates' parameters); the xtask's tests fail when a copy
//! drifts from its source.

use crate::asks::{Ask, Database};

/// The ReadySet release this installer deploys.
///
/// Shown by `--version` and searched for in the built binary by
/// `cargo xtask build-installer` to prove the binary belongs to the release.
pub const READYSET_TAG: &str = "unreleased";

/// The prefix under which this release's CloudFormation templates are published.
///
/// Equal to `READYSET_TAG` for every normal release; the templates must be uploaded
/// under `<CFN_VERSION>/readyset/templates/` before an installer pointing there ships.
pub const CFN_VERSION: &str = "unreleased";

/// Public bucket that serves released CloudFormation templates.
pub const CFN_PUBLIC_BUCKET: &str = "readysettech-cfn-public-us-east-2";

/// Region of `CFN_PUBLIC_BUCKET`; part of every template URL.
pub const CFN_BUCKET_REGION: &str = "us-east-2";

/// Templates a customer may launch. Internal-only templates are never published to the
/// public bucket, so they are not listed here.
pub const PUBLIC_TEMPLATES: &[&str] = &[
    "readyset-mysql-super",
    "readyset-vpc",
    "readyset-server",
    "readyset-mysql-adapter",
    "readyset-postgres-adapter",
    "readyset-bastion",
];

/// Templates that nest the others; the console link fills in their `TemplatePrefix`
/// parameter with this release's template prefix.
pub const NESTING_TEMPLATES: &[&str] = &["readyset-mysql-super"];

/// What a template asks of the customer beyond its defaults; copied from the templates'
/// parameters and resources (a test reads them). The guide and `launch` turn these into
/// what to prepare before opening the console link.
pub const TEMPLATE_ASKS: &[(&str, &[Ask])] = &[
    (
        "readyset-mysql-super",
        &[Ask::DeploymentName, Ask::UpstreamSecret(Database::MySql), Ask::KeyPair, Ask::SshCidr, Ask::IamCapability],
    ),
    ("readyset-vpc", &[]),
    ("readyset-server", &[Ask::DeploymentName, Ask::KeyPair, Ask::IamCapability]),
    (
        "readyset-mysql-adapter",
        &[Ask::DeploymentName, Ask::UpstreamSecret(Database::MySql), Ask::KeyPair, Ask::IamCapability],
    ),
    (
        "readyset-postgres-adapter",
        &[Ask::DeploymentName, Ask::UpstreamSecret(Database::Postgres), Ask::KeyPair, Ask::IamCapability],
    ),
    ("readyset-bastion", &[Ask::KeyPair, Ask::SshCidr]),
];

/// Regions that hold the release's AMIs; a stack launched elsewhere could not find them.
pub const SUPPORTED_REGIONS: &[&str] = &["us-east-1", "us-east-2", "us-west-2"];

/// Stack name suggested on the quick-create page.
pub const DEFAULT_STACK_NAME: &str = "readyset";
