//! Object keys of the orchestrator bucket and the CloudFormation buckets, and how each
//! kind of object is served. Every key and prefix of the release is built here and
//! nowhere else.

use crate::domain::{
    config::ReleaseConfig,
    names::stage::{Placement, Stage},
    names::tag::ReleaseTag,
};

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
pub const YAML_TYPE: &str = "application/x-yaml";

/// The AMIs file uploaded beside the templates of every stage.
pub const AMIS_FILE: &str = "amis.json";

pub fn versioned_binary(tag: &ReleaseTag, published_name: &str) -> String {
    format!("binaries/{tag}/{published_name}")
}

pub fn versioned_checksum(tag: &ReleaseTag, published_name: &str) -> String {
    format!("binaries/{tag}/{published_name}.sha256")
}

pub fn manifest(tag: &ReleaseTag) -> String {
    format!("binaries/{tag}/manifest.json")
}

/// The manifest's ECDSA signature (DER), made by the KMS key `signing-key` names: what
/// `openssl dgst -verify` reads, so a customer needs nothing else to check it.
pub fn manifest_signature(tag: &ReleaseTag) -> String {
    format!("binaries/{tag}/manifest.json.sig")
}

/// Where the public half of the signing key is committed, as PEM (SubjectPublicKeyInfo).
/// It is the only key `verify`, `status` and `rollback` trust outside the emulator.
pub const SIGNING_PUBLIC_KEY: &str = "ops/release-signing-key.pem";
pub const SIGNATURE_TYPE: &str = "application/octet-stream";

/// The wrapper as rendered for one release, kept so a rollback restores exactly what
/// was served.
pub fn versioned_wrapper(tag: &ReleaseTag) -> String {
    format!("binaries/{tag}/{WRAPPER_KEY}")
}

/// The customer's check of what the wrapper installs (`wrapper::render_check_script`);
/// it moves with the wrapper, and each release keeps the one it published.
pub const CHECK_SCRIPT_KEY: &str = "readyset-check.sh";

pub fn versioned_check_script(tag: &ReleaseTag) -> String {
    format!("binaries/{tag}/{CHECK_SCRIPT_KEY}")
}

/// The signed pointer to the current release (`pointer.rs`); it moves with the wrapper,
/// after it.
pub const POINTER_KEY: &str = "current-release.txt";
pub const POINTER_TYPE: &str = "text/plain; charset=utf-8";

/// The signed index of every release (`release_index.rs`): it grows by one entry with
/// each release, written last.
pub const INDEX_KEY: &str = "releases.json";

/// The "latest" key that wrappers already in the wild download.
pub fn legacy_binary(published_name: &str) -> String {
    format!("binaries/{published_name}")
}

/// Where a stage puts its templates, in the bucket `template_bucket` names.
pub fn template_prefix(placement: &Placement) -> String {
    match placement {
        Placement::Internal(commit) => format!("{commit}/readyset/templates/"),
        Placement::Alpha(commit) => format!("alpha/{commit}/readyset/templates/"),
        Placement::Release(name) => format!("{name}/readyset/templates/"),
    }
}

pub fn template_bucket(config: &ReleaseConfig, stage: Stage) -> &str {
    if stage.is_public() {
        &config.cfn_public_bucket
    } else {
        &config.cfn_internal_bucket
    }
}

/// The release lock (`release_lock.rs`), in the public template bucket: outside the
/// template prefixes, so not public, and writable by the release role only.
pub const RELEASE_LOCK_KEY: &str = "locks/release.json";

/// The AMIs file uploaded beside a release's templates (`cfn upload`).
pub fn release_amis_file(cfn_version: &ReleaseTag) -> String {
    format!("{}{AMIS_FILE}", template_prefix(&Placement::Release(cfn_version.clone())))
}

/// Where the CloudFormation templates of a release are, under its CFN version.
pub fn release_template(cfn_version: &ReleaseTag, template: &str) -> String {
    format!("{}{template}.yaml", template_prefix(&Placement::Release(cfn_version.clone())))
}

/// The public HTTPS URL of an object of a CloudFormation bucket, as customers and the
/// CloudFormation console read it.
pub fn bucket_url(config: &ReleaseConfig, bucket: &str, key: &str) -> String {
    format!("{}/{key}", bucket_base_url(config, bucket))
}

/// The public HTTPS URL of a CloudFormation bucket, to which a key and `/` are appended.
pub fn bucket_base_url(config: &ReleaseConfig, bucket: &str) -> String {
    format!("https://{bucket}.s3.{}.amazonaws.com", config.region)
}

/// A CloudFront path for a key: absolute, as invalidations require.
pub fn cdn_path(key: &str) -> String {
    format!("/{key}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::names::commit::CommitId;

    #[test]
    fn keys_follow_the_bucket_layout() {
        let tag = ReleaseTag::parse("v1.2").unwrap();
        assert_eq!(versioned_binary(&tag, "x86_64-unknown-linux-gnu"), "binaries/v1.2/x86_64-unknown-linux-gnu");
        assert_eq!(versioned_checksum(&tag, "aarch64-apple-darwin"), "binaries/v1.2/aarch64-apple-darwin.sha256");
        assert_eq!(manifest(&tag), "binaries/v1.2/manifest.json");
        assert_eq!(versioned_wrapper(&tag), "binaries/v1.2/readyset-orchestrator.sh");
        assert_eq!(legacy_binary("x86_64-apple-darwin"), "binaries/x86_64-apple-darwin");
        assert_eq!(release_template(&tag, "readyset-vpc"), "v1.2/readyset/templates/readyset-vpc.yaml");
        assert_eq!(cdn_path(WRAPPER_KEY), "/readyset-orchestrator.sh");
        let commit = CommitId::parse("0123abc").unwrap();
        assert_eq!(template_prefix(&Placement::Internal(commit.clone())), "0123abc/readyset/templates/");
        assert_eq!(template_prefix(&Placement::Alpha(commit)), "alpha/0123abc/readyset/templates/");
        assert_eq!(template_prefix(&Placement::Release(tag)), "v1.2/readyset/templates/");
    }
}
