//! `cargo xtask rollback <tag>`: points the legacy keys, the wrapper and the signed
//! pointer back at an earlier, fully published release.

use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use xtask::{
    adapters::workspace::Workspace,
    cli::{LeftOutKeys, RollbackArgs},
    domain::{
        names::tag::ReleaseTag,
        publishing::digest::sha256_hex,
        publishing::layout::{self, MUTABLE_CACHE},
        publishing::publish_plan::{legacy_copy, plan, Content, Desired, Owner, PublishPlan, Removal, POINTER_PHASE},
        publishing::release_lock,
        publishing::release_manifest::ReleaseManifest,
        publishing::release_status::{ObjectStatus, ReleaseStatus},
    },
};

use crate::adapters::{
    manifest_signature::ReleaseKey,
    publisher,
    release_lock::LockStore,
    release_pointer, release_state,
    s3::{Bucket, Lookup},
    site::{with_site, Site},
};

pub fn run(workspace: &Workspace, args: RollbackArgs, dry_run: bool) -> Result<()> {
    let tag = &args.tag;
    let rolled_back = with_site(workspace, async |site| {
        let lock = LockStore::of(site).read().await?;
        release_lock::require_free(lock.record.as_ref(), &format!("roll back to {tag}"), SystemTime::now())?;
        let plan = plan_rollback(workspace, site, tag, args.left_out_keys).await?;
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

/// The legacy keys, the wrapper and the check script as `tag` left them (server-side
/// copies of its own versioned objects, so nothing is uploaded from this machine), then
/// a new signed pointer naming it.
async fn plan_rollback(
    workspace: &Workspace,
    site: &Site,
    tag: &ReleaseTag,
    left_out: Option<LeftOutKeys>,
) -> Result<PublishPlan> {
    let key = ReleaseKey::load(workspace, site, None).await?;
    let status = release_state::inspect(site, &key, tag).await?;
    let Some(manifest) = status.complete_manifest() else {
        bail!(
            "refusing to roll back to {tag}: it is not fully published with a manifest whose signature verifies \
             with {}, so customers could get a broken or forged install.\n{status}Nothing was written.",
            key.source
        );
    };
    let bucket = site.orchestrator();
    let legacy: Vec<Desired> = manifest.installers.iter().map(|entry| legacy_copy(tag, entry)).collect();
    let mut scripts = vec![served_again(&bucket, tag, layout::versioned_wrapper(tag), layout::WRAPPER_KEY).await?];
    // Releases published before the check script existed have none to serve again.
    if manifest.check_script_sha256.is_some() {
        let kept = layout::versioned_check_script(tag);
        scripts.push(served_again(&bucket, tag, kept, layout::CHECK_SCRIPT_KEY).await?);
    }
    let manifest_sha256 = manifest_sha256(site, tag, manifest).await?;
    let wrapper_sha256 = scripts[0].sha256.clone();
    let mut phases = vec![("legacy keys (server-side copies)", legacy), ("wrapper and the customer's check", scripts)];
    let lookups: Vec<Lookup> = phases.iter().flat_map(|(_, objects)| objects).map(Lookup::of).collect();
    let mut remote = bucket.remotes(lookups).await?;
    let (pointer, found) = release_pointer::next(site, &key, tag, &manifest_sha256, &wrapper_sha256).await?;
    phases.push((POINTER_PHASE, vec![pointer]));
    remote.extend(found.map(|found| (layout::POINTER_KEY.to_owned(), found)));
    let mut plan = plan(Owner::Release(tag.clone()), phases, &remote, true);
    plan.invalidate_also(layout::INDEX_KEY);
    plan.remove(left_out_removals(site, &status, left_out).await?);
    Ok(plan)
}

/// A moving key served again as `tag` left it: a server-side copy of the copy kept with
/// the release, so nothing is uploaded from this machine.
async fn served_again(bucket: &Bucket, tag: &ReleaseTag, kept: String, key: &str) -> Result<Desired> {
    let found = bucket.head(&kept).await?.and_then(|head| head.remote.sha256.map(|sha| (sha, head.remote.size)));
    let (sha256, size) = found.with_context(|| {
        format!(
            "s3://{}/{kept} has no sha256 metadata, so it was not written by publish-installer; \
             publish {tag} again (`cargo xtask publish-installer {tag}`) before rolling back to it",
            bucket.name
        )
    })?;
    Ok(Desired {
        key: key.to_owned(),
        content: Content::CopyOf(kept),
        sha256,
        size,
        content_type: layout::WRAPPER_TYPE,
        cache_control: MUTABLE_CACHE,
        mutable: true,
    })
}

/// The SHA-256 of the manifest's bytes, which the pointer names: read again, and refused
/// unless they are the manifest whose signature was just checked.
async fn manifest_sha256(site: &Site, tag: &ReleaseTag, verified: &ReleaseManifest) -> Result<String> {
    let key = layout::manifest(tag);
    let bytes = site.orchestrator().get(&key).await?.unwrap_or_default();
    if serde_json::from_slice::<ReleaseManifest>(&bytes).ok().as_ref() != Some(verified) {
        bail!("{key} changed while the rollback read it; nothing was written. Run the rollback again");
    }
    Ok(sha256_hex(&bytes))
}

/// The legacy keys of platforms `tag` left out that serve another release: kept or
/// removed as asked, and never left behind silently (status would call the release live
/// while a platform still got a newer installer).
async fn left_out_removals(site: &Site, status: &ReleaseStatus, left_out: Option<LeftOutKeys>) -> Result<Vec<Removal>> {
    let stray: Vec<&ObjectStatus> = status.stray_legacy_keys().collect();
    match (stray.is_empty(), left_out) {
        (true, _) | (false, Some(LeftOutKeys::Keep)) => return Ok(Vec::new()),
        (false, Some(LeftOutKeys::Remove)) => {}
        (false, None) => bail!(
            "refusing to roll back to {}: it has no installer for some platforms whose legacy keys serve another \
             release:\n  {}\nSay what to do with them: --left-out-keys keep (they keep serving that release) or \
             --left-out-keys remove (old wrappers on those platforms then find no installer). Nothing was written.",
            status.tag,
            stray
                .iter()
                .map(|o| format!("{} (serves {})", o.url, o.serves.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
    let bucket = site.orchestrator();
    let mut removals = Vec::new();
    for object in stray {
        let key =
            object.url.rsplit_once(&format!("{}/", bucket.name)).map(|(_, key)| key.to_owned()).unwrap_or_default();
        if let Some(head) = bucket.head(&key).await? {
            let etag = head.remote.etag.unwrap_or_default();
            removals.push(Removal { key, etag, serves: object.serves.clone().unwrap_or_default() });
        }
    }
    Ok(removals)
}
