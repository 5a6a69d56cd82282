//! `cargo xtask cfn upload`: rendered CloudFormation templates to the bucket and prefix
//! of a stage.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xtask::{
    adapters::{buildkite, workspace::Workspace},
    cli::CfnUploadArgs,
    domain::{
        config::Visibility,
        names::stage::Placement,
        publishing::digest::sha256_hex,
        publishing::layout::{self, AMIS_FILE, IMMUTABLE_CACHE, MUTABLE_CACHE},
        publishing::publish_plan::{plan, Content, Desired, Owner},
    },
};

use crate::adapters::{publisher, s3::Lookup, site::with_site};

pub fn run(workspace: &Workspace, args: CfnUploadArgs, dry_run: bool) -> Result<()> {
    let placement = placement(workspace, &args)?;
    if let (Placement::Release(name), false) = (&placement, dry_run) {
        buildkite::require_main_branch(workspace, &format!("upload the templates of release {name}"))?;
    }
    let (desired, skipped) = desired_objects(workspace, &args.dir, &placement)?;
    let prefix = layout::template_prefix(&placement);
    let bucket_name = layout::template_bucket(&workspace.config, placement.stage()).to_owned();
    let owner = match &placement {
        Placement::Internal(commit) | Placement::Alpha(commit) => Owner::Commit(commit.clone()),
        Placement::Release(name) => Owner::Release(name.clone()),
    };
    let uploaded = with_site(workspace, async |site| {
        let bucket = site.bucket(&bucket_name);
        let remote = bucket.remotes(desired.iter().map(Lookup::of)).await?;
        let plan = plan(owner, vec![("templates", desired)], &remote, false);
        let conflicts = plan.conflicts();
        if !conflicts.is_empty() {
            bail!(
                "refusing to upload: release prefixes are written once, and these objects hold other content:\n  {}\n\
                 Nothing was written. Render from the AMIs of that release, or release under a new name.",
                conflicts.join("\n  ")
            );
        }
        println!("Upload plan to s3://{bucket_name}/{prefix}:");
        print!("{}", plan.describe());
        if !skipped.is_empty() {
            println!("   internal only, not uploaded to the public bucket: {}", skipped.join(", "));
        }
        if dry_run {
            println!("\nDry run: nothing was written.");
            return Ok(false);
        }
        publisher::execute(&bucket, &plan).await?;
        Ok(true)
    })?;
    if uploaded {
        println!("Templates are at {}", layout::bucket_url(&workspace.config, &bucket_name, &prefix));
    }
    Ok(())
}

fn placement(workspace: &Workspace, args: &CfnUploadArgs) -> Result<Placement> {
    let stage = &args.stage;
    Ok(match (&stage.internal, &stage.alpha, &stage.release) {
        (Some(commit), _, _) => Placement::Internal(commit.clone()),
        (_, Some(commit), _) => Placement::Alpha(commit.clone()),
        (_, _, Some(name)) => Placement::Release(buildkite::release_name(workspace, name.clone())?),
        (None, None, None) => bail!("pass one of --internal <COMMIT>, --alpha <COMMIT> or --release <NAME>"),
    })
}

/// The templates the stage publishes (internal-only ones never go public) and the AMIs
/// file, read from the render's output; and the names left out.
fn desired_objects(workspace: &Workspace, dir: &Path, placement: &Placement) -> Result<(Vec<Desired>, Vec<String>)> {
    let stage = placement.stage();
    let prefix = layout::template_prefix(placement);
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for template in &workspace.config.templates {
        if stage.is_public() && template.visibility == Visibility::Internal {
            skipped.push(template.name.clone());
        } else {
            files.push((format!("{}.yaml", template.name), layout::YAML_TYPE));
        }
    }
    files.push((AMIS_FILE.to_owned(), layout::JSON_TYPE));
    let desired = files
        .into_iter()
        .map(|(file, content_type)| {
            let path = dir.join(&file);
            let bytes = std::fs::read(&path).with_context(|| {
                format!("{} is missing; run `cargo xtask cfn render` into {} first", path.display(), dir.display())
            })?;
            Ok(Desired {
                key: format!("{prefix}{file}"),
                sha256: sha256_hex(&bytes),
                size: bytes.len() as u64,
                content: Content::Bytes(bytes),
                content_type,
                cache_control: if stage.is_immutable() { IMMUTABLE_CACHE } else { MUTABLE_CACHE },
                mutable: !stage.is_immutable(),
            })
        })
        .collect::<Result<_>>()?;
    Ok((desired, skipped))
}
