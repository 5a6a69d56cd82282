//! `cargo xtask publish-installer <tag>`: steps 6 to 8 of a release. Uploads the
//! installers the build machines produced, the manifest, the legacy keys and the
//! wrapper, in that order, then invalidates CloudFront and waits.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};

use crate::{
    adapters::{
        artifacts,
        aws::{self, Aws},
        buildkite, publisher,
        s3::Bucket,
        workspace::Workspace,
    },
    cli::parse_duration,
    domain::{
        config::ReleaseConfig,
        layout::{self, WRAPPER_KEY},
        publish_plan::{desired_objects, plan},
        release_manifest::ReleaseManifest,
        tag::ReleaseTag,
        wrapper,
    },
};

/// Publish the installers of a release to S3 and point customers at them.
///
/// Refuses, before writing anything, when a build is missing or inconsistent, when the
/// release's CloudFormation templates are not published, or when a versioned key
/// already holds other bytes. Running it again completes an interrupted publish.
///
/// Example: cargo xtask publish-installer v2024.06.1 --artifacts target/dist/v2024.06.1 --dry-run
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The release; must equal READYSET_TAG of the builds. In Buildkite it defaults to
    /// the name typed into the release block step.
    pub tag: Option<ReleaseTag>,

    /// Directory holding the build-installer outputs of every target (searched recursively).
    #[arg(long, value_name = "DIR")]
    pub artifacts: PathBuf,

    /// Publish even though the templates for the builds' CFN_VERSION are not in the public bucket.
    #[arg(long)]
    pub allow_missing_templates: bool,

    /// Publish builds made from a working tree with uncommitted changes.
    #[arg(long)]
    pub allow_dirty: bool,

    /// Leave a configured target out of this release on purpose (repeatable); its
    /// platform's customers are told the release has no installer for them.
    #[arg(long = "exclude-target", value_name = "TRIPLE")]
    pub exclude_targets: Vec<String>,

    /// How long to wait for the CloudFront invalidation (e.g. 900s, 15m).
    #[arg(long, default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub invalidation_timeout: Duration,
}

