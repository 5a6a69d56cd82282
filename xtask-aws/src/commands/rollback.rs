//! `cargo xtask rollback <tag>`: points the legacy keys and the wrapper back at an
//! earlier, fully published release.

use anyhow::{bail, Context, Result};
use xtask::{
    adapters::workspace::Workspace,
    cli::RollbackArgs,
    domain::{
        layout::{self, MUTABLE_CACHE},
        publish_plan::{legacy_copy, plan, Content, Desired, Owner, PublishPlan},
        tag::ReleaseTag,
    },
};

use crate::adapters::{
    publisher, release_state,
    s3::Lookup,
    site::{with_site, Site},
};

pub fn run(workspace: &Workspace, args: RollbackArgs, dry_run: bool) -> Result<()> {
    let tag = &args.tag;
    let rolled_back = with_site(workspace, async |site| {
        let plan = plan_rollback(site, tag).await?;
        println!("Rollback plan: serve {tag} from s3://{}:", site.config.orchestrator_bucket);
        print!("{}", plan.describe());
        if dry_run {
            println!("\nDry run: nothing was written and no invalidation was made.");
            return Ok(false);
        }
        publisher::publish(site, &plan, args.invalidation_timeout).await?;
        Ok(true)
    })?;
    if rolled_back {
        println!("\nRolled back: {}/{} installs {tag} again.", workspace.config.public_base_url, layout::WRAPPER_KEY);
    }
    Ok(())
}

/// The legacy keys and the wrapper as `tag` left them: server-side copies of its own
/// versioned objects, so nothing is uploaded from this machine.
async fn plan_rollback(site: &Site, tag: &ReleaseTag) -> Result<PublishPlan> {
    let status = release_state::inspect(site, tag).await?;
    let Some(manifest) = status.complete_manifest() else {
        bail!(
            "refusing to roll back to {tag}: it is not fully published, so customers would get a broken install.\n{status}\
             Nothing was written."
        );
    };
    let bucket = site.orchestrator();
    let kept = layout::versioned_wrapper(tag);
    let wrapper = bucket.head(&kept).await?.and_then(|head| head.remote.sha256.map(|sha| (sha, head.remote.size)));
    let (sha256, size) = wrapper.with_context(|| {
        format!(
            "s3://{}/{kept} has no sha256 metadata, so it was not written by publish-installer; \
             publish {tag} again (`cargo xtask publish-installer {tag}`) before rolling back to it",
            bucket.name
        )
    })?;
    let legacy: Vec<Desired> = manifest.installers.iter().map(|entry| legacy_copy(tag, entry)).collect();
    let wrapper = Desired {
        key: layout::WRAPPER_KEY.into(),
        content: Content::CopyOf(kept),
        sha256,
        size,
        content_type: layout::WRAPPER_TYPE,
        cache_control: MUTABLE_CACHE,
        mutable: true,
    };
    let phases = vec![("legacy keys (server-side copies)", legacy), ("wrapper", vec![wrapper])];
    let lookups: Vec<Lookup> = phases.iter().flat_map(|(_, objects)| objects).map(Lookup::of).collect();
    let remote = bucket.remotes(lookups).await?;
    Ok(plan(Owner::Release(tag.clone()), phases, &remote, true))
}
