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
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
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
    /// The KMS alias of the key that signs release manifests (`alias/<name>`): an alias,
    /// so the key can be rotated without a commit, and so the IAM policy can name it.
    pub signing_key: String,
    /// The prefix, in `cfn_internal_bucket`, under which the product's build publishes
    /// its packages for each `READYSET_TAG` (`<prefix><tag>/SHA256SUMS` and the files).
    pub packages_prefix: String,
    /// The IAM role CloudFormation assumes for test and smoke stacks (`--role-arn`):
    /// the ops agents may only pass it, never create what it creates themselves.
    pub test_stack_role: String,
    /// Days after which EC2 marks an alpha copy deprecated (`amis promote --stage
    /// alpha`); release copies never are.
    pub alpha_deprecation_days: u32,
    /// What a GiB-month of EBS snapshots costs, in US cents: `amis list` and `amis prune`
    /// estimate the monthly bill with it (AWS's standard tier is 5).
    pub snapshot_cents_per_gib_month: u32,
    /// The most images one `amis prune --apply` removes.
    pub prune_max_images: u32,
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

/// The tables around the release configuration; other keys of `Cargo.toml` are not
/// ours to judge, so only the release table refuses unknown keys.
#[derive(Deserialize)]
struct Manifest {
    workspace: Option<WorkspaceTable>,
}

#[derive(Deserialize)]
struct WorkspaceTable {
    metadata: Option<MetadataTable>,
}

#[derive(Deserialize)]
struct MetadataTable {
    release: Option<ReleaseConfig>,
}

impl ReleaseConfig {
    /// Reads the configuration out of the text of the root `Cargo.toml`. Every key is
    /// required: a value left out would otherwise become a default, and a default here
    /// names a production bucket. A missing, unknown or malformed key is an error naming it.
    pub fn from_workspace_manifest(manifest: &str) -> Result<Self> {
        let parsed: Manifest = toml_edit::de::from_str(manifest).with_context(|| {
            format!("the release configuration {TABLE} in Cargo.toml is invalid (every key is required)")
        })?;
        let Some(config) = parsed.workspace.and_then(|w| w.metadata).and_then(|m| m.release) else {
            bail!(
                "Cargo.toml has no {TABLE} table; the xtask reads the buckets, region, CloudFront distribution, \
                 public URL, installer targets and templates from it and has no defaults for them. \
                 Add the table (see the repository's root Cargo.toml)"
            );
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.validate_names()?;
        self.validate_targets()?;
        self.validate_templates()
    }

    fn validate_names(&self) -> Result<()> {
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
            is_public_base_url,
            "an https:// URL of a host name and an optional path of letters, digits, '.', '-', '_', '~' and '/', \
             without a trailing '/' (it is written into the wrapper script, so nothing else is allowed)",
        )?;
        check(
            &self.signing_key,
            "signing-key",
            is_kms_alias,
            "a KMS alias such as alias/readyset-release-manifest: 'alias/' and then letters, digits, '/', '_' and '-' \
             (not 'alias/aws/', which names AWS-managed keys)",
        )?;
        check(
            &self.packages_prefix,
            "packages-prefix",
            is_key_prefix,
            "an S3 key prefix such as readyset-packages/: lowercase letters, digits, '-', '_', '.' and '/', ending \
             in '/', not starting with '/' and without '//'",
        )?;
        check(
            &self.test_stack_role,
            "test-stack-role",
            is_role_name,
            "an IAM role name: 1 to 64 letters, digits and '+=,.@_-'",
        )?;
        for (key, value, most) in [
            ("alpha-deprecation-days", self.alpha_deprecation_days, 3650),
            ("snapshot-cents-per-gib-month", self.snapshot_cents_per_gib_month, 1000),
            ("prune-max-images", self.prune_max_images, 1000),
        ] {
            if value == 0 || value > most {
                bail!("{TABLE} key `{key}` is {value}; expected a whole number from 1 to {most}");
            }
        }
        Ok(())
    }

    fn validate_targets(&self) -> Result<()> {
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
        Ok(())
    }

    fn validate_templates(&self) -> Result<()> {
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

fn is_kms_alias(alias: &str) -> bool {
    alias.strip_prefix("alias/").is_some_and(|name| {
        !name.is_empty()
            && !name.starts_with("aws/")
            && name.len() <= 250
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
    })
}

fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// `https://host[:port][/path]`, where nothing can mean anything to a shell or end the
/// quoted string the wrapper keeps it in.
fn is_public_base_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.split_once(':').unwrap_or((authority, "80"));
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = !port.is_empty() && port.len() <= 5 && port.chars().all(|c| c.is_ascii_digit());
    let path_ok = path.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | '/'))
        && !path.ends_with('/')
        && !path.contains("//");
    host_ok && port_ok && path_ok
}

