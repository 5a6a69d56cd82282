//! The EC2 calls of the release (Query protocol, API version 2016-11-15): finding,
//! copying and tagging images, their launch and snapshot permissions, and whether EBS
//! encryption by default is on.

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Context, Result};
use xtask::domain::images::access::{Change, Permissions};

use crate::adapters::{
    retry::{self, EVENTUAL_CONSISTENCY},
    sigv4_http::{first_text, Query, Refused, SignedClient},
};

const VERSION: &str = "2016-11-15";
/// Images asked for per DescribeImages page (EC2 allows 1000 at most).
const PAGE_SIZE: &str = "1000";

/// An image as DescribeImages reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub id: String,
    pub name: String,
    /// `pending`, `available`, `failed`, ...
    pub state: String,
    pub tags: BTreeMap<String, String>,
    /// The EBS snapshots behind the image's volumes.
    pub snapshots: Vec<String>,
    /// Each volume's snapshot and size in GiB.
    pub volumes: Vec<(String, u64)>,
    pub encrypted: bool,
    /// When EC2 made it, and when it marks it deprecated (RFC 3339).
    pub created: Option<String>,
    pub deprecation: Option<String>,
}

/// Which images to describe: the account's own, by ID or by filters.
#[derive(Debug, Default)]
pub struct ImageQuery<'a> {
    pub ids: &'a [String],
    /// (filter name, values), such as ("tag:Stage", ["alpha", "release"]).
    pub filters: Vec<(&'a str, Vec<String>)>,
}

pub struct Ec2<'a> {
    pub client: &'a SignedClient,
}

