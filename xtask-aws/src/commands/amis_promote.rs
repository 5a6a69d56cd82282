//! `cargo xtask amis promote`: the tested internal AMIs of a commit, copied to alpha or
//! release and shared with the internal and customer accounts. Customers get the images
//! the smoke test launched, never a rebuild.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::{Duration, SystemTime},
};

use anyhow::{bail, Result};
use xtask::{
    adapters::{buildkite, files, workspace::Workspace},
    cli::AmisPromoteArgs,
    domain::{
        images::accounts::{AccountId, Accounts},
        images::lifecycle,
        images::packer::{self, AmisFile},
        images::promotion::{self, Existing},
        names::commit::CommitId,
        names::stage::{Placement, Stage},
        publishing::digest::sha256_hex,
    },
};

use crate::adapters::{
    access,
    ec2::{CopyImage, Ec2, Image, ImageQuery},
    kms::Kms,
    sigv4_http::SignedClient,
    site::with_site,
    tasks::{poll_until, Poll, Polling},
};

const FIRST_POLL: Duration = Duration::from_secs(2);
const LONGEST_POLL: Duration = Duration::from_secs(30);

/// What a promotion copies and for whom, decided before any AWS call.
struct Request {
    placement: Placement,
    commit: CommitId,
    from: AmisFile,
    regions: Vec<String>,
    audience: BTreeSet<AccountId>,
    kms_keys: BTreeMap<String, String>,
    output: PathBuf,
    /// When EC2 marks the copies deprecated (alpha copies only; RFC 3339).
    deprecate_at: Option<String>,
}

/// One copy: of which internal AMI, under which name, and the copy an earlier run made.
struct Copy {
    image: String,
    region: String,
    source: String,
    name: String,
    existing: Option<Image>,
}

pub fn run(workspace: &Workspace, args: AmisPromoteArgs, dry_run: bool) -> Result<()> {
    let request = decide(workspace, &args)?;
    let file = with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        let ec2 = Ec2 { client: &client };
        access::require_shareable_encryption(&ec2, &request.regions, &request.kms_keys).await?;
        let copies = plan_copies(&ec2, &request).await?;
        print!("{}", describe(&request, &copies));
        if dry_run {
            return Ok(None);
        }
        let amis = make_copies(&ec2, &request, &copies).await?;
        let available = wait_until_available(&ec2, &amis, args.wait_timeout).await?;
        share(&ec2, &Kms { client: &client }, &request, &available).await?;
        if let Some(at) = &request.deprecate_at {
            for (_, region, image) in &available {
                ec2.enable_image_deprecation(region, &image.id, at).await?;
            }
        }
        let table = promotion::table(available.into_iter().map(|(image, region, found)| (image, region, found.id)));
        Ok(Some(promotion::promoted_file(&request.placement, &request.commit, table, &request.from)))
    })?;
    let Some(file) = file else {
        println!("\nDry run: nothing was copied or shared, and no file was written.");
        return Ok(());
    };
    std::fs::create_dir_all(workspace.dist_dir())?;
    files::write_atomically(&request.output, file.to_json().as_bytes())?;
    print!("{}", report(&file));
    println!("Written to {}", request.output.display());
    Ok(())
}

fn decide(workspace: &Workspace, args: &AmisPromoteArgs) -> Result<Request> {
    let commit = buildkite::commit(workspace, args.commit.clone())?;
    let placement = match (args.stage, &args.release) {
        (Stage::Release, given) => Placement::Release(
            buildkite::release_name(workspace, given.clone())
                .map_err(|e| e.context("--stage release needs --release <NAME>, the release the images belong to"))?,
        ),
        (_, Some(_)) => bail!("--release is only for --stage release; alpha images carry the commit instead"),
        (_, None) => Placement::Alpha(commit.clone()),
    };
    let from: AmisFile = files::read_json(&args.from, AmisFile::WHAT)?;
    let regions = workspace.ami_regions()?;
    promotion::check_source(&from, &commit, &regions, &workspace.images()?)?;
    if matches!(placement, Placement::Release(_)) {
        buildkite::require_main_branch(workspace, &format!("promote the AMIs of {placement}"))?;
    }
    let locals = workspace.read(packer::LOCALS_FILE)?;
    Ok(Request {
        audience: Accounts::from_locals(&locals)?.audience(args.stage.audience()),
        kms_keys: workspace.image_kms_keys()?,
        deprecate_at: (args.stage == Stage::Alpha)
            .then(|| lifecycle::alpha_deprecation(SystemTime::now(), workspace.config.alpha_deprecation_days)),
        output: workspace.dist_dir().join(format!("amis-{}.json", args.stage)),
        placement,
        commit,
        from,
        regions,
    })
}