fn is_key_prefix(prefix: &str) -> bool {
    prefix.ends_with('/')
        && !prefix.starts_with('/')
        && !prefix.contains("//")
        && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | '/'))
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
    use expect_test::expect;

    use super::*;

    const WORKSPACE: &str = include_str!("../../../Cargo.toml");

    fn repository() -> ReleaseConfig {
        ReleaseConfig::from_workspace_manifest(WORKSPACE).unwrap()
    }

    /// The repository's table with one line replaced (or removed, with `to` empty).
    fn edited(from: &str, to: &str) -> String {
        assert!(WORKSPACE.contains(from), "Cargo.toml no longer contains {from:?}");
        WORKSPACE.replacen(from, to, 1)
    }

    fn error_of(manifest: &str) -> String {
        format!("{:#}", ReleaseConfig::from_workspace_manifest(manifest).unwrap_err())
    }

    #[test]
    fn the_repository_configuration_reads_in_full() {
        let config = repository();
        let summary = format!(
            "{} {} {} {}\n{} {} {} {} {}\n{}\n{}\n",
            config.region,
            config.orchestrator_bucket,
            config.cloudfront_distribution,
            config.public_base_url,
            config.cfn_internal_bucket,
            config.cfn_public_bucket,
            config.signing_key,
            config.packages_prefix,
            config.test_stack_role,
            config
                .targets
                .iter()
                .map(|t| format!("{} as {} on {}", t.triple, t.published_name, t.build_host))
                .collect::<Vec<_>>()
                .join(", "),
            config.templates.iter().map(|t| format!("{} {:?}", t.name, t.visibility)).collect::<Vec<_>>().join(", "),
        );
        expect![[r#"
            us-east-2 readysettech-orchestrator-us-east-2 EGUPZSIU4Q3J9 https://launch.readyset.io
            readysettech-cfn-internal-us-east-2 readysettech-cfn-public-us-east-2 alias/readyset-release-manifest readyset-packages/ readyset-cfn-test-stacks
            x86_64-unknown-linux-musl as x86_64-unknown-linux-gnu on linux, x86_64-apple-darwin as x86_64-apple-darwin on macos, aarch64-apple-darwin as aarch64-apple-darwin on macos
            readyset-mysql-super Public, readyset-vpc Public, readyset-server Public, readyset-mysql-adapter Public, readyset-postgres-adapter Public, readyset-bastion Public, readyset-benchmark Internal
        "#]]
        .assert_eq(&summary);
    }

    #[test]
    fn a_missing_table_or_key_is_an_error_naming_it_never_a_default() {
        let error = error_of("[workspace]\nmembers = []\n");
        assert!(error.contains("Cargo.toml has no [workspace.metadata.release] table"), "{error}");
        assert!(error.contains("has no defaults"), "{error}");
        for key in [
            "region",
            "orchestrator-bucket",
            "cloudfront-distribution",
            "public-base-url",
            "cfn-public-bucket",
            "signing-key",
            "packages-prefix",
            "test-stack-role",
        ] {
            let line = WORKSPACE.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap();
            let error = error_of(&edited(&format!("{line}\n"), ""));
            assert!(error.contains(&format!("missing field `{key}`")), "{key}: {error}");
            assert!(
                error.contains("[workspace.metadata.release]") && error.contains("every key is required"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_target_to_build_follows_the_host() {
        let config = repository();
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
        expect![[r#"x86_64-pc-windows-msvc is not an installer target; the configured targets are: x86_64-unknown-linux-musl (built on linux), x86_64-apple-darwin (built on macos), aarch64-apple-darwin (built on macos)"#]]
            .assert_eq(&unknown);
        let wrong_host = pick(Some("aarch64-apple-darwin"), "x86_64-unknown-linux-gnu").unwrap_err().to_string();
        expect![[r#"aarch64-apple-darwin is built on macos build hosts and this host is x86_64-unknown-linux-gnu; run this on a macos agent"#]]
            .assert_eq(&wrong_host);
        let no_default = pick(None, "x86_64-unknown-freebsd").unwrap_err().to_string();
        assert!(no_default.contains("pass --target with one of"), "{no_default}");
    }

    #[test]
    fn an_unknown_key_or_a_value_of_the_wrong_type_is_named() {
        let error = error_of(&edited("region = ", "orchestrator-bukket = \"x\"\nregion = "));
        assert!(error.contains("unknown field `orchestrator-bukket`"), "{error}");
        let error = error_of(&edited("build-host = \"linux\"", "build-host = \"linux\"\nstrip = true"));
        assert!(error.contains("unknown field `strip`"), "{error}");
        let error = error_of(&edited("region = \"us-east-2\"", "region = 2"));
        assert!(error.contains("invalid type: integer `2`, expected a string"), "{error}");
        let error = error_of(&edited("build-host = \"linux\"", "build-host = \"windows\""));
        assert!(error.contains("unknown variant `windows`, expected `linux` or `macos`"), "{error}");
    }

    #[test]
    fn a_malformed_value_is_named_with_what_was_expected() {
        for (from, to, key, expected) in [
            ("region = \"us-east-2\"", "region = \"Ohio\"", "`region`", "a region such as"),
            (
                "orchestrator-bucket = \"readysettech-orchestrator-us-east-2\"",
                "orchestrator-bucket = \"My_Bucket\"",
                "`orchestrator-bucket`",
                "S3 bucket name",
            ),
            (
                "cfn-public-bucket = \"readysettech-cfn-public-us-east-2\"",
                "cfn-public-bucket = \"ab\"",
                "`cfn-public-bucket`",
                "S3 bucket name",
            ),
            (
                "cloudfront-distribution = \"EGUPZSIU4Q3J9\"",
                "cloudfront-distribution = \"e-1\"",
                "`cloudfront-distribution`",
                "distribution ID",
            ),
            (
                "signing-key = \"alias/readyset-release-manifest\"",
                "signing-key = \"arn:aws:kms:us-east-2:111122223333:key/1234abcd\"",
                "`signing-key`",
                "a KMS alias",
            ),
            (
                "signing-key = \"alias/readyset-release-manifest\"",
                "signing-key = \"alias/aws/ebs\"",
                "`signing-key`",
                "AWS-managed",
            ),
            (
                "packages-prefix = \"readyset-packages/\"",
                "packages-prefix = \"readyset-packages\"",
                "`packages-prefix`",
                "ending in '/'",
            ),
            (
                "packages-prefix = \"readyset-packages/\"",
                "packages-prefix = \"/Packages/\"",
                "`packages-prefix`",
                "S3 key prefix",
            ),
            ("https://launch.readyset.io\"", "http://launch.readyset.io\"", "`public-base-url`", "https://"),
            ("https://launch.readyset.io\"", "https://launch.readyset.io/\"", "`public-base-url`", "trailing"),
            (
                "https://launch.readyset.io\"",
                "https://launch.readyset.io/$(id)\"",
                "`public-base-url`",
                "nothing else is allowed",
            ),
            (
                "https://launch.readyset.io\"",
                "https://launch.readyset.io\\\";rm -rf ~;\\\"\"",
                "`public-base-url`",
                "nothing else",
            ),
            ("https://launch.readyset.io\"", "https://launch.readyset.io/a b\"", "`public-base-url`", "nothing else"),
            ("https://launch.readyset.io\"", "https://launch.readyset.io?x=1\"", "`public-base-url`", "nothing else"),
            ("https://launch.readyset.io\"", "https://user@launch.readyset.io\"", "`public-base-url`", "nothing else"),
            (
                "https://launch.readyset.io\"",
                "https://launch.readyset.io:99999x\"",
                "`public-base-url`",
                "nothing else",
            ),
            ("triple = \"x86_64-unknown-linux-musl\"", "triple = \"a b\"", "`targets[0].triple`", "target triple"),
            (
                "published-name = \"x86_64-apple-darwin\"",
                "published-name = \"x86_64-unknown-linux-gnu\"",
                "`targets[1].published-name`",
                "published as \"x86_64-unknown-linux-gnu\"",
            ),
            ("name = \"readyset-vpc\"", "name = \"../x\"", "`templates[1].name`", "template file stem"),
        ] {
            let error = error_of(&edited(from, to));
            assert!(error.contains(key) && error.contains(expected), "{to}: {error}");
        }
        for good in ["https://launch.readyset.io", "https://127.0.0.1:8443/bucket", "https://a-b.example/x/y_z~1"] {
            assert!(is_public_base_url(good), "{good}");
        }
    }
}
