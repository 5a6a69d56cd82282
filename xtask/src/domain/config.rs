//! The release configuration: `[workspace.metadata.release]` in the root `Cargo.toml`.
//! It is the one source for buckets, the region, the CloudFront distribution, the
//! public URL, the installer targets and the template list; everything else reads them
//! from here.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Where the configuration lives, for error messages.
pub const TABLE: &str = "[workspace.metadata.release]";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ReleaseConfig {
    /// Region of every bucket.
    pub region: String,
    pub orchestrator_bucket: String,
    /// CloudFront distribution in front of `orchestrator_bucket`.
    pub cloudfront_distribution: String,
    /// Base URL customers download the wrapper and binaries from (the distribution).
    pub public_base_url: String,
    pub cfn_internal_bucket: String,
    pub cfn_public_bucket: String,
    pub targets: Vec<InstallerTarget>,
    pub templates: Vec<Template>,
}

/// One platform the installer is built and published for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallerTarget {
    /// Rust target triple it is compiled for.
    pub triple: String,
    /// File name it is published under. Differs from the triple where wrappers in the
    /// wild ask for another name (the static musl build is served as the gnu name).
    pub published_name: String,
    /// Which kind of build machine can produce it.
    pub build_host: BuildHost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildHost {
    Linux,
    Macos,
}

impl BuildHost {
    pub fn of_triple(triple: &str) -> Option<BuildHost> {
        if triple.contains("-apple-darwin") {
            Some(BuildHost::Macos)
        } else if triple.contains("-linux") {
            Some(BuildHost::Linux)
        } else {
            None
        }
    }
}

impl std::fmt::Display for BuildHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BuildHost::Linux => "linux",
            BuildHost::Macos => "macos",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Template {
    /// File stem under `ops/cfn/`, and the object name `<name>.yaml`.
    pub name: String,
    pub visibility: Visibility,
}

/// Internal templates go to the internal bucket only, never to the public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Internal,
}

impl Default for ReleaseConfig {
    /// The values of the manual release process this automation replaces.
    fn default() -> Self {
        let target = |triple: &str, published_name: &str, build_host| InstallerTarget {
            triple: triple.into(),
            published_name: published_name.into(),
            build_host,
        };
        let template = |name: &str, visibility| Template { name: name.into(), visibility };
        ReleaseConfig {
            region: "us-east-2".into(),
            orchestrator_bucket: "readysettech-orchestrator-us-east-2".into(),
            cloudfront_distribution: "EGUPZSIU4Q3J9".into(),
            public_base_url: "https://launch.readyset.io".into(),
            cfn_internal_bucket: "readysettech-cfn-internal-us-east-2".into(),
            cfn_public_bucket: "readysettech-cfn-public-us-east-2".into(),
            targets: vec![
                target("x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu", BuildHost::Linux),
                target("x86_64-apple-darwin", "x86_64-apple-darwin", BuildHost::Macos),
                target("aarch64-apple-darwin", "aarch64-apple-darwin", BuildHost::Macos),
            ],
            templates: vec![
                template("readyset-mysql-super", Visibility::Public),
                template("readyset-vpc", Visibility::Public),
                template("readyset-server", Visibility::Public),
                template("readyset-mysql-adapter", Visibility::Public),
                template("readyset-postgres-adapter", Visibility::Public),
                template("readyset-bastion", Visibility::Public),
                template("readyset-benchmark", Visibility::Internal),
            ],
        }
    }
}

#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default)]
    workspace: WorkspaceTable,
}

#[derive(Deserialize, Default)]
struct WorkspaceTable {
    #[serde(default)]
    metadata: MetadataTable,
}

#[derive(Deserialize, Default)]
struct MetadataTable {
    #[serde(default)]
    release: ReleaseConfig,
}

