//! Carries out a publish plan against the orchestrator bucket and CloudFront: stage by
//! stage, independent writes concurrently, and the invalidation last. Shared by
//! `publish-installer` and `rollback`.

use std::{sync::Arc, time::Duration};

use anyhow::{bail, Result};
use tokio::sync::Semaphore;

use crate::{
    adapters::{
        cdn,
        s3::{Bucket, CONCURRENCY},
    },
    domain::{
        layout::WRAPPER_KEY,
        publish_plan::{caller_reference, PublishPlan},
    },
};

/// Writes what the plan says must be written. `stop_after` ends the run after that many
/// writes, as an interruption would (the tests use it to prove a rerun completes).
/// Returns the publish ID given to the wrapper, if this run wrote it.
pub async fn execute(bucket: &Bucket, plan: &PublishPlan, stop_after: Option<usize>) -> Result<Option<String>> {
    let publish_id = new_publish_id();
    let mut wrapper_written = false;
    let mut budget = stop_after.unwrap_or(usize::MAX);
    for stage in &plan.stages {
        let writes: Vec<_> = stage.steps.iter().filter(|step| step.writes()).collect();
        if writes.is_empty() {
            println!("{}: nothing to write", stage.name);
            continue;
        }
        println!("{}: writing {} object(s)", stage.name, writes.len());
        let allowed = writes.len().min(budget);
        let limit = Arc::new(Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for step in writes.iter().take(allowed) {
            let (bucket, limit, desired, tag) = (bucket.clone(), limit.clone(), step.desired.clone(), plan.tag.clone());
            let id = (desired.key == WRAPPER_KEY).then(|| publish_id.clone());
            wrapper_written |= id.is_some();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await?;
                bucket.write(&desired, &tag, id.as_deref()).await?;
                println!(
                    "  wrote s3://{}/{} ({} bytes, sha256 {})",
                    bucket.name, desired.key, desired.size, desired.sha256
                );
                Ok::<_, anyhow::Error>(())
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined??;
        }
        budget -= allowed;
        if allowed < writes.len() {
            bail!(
                "stopped after {} writes, as asked; run the same command again to complete it",
                stop_after.unwrap_or_default()
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
    let reference = caller_reference(&plan.tag, &plan.invalidation_paths, &publish_id);
    cdn::invalidate_and_wait(cloudfront, distribution, &plan.invalidation_paths, &reference, timeout).await
}

fn new_publish_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{nanos:x}-{:x}", std::process::id())
}
