//! `cargo xtask publish-installer <tag>`: steps 6 to 8 of a release. Uploads the
//! installers the build machines produced, the manifest, the legacy keys and the
//! wrapper, in that order, then invalidates CloudFront and waits.

use std::{collections::BTreeMap, time::SystemTime};

use anyhow::{bail, Context, Result};
use xtask::{
    adapters::{artifacts, buildkite, git, workspace::Workspace},
    cli::PublishInstallerArgs,
    domain::{
        config::ReleaseConfig,
        diff,
        images::packer::{AmiTable, AmisFile},
        names::tag::ReleaseTag,
        publishing::digest::sha256_hex,
        publishing::layout::{self, WRAPPER_KEY},
        publishing::publish_plan::{desired_objects, downgrade, plan, Desired, Owner, PublishPlan, Remote, State},
        publishing::release_index::{self, IndexEntry},
        publishing::release_manifest::{Allowances, AssembledRelease, ReleaseManifest, Scripts, TemplateEntry},
        publishing::wrapper,
    },
};

use crate::adapters::{
    manifest_signature::{self, ReleaseKey},
    publisher, release_index as index_store, release_pointer, release_state,
    s3::Lookup,
    site::{with_site, Site},
};

pub fn run(workspace: &Workspace, args: PublishInstallerArgs, dry_run: bool) -> Result<()> {
    let tag = buildkite::release_name(workspace, args.tag.clone())?;
    if !dry_run {
        buildkite::require_main_branch(workspace, &format!("publish release {tag}"))?;
    }
    let release = assemble(workspace, &tag, &args)?;
    let scripts = render_scripts(workspace, &release)?;
    let release = release.with_wrapper(&scripts);
    let published = with_site(workspace, async |site| {
        // Independent reads, done at once (a rerun with nothing to do is mostly these);
        // their errors are judged in this order, so a run names the same one each time.
        let (templates, remote) = futures_util::future::join(
            template_entries(site, &release.manifest, args.allow_missing_templates),
            site.orchestrator().remotes(lookups(&release, &scripts)),
        )
        .await;
        // The signature covers the templates, so it is made once they are read.
        let templates = templates?;
        let release = release.clone().with_templates(templates.entries);
        let key = ReleaseKey::load(workspace, site, None).await?;
        let (signature, mut remote) = (signature(site, &key, &release.manifest).await?, remote?);
        if let Some(published) = signature.published {
            remote.insert(layout::manifest_signature(&tag), published);
        }
        let entry = index_entry(&site.config, &release.manifest, templates.amis);
        let statements = statements(site, &key, &release.manifest, &scripts.wrapper, entry, &mut remote).await?;
        let plan = plan_publish(&release, &scripts, signature.bytes, statements, &remote)?;
        refuse_downgrade(workspace, site, &release, &plan, args.allow_downgrade).await?;
        println!(
            "Publish plan for {tag} to s3://{} (CFN version {}):",
            site.config.orchestrator_bucket, release.manifest.cfn_version
        );
        print!("{}", plan.describe());
        if dry_run {
            print_wrapper_change(site, &tag, &scripts.wrapper).await?;
            println!("\nDry run: nothing was written and no invalidation was made.");
            return Ok(false);
        }
        publisher::publish(site, &plan, args.invalidation_timeout).await?;
        Ok(true)
    })?;
    if !published {
        return Ok(());
    }
    println!("\nPublished {tag}: {}/{WRAPPER_KEY} now installs it.", workspace.config.public_base_url);
    buildkite::annotate(workspace, "release", &annotation(workspace, &release.manifest));
    println!("Check it with `cargo xtask verify {tag}`.");
    Ok(())
}