impl ReleaseConfig {
    /// Reads the configuration out of the text of the root `Cargo.toml`. Keys left out
    /// take their default; an unknown key or a malformed value is an error naming it.
    pub fn from_workspace_manifest(manifest: &str) -> Result<Self> {
        let parsed: Manifest = toml_edit::de::from_str(manifest)
            .with_context(|| format!("the release configuration {TABLE} in Cargo.toml is invalid"))?;
        let config = parsed.workspace.metadata.release;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        check(&self.region, "region", is_region, "a region such as us-east-2")?;
        for (key, bucket) in [
            ("orchestrator-bucket", &self.orchestrator_bucket),
            ("cfn-internal-bucket", &self.cfn_internal_bucket),
            ("cfn-public-bucket", &self.cfn_public_bucket),
        ] {
            check(bucket, key, is_bucket_name, "an S3 bucket name: 3 to 63 lowercase letters, digits, '-' and '.'")?;
        }
        check(
            &self.cloudfront_distribution,
            "cloudfront-distribution",
            |id| !id.is_empty() && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "a CloudFront distribution ID: uppercase letters and digits",
        )?;
        check(
            &self.public_base_url,
            "public-base-url",
            |url| {
                url.starts_with("https://")
                    && url.len() > "https://".len()
                    && !url.ends_with('/')
                    && !url.contains(char::is_whitespace)
            },
            "an https:// URL without a trailing '/'",
        )?;
        if self.targets.is_empty() {
            bail!("{TABLE} key `targets`: no installer targets are configured; expected at least one [[workspace.metadata.release.targets]]");
        }
        let mut triples = BTreeSet::new();
        let mut names = BTreeSet::new();
        for (index, target) in self.targets.iter().enumerate() {
            let key = |field: &str| format!("targets[{index}].{field}");
            check(
                &target.triple,
                &key("triple"),
                is_plain_name,
                "a Rust target triple such as x86_64-unknown-linux-musl",
            )?;
            check(
                &target.published_name,
                &key("published-name"),
                is_plain_name,
                "a file name of letters, digits, '-', '_' and '.'",
            )?;
            if !triples.insert(&target.triple) {
                bail!("{TABLE} key `{}`: target {:?} is listed twice", key("triple"), target.triple);
            }
            if !names.insert(&target.published_name) {
                bail!(
                    "{TABLE} key `{}`: two targets are published as {:?}",
                    key("published-name"),
                    target.published_name
                );
            }
        }
        let mut templates = BTreeSet::new();
        for (index, template) in self.templates.iter().enumerate() {
            let key = format!("templates[{index}].name");
            check(&template.name, &key, is_plain_name, "a template file stem of letters, digits, '-', '_' and '.'")?;
            if !templates.insert(&template.name) {
                bail!("{TABLE} key `{key}`: template {:?} is listed twice", template.name);
            }
        }
        Ok(())
    }

    pub fn target(&self, triple: &str) -> Option<&InstallerTarget> {
        self.targets.iter().find(|target| target.triple == triple)
    }

    /// The target `build-installer` builds on a host: the one asked for, which must be
    /// configured and belong to this kind of host; or else the host's own triple when it
    /// is configured; or else the only target configured for this kind of host.
    pub fn select_target(&self, requested: Option<&str>, host_triple: &str) -> Result<&InstallerTarget> {
        let host_kind = BuildHost::of_triple(host_triple);
        let supported = || {
            self.targets
                .iter()
                .map(|t| format!("{} (built on {})", t.triple, t.build_host))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let target = match requested {
            Some(triple) => self.target(triple).with_context(|| {
                format!("{triple} is not an installer target; the configured targets are: {}", supported())
            })?,
            None => {
                let for_host: Vec<_> = self.targets.iter().filter(|t| Some(t.build_host) == host_kind).collect();
                match (self.target(host_triple), for_host.as_slice()) {
                    (Some(target), _) => target,
                    (None, [only]) => only,
                    _ => bail!(
                        "this host ({host_triple}) is not itself an installer target; pass --target with one of: {}",
                        supported()
                    ),
                }
            }
        };
        if Some(target.build_host) != host_kind {
            bail!(
                "{} is built on {} build hosts and this host is {host_triple}; run this on a {} agent",
                target.triple,
                target.build_host,
                target.build_host
            );
        }
        Ok(target)
    }

    pub fn public_templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.iter().filter(|t| t.visibility == Visibility::Public)
    }
}

