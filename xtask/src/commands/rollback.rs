//! `cargo xtask rollback <tag>`: points the legacy keys and the wrapper back at an
//! earlier, fully published release.

use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{
    adapters::{
        aws::{self, Aws},
        publisher,
        s3::Bucket,
        workspace::Workspace,
    },
    cli::parse_duration,
    commands::status::{inspect, table},
    domain::{
        layout::{self, MUTABLE_CACHE},
        publish_plan::{legacy_copy, plan, Content, Desired},
        tag::ReleaseTag,
    },
};

/// Serve an earlier release again: legacy keys and wrapper back to <TAG>, then invalidate.
///
/// Refuses a release whose versioned objects are incomplete.
///
/// Example: cargo xtask rollback v2024.05.2 --dry-run
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The earlier release to serve.
    pub tag: ReleaseTag,

    /// How long to wait for the CloudFront invalidation (e.g. 900s, 15m).
    #[arg(long, default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub invalidation_timeout: Duration,
}

pub fn run(workspace: &Workspace, args: Args, dry_run: bool) -> Result<()> {
    let config = &workspace.config;
    aws::runtime()?.block_on(async {
        let aws = Aws::from_environment(&config.region).await;
        let bucket = Bucket::new(&aws.s3, &config.orchestrator_bucket);
        let status = inspect(&aws, config, &args.tag).await?;
        let manifest = match (&status.manifest, status.complete) {
            (Some(manifest), true) => manifest.clone(),
            _ => bail!(
                "refusing to roll back to {}: it is not fully published, so customers would get a broken install.\n{}\
                 Nothing was written.",
                args.tag,
                table(&status)
            ),
        };
        let kept_wrapper = layout::versioned_wrapper(&args.tag);
        let wrapper = bucket
            .head(&kept_wrapper)
            .await?
            .and_then(|head| head.remote.sha256.map(|sha| (sha, head.remote.size)))
            .with_context(|| {
                format!(
                    "s3://{}/{kept_wrapper} has no sha256 metadata, so it was not written by publish-installer; \
                     publish {} again (`cargo xtask publish-installer {}`) before rolling back to it",
                    bucket.name, args.tag, args.tag
                )
            })?;

        let legacy: Vec<Desired> = manifest.installers.iter().map(|entry| legacy_copy(&args.tag, entry)).collect();
        let wrapper = Desired {
            key: layout::WRAPPER_KEY.into(),
            content: Content::CopyOf(kept_wrapper),
            sha256: wrapper.0,
            size: wrapper.1,
            content_type: layout::WRAPPER_TYPE,
            cache_control: MUTABLE_CACHE,
            mutable: true,
        };
        let stages = vec![("legacy keys (server-side copies)", legacy), ("wrapper", vec![wrapper])];
        let keys: Vec<(String, bool)> =
            stages.iter().flat_map(|(_, objects)| objects).map(|d| (d.key.clone(), false)).collect();
        let remote = bucket.remotes(&keys).await?;
        let plan = plan(&args.tag, stages, &remote);
        println!("Rollback plan: serve {} from s3://{}:", args.tag, bucket.name);
        print!("{}", plan.describe());
        if dry_run {
            println!("\nDry run: nothing was written and no invalidation was made.");
            return Ok(());
        }
        publisher::execute(&bucket, &plan, None).await?;
        publisher::invalidate(
            &bucket,
            &aws.cloudfront,
            &config.cloudfront_distribution,
            &plan,
            args.invalidation_timeout,
        )
        .await?;
        println!("\nRolled back: {}/{} installs {} again.", config.public_base_url, layout::WRAPPER_KEY, args.tag);
        Ok(())
    })
}
