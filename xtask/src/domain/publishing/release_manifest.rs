//! The release manifest `binaries/<tag>/manifest.json`, assembled from the partial
//! manifests the build machines wrote. Assembly is where a publish refuses inconsistent
//! inputs, before anything is uploaded.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::domain::{
    config::ReleaseConfig,
    names::commit::CommitId,
    names::tag::ReleaseTag,
    publishing::build_record::BuildRecord,
    publishing::digest::{checksum_line, sha256_hex},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    pub tag: ReleaseTag,
    pub cfn_version: ReleaseTag,
    pub commit: CommitId,
    /// One entry per published installer, ordered by published name.
    pub installers: Vec<ManifestEntry>,
    /// The SHA-256 of the wrapper this release publishes (`binaries/<tag>/` and, while
    /// the release is served, the root), so the signature also covers what `curl | sh`
    /// runs. Manifests published before it was recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapper_sha256: Option<String>,
    /// The SHA-256 of the customer's check script this release publishes (beside the
    /// wrapper), so the script a customer runs can itself be checked. Manifests
    /// published before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_script_sha256: Option<String>,
    /// The CloudFormation templates and `amis.json` of the release's CFN version, as
    /// uploaded to the public bucket (key and SHA-256), so the signature covers what
    /// customers launch too. Manifests published before they were recorded have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<TemplateEntry>,
}

/// One object of the public template bucket that a release's manifest vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateEntry {
    pub key: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub published_name: String,
    pub target: String,
    pub size: u64,
    pub sha256: String,
}

/// A build record found among the artifacts, with what the files beside it really are.
#[derive(Debug, Clone)]
pub struct CollectedBuild {
    pub record: BuildRecord,
    /// Where it was found, for messages.
    pub record_path: String,
    /// The binary beside the record, with its size and SHA-256 as read from disk.
    pub binary: PathBuf,
    pub binary_size: u64,
    pub binary_sha256: String,
    /// Contents of the `.sha256` file beside it.
    pub checksum_file: String,
}

/// One installer of a release: its manifest entry and the file that holds it.
#[derive(Debug, Clone)]
pub struct Installer {
    pub entry: ManifestEntry,
    pub file: PathBuf,
}

/// What a publish uploads: the manifest, and each installer's file.
#[derive(Debug, Clone)]
pub struct AssembledRelease {
    pub manifest: ReleaseManifest,
    pub installers: Vec<Installer>,
}

impl AssembledRelease {
    /// The release with its rendered wrapper recorded in the manifest. The wrapper is
    /// made from the installers' entries, so it can be rendered first and signed with
    /// them.
    pub fn with_wrapper(mut self, scripts: &Scripts) -> AssembledRelease {
        self.manifest.wrapper_sha256 = Some(sha256_hex(scripts.wrapper.as_bytes()));
        self.manifest.check_script_sha256 = Some(sha256_hex(scripts.check.as_bytes()));
        self
    }

    /// The release with the templates and `amis.json` it was published with, as the
    /// public bucket holds them, recorded (sorted by key) before it is signed.
    pub fn with_templates(mut self, mut templates: Vec<TemplateEntry>) -> AssembledRelease {
        templates.sort_by(|a, b| a.key.cmp(&b.key));
        self.manifest.templates = templates;
        self
    }
}

/// The two scripts a release publishes for customers, as rendered for it.
#[derive(Debug, Clone)]
pub struct Scripts {
    /// The `curl | sh` wrapper.
    pub wrapper: String,
    /// The check of what the wrapper installs.
    pub check: String,
}

/// What the person publishing allowed on purpose.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// Targets left out of this release (their customers get no installer).
    pub excluded_targets: Vec<String>,
    /// Builds made from a working tree with uncommitted changes.
    pub dirty: bool,
}

impl ReleaseManifest {
    /// Checks the collected builds against each other, the configuration and the tag,
    /// and returns the release, or every problem found.
    pub fn assemble(
        tag: &ReleaseTag,
        config: &ReleaseConfig,
        builds: &[CollectedBuild],
        allowed: &Allowances,
    ) -> Result<AssembledRelease> {
        let mut problems = unknown_exclusions(config, allowed);
        let chosen = choose_builds(config, builds, allowed, &mut problems);
        for build in chosen.values() {
            problems.extend(build_problems(tag, build, allowed));
        }
        problems.extend(missing_targets(config, &chosen, allowed));
        problems.extend(disagreements(&chosen));
        if !problems.is_empty() {
            bail!("refusing to publish {tag}; nothing was uploaded:\n  - {}", problems.join("\n  - "));
        }
        let Some(first) = chosen.values().next().map(|build| &build.record) else {
            bail!("refusing to publish {tag}: every target is excluded, so there is nothing to publish");
        };
        let mut installers: Vec<Installer> = chosen
            .values()
            .map(|build| Installer {
                entry: ManifestEntry {
                    published_name: build.record.published_name.clone(),
                    target: build.record.target.clone(),
                    size: build.record.size,
                    sha256: build.record.sha256.clone(),
                },
                file: build.binary.clone(),
            })
            .collect();
        installers.sort_by(|a, b| a.entry.published_name.cmp(&b.entry.published_name));
        let manifest = ReleaseManifest {
            tag: tag.clone(),
            cfn_version: first.cfn_version.clone(),
            commit: first.commit.clone(),
            installers: installers.iter().map(|installer| installer.entry.clone()).collect(),
            wrapper_sha256: None,
            check_script_sha256: None,
            templates: Vec::new(),
        };
        Ok(AssembledRelease { manifest, installers })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serialises") + "\n"
    }

