//! `cargo xtask customers sync`: the customer list of the Packer locals applied to every
//! alpha and release AMI that exists. A customer removed from the list loses access to
//! every image shared with it; one added gains it.

use std::collections::BTreeSet;

use anyhow::Result;
use xtask::{
    adapters::workspace::Workspace,
    cli::CustomersSyncArgs,
    domain::{
        images::accounts::{AccountId, Accounts},
        images::packer,
        names::stage::{Audience, Stage},
    },
};

use crate::adapters::{
    access::{self, ImageAccess, KeyAccess},
    ec2::{Ec2, Image, ImageQuery},
    kms::Kms,
    sigv4_http::SignedClient,
    site::with_site,
};

pub fn run(workspace: &Workspace, args: CustomersSyncArgs, dry_run: bool) -> Result<()> {
    let locals = workspace.read(packer::LOCALS_FILE)?;
    let audience = Accounts::from_locals(&locals)?.audience(Audience::InternalAccountsAndCustomers);
    let keys = packer::local_string_map(packer::LOCALS_FILE, &locals, "ami_kms_key_ids")?;
    let stages: Vec<String> = match args.stage {
        Some(stage) => vec![stage.to_string()],
        None => vec![Stage::Alpha.to_string(), Stage::Release.to_string()],
    };
    let regions = workspace.ami_regions()?;
    with_site(workspace, async |site| {
        let client = SignedClient::new(&site.sdk);
        let (ec2, kms) = (Ec2 { client: &client }, Kms { client: &client });
        let (mut images, mut skipped) = (Vec::new(), Vec::new());
        for region in &regions {
            let query = ImageQuery { ids: &[], filters: vec![("tag:Stage", stages.clone())] };
            for image in ec2.describe_images(region, &query).await? {
                match unproven(&ec2, region, &image).await? {
                    Some(why) => skipped.push(why),
                    None => images.push(access::plan_image(&ec2, region, &image, &audience).await?),
                }
            }
        }
        for why in &skipped {
            eprintln!("not shared: {why}");
        }
        let keys = access::plan_keys(&kms, &keys, &audience).await?;
        print!("{}", describe(&stages, &audience, &images, &keys));
        if dry_run {
            println!("\nDry run: no permission was changed.");
            return Ok(());
        }
        for image in images.iter().filter(|image| !image.is_exact()) {
            access::apply_image(&ec2, image).await?;
        }
        access::apply_keys(&kms, &keys).await?;
        let changed = images.iter().filter(|image| !image.is_exact()).count();
        println!("\nApplied: {changed} of {} image(s) changed; the rest were already exact.", images.len());
        Ok(())
    })
}

/// Why an image tagged alpha or release is not shared: customers get only copies of the
/// account's own tested internal images, so its `SourceAmi` must be one.
async fn unproven(ec2: &Ec2<'_>, region: &str, image: &Image) -> Result<Option<String>> {
    let Some(source) = image.tags.get("SourceAmi") else {
        return Ok(Some(format!(
            "{} in {region} has no SourceAmi tag, so nothing says what it is a copy of",
            image.id
        )));
    };
    let internal = match ec2.describe_new_image(region, source).await? {
        Some(found) => found.tags.get("Stage").map(String::as_str) == Some("internal"),
        None => false,
    };
    Ok((!internal).then(|| {
        format!(
            "{} in {region} says it is a copy of {source}, which is not an internal image of this account",
            image.id
        )
    }))
}

fn describe(stages: &[String], audience: &BTreeSet<AccountId>, images: &[ImageAccess], keys: &[KeyAccess]) -> String {
    let accounts: Vec<String> = audience.iter().map(ToString::to_string).collect();
    let mut text = format!(
        "Access of the {} AMIs ({} found) made exactly: {}\n",
        stages.join(" and "),
        images.len(),
        accounts.join(", ")
    );
    for image in images {
        text += &image.describe();
    }
    for key in keys {
        let grant: Vec<String> = key.grant.iter().map(ToString::to_string).collect();
        let revoke: Vec<&str> = key.revoke.iter().map(|g| g.grantee.as_str()).collect();
        text += &format!("   key {} in {}: grant {:?}; revoke {:?}\n", key.key, key.region, grant, revoke);
    }
    text
}
