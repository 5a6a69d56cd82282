//! Carries out a publish plan against a bucket and CloudFront: phase by phase,
//! independent writes concurrently, and the invalidation last. Shared by
//! `publish-installer`, `rollback` and `cfn upload`.

use std::time::Duration;

use anyhow::{bail, Result};
use xtask::domain::{
    publishing::layout::WRAPPER_KEY,
    publishing::publish_plan::{caller_reference, PublishPlan, Step},
};

use crate::adapters::{
    cdn,
    s3::{Bucket, Written, CONCURRENCY},
    site::Site,
    tasks::join_in_order,
};

/// Carries out a plan against the orchestrator bucket, then invalidates what moved and
/// waits (at most `timeout`): what `publish-installer` and `rollback` end with.
pub async fn publish(site: &Site, plan: &PublishPlan, timeout: Duration) -> Result<()> {
    let written = execute(&site.orchestrator(), plan).await?;
    invalidate(&site.cloudfront, &site.config.cloudfront_distribution, plan, written, timeout).await?;
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
        wrapper_written |= writes.iter().any(|step| step.desired.key == WRAPPER_KEY);
        let jobs = writes.iter().map(|step| {
            let (bucket, step, owner) = (bucket.clone(), (*step).clone(), plan.owner.clone());
            // Moving keys carry the run's ID, so a retried write whose first attempt
            // landed (and whose answer was lost) knows the key holds its own write.
            let id = step.desired.mutable.then(|| publish_id.clone());
            async move {
                match bucket.write(&step.desired, &owner, id.as_deref(), &step.precondition()).await? {
                    Written::Done => Ok(()),
                    Written::PreconditionFailed => lost_race(&bucket, &step, id.as_deref()).await,
                }
            }
        });
        // Every write of the phase finishes (or fails) before the next phase or an
        // error; the error reported is the first in plan order, the same on a rerun.
        join_in_order(CONCURRENCY, jobs).await?;
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
    for removal in &plan.removals {
        match bucket.delete(&removal.key, &removal.etag).await? {
            Written::Done => println!("  removed s3://{}/{}", bucket.name, removal.key),
            Written::PreconditionFailed => bail!(
                "s3://{}/{} changed after this run read it; nothing more was removed. Run the command again",
                bucket.name,
                removal.key
            ),
        }
    }
    Ok(wrapper_written.then_some(publish_id))
}

/// Invalidates every mutable path of the plan and waits. The caller reference comes
/// from the publish ID the wrapper now carries: `written` when this run wrote it, else
/// the one the plan read, so a rerun that wrote nothing gets the invalidation of the
/// run that did.
async fn invalidate(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution: &str,
    plan: &PublishPlan,
    written: Option<String>,
    timeout: Duration,
) -> Result<String> {
    let found = || plan.steps().find(|step| step.desired.key == WRAPPER_KEY)?.found_publish_id.clone();
    let publish_id = written.or_else(found).unwrap_or_else(|| "unlabelled".into());
    let reference = caller_reference(&plan.owner, &plan.invalidation_paths, &publish_id);
    cdn::invalidate_and_wait(cloudfront, distribution, &plan.invalidation_paths, &reference, timeout).await
}

/// Another writer got to a key between the plan and the write. A versioned key is fine
/// if it now holds the same bytes, and a moving key if it holds this run's own write (an
/// attempt that landed but whose answer was lost); anything else stops the run, which
/// planned against a bucket that has changed.
async fn lost_race(bucket: &Bucket, step: &Step, publish_id: Option<&str>) -> Result<()> {
    let desired = &step.desired;
    if let (true, Some(id)) = (desired.mutable, publish_id) {
        let head = bucket.head(&desired.key).await?;
        if head.is_some_and(|h| {
            h.remote.publish_id.as_deref() == Some(id) && h.remote.sha256.as_deref() == Some(&desired.sha256)
        }) {
            eprintln!("  s3://{}/{} holds this run's own write (an earlier attempt landed)", bucket.name, desired.key);
            return Ok(());
        }
    }
    let now = bucket.remote(&desired.key, true).await?;
    let same =
        now.as_ref().is_some_and(|r| r.sha256.as_deref() == Some(desired.sha256.as_str()) && r.size == desired.size);
    if !desired.mutable && same {
        eprintln!("  s3://{}/{} was written meanwhile by another run, with the same bytes", bucket.name, desired.key);
        return Ok(());
    }
    if !desired.mutable {
        let found = now.and_then(|r| r.sha256).unwrap_or_else(|| "unknown".into());
        bail!(
            "{} was written meanwhile by another run with other bytes (sha256 {found}; this release has {}). \
             Published versions never change: publish the builds of that release's commit, or release under a new name",
            desired.key,
            desired.sha256
        );
    }
    bail!(
        "s3://{}/{} changed after this run read it: another publish or rollback ran at the same time (in the \
         pipeline, releases run one at a time). Nothing after it was written; run the command again and it plans \
         against what the bucket holds now",
        bucket.name,
        desired.key
    )
}

fn new_publish_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{nanos:x}-{:x}", std::process::id())
}