/// Every copy the promotion needs, with the one an earlier run made; refuses a release
/// name whose images are copies of other AMIs.
async fn plan_copies(ec2: &Ec2<'_>, request: &Request) -> Result<Vec<Copy>> {
    if let Placement::Release(name) = &request.placement {
        let mut existing = Vec::new();
        for region in &request.regions {
            let filters = vec![("tag:Stage", vec!["release".to_owned()]), ("tag:Release", vec![name.to_string()])];
            for image in ec2.describe_images(region, &ImageQuery { ids: &[], filters }).await? {
                existing.push(Existing {
                    region: region.clone(),
                    image: image.tags.get("Image").cloned(),
                    source_ami: image.tags.get("SourceAmi").cloned(),
                    ami: image.id,
                });
            }
        }
        let conflicts = promotion::release_conflicts(&existing, &request.from.images);
        if !conflicts.is_empty() {
            bail!(
                "refusing to promote: release {name} already names other images, and a release name names one set \
                 of AMIs:\n  - {}\nNothing was copied. Promote the commit that release was made from, or release under a new name.",
                conflicts.join("\n  - ")
            );
        }
    }
    let mut copies = Vec::new();
    let mut strangers = Vec::new();
    for (image, by_region) in &request.from.images {
        for region in &request.regions {
            let source = by_region[region].clone();
            let name = promotion::copy_name(image, &request.placement, &source);
            let query = ImageQuery { ids: &[], filters: vec![("name", vec![name.clone()])] };
            let existing = ec2.describe_images(region, &query).await?.into_iter().next();
            if let Some(found) = &existing {
                strangers.extend(not_our_copy(ec2, request, image, region, &source, found).await?);
            }
            copies.push(Copy { image: image.clone(), region: region.clone(), source, name, existing });
        }
    }
    if !strangers.is_empty() {
        bail!(
            "refusing to promote: images with the names of this promotion's copies are not its copies, so they cannot \
             be reused:\n  - {}\nNothing was copied. Find out who made them; deregister them if they are not \
             needed, and promote again.",
            strangers.join("\n  - ")
        );
    }
    Ok(copies)
}

/// Why an image found under a copy's name is not this promotion's copy of `source`: its
/// tags, or (untagged, as an interrupted run leaves a copy) its snapshots' descriptions.
async fn not_our_copy(
    ec2: &Ec2<'_>,
    request: &Request,
    image: &str,
    region: &str,
    source: &str,
    found: &Image,
) -> Result<Option<String>> {
    let descriptions: Vec<String> = if found.tags.contains_key("SourceAmi") {
        Vec::new()
    } else {
        ec2.snapshot_descriptions(region, &found.snapshots).await?.into_values().collect()
    };
    let wanted = promotion::copy_tags(image, &request.placement, &request.commit, source, &request.from.packages);
    let problem = promotion::not_this_copy(&found.id, &found.tags, &descriptions, &wanted, source);
    Ok(problem.map(|problem| format!("{problem} (in {region})")))
}

fn describe(request: &Request, copies: &[Copy]) -> String {
    let mut text =
        format!("Promotion plan: the internal AMIs of {}, copied for {}:\n", request.commit, request.placement);
    for copy in copies {
        let state = match &copy.existing {
            Some(found) => format!("copied before: {}", found.id),
            None => "copy".to_owned(),
        };
        text += &format!("  {:<26} {:<10} {} -> {}  ({state})\n", copy.image, copy.region, copy.source, copy.name);
    }
    let audience: Vec<String> = request.audience.iter().map(ToString::to_string).collect();
    text += &format!(
        "Then each copy and its snapshots are shared with exactly: {} (internal and customer accounts; never public)\n",
        audience.join(", ")
    );
    if !request.kms_keys.is_empty() {
        text += "Copies are encrypted with the customer-managed keys of ami_kms_key_ids, granted to those accounts\n";
    }
    if let Some(at) = &request.deprecate_at {
        text += &format!("EC2 marks each copy deprecated from {at} (alpha-deprecation-days); they still launch\n");
    }
    text
}

