//! Carries out a publish plan against a bucket and CloudFront: phase by phase,
//! independent writes concurrently, and the invalidation last. Shared by
//! `publish-installer`, `rollback` and `cfn upload`.

use std::{sync::Arc, time::Duration};

use anyhow::Result;
use tokio::sync::Semaphore;
use xtask::domain::{
    layout::WRAPPER_KEY,
    publish_plan::{caller_reference, PublishPlan},
};

use crate::adapters::{
    cdn,
    s3::{Bucket, CONCURRENCY},
    site::Site,
};

/// Carries out a plan against the orchestrator bucket, then invalidates what moved and
/// waits (at most `timeout`): what `publish-installer` and `rollback` end with.
pub async fn publish(site: &Site, plan: &PublishPlan, timeout: Duration) -> Result<()> {
    let bucket = site.orchestrator();
    execute(&bucket, plan).await?;
    invalidate(&bucket, &site.cloudfront, &site.config.cloudfront_distribution, plan, timeout).await?;
    Ok(())
}

/// Writes what the plan says must be written. Returns the publish ID given to the
/// wrapper, if this run wrote it.
pub async fn execute(bucket: &Bucket, plan: &PublishPlan) -> Result<Option<String>> {
    let publish_id = new_publish_id();
    let mut wrapper_written = false;
    for phase in &plan.phases {
        let writes: Vec<_> = phase.steps.iter().filter(|step| step.writes()).collect();
        if writes.is_empty() {
            println!("{}: nothing to write", phase.name);
            continue;
        }
        println!("{}: writing {} object(s)", phase.name, writes.len());
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (index, step) in writes.iter().enumerate() {
            let (bucket, limit, desired, owner) =
                (bucket.clone(), limit.clone(), step.desired.clone(), plan.owner.clone());
            let id = (desired.key == WRAPPER_KEY).then(|| publish_id.clone());
            wrapper_written |= id.is_some();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await?;
                bucket.write(&desired, &owner, id.as_deref()).await?;
                Ok::<_, anyhow::Error>(index)
            });
        }
        let mut done = vec![false; writes.len()];
        while let Some(joined) = tasks.join_next().await {
            done[joined??] = true;
        }
        // Reported in plan order once the phase is complete, so a log reads the same
        // however the concurrent writes finished.
        for step in writes {
            let desired = &step.desired;
            println!(
                "  wrote s3://{}/{} ({} bytes, sha256 {})",
                bucket.name, desired.key, desired.size, desired.sha256
            );
        }
    }
    Ok(wrapper_written.then_some(publish_id))
}

/// Invalidates every mutable path of the plan and waits. The caller reference comes
/// from the wrapper's publish ID as it is now in the bucket, so a rerun that wrote
/// nothing gets the invalidation of the run that did.
pub async fn invalidate(
    bucket: &Bucket,
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution: &str,
    plan: &PublishPlan,
    timeout: Duration,
) -> Result<String> {
    let wrapper = bucket.head(WRAPPER_KEY).await?;
    let publish_id = wrapper.and_then(|head| head.publish_id).unwrap_or_else(|| "unlabelled".into());
    let reference = caller_reference(&plan.owner, &plan.invalidation_paths, &publish_id);
    cdn::invalidate_and_wait(cloudfront, distribution, &plan.invalidation_paths, &reference, timeout).await
}

fn new_publish_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{nanos:x}-{:x}", std::process::id())
}