fn check(value: &str, key: &str, valid: impl Fn(&str) -> bool, expected: &str) -> Result<()> {
    if valid(value) {
        Ok(())
    } else {
        bail!("{TABLE} key `{key}` is {value:?}; expected {expected}")
    }
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACE: &str = include_str!("../../../Cargo.toml");

    fn with_release_table(body: &str) -> String {
        format!("[workspace]\nmembers = []\n\n[workspace.metadata.release]\n{body}\n")
    }

    fn error_of(body: &str) -> String {
        format!("{:#}", ReleaseConfig::from_workspace_manifest(&with_release_table(body)).unwrap_err())
    }

    #[test]
    fn the_repository_configuration_is_the_seed_process() {
        let config = ReleaseConfig::from_workspace_manifest(WORKSPACE).unwrap();
        assert_eq!(config, ReleaseConfig::default());
        assert_eq!(config.target("x86_64-unknown-linux-musl").unwrap().published_name, "x86_64-unknown-linux-gnu");
        assert!(config.templates.iter().any(|t| t.visibility == Visibility::Internal));
    }

    #[test]
    fn the_target_to_build_follows_the_host() {
        let config = ReleaseConfig::default();
        let pick = |requested, host| config.select_target(requested, host).map(|t| t.triple.clone());
        assert_eq!(pick(None, "x86_64-unknown-linux-gnu").unwrap(), "x86_64-unknown-linux-musl");
        assert_eq!(pick(None, "aarch64-apple-darwin").unwrap(), "aarch64-apple-darwin");
        assert_eq!(pick(None, "x86_64-apple-darwin").unwrap(), "x86_64-apple-darwin");
        assert_eq!(pick(Some("x86_64-apple-darwin"), "aarch64-apple-darwin").unwrap(), "x86_64-apple-darwin");
        assert_eq!(
            pick(Some("x86_64-unknown-linux-musl"), "x86_64-unknown-linux-gnu").unwrap(),
            "x86_64-unknown-linux-musl"
        );

        let unknown = pick(Some("x86_64-pc-windows-msvc"), "x86_64-unknown-linux-gnu").unwrap_err().to_string();
        assert!(unknown.contains("x86_64-pc-windows-msvc is not an installer target"), "{unknown}");
        assert!(
            unknown.contains("x86_64-unknown-linux-musl (built on linux), x86_64-apple-darwin (built on macos)"),
            "{unknown}"
        );
        let wrong_host = pick(Some("aarch64-apple-darwin"), "x86_64-unknown-linux-gnu").unwrap_err().to_string();
        assert!(
            wrong_host.contains("built on macos build hosts and this host is x86_64-unknown-linux-gnu"),
            "{wrong_host}"
        );
        let no_default = pick(None, "x86_64-unknown-freebsd").unwrap_err().to_string();
        assert!(no_default.contains("pass --target with one of"), "{no_default}");
    }

    #[test]
    fn keys_left_out_take_the_defaults() {
        let config = ReleaseConfig::from_workspace_manifest(&with_release_table("")).unwrap();
        assert_eq!(config, ReleaseConfig::default());
        let config = ReleaseConfig::from_workspace_manifest("[workspace]\nmembers = []\n").unwrap();
        assert_eq!(config, ReleaseConfig::default());
        let config = ReleaseConfig::from_workspace_manifest(&with_release_table("region = \"eu-west-1\"")).unwrap();
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.orchestrator_bucket, "readysettech-orchestrator-us-east-2");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = error_of("orchestrator-bukket = \"x\"");
        assert!(error.contains("unknown field `orchestrator-bukket`"), "{error}");
        assert!(error.contains("[workspace.metadata.release]"), "{error}");
        let error = error_of("[[workspace.metadata.release.targets]]\ntriple = \"a\"\npublished-name = \"a\"\nbuild-host = \"linux\"\nstrip = true");
        assert!(error.contains("unknown field `strip`"), "{error}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named() {
        let error = error_of("region = 2");
        assert!(error.contains("region"), "{error}");
        let error = error_of(
            "[[workspace.metadata.release.targets]]\ntriple = \"a\"\npublished-name = \"a\"\nbuild-host = \"windows\"",
        );
        assert!(error.contains("unknown variant `windows`, expected `linux` or `macos`"), "{error}");
    }

    #[test]
    fn a_malformed_value_is_named_with_what_was_expected() {
        for (body, key, expected) in [
            ("region = \"Ohio\"", "`region`", "a region such as"),
            ("orchestrator-bucket = \"My_Bucket\"", "`orchestrator-bucket`", "S3 bucket name"),
            ("cfn-public-bucket = \"ab\"", "`cfn-public-bucket`", "S3 bucket name"),
            ("cloudfront-distribution = \"e-1\"", "`cloudfront-distribution`", "distribution ID"),
            ("public-base-url = \"http://launch.readyset.io\"", "`public-base-url`", "https://"),
            ("public-base-url = \"https://launch.readyset.io/\"", "`public-base-url`", "trailing"),
            ("targets = []", "`targets`", "at least one"),
            (
                "[[workspace.metadata.release.targets]]\ntriple = \"a b\"\npublished-name = \"a\"\nbuild-host = \"linux\"",
                "`targets[0].triple`",
                "target triple",
            ),
            (
                "[[workspace.metadata.release.targets]]\ntriple = \"a\"\npublished-name = \"x\"\nbuild-host = \"linux\"\n\
                 [[workspace.metadata.release.targets]]\ntriple = \"b\"\npublished-name = \"x\"\nbuild-host = \"macos\"",
                "`targets[1].published-name`",
                "published as \"x\"",
            ),
            (
                "[[workspace.metadata.release.templates]]\nname = \"../x\"\nvisibility = \"public\"",
                "`templates[0].name`",
                "template file stem",
            ),
        ] {
            let error = error_of(body);
            assert!(error.contains(key) && error.contains(expected), "{body}: {error}");
        }
    }
}