/// The release from the build machines' outputs, refused whole if anything is off.
fn assemble(workspace: &Workspace, tag: &ReleaseTag, args: &PublishInstallerArgs) -> Result<AssembledRelease> {
    let builds = artifacts::collect(&args.artifacts, &workspace.config)?;
    let allowed = Allowances { excluded_targets: args.exclude_targets.clone(), dirty: args.allow_dirty };
    let release = ReleaseManifest::assemble(tag, &workspace.config, &builds, &allowed)?;
    for triple in &args.exclude_targets {
        eprintln!("WARNING: {triple} is left out of release {tag} (--exclude-target): its customers get no installer");
    }
    Ok(release)
}

/// The wrapper with this release's tag and one checksum per configured platform (empty
/// for a platform left out, which the wrapper reports as unsupported by this release),
/// and the customer's check.
fn render_scripts(workspace: &Workspace, release: &AssembledRelease) -> Result<Scripts> {
    let config = &workspace.config;
    let check = workspace.read(wrapper::CHECK_TEMPLATE_PATH)?;
    let template_base_url = layout::bucket_base_url(config, &config.cfn_public_bucket);
    let check = wrapper::render_check_script(&check, &config.public_base_url, &template_base_url)?;
    Ok(Scripts { wrapper: render_wrapper(workspace, release)?, check })
}

fn render_wrapper(workspace: &Workspace, release: &AssembledRelease) -> Result<String> {
    let checksums: BTreeMap<String, Option<String>> = workspace
        .config
        .targets
        .iter()
        .map(|target| {
            let entry = release.manifest.entry(&target.published_name);
            (target.published_name.clone(), entry.map(|entry| entry.sha256.clone()))
        })
        .collect();
    let template = workspace.read(wrapper::TEMPLATE_PATH)?;
    wrapper::render(&template, &release.manifest.tag, &workspace.config.public_base_url, &checksums)
}

/// The public templates and `amis.json` of a release's CFN version as the bucket holds
/// them, and the AMIs that file names (none when it is missing and that was allowed).
struct Templates {
    entries: Vec<TemplateEntry>,
    amis: AmiTable,
}

/// The installers point at the templates of their CFN version: those must exist first.
/// The public templates and `amis.json` of the release's CFN version as the bucket holds
/// them (key and SHA-256 of the bytes), for the manifest; refuses missing templates
/// unless allowed.
async fn template_entries(site: &Site, manifest: &ReleaseManifest, allow_missing: bool) -> Result<Templates> {
    require_templates(site, manifest, allow_missing).await?;
    let bucket = site.bucket(&site.config.cfn_public_bucket);
    let mut keys: Vec<String> = site
        .config
        .public_templates()
        .map(|template| layout::release_template(&manifest.cfn_version, &template.name))
        .collect();
    let amis_key = layout::release_amis_file(&manifest.cfn_version);
    keys.push(amis_key.clone());
    let (mut entries, mut amis) = (Vec::new(), AmiTable::new());
    for key in keys {
        match bucket.download(&key).await? {
            Some((bytes, _)) => {
                if key == amis_key {
                    let file: AmisFile = serde_json::from_slice(&bytes).with_context(|| {
                        format!("s3://{}/{key} is not {}; nothing was written", bucket.name, AmisFile::WHAT)
                    })?;
                    amis = file.images;
                }
                entries.push(TemplateEntry { key, sha256: sha256_hex(&bytes) });
            }
            None if allow_missing => {}
            None => bail!(
                "refusing to publish {}: s3://{}/{key} is missing; upload the release's templates first \
                 (`cargo xtask cfn upload --release {}`). Nothing was written.",
                manifest.tag,
                bucket.name,
                manifest.cfn_version
            ),
        }
    }
    Ok(Templates { entries, amis })
}

async fn require_templates(site: &Site, manifest: &ReleaseManifest, allow_missing: bool) -> Result<()> {
    let (tag, cfn_version) = (&manifest.tag, &manifest.cfn_version);
    let missing = release_state::missing_templates(site, cfn_version).await?;
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join("\n  ");
    if !allow_missing {
        bail!(
            "refusing to publish {tag}: the installers point at CloudFormation templates that are not published:\n  {list}\n\
             Upload them first (`cargo xtask cfn upload --release {cfn_version}`), or pass \
             --allow-missing-templates if you know they are coming. Nothing was written."
        );
    }
    eprintln!(
        "\nWARNING: publishing {tag} although its installers point at templates that do not exist yet:\n  {list}\n\
         Customers who run it before they are uploaded will fail.\n"
    );
    Ok(())
}

