//! The release manifest `binaries/<tag>/manifest.json`, assembled from the partial
//! manifests the build machines wrote. Assembly is where a publish refuses inconsistent
//! inputs, before anything is uploaded.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::domain::{build_record::BuildRecord, config::ReleaseConfig, tag::ReleaseTag};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    pub tag: String,
    pub cfn_version: String,
    pub commit: String,
    /// One entry per published installer, ordered by published name.
    pub installers: Vec<ManifestEntry>,
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
    /// Size and SHA-256 of the binary beside the record, as read from disk.
    pub binary_size: u64,
    pub binary_sha256: String,
    /// Contents of the `.sha256` file beside it.
    pub checksum_file: String,
}

impl ReleaseManifest {
    /// Checks the collected builds against each other, the configuration and the tag,
    /// and returns the manifest, or every problem found.
    pub fn assemble(
        tag: &ReleaseTag,
        config: &ReleaseConfig,
        builds: &[CollectedBuild],
        excluded: &[String],
        allow_dirty: bool,
    ) -> Result<ReleaseManifest> {
        let mut problems = Vec::new();
        for triple in excluded {
            if config.target(triple).is_none() {
                problems.push(format!("--exclude-target {triple} is not a configured target"));
            }
        }
        let mut by_target: BTreeMap<&str, &CollectedBuild> = BTreeMap::new();
        for build in builds {
            let record = &build.record;
            match config.target(&record.target) {
                None => problems.push(format!("{}: target {} is not configured", build.record_path, record.target)),
                Some(target) if target.published_name != record.published_name => problems.push(format!(
                    "{}: target {} is published as {}, not {}",
                    build.record_path, record.target, target.published_name, record.published_name
                )),
                Some(_) => {}
            }
            if excluded.contains(&record.target) {
                continue;
            }
            if let Some(other) = by_target.insert(&record.target, build) {
                problems.push(format!(
                    "{} and {} are both builds of {}",
                    other.record_path, build.record_path, record.target
                ));
            }
            if build.binary_sha256 != record.sha256 || build.binary_size != record.size {
                problems.push(format!(
                    "{}: the binary beside it is {} bytes with sha256 {}, but the record says {} bytes with sha256 {}",
                    build.record_path, build.binary_size, build.binary_sha256, record.size, record.sha256
                ));
            }
            let expected_line = crate::domain::build_record::checksum_line(&record.sha256, &record.published_name);
            if build.checksum_file != expected_line {
                problems.push(format!(
                    "{}: {}.sha256 does not hold {:?}",
                    build.record_path,
                    record.published_name,
                    expected_line.trim_end()
                ));
            }
            if record.readyset_tag != tag.as_str() {
                problems.push(format!(
                    "{}: built with READYSET_TAG {:?}, but the release is {tag}",
                    build.record_path, record.readyset_tag
                ));
            }
            if let Err(error) = ReleaseTag::parse(&record.cfn_version) {
                problems.push(format!("{}: CFN_VERSION is not a valid release name: {error}", build.record_path));
            }
            if record.dirty && !allow_dirty {
                problems.push(format!(
                    "{}: built from a working tree with uncommitted changes (pass --allow-dirty to publish it anyway)",
                    build.record_path
                ));
            }
        }
        for target in &config.targets {
            if !excluded.contains(&target.triple) && !by_target.contains_key(target.triple.as_str()) {
                problems.push(format!(
                    "no build of {} (expected {}.json from `cargo xtask build-installer --target {}` on a {} host)",
                    target.triple, target.published_name, target.triple, target.build_host
                ));
            }
        }
        for (field, value_of) in [
            ("CFN_VERSION", (|r: &BuildRecord| r.cfn_version.clone()) as fn(&BuildRecord) -> String),
            ("commit", |r: &BuildRecord| r.commit.clone()),
        ] {
            let values: BTreeMap<String, Vec<&str>> = by_target.values().fold(BTreeMap::new(), |mut map, build| {
                map.entry(value_of(&build.record)).or_default().push(build.record_path.as_str());
                map
            });
            if values.len() > 1 {
                let detail: Vec<String> =
                    values.iter().map(|(value, paths)| format!("{value} in {}", paths.join(", "))).collect();
                problems.push(format!("the builds disagree on {field}: {}", detail.join("; ")));
            }
        }
        if !problems.is_empty() {
            bail!("refusing to publish {tag}; nothing was uploaded:\n  - {}", problems.join("\n  - "));
        }
        let first = by_target.values().next().map(|b| &b.record);
        let Some(first) = first else {
            bail!("refusing to publish {tag}: every target is excluded, so there is nothing to publish");
        };
        let mut installers: Vec<ManifestEntry> = by_target
            .values()
            .map(|build| ManifestEntry {
                published_name: build.record.published_name.clone(),
                target: build.record.target.clone(),
                size: build.record.size,
                sha256: build.record.sha256.clone(),
            })
            .collect();
        installers.sort_by(|a, b| a.published_name.cmp(&b.published_name));
        Ok(ReleaseManifest {
            tag: tag.to_string(),
            cfn_version: first.cfn_version.clone(),
            commit: first.commit.clone(),
            installers,
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest serialises") + "\n"
    }

    pub fn cfn_version(&self) -> Result<ReleaseTag> {
        Ok(ReleaseTag::parse(&self.cfn_version)?)
    }
}