impl Ec2<'_> {
    async fn call(&self, region: &str, action: &str, params: &[(String, String)]) -> Result<String> {
        let what = format!("EC2 {action} in {region}");
        self.client.query(&Query { service: "ec2", region, version: VERSION, action, params, what }).await
    }

    /// The images a query finds, every page of them: by filters EC2 answers in pages
    /// (`MaxResults`, `NextToken`); by ID it takes no page size and answers whole.
    pub async fn describe_images(&self, region: &str, query: &ImageQuery<'_>) -> Result<Vec<Image>> {
        let mut params = vec![("Owner.1".to_owned(), "self".to_owned())];
        params.extend(numbered("ImageId", query.ids));
        for (index, (name, values)) in query.filters.iter().enumerate() {
            params.push((format!("Filter.{}.Name", index + 1), name.to_string()));
            params.extend(numbered(&format!("Filter.{}.Value", index + 1), values));
        }
        if query.ids.is_empty() {
            params.push(("MaxResults".to_owned(), PAGE_SIZE.to_owned()));
        }
        self.every_page(region, "DescribeImages", params, "imagesSet", image).await
    }

    /// Every item of a paged answer (`NextToken`), each read by `read`.
    async fn every_page<T>(
        &self,
        region: &str,
        action: &str,
        mut params: Vec<(String, String)>,
        set: &str,
        read: impl Fn(roxmltree::Node) -> T,
    ) -> Result<Vec<T>> {
        let mut found = Vec::new();
        loop {
            let text = self.call(region, action, &params).await?;
            let document =
                roxmltree::Document::parse(&text).with_context(|| format!("{action} answered with malformed XML"))?;
            found.extend(child(document.root_element(), set).into_iter().flat_map(items).map(&read));
            match child(document.root_element(), "nextToken").and_then(|token| token.text()) {
                Some(token) if !token.is_empty() => {
                    params.retain(|(name, _)| name != "NextToken");
                    params.push(("NextToken".to_owned(), token.to_owned()));
                }
                _ => return Ok(found),
            }
        }
    }

    /// Copies an image within a region; returns the new image's ID. `client_token` makes
    /// a retried copy return the same image.
    pub async fn copy_image(&self, region: &str, copy: &CopyImage<'_>) -> Result<String> {
        let mut params = vec![
            ("SourceRegion".to_owned(), region.to_owned()),
            ("SourceImageId".to_owned(), copy.source.to_owned()),
            ("Name".to_owned(), copy.name.to_owned()),
            ("Description".to_owned(), copy.description.to_owned()),
            ("ClientToken".to_owned(), copy.client_token.to_owned()),
        ];
        if let Some(key) = copy.kms_key {
            params.push(("Encrypted".to_owned(), "true".to_owned()));
            params.push(("KmsKeyId".to_owned(), key.to_owned()));
        }
        // The copy and its snapshots are tagged as EC2 makes them: no moment in which
        // they carry no Stage tag, which the other queue's policy would let it touch.
        for (spec, kind) in ["image", "snapshot"].iter().enumerate() {
            let prefix = format!("TagSpecification.{}", spec + 1);
            params.push((format!("{prefix}.ResourceType"), (*kind).to_owned()));
            for (index, (key, value)) in copy.tags.iter().enumerate() {
                params.push((format!("{prefix}.Tag.{}.Key", index + 1), key.clone()));
                params.push((format!("{prefix}.Tag.{}.Value", index + 1), value.clone()));
            }
        }
        let text = self.call(region, "CopyImage", &params).await?;
        let document = roxmltree::Document::parse(&text)?;
        first_text(document.root(), "imageId").context("CopyImage answered without an imageId")
    }

    /// The ID of a key pair, by name; EC2 answers `InvalidKeyPair.NotFound` for none.
    pub async fn key_pair_id(&self, region: &str, name: &str) -> Result<String> {
        let xml = self.call(region, "DescribeKeyPairs", &[("KeyName.1".to_owned(), name.to_owned())]).await?;
        let document = roxmltree::Document::parse(&xml).context("EC2 DescribeKeyPairs answered with malformed XML")?;
        Ok(first_text(document.root(), "keyPairId").unwrap_or_default())
    }

    /// Tags a resource this run has just made (CopyImage's image): EC2 may not know its
    /// ID for a while, so `*.NotFound` is retried for at most `EVENTUAL_CONSISTENCY`.
    pub async fn create_tags_on_new(&self, region: &str, resource: &str, tags: &[(String, String)]) -> Result<()> {
        let mut params = vec![("ResourceId.1".to_owned(), resource.to_owned())];
        for (index, (key, value)) in tags.iter().enumerate() {
            params.push((format!("Tag.{}.Key", index + 1), key.clone()));
            params.push((format!("Tag.{}.Value", index + 1), value.clone()));
        }
        let started = Instant::now();
        for retry in 1.. {
            match self.call(region, "CreateTags", &params).await {
                Err(error) if Refused::is_not_found(&error) && started.elapsed() < EVENTUAL_CONSISTENCY => {
                    let pause = retry::pause(retry);
                    eprintln!(
                        "  EC2 does not know {resource} in {region} yet (it catches up after a new image); \
                         tagging again in {:.1}s",
                        pause.as_secs_f64()
                    );
                    tokio::time::sleep(pause).await;
                }
                outcome => return outcome.map(drop),
            }
        }
        unreachable!("the loop returns")
    }

    /// Describes images by ID that this run has just made, `None` for each one EC2 does not
    /// know yet (eventual consistency) instead of an error.
    pub async fn describe_new_image(&self, region: &str, id: &str) -> Result<Option<Image>> {
        let ids = [id.to_owned()];
        let query = ImageQuery { ids: &ids, filters: vec![] };
        match self.describe_images(region, &query).await {
            Ok(found) => Ok(found.into_iter().next()),
            Err(error) if Refused::is_not_found(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    pub async fn launch_permissions(&self, region: &str, image: &str) -> Result<Permissions> {
        let params =
            [("ImageId".to_owned(), image.to_owned()), ("Attribute".to_owned(), "launchPermission".to_owned())];
        let text = self.call(region, "DescribeImageAttribute", &params).await?;
        permissions(&text, "launchPermission")
    }

    pub async fn change_launch_permissions(&self, region: &str, image: &str, change: &Change) -> Result<()> {
        let mut params = vec![("ImageId".to_owned(), image.to_owned())];
        let add: Vec<String> = change.add.iter().map(ToString::to_string).collect();
        params.extend(numbered_field("LaunchPermission.Add", "UserId", &add));
        params.extend(numbered_field("LaunchPermission.Remove", "UserId", &change.remove));
        if change.make_private {
            let at = change.remove.len() + 1;
            params.push((format!("LaunchPermission.Remove.{at}.Group"), "all".to_owned()));
        }
        self.call(region, "ModifyImageAttribute", &params).await.map(drop)
    }

    pub async fn volume_permissions(&self, region: &str, snapshot: &str) -> Result<Permissions> {
        let params = [
            ("SnapshotId".to_owned(), snapshot.to_owned()),
            ("Attribute".to_owned(), "createVolumePermission".to_owned()),
        ];
        let text = self.call(region, "DescribeSnapshotAttribute", &params).await?;
        permissions(&text, "createVolumePermission")
    }

    pub async fn change_volume_permissions(&self, region: &str, snapshot: &str, change: &Change) -> Result<()> {
        let add: Vec<String> = change.add.iter().map(ToString::to_string).collect();
        let public_group = if change.make_private { vec!["all".to_owned()] } else { Vec::new() };
        for (operation, users, groups) in [("add", &add, &Vec::new()), ("remove", &change.remove, &public_group)] {
            if users.is_empty() && groups.is_empty() {
                continue;
            }
            let mut params = vec![
                ("SnapshotId".to_owned(), snapshot.to_owned()),
                ("Attribute".to_owned(), "createVolumePermission".to_owned()),
                ("OperationType".to_owned(), operation.to_owned()),
            ];
            params.extend(numbered("UserId", users));
            params.extend(numbered("UserGroup", groups));
            self.call(region, "ModifySnapshotAttribute", &params).await?;
        }
        Ok(())
    }

    /// Marks an image deprecated from `at` (RFC 3339): the console and DescribeImages
    /// say so; launching it still works.
    pub async fn enable_image_deprecation(&self, region: &str, image: &str, at: &str) -> Result<()> {
        let params = [("ImageId".to_owned(), image.to_owned()), ("DeprecateAt".to_owned(), at.to_owned())];
        self.call(region, "EnableImageDeprecation", &params).await.map(drop)
    }

    pub async fn deregister_image(&self, region: &str, image: &str) -> Result<()> {
        self.call(region, "DeregisterImage", &[("ImageId".to_owned(), image.to_owned())]).await.map(drop)
    }

    pub async fn delete_snapshot(&self, region: &str, snapshot: &str) -> Result<()> {
        self.call(region, "DeleteSnapshot", &[("SnapshotId".to_owned(), snapshot.to_owned())]).await.map(drop)
    }

    /// Tags existing resources (no retry: they are not new).
    pub async fn create_tags(&self, region: &str, resources: &[String], tags: &[(String, String)]) -> Result<()> {
        let mut params = numbered("ResourceId", resources);
        for (index, (key, value)) in tags.iter().enumerate() {
            params.push((format!("Tag.{}.Key", index + 1), key.clone()));
            params.push((format!("Tag.{}.Value", index + 1), value.clone()));
        }
        self.call(region, "CreateTags", &params).await.map(drop)
    }

    /// The descriptions of snapshots, by ID (EC2 writes what made a snapshot there).
    pub async fn snapshot_descriptions(&self, region: &str, ids: &[String]) -> Result<BTreeMap<String, String>> {
        let text = self.call(region, "DescribeSnapshots", &numbered("SnapshotId", ids)).await?;
        let document = roxmltree::Document::parse(&text).context("DescribeSnapshots answered with malformed XML")?;
        let set = child(document.root_element(), "snapshotSet");
        Ok(set
            .into_iter()
            .flat_map(items)
            .filter_map(|item| {
                Some((child_text(item, "snapshotId")?, child_text(item, "description").unwrap_or_default()))
            })
            .collect())
    }

    /// The account's snapshots that carry `tag` (any value): (snapshot ID, the tag's value).
    pub async fn snapshots_tagged(&self, region: &str, tag: &str) -> Result<Vec<(String, String)>> {
        let params = vec![
            ("Owner.1".to_owned(), "self".to_owned()),
            ("Filter.1.Name".to_owned(), "tag-key".to_owned()),
            ("Filter.1.Value.1".to_owned(), tag.to_owned()),
            ("MaxResults".to_owned(), PAGE_SIZE.to_owned()),
        ];
        let read = |item: roxmltree::Node| {
            let value = child(item, "tagSet")
                .into_iter()
                .flat_map(items)
                .find(|t| child_text(*t, "key").as_deref() == Some(tag))
                .and_then(|t| child_text(t, "value"))
                .unwrap_or_default();
            child_text(item, "snapshotId").map(|id| (id, value))
        };
        let found = self.every_page(region, "DescribeSnapshots", params, "snapshotSet", read).await?;
        Ok(found.into_iter().flatten().collect())
    }

    pub async fn encryption_by_default(&self, region: &str) -> Result<bool> {
        let text = self.call(region, "GetEbsEncryptionByDefault", &[]).await?;
        let document = roxmltree::Document::parse(&text)?;
        Ok(first_text(document.root(), "ebsEncryptionByDefault").as_deref() == Some("true"))
    }
}

/// A copy of an image within its region.
pub struct CopyImage<'a> {
    pub source: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub client_token: &'a str,
    /// A customer-managed key to encrypt the copy with.
    pub kms_key: Option<&'a str>,
    /// What the copy and its snapshots are tagged with as they are made.
    pub tags: &'a [(String, String)],
}

fn numbered(prefix: &str, values: &[String]) -> Vec<(String, String)> {
    values.iter().enumerate().map(|(i, value)| (format!("{prefix}.{}", i + 1), value.clone())).collect()
}

fn numbered_field(prefix: &str, field: &str, values: &[String]) -> Vec<(String, String)> {
    values.iter().enumerate().map(|(i, value)| (format!("{prefix}.{}.{field}", i + 1), value.clone())).collect()
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.is_element() && n.tag_name().name() == name)
}