    pub fn entry(&self, published_name: &str) -> Option<&ManifestEntry> {
        self.installers.iter().find(|entry| entry.published_name == published_name)
    }
}

fn unknown_exclusions(config: &ReleaseConfig, allowed: &Allowances) -> Vec<String> {
    allowed
        .excluded_targets
        .iter()
        .filter(|triple| config.target(triple).is_none())
        .map(|triple| format!("--exclude-target {triple} is not a configured target"))
        .collect()
}

/// The one build of each configured, included target. A second build of a target is
/// the pipeline's check that the build is reproducible: the same bytes confirm the
/// first, other bytes stop the release (which one ships would be a guess, and one of
/// the machines may not be trustworthy).
fn choose_builds<'a>(
    config: &ReleaseConfig,
    builds: &'a [CollectedBuild],
    allowed: &Allowances,
    problems: &mut Vec<String>,
) -> BTreeMap<&'a str, &'a CollectedBuild> {
    let mut chosen: BTreeMap<&str, &CollectedBuild> = BTreeMap::new();
    for build in builds {
        let record = &build.record;
        match config.target(&record.target) {
            None => problems.push(format!("{}: target {} is not configured", build.record_path, record.target)),
            Some(target) if target.published_name != record.published_name => problems.push(format!(
                "{}: target {} is published as {}, not {}",
                build.record_path, record.target, target.published_name, record.published_name
            )),
            Some(_) if allowed.excluded_targets.contains(&record.target) => {}
            Some(_) => match chosen.get(record.target.as_str()) {
                None => {
                    chosen.insert(&record.target, build);
                }
                Some(first) if first.record.sha256 == record.sha256 => {}
                Some(first) => problems.push(format!(
                    "{} and {} are two builds of {} with different bytes (sha256 {} by {} with {}; sha256 {} by {} \
                     with {}): the build is not reproducible or a build machine is not trustworthy; find out which \
                     before publishing",
                    first.record_path,
                    build.record_path,
                    record.target,
                    first.record.sha256,
                    first.record.build_host,
                    first.record.rustc,
                    record.sha256,
                    record.build_host,
                    record.rustc
                )),
            },
        }
    }
    chosen
}

fn build_problems(tag: &ReleaseTag, build: &CollectedBuild, allowed: &Allowances) -> Vec<String> {
    let record = &build.record;
    let path = &build.record_path;
    let mut problems = Vec::new();
    if build.binary_sha256 != record.sha256 || build.binary_size != record.size {
        problems.push(format!(
            "{path}: the binary beside it is {} bytes with sha256 {}, but the record says {} bytes with sha256 {}",
            build.binary_size, build.binary_sha256, record.size, record.sha256
        ));
    }
    let expected_line = checksum_line(&record.sha256, &record.published_name);
    if build.checksum_file != expected_line {
        problems.push(format!("{path}: {}.sha256 does not hold {:?}", record.published_name, expected_line.trim_end()));
    }
    if &record.readyset_tag != tag {
        problems.push(format!(
            "{path}: built with READYSET_TAG {:?}, but the release is {tag}",
            record.readyset_tag.as_str()
        ));
    }
    if record.dirty && !allowed.dirty {
        problems.push(format!(
            "{path}: built from a working tree with uncommitted changes (pass --allow-dirty to publish it anyway)"
        ));
    }
    problems
}

fn missing_targets(
    config: &ReleaseConfig,
    chosen: &BTreeMap<&str, &CollectedBuild>,
    allowed: &Allowances,
) -> Vec<String> {
    config
        .targets
        .iter()
        .filter(|target| {
            !allowed.excluded_targets.contains(&target.triple) && !chosen.contains_key(target.triple.as_str())
        })
        .map(|target| {
            format!(
                "no build of {} (expected {}.json from `cargo xtask build-installer --target {}` on a {} host)",
                target.triple, target.published_name, target.triple, target.build_host
            )
        })
        .collect()
}

/// A field of a build record that every build of a release must agree on.
type Agreed = (&'static str, fn(&BuildRecord) -> String);

/// Builds of one release must come from one commit, with one CFN version and one compiler.
fn disagreements(chosen: &BTreeMap<&str, &CollectedBuild>) -> Vec<String> {
    let fields: [Agreed; 3] = [
        ("CFN_VERSION", |r| r.cfn_version.to_string()),
        ("commit", |r| r.commit.to_string()),
        ("the compiler (rust-toolchain.toml pins it)", |r| r.rustc.clone()),
    ];
    let mut problems = Vec::new();
    for (field, value_of) in fields {
        let mut values: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for build in chosen.values() {
            values.entry(value_of(&build.record)).or_default().push(&build.record_path);
        }
        if values.len() > 1 {
            let detail: Vec<String> =
                values.iter().map(|(value, paths)| format!("{value} in {}", paths.join(", "))).collect();
            problems.push(format!("the builds disagree on {field}: {}", detail.join("; ")));
        }
    }
    problems
}