pub fn run(workspace: &Workspace, args: Args, dry_run: bool) -> Result<()> {
    let tag = buildkite::release_name(args.tag.clone())?;
    if !dry_run {
        buildkite::require_main_branch(&format!("publish release {tag}"))?;
    }
    let config = &workspace.config;
    let collected = artifacts::collect(&args.artifacts, config)?;
    let builds: Vec<_> = collected.iter().map(|(build, _)| build.clone()).collect();
    let manifest = ReleaseManifest::assemble(&tag, config, &builds, &args.exclude_targets, args.allow_dirty)?;
    for triple in &args.exclude_targets {
        eprintln!(
            "WARNING: {triple} is left out of release {} (--exclude-target): its customers get no installer",
            tag
        );
    }
    let binaries: BTreeMap<String, PathBuf> = collected
        .iter()
        .filter(|(build, _)| !args.exclude_targets.contains(&build.record.target))
        .map(|(build, path)| (build.record.published_name.clone(), path.clone()))
        .collect();
    let checksums: BTreeMap<String, Option<String>> = config
        .targets
        .iter()
        .map(|target| {
            let entry = manifest.installers.iter().find(|entry| entry.target == target.triple);
            (target.published_name.clone(), entry.map(|entry| entry.sha256.clone()))
        })
        .collect();
    let template_path = workspace.root.join(wrapper::TEMPLATE_PATH);
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("cannot read the wrapper template {}", template_path.display()))?;
    let rendered = wrapper::render(&template, &tag, &config.public_base_url, &checksums)?;
    let cfn_version = manifest.cfn_version()?;

    aws::runtime()?.block_on(async {
        let aws = Aws::from_environment(&config.region).await;
        let bucket = Bucket::new(&aws.s3, &config.orchestrator_bucket);
        let missing = missing_templates(&aws, config, &cfn_version).await?;
        if !missing.is_empty() {
            let list = missing.join("\n  ");
            if !args.allow_missing_templates {
                bail!(
                    "refusing to publish {}: the installers point at CloudFormation templates that are not published:\n  {list}\n\
                     Upload them first (`cargo xtask cfn upload --release {cfn_version}`), or pass \
                     --allow-missing-templates if you know they are coming. Nothing was written.",
                    tag
                );
            }
            eprintln!(
                "\nWARNING: publishing {} although its installers point at templates that do not exist yet:\n  {list}\n\
                 Customers who run it before they are uploaded will fail.\n",
                tag
            );
        }

        let stages = desired_objects(&manifest, &tag, &binaries, &rendered);
        let keys: Vec<(String, bool)> = stages.iter().flat_map(|(_, objects)| objects).map(|d| (d.key.clone(), !d.mutable)).collect();
        let remote = bucket.remotes(&keys).await?;
        let plan = plan(&tag, stages, &remote);
        let conflicts = plan.conflicts();
        if !conflicts.is_empty() {
            bail!(
                "refusing to publish {}: published versions never change, and these keys hold other bytes:\n  {}\n\
                 Nothing was written. Publish the builds of that release's commit, or release under a new name.",
                tag,
                conflicts.join("\n  ")
            );
        }
        println!("Publish plan for {} to s3://{} (CFN version {cfn_version}):", tag, bucket.name);
        print!("{}", plan.describe());
        if dry_run {
            let published = bucket.get(WRAPPER_KEY).await?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            println!("\nWrapper change (published -> rendered for {}):", tag);
            let diff = similar::TextDiff::from_lines(&published, &rendered)
                .unified_diff()
                .context_radius(1)
                .header(&format!("published/{WRAPPER_KEY}"), &format!("{}/{WRAPPER_KEY}", tag))
                .to_string();
            print!("{}", if diff.is_empty() { "  (identical)\n".to_owned() } else { diff });
            println!("\nDry run: nothing was written and no invalidation was made.");
            return Ok(());
        }
        publisher::execute(&bucket, &plan, None).await?;
        publisher::invalidate(&bucket, &aws.cloudfront, &config.cloudfront_distribution, &plan, args.invalidation_timeout).await?;
        println!("\nPublished {}: {}/{WRAPPER_KEY} now installs it.", tag, config.public_base_url);
        buildkite::annotate("release", &annotation(&tag, config, &manifest, &cfn_version));
        println!("Check it with `cargo xtask verify {}`.", tag);
        Ok(())
    })
}

/// Public templates of that CFN version that are not in the public bucket, as URLs.
pub async fn missing_templates(aws: &Aws, config: &ReleaseConfig, cfn_version: &ReleaseTag) -> Result<Vec<String>> {
    let bucket = Bucket::new(&aws.s3, &config.cfn_public_bucket);
    let mut missing = Vec::new();
    for template in config.public_templates() {
        let key = layout::release_template(cfn_version, &template.name);
        if bucket.head(&key).await?.is_none() {
            missing.push(format!("s3://{}/{key}", bucket.name));
        }
    }
    Ok(missing)
}

/// The release summary shown on the Buildkite build page.
fn annotation(
    tag: &ReleaseTag,
    config: &ReleaseConfig,
    manifest: &ReleaseManifest,
    cfn_version: &ReleaseTag,
) -> String {
    let base = &config.public_base_url;
    let mut text = format!("### Release {tag} published\n\n");
    text += &format!("Install: `curl -fsSL {base}/{WRAPPER_KEY} | sh`\n\n");
    text += "| installer | size | sha256 |\n|---|---|---|\n";
    for entry in &manifest.installers {
        let url = format!("{base}/{}", layout::versioned_binary(tag, &entry.published_name));
        text += &format!("| [{}]({url}) | {} | `{}` |\n", entry.published_name, entry.size, entry.sha256);
    }
    text += &format!("\nManifest: {base}/{}\n\nTemplates:\n", layout::manifest(tag));
    for template in config.public_templates() {
        let key = layout::release_template(cfn_version, &template.name);
        text += &format!("- https://{}.s3.{}.amazonaws.com/{key}\n", config.cfn_public_bucket, config.region);
    }
    text
}