/// The signature to publish, and what the bucket holds at its key (read with it, so
/// the plan's lookups leave that key out).
struct Signature {
    bytes: Vec<u8>,
    published: Option<Remote>,
}

/// The manifest's signature: the published one when it verifies (a rerun), else a new
/// one from KMS, checked with the trusted key before anything is written.
async fn signature(site: &Site, key: &ReleaseKey, manifest: &ReleaseManifest) -> Result<Signature> {
    let bytes = manifest.to_json().into_bytes();
    let found = site.orchestrator().download(&layout::manifest_signature(&manifest.tag)).await?;
    let published = found.as_ref().map(|(_, remote)| remote.clone());
    if let Some((valid, _)) = found.filter(|(signature, _)| key.verifies(&bytes, signature)) {
        return Ok(Signature { bytes: valid, published });
    }
    println!(
        "Signing the manifest with KMS key {}; the signature is checked with {}.",
        site.config.signing_key, key.source
    );
    Ok(Signature { bytes: manifest_signature::sign(site, key, &bytes).await?, published })
}

/// The signed statements that close a publish: the pointer naming this release current
/// and the index of releases with it in. What the bucket held at their keys is what
/// their writes are conditional on, so it goes into `remote`.
async fn statements(
    site: &Site,
    key: &ReleaseKey,
    manifest: &ReleaseManifest,
    wrapper: &str,
    entry: IndexEntry,
    remote: &mut BTreeMap<String, Remote>,
) -> Result<[Desired; 2]> {
    let (manifest_sha256, wrapper_sha256) = (&entry.manifest_sha256, sha256_hex(wrapper.as_bytes()));
    let (pointer, found) = release_pointer::next(site, key, &manifest.tag, manifest_sha256, &wrapper_sha256).await?;
    remote.extend(found.map(|found| (layout::POINTER_KEY.to_owned(), found)));
    let (index, found) = index_store::next(site, key, entry).await?;
    remote.extend(found.map(|found| (layout::INDEX_KEY.to_owned(), found)));
    Ok([pointer, index])
}

/// What the index of releases says of this one.
fn index_entry(config: &ReleaseConfig, manifest: &ReleaseManifest, amis: AmiTable) -> IndexEntry {
    let templates = config
        .public_templates()
        .map(|template| {
            let key = layout::release_template(&manifest.cfn_version, &template.name);
            layout::bucket_url(config, &config.cfn_public_bucket, &key)
        })
        .collect();
    IndexEntry {
        name: manifest.tag.clone(),
        commit: manifest.commit.clone(),
        manifest_sha256: sha256_hex(manifest.to_json().as_bytes()),
        published: release_index::timestamp(SystemTime::now()),
        amis,
        templates,
    }
}

/// What the plan must know of the bucket: every key it may write but the signature's
/// and the pointer's, which [`signature`] and [`pointer`] read. The keys and whether
/// each may move do not depend on the signature's bytes, so the lookups start before
/// the signature is known.
fn lookups(release: &AssembledRelease, scripts: &Scripts) -> Vec<Lookup> {
    let signature = layout::manifest_signature(&release.manifest.tag);
    let phases = desired_objects(release, scripts, Vec::new(), None, None);
    phases.iter().flat_map(|(_, objects)| objects).filter(|object| object.key != signature).map(Lookup::of).collect()
}

