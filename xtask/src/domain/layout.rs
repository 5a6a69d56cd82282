//! Object keys of the orchestrator bucket and the CloudFormation buckets, and how each
//! kind of object is served. The layout is in `DESIGN.md`; this is its one
//! implementation.

use crate::domain::tag::ReleaseTag;

/// The wrapper customers pipe into `sh`; it moves to each new release.
pub const WRAPPER_KEY: &str = "readyset-orchestrator.sh";

/// Versioned objects never change, so caches may keep them for a year.
pub const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// Mutable objects move on a release or rollback; caches re-check them after 5 minutes
/// (the publish also invalidates them).
pub const MUTABLE_CACHE: &str = "public, max-age=300";

pub const BINARY_TYPE: &str = "application/octet-stream";
pub const CHECKSUM_TYPE: &str = "text/plain; charset=utf-8";
pub const JSON_TYPE: &str = "application/json";
pub const WRAPPER_TYPE: &str = "text/x-shellscript";

pub fn versioned_binary(tag: &ReleaseTag, published_name: &str) -> String {
    format!("binaries/{tag}/{published_name}")
}

pub fn versioned_checksum(tag: &ReleaseTag, published_name: &str) -> String {
    format!("binaries/{tag}/{published_name}.sha256")
}

pub fn manifest(tag: &ReleaseTag) -> String {
    format!("binaries/{tag}/manifest.json")
}

/// The wrapper as rendered for one release, kept so a rollback restores exactly what
/// was served (not in the seed layout; added for rollback).
pub fn versioned_wrapper(tag: &ReleaseTag) -> String {
    format!("binaries/{tag}/{WRAPPER_KEY}")
}

/// The "latest" key that wrappers already in the wild download.
pub fn legacy_binary(published_name: &str) -> String {
    format!("binaries/{published_name}")
}

/// Where the CloudFormation templates of a release are, under its CFN version.
pub fn release_template(cfn_version: &ReleaseTag, template: &str) -> String {
    format!("{cfn_version}/readyset/templates/{template}.yaml")
}

/// A CloudFront path for a key: absolute, as invalidations require.
pub fn cdn_path(key: &str) -> String {
    format!("/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_design_layout() {
        let tag = ReleaseTag::parse("v1.2").unwrap();
        assert_eq!(versioned_binary(&tag, "x86_64-unknown-linux-gnu"), "binaries/v1.2/x86_64-unknown-linux-gnu");
        assert_eq!(versioned_checksum(&tag, "aarch64-apple-darwin"), "binaries/v1.2/aarch64-apple-darwin.sha256");
        assert_eq!(manifest(&tag), "binaries/v1.2/manifest.json");
        assert_eq!(versioned_wrapper(&tag), "binaries/v1.2/readyset-orchestrator.sh");
        assert_eq!(legacy_binary("x86_64-apple-darwin"), "binaries/x86_64-apple-darwin");
        assert_eq!(release_template(&tag, "readyset-vpc"), "v1.2/readyset/templates/readyset-vpc.yaml");
        assert_eq!(cdn_path(WRAPPER_KEY), "/readyset-orchestrator.sh");
    }
}
