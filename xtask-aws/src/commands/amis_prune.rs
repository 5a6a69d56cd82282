//! `cargo xtask amis prune`: deregisters the images of a stage that nothing uses and
//! deletes their snapshots (`domain/images/lifecycle.rs` decides; a dry run unless
//! `--apply`). Each image's snapshots are tagged with it before it is deregistered, so a
//! rerun after an interruption finds and deletes the snapshots an earlier run left.

use std::time::SystemTime;

use anyhow::Result;
use xtask::{
    adapters::{buildkite, workspace::Workspace},
    cli::AmisPruneArgs,
    domain::images::lifecycle::{self, OwnedImage, PruneScope, Verdict},
};

use crate::adapters::{
    ec2::Ec2,
    image_inventory::{self, Inventory},
    sigv4_http::SignedClient,
    site::with_site,
};

/// The tag a removed image's snapshots carry (its ID) from before it is deregistered
/// until they are deleted.
const PRUNED_FROM: &str = "ReadySetPrunedFrom";

pub fn run(workspace: &Workspace, args: AmisPruneArgs, dry_run: bool) -> Result<()> {
    let scope = PruneScope {
        stage: args.stage,
        older_than: args.older_than,
        release: args.release.clone(),
        cap: workspace.config.prune_max_images as usize,
    };
    scope.check()?;
    let regions = workspace.ami_regions()?;
    let cents = workspace.config.snapshot_cents_per_gib_month;
    let apply = args.apply && !dry_run;
    with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        let ec2 = Ec2 { client: &client };
        let inventory = image_inventory::read(site, &ec2, &regions).await?;
        let references = lifecycle::references(&inventory.images, &inventory.templates);
        let judged = lifecycle::judge(&inventory.images, &references, &scope, SystemTime::now());
        let leftovers = leftover_snapshots(&ec2, &regions, &inventory).await?;
        // The inventory's requests, and a DescribeSnapshots per region for the leftovers.
        let report = report(&scope, &judged, &leftovers, cents, inventory.requests + regions.len());
        print!("{report}");
        buildkite::annotate(workspace, &format!("amis-prune-{}", scope.stage), &format!("```\n{report}```\n"));
        if !apply {
            println!("\nDry run: nothing was deregistered or deleted. Pass --apply to remove what is listed above.");
            return Ok(());
        }
        for (region, snapshot, _) in &leftovers {
            ec2.delete_snapshot(region, snapshot).await?;
        }
        for (image, verdict) in &judged {
            if *verdict == Verdict::Remove {
                remove(&ec2, image).await?;
            }
        }
        println!("\nApplied.");
        Ok(())
    })
}

/// Snapshots an interrupted run tagged for removal whose image is gone already:
/// (region, snapshot, the image it came from).
async fn leftover_snapshots(
    ec2: &Ec2<'_>,
    regions: &[String],
    inventory: &Inventory,
) -> Result<Vec<(String, String, String)>> {
    let mut found = Vec::new();
    for region in regions {
        for (snapshot, image) in ec2.snapshots_tagged(region, PRUNED_FROM).await? {
            if !inventory.images.iter().any(|owned| owned.id == image) {
                found.push((region.clone(), snapshot, image));
            }
        }
    }
    Ok(found)
}

/// Tags the snapshots with the image, deregisters it, deletes them: interrupted
/// anywhere, a rerun finishes (the image is judged again, or its snapshots are leftovers).
async fn remove(ec2: &Ec2<'_>, image: &OwnedImage) -> Result<()> {
    let snapshots: Vec<String> = image.snapshots.iter().map(|(id, _)| id.clone()).collect();
    if !snapshots.is_empty() {
        ec2.create_tags(&image.region, &snapshots, &[(PRUNED_FROM.to_owned(), image.id.clone())]).await?;
    }
    ec2.deregister_image(&image.region, &image.id).await?;
    for snapshot in &snapshots {
        ec2.delete_snapshot(&image.region, snapshot).await?;
    }
    println!("  removed {} in {} and its snapshots {}", image.id, image.region, snapshots.join(", "));
    Ok(())
}

fn report(
    scope: &PruneScope,
    judged: &[(&OwnedImage, Verdict)],
    leftovers: &[(String, String, String)],
    cents: u32,
    requests: usize,
) -> String {
    let which = match &scope.release {
        Some(release) => format!("of release {release}, whatever their age"),
        None => format!("older than {}d", scope.older_than.as_secs() / 86_400),
    };
    let mut text = format!(
        "Prune of the {} images ({} found; {which}; at most {} per run):\n",
        scope.stage,
        judged.len(),
        scope.cap
    );
    let mut freed = 0;
    for (image, verdict) in judged {
        let line = match verdict {
            Verdict::Keep(why) => format!("  keep    {} in {}: {why}\n", image.id, image.region),
            Verdict::OverTheCap => {
                format!("  later   {} in {}: this run removes {} at most\n", image.id, image.region, scope.cap)
            }
            Verdict::Remove => {
                freed += image.gib();
                format!(
                    "  remove  {} in {} ({}, {} GiB of snapshots)\n",
                    image.id,
                    image.region,
                    image.name,
                    image.gib()
                )
            }
        };
        text += &line;
    }
    for (region, snapshot, image) in leftovers {
        text +=
            &format!("  finish  {snapshot} in {region}: a snapshot of {image}, which an earlier run deregistered\n");
    }
    text += &format!(
        "Frees {freed} GiB of snapshots, about ${:.2} a month at {cents} cents per GiB-month ({requests} requests to read the account)\n",
        lifecycle::monthly_dollars(freed, cents)
    );
    text
}