fn child_text(node: roxmltree::Node, name: &str) -> Option<String> {
    child(node, name).and_then(|n| n.text()).map(|t| t.trim().to_owned())
}

fn items<'a, 'i>(node: roxmltree::Node<'a, 'i>) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children().filter(|n| n.is_element() && n.tag_name().name() == "item")
}

fn image(node: roxmltree::Node) -> Image {
    let tags = child(node, "tagSet")
        .map(|set| {
            items(set)
                .filter_map(|tag| Some((child_text(tag, "key")?, child_text(tag, "value").unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default();
    let volumes: Vec<roxmltree::Node> = child(node, "blockDeviceMapping")
        .map(|set| items(set).filter_map(|m| child(m, "ebs")).collect())
        .unwrap_or_default();
    Image {
        id: child_text(node, "imageId").unwrap_or_default(),
        name: child_text(node, "name").unwrap_or_default(),
        state: child_text(node, "imageState").unwrap_or_default(),
        tags,
        snapshots: volumes.iter().filter_map(|ebs| child_text(*ebs, "snapshotId")).collect(),
        volumes: volumes
            .iter()
            .filter_map(|ebs| {
                let size = child_text(*ebs, "volumeSize").and_then(|size| size.parse().ok()).unwrap_or(0);
                Some((child_text(*ebs, "snapshotId")?, size))
            })
            .collect(),
        encrypted: volumes.iter().any(|ebs| child_text(*ebs, "encrypted").as_deref() == Some("true")),
        created: child_text(node, "creationDate"),
        deprecation: child_text(node, "deprecationTime"),
    }
}

fn permissions(text: &str, attribute: &str) -> Result<Permissions> {
    let document = roxmltree::Document::parse(text).context("EC2 answered with malformed XML")?;
    let mut found = Permissions::default();
    if let Some(set) = child(document.root_element(), attribute) {
        for item in items(set) {
            if let Some(user) = child_text(item, "userId") {
                found.users.insert(user);
            }
            found.public |= child_text(item, "group").as_deref() == Some("all");
        }
    }
    Ok(found)
}
