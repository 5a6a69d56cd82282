//! What `amis list` and `amis prune` judge, read and only read: every image the account
//! owns that the release made (it carries a `Stage` tag), in every region of
//! `ami_regions`, and the AMI IDs every published template names (internal, alpha and
//! release prefixes of both template buckets). Counts the requests it makes, for the
//! benchmark.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use xtask::domain::{
    images::lifecycle::{ami_ids, OwnedImage},
    names::stage::Stage,
};

use crate::adapters::{
    ec2::{Ec2, Image, ImageQuery},
    site::Site,
    tasks::join_in_order,
};

/// Templates downloaded at once.
const DOWNLOADS: usize = 16;
/// What every template key ends with before its file name (`layout::template_prefix`).
const TEMPLATES_DIR: &str = "/readyset/templates/";

pub struct Inventory {
    pub images: Vec<OwnedImage>,
    /// `s3://bucket/key` of each published template, with the AMI IDs its text names.
    pub templates: BTreeMap<String, BTreeSet<String>>,
    /// Requests made: DescribeImages pages, ListObjectsV2 pages, template downloads.
    pub requests: usize,
}

pub async fn read(site: &Site, ec2: &Ec2<'_>, regions: &[String]) -> Result<Inventory> {
    let stages: Vec<String> = Stage::ALL.iter().map(ToString::to_string).collect();
    let mut images = Vec::new();
    let mut requests = 0;
    for region in regions {
        let query = ImageQuery { ids: &[], filters: vec![("tag:Stage", stages.clone())] };
        let found = ec2.describe_images(region, &query).await?;
        requests += found.len().div_ceil(1000).max(1);
        images.extend(found.into_iter().filter_map(|image| owned(region, image)));
    }
    images.sort_by_key(|image| (image.region.clone(), image.stage, image.created.clone(), image.name.clone()));
    let mut templates = BTreeMap::new();
    for bucket in [&site.config.cfn_internal_bucket, &site.config.cfn_public_bucket] {
        let bucket = site.bucket(bucket);
        let keys: Vec<String> = bucket.keys("").await?;
        requests += keys.len().div_ceil(1000).max(1);
        let keys: Vec<String> =
            keys.into_iter().filter(|key| key.contains(TEMPLATES_DIR) && key.ends_with(".yaml")).collect();
        requests += keys.len();
        let jobs = keys.into_iter().map(|key| {
            let bucket = bucket.clone();
            async move {
                let text = bucket.get(&key).await?.unwrap_or_default();
                Ok((format!("s3://{}/{key}", bucket.name), ami_ids(&String::from_utf8_lossy(&text))))
            }
        });
        templates.extend(join_in_order(DOWNLOADS, jobs).await?);
    }
    Ok(Inventory { images, templates, requests })
}

/// An image as the lifecycle rules see it; `None` for one without a known `Stage`.
fn owned(region: &str, image: Image) -> Option<OwnedImage> {
    let stage: Stage = image.tags.get("Stage")?.parse().ok()?;
    Some(OwnedImage {
        region: region.to_owned(),
        id: image.id,
        name: image.name,
        stage,
        commit: image.tags.get("Commit").cloned(),
        release: image.tags.get("Release").cloned(),
        source_ami: image.tags.get("SourceAmi").cloned(),
        created: image.created,
        snapshots: image.volumes,
        deprecation: image.deprecation,
    })
}