fn plan_publish(
    release: &AssembledRelease,
    scripts: &Scripts,
    signature: Vec<u8>,
    statements: [Desired; 2],
    remote: &BTreeMap<String, Remote>,
) -> Result<PublishPlan> {
    let [pointer, index] = statements;
    let phases = desired_objects(release, scripts, signature, Some(pointer), Some(index));
    let plan = plan(Owner::Release(release.manifest.tag.clone()), phases, remote, true);
    let conflicts = plan.conflicts();
    if !conflicts.is_empty() {
        bail!(
            "refusing to publish {}: published versions never change, and these keys hold other bytes:\n  {}\n\
             Nothing was written. Publish the builds of that release's commit, or release under a new name.",
            release.manifest.tag,
            conflicts.join("\n  ")
        );
    }
    Ok(plan)
}

/// A retried old build must not move customers back: the wrapper moves only to a release
/// whose commit comes after the served one's in main's history, unless asked.
async fn refuse_downgrade(
    workspace: &Workspace,
    site: &Site,
    release: &AssembledRelease,
    plan: &PublishPlan,
    allowed: bool,
) -> Result<()> {
    let served = plan.steps().find(|step| step.desired.key == WRAPPER_KEY).and_then(|step| match &step.state {
        State::Moves { from: Some(from) } => ReleaseTag::parse(from).ok(),
        _ => None,
    });
    let Some(served) = served else {
        return Ok(());
    };
    let Some(bytes) = site.orchestrator().get(&layout::manifest(&served)).await? else {
        bail!(
            "refusing to publish {}: the wrapper serves {served}, whose manifest {} is missing, so nothing says \
             which commit customers get. Nothing was written. Check the bucket (`cargo xtask status {served}`)",
            release.manifest.tag,
            layout::manifest(&served)
        );
    };
    let served_commit = serde_json::from_slice::<ReleaseManifest>(&bytes)
        .map_err(|e| anyhow::anyhow!("the manifest of the served release {served} does not parse: {e}"))?
        .commit;
    let ours = &release.manifest.commit;
    let lineage = git::lineage(&workspace.sh, ours, &served_commit)?;
    let Some(why) = downgrade(ours, &served, &served_commit, lineage) else {
        return Ok(());
    };
    let tag = &release.manifest.tag;
    if allowed {
        eprintln!("WARNING: publishing {tag} anyway (--allow-downgrade): {why}");
        return Ok(());
    }
    bail!(
        "refusing to publish {tag}: {why}. Nothing was written. To serve {tag} on purpose, run \
         `cargo xtask rollback {tag}`; to publish it anyway, pass --allow-downgrade"
    )
}

async fn print_wrapper_change(site: &Site, tag: &ReleaseTag, rendered: &str) -> Result<()> {
    let published = site.orchestrator().get(WRAPPER_KEY).await?;
    let published = published.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
    println!("\nWrapper change (published -> rendered for {tag}):");
    let change =
        diff::unified(&published, rendered, &format!("published/{WRAPPER_KEY}"), &format!("{tag}/{WRAPPER_KEY}"));
    print!("{}", if change.is_empty() { "  (identical)\n".to_owned() } else { change });
    Ok(())
}

/// The release summary shown on the Buildkite build page.
fn annotation(workspace: &Workspace, manifest: &ReleaseManifest) -> String {
    let (config, tag) = (&workspace.config, &manifest.tag);
    let base = &config.public_base_url;
    let mut text = format!("### Release {tag} published\n\n");
    text += &format!("Install: `{}`\n\n", wrapper::customer_command(base));
    text += "| installer | size | sha256 |\n|---|---|---|\n";
    for entry in &manifest.installers {
        let url = format!("{base}/{}", layout::versioned_binary(tag, &entry.published_name));
        text += &format!("| [{}]({url}) | {} | `{}` |\n", entry.published_name, entry.size, entry.sha256);
    }
    text += &format!("\nManifest: {base}/{}\n\nTemplates:\n", layout::manifest(tag));
    for template in config.public_templates() {
        let key = layout::release_template(&manifest.cfn_version, &template.name);
        text += &format!("- {}\n", layout::bucket_url(config, &config.cfn_public_bucket, &key));
    }
    text
}