/// Copies what no earlier run copied, and tags every copy. Returns (image, region, id).
async fn make_copies(ec2: &Ec2<'_>, request: &Request, copies: &[Copy]) -> Result<Vec<(String, String, String)>> {
    let mut made = Vec::new();
    for copy in copies {
        let tags = promotion::copy_tags(
            &copy.image,
            &request.placement,
            &request.commit,
            &copy.source,
            &request.from.packages,
        );
        let id = match &copy.existing {
            Some(found) => {
                // A copy an interrupted run made may have untagged snapshots.
                if !found.snapshots.is_empty() {
                    ec2.create_tags(&copy.region, &found.snapshots, &tags).await?;
                }
                found.id.clone()
            }
            None => {
                let description = format!("ReadySet {} ({}), a copy of {}", copy.image, request.placement, copy.source);
                let token = &sha256_hex(copy.name.as_bytes())[..32];
                let kms_key = request.kms_keys.get(&copy.region).map(String::as_str);
                let order = CopyImage {
                    source: &copy.source,
                    name: &copy.name,
                    description: &description,
                    client_token: token,
                    kms_key,
                    tags: &tags,
                };
                let id = ec2.copy_image(&copy.region, &order).await?;
                println!("  copied {} in {} to {id}", copy.source, copy.region);
                id
            }
        };
        // Tagged again: a copy an interrupted run made may have no tags yet (for one
        // tagged already, nothing changes).
        ec2.create_tags_on_new(&copy.region, &id, &tags).await?;
        made.push((copy.image.clone(), copy.region.clone(), id));
    }
    Ok(made)
}

/// Polls the copies until every one is available, at most `timeout`; a failed copy or the
/// timeout is an error that says how to continue.
async fn wait_until_available(
    ec2: &Ec2<'_>,
    amis: &[(String, String, String)],
    timeout: Duration,
) -> Result<Vec<(String, String, Image)>> {
    let polling = Polling { first: FIRST_POLL, longest: LONGEST_POLL, timeout };
    poll_until(
        polling,
        || look_at_copies(ec2, amis),
        |pending, elapsed| {
            anyhow::anyhow!(
            "waited {}s (--wait-timeout) for {pending}. They keep copying; run the same command again later and it \
             continues with them",
            elapsed.as_secs()
        )
        },
    )
    .await
}

async fn look_at_copies(
    ec2: &Ec2<'_>,
    amis: &[(String, String, String)],
) -> Result<Poll<Vec<(String, String, Image)>>> {
    let mut ready = Vec::new();
    let mut pending = Vec::new();
    for (image, region, id) in amis {
        match ec2.describe_new_image(region, id).await? {
            Some(found) if found.state == "available" => ready.push((image.clone(), region.clone(), found)),
            Some(found) if found.state == "failed" => {
                bail!("the copy {id} of {image} in {region} failed; promote again to retry it")
            }
            _ => pending.push(format!("{id} ({region})")),
        }
    }
    Ok(match pending.is_empty() {
        true => Poll::Done(ready),
        false => Poll::Pending(format!("{} copies: {}", pending.len(), pending.join(", "))),
    })
}

/// Makes each copy's launch permission and snapshots' create-volume permission exactly
/// the stage's audience, and the keys' grants too.
async fn share(ec2: &Ec2<'_>, kms: &Kms<'_>, request: &Request, copies: &[(String, String, Image)]) -> Result<()> {
    for (_, region, image) in copies {
        let plan = access::plan_image(ec2, region, image, &request.audience).await?;
        if !plan.is_exact() {
            print!("{}", plan.describe());
            access::apply_image(ec2, &plan).await?;
        }
    }
    if !request.kms_keys.is_empty() {
        let plans = access::plan_keys(kms, &request.kms_keys, &request.audience).await?;
        access::apply_keys(kms, &plans).await?;
    }
    Ok(())
}

fn report(file: &AmisFile) -> String {
    let mut text = format!("\nAMIs of {} ({}), each a copy of the internal AMI beside it:\n", file.commit, file.stage);
    for (image, by_region) in &file.images {
        for (region, ami) in by_region {
            let source = file.sources.get(image).and_then(|r| r.get(region)).map(String::as_str).unwrap_or("?");
            text += &format!("  {image:<28} {region:<12} {ami}  (from {source})\n");
        }
    }
    text
}
