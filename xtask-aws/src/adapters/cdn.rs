//! CloudFront invalidations: created with a caller reference (so a retry returns the
//! same one) and waited for with a bound, reporting progress and treating an API error
//! as an error, never as completion.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

use crate::adapters::{
    aws_error::aws_error,
    tasks::{poll_until, Poll, Polling},
};

const FIRST_POLL: Duration = Duration::from_secs(1);
const LONGEST_POLL: Duration = Duration::from_secs(15);

pub async fn invalidate_and_wait(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution: &str,
    paths: &[String],
    caller_reference: &str,
    timeout: Duration,
) -> Result<String> {
    let batch = InvalidationBatch::builder()
        .caller_reference(caller_reference)
        .paths(Paths::builder().quantity(paths.len() as i32).set_items(Some(paths.to_vec())).build()?)
        .build()?;
    let created =
        cloudfront.create_invalidation().distribution_id(distribution).invalidation_batch(batch).send().await.map_err(
            |error| aws_error(&format!("CloudFront CreateInvalidation on distribution {distribution}"), error),
        )?;
    let invalidation = created.invalidation.context("CloudFront returned no invalidation")?;
    let id = invalidation.id;
    println!("CloudFront invalidation {id} on {distribution} for {}", paths.join(" "));

    let started = Instant::now();
    let mut status = Some(invalidation.status);
    let check = || {
        let (id, known) = (&id, status.take());
        async move {
            let status = match known {
                Some(status) => status,
                None => current_status(cloudfront, distribution, id).await?,
            };
            Ok(if status == "Completed" {
                Poll::Done(())
            } else {
                Poll::Pending(format!("invalidation {id}, still {status}"))
            })
        }
    };
    let polling = Polling { first: FIRST_POLL, longest: LONGEST_POLL, timeout };
    poll_until(polling, check, |pending, elapsed| {
        anyhow::anyhow!(
            "waited {}s (the limit, --invalidation-timeout) for CloudFront {pending}; the objects are published, but \
             caches may serve the old ones until it completes. Check it with \
             `aws cloudfront get-invalidation --distribution-id {distribution} --id {id}`",
            elapsed.as_secs(),
        )
    })
    .await?;
    println!("  invalidation {id} completed after {}s", started.elapsed().as_secs());
    Ok(id)
}

async fn current_status(cloudfront: &aws_sdk_cloudfront::Client, distribution: &str, id: &str) -> Result<String> {
    let current = cloudfront
        .get_invalidation()
        .distribution_id(distribution)
        .id(id)
        .send()
        .await
        .map_err(|error| aws_error(&format!("CloudFront GetInvalidation of {id} on {distribution}"), error))?;
    Ok(current.invalidation.context("CloudFront returned no invalidation")?.status)
}
