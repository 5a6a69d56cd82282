//! Who may launch an image and copy its snapshots, made exactly a stage's audience:
//! shared by `amis promote` and `customers sync`, and the refusal of encryption that
//! cannot be shared.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use xtask::domain::{images::access::Change, images::accounts::AccountId};

use crate::adapters::{
    ec2::{Ec2, Image},
    kms::{Grant, Kms, GRANT_PREFIX},
};

/// The changes that make one image's permissions exact.
#[derive(Debug, Clone)]
pub struct ImageAccess {
    pub region: String,
    pub image: String,
    pub launch: Change,
    /// Per snapshot of the image.
    pub volumes: Vec<(String, Change)>,
}

impl ImageAccess {
    pub fn is_exact(&self) -> bool {
        self.launch.is_empty() && self.volumes.iter().all(|(_, change)| change.is_empty())
    }

    pub fn describe(&self) -> String {
        let mut text = format!("   {} in {}: launch: {}\n", self.image, self.region, self.launch);
        for (snapshot, change) in &self.volumes {
            text += &format!("     snapshot {snapshot}: create volume: {change}\n");
        }
        text
    }
}

pub async fn plan_image(
    ec2: &Ec2<'_>,
    region: &str,
    image: &Image,
    audience: &BTreeSet<AccountId>,
) -> Result<ImageAccess> {
    let launch = Change::between(&ec2.launch_permissions(region, &image.id).await?, audience);
    let mut volumes = Vec::new();
    for snapshot in &image.snapshots {
        let current = ec2.volume_permissions(region, snapshot).await?;
        volumes.push((snapshot.clone(), Change::between(&current, audience)));
    }
    Ok(ImageAccess { region: region.to_owned(), image: image.id.clone(), launch, volumes })
}

pub async fn apply_image(ec2: &Ec2<'_>, access: &ImageAccess) -> Result<()> {
    if !access.launch.is_empty() {
        ec2.change_launch_permissions(&access.region, &access.image, &access.launch).await?;
    }
    for (snapshot, change) in access.volumes.iter().filter(|(_, change)| !change.is_empty()) {
        ec2.change_volume_permissions(&access.region, snapshot, change).await?;
    }
    Ok(())
}

/// The grants a region's key needs: one per account that may launch encrypted images.
#[derive(Debug, Clone)]
pub struct KeyAccess {
    pub region: String,
    pub key: String,
    pub grant: Vec<AccountId>,
    pub revoke: Vec<Grant>,
}

pub async fn plan_keys(
    kms: &Kms<'_>,
    keys: &BTreeMap<String, String>,
    accounts: &BTreeSet<AccountId>,
) -> Result<Vec<KeyAccess>> {
    let mut plans = Vec::new();
    for (region, key) in keys {
        let grants = kms.grants(region, key).await?;
        let granted: BTreeSet<&str> = grants.iter().filter_map(|g| g.name.strip_prefix(GRANT_PREFIX)).collect();
        let grant = accounts.iter().filter(|a| !granted.contains(a.as_str())).cloned().collect();
        let revoke = grants
            .into_iter()
            .filter(|g| !accounts.iter().any(|a| g.name.strip_prefix(GRANT_PREFIX) == Some(a.as_str())))
            .collect();
        plans.push(KeyAccess { region: region.clone(), key: key.clone(), grant, revoke });
    }
    Ok(plans)
}

pub async fn apply_keys(kms: &Kms<'_>, plans: &[KeyAccess]) -> Result<()> {
    for plan in plans {
        for account in &plan.grant {
            kms.grant_account(&plan.region, &plan.key, account.as_str()).await?;
        }
        for grant in &plan.revoke {
            kms.revoke(&plan.region, &plan.key, grant).await?;
        }
    }
    Ok(())
}

/// Refuses, before anything is built or copied, regions where the images would be
/// encrypted with the AWS-managed key, which cannot be shared with any other account.
pub async fn require_shareable_encryption(
    ec2: &Ec2<'_>,
    regions: &[String],
    keys: &BTreeMap<String, String>,
) -> Result<()> {
    let problems = unshareable_regions(ec2, regions, keys).await?;
    if !problems.is_empty() {
        bail!(
            "refusing to make images that cannot be shared; nothing was built or copied:\n  - {}\n{SHAREABLE_FIX}",
            problems.join("\n  - ")
        );
    }
    Ok(())
}

/// What makes images shareable again when a region's would not be.
pub const SHAREABLE_FIX: &str = "Set ami_kms_key_ids in ops/image-deploy/locals.pkr.hcl to a customer-managed KMS key \
     for every region (the xtask then grants the internal and customer accounts the use of it), or turn EBS \
     encryption by default off in the build account";

/// Why each region's images could not be shared, if they could not.
pub async fn unshareable_regions(
    ec2: &Ec2<'_>,
    regions: &[String],
    keys: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for region in regions {
        if !keys.is_empty() && !keys.contains_key(region) {
            problems.push(format!("ami_kms_key_ids has no key for {region}, a region of ami_regions"));
        } else if keys.is_empty() && ec2.encryption_by_default(region).await? {
            problems.push(format!(
                "EBS encryption by default is on in {region}, so its images would be encrypted with the AWS-managed key, \
                 which cannot be shared with the internal or customer accounts"
            ));
        }
    }
    Ok(problems)
}
