//! Reading where a published release stands: every object of it, and whether the
//! templates its installers point at exist. Reads only. `status` prints what this
//! finds; `rollback`, `verify` and `publish-installer` decide on it.

use anyhow::Result;
use xtask::domain::{
    names::tag::ReleaseTag,
    publishing::digest::{checksum_line, sha256_hex},
    publishing::layout,
    publishing::release_manifest::{ManifestEntry, ReleaseManifest},
    publishing::release_status::{ObjectKind, ObjectState, ObjectStatus, ReleaseStatus},
};

use crate::adapters::{
    manifest_signature::ReleaseKey,
    s3::{Bucket, Lookup},
    site::Site,
};

/// Looks at every object of the release; its signature is checked with `key`.
pub async fn inspect(site: &Site, key: &ReleaseKey, tag: &ReleaseTag) -> Result<ReleaseStatus> {
    let bucket = site.orchestrator();
    let manifest_key = layout::manifest(tag);
    let manifest_bytes = bucket.get(&manifest_key).await?;
    let manifest: Option<ReleaseManifest> =
        manifest_bytes.as_deref().and_then(|bytes| serde_json::from_slice(bytes).ok());
    let cfn_version = manifest.as_ref().map_or_else(|| tag.clone(), |m| m.cfn_version.clone());
    let mut objects =
        vec![ObjectStatus::presence(ObjectKind::Manifest, url(&bucket, &manifest_key), manifest.is_some())];
    let signature_key = layout::manifest_signature(tag);
    let signature = bucket.get(&signature_key).await?;
    let verifies = signature.map(|signature| manifest_bytes.map(|manifest| key.verifies(&manifest, &signature)));
    objects.push(ObjectStatus::compared(ObjectKind::Signature, url(&bucket, &signature_key), verifies));
    objects.extend(template_objects(site, &cfn_version).await?);
    objects.extend(versioned_objects(&bucket, tag, manifest.as_ref(), site).await?);
    objects.extend(moving_objects(&bucket, manifest.as_ref(), site).await?);
    Ok(ReleaseStatus::judge(tag.clone(), cfn_version, objects, manifest))
}

/// Public templates of that CFN version that are not in the public bucket, as URLs.
pub async fn missing_templates(site: &Site, cfn_version: &ReleaseTag) -> Result<Vec<String>> {
    let objects = template_objects(site, cfn_version).await?;
    Ok(objects.into_iter().filter(|o| o.state != ObjectState::Present).map(|o| o.url).collect())
}

async fn template_objects(site: &Site, cfn_version: &ReleaseTag) -> Result<Vec<ObjectStatus>> {
    let templates = site.bucket(&site.config.cfn_public_bucket);
    let keys: Vec<String> =
        site.config.public_templates().map(|template| layout::release_template(cfn_version, &template.name)).collect();
    // HEADs, not a listing: a present template is then seen with s3:GetObject alone.
    let lookups = keys.iter().map(|key| Lookup { key: key.clone(), hash_unlabelled: false });
    let found = templates.remotes(lookups).await?;
    Ok(keys
        .iter()
        .map(|key| ObjectStatus::presence(ObjectKind::Template, url(&templates, key), found.contains_key(key)))
        .collect())
}

/// The installers the release has: the manifest's, or without one, every configured
/// target's (then present objects cannot be checked and say so).
fn installers<'a>(manifest: Option<&'a ReleaseManifest>, site: &'a Site) -> Vec<(String, Option<&'a ManifestEntry>)> {
    match manifest {
        Some(manifest) => manifest.installers.iter().map(|e| (e.published_name.clone(), Some(e))).collect(),
        None => site.config.targets.iter().map(|t| (t.published_name.clone(), None)).collect(),
    }
}

async fn versioned_objects(
    bucket: &Bucket,
    tag: &ReleaseTag,
    manifest: Option<&ReleaseManifest>,
    site: &Site,
) -> Result<Vec<ObjectStatus>> {
    let mut objects = Vec::new();
    for (name, entry) in installers(manifest, site) {
        let key = layout::versioned_binary(tag, &name);
        let same = bucket
            .remote(&key, true)
            .await?
            .map(|remote| entry.map(|entry| remote.sha256.as_deref() == Some(entry.sha256.as_str())));
        objects.push(ObjectStatus::compared(ObjectKind::Installer, url(bucket, &key), same));

        let key = layout::versioned_checksum(tag, &name);
        let same = bucket
            .get(&key)
            .await?
            .map(|bytes| entry.map(|entry| bytes == checksum_line(&entry.sha256, &name).as_bytes()));
        objects.push(ObjectStatus::compared(ObjectKind::Checksum, url(bucket, &key), same));
    }
    // The wrapper a rollback serves again: compared with the signed manifest where it
    // lists one, so a changed wrapper is never put back in front of customers.
    let key = layout::versioned_wrapper(tag);
    let kept = match manifest.and_then(|manifest| manifest.wrapper_sha256.as_ref()) {
        Some(signed) => {
            let same = bucket.get(&key).await?.map(|bytes| Some(sha256_hex(&bytes) == *signed));
            ObjectStatus::compared(ObjectKind::KeptWrapper, url(bucket, &key), same)
        }
        None => ObjectStatus::presence(ObjectKind::KeptWrapper, url(bucket, &key), bucket.head(&key).await?.is_some()),
    };
    objects.push(kept);
    Ok(objects)
}

/// The legacy key of every configured platform and the wrapper, each with the release
/// it serves; a platform the release has no installer for is marked so.
async fn moving_objects(bucket: &Bucket, manifest: Option<&ReleaseManifest>, site: &Site) -> Result<Vec<ObjectStatus>> {
    let mut objects = Vec::new();
    for target in &site.config.targets {
        let name = &target.published_name;
        let kind = match manifest {
            Some(manifest) if manifest.entry(name).is_none() => ObjectKind::ExcludedLegacyKey,
            _ => ObjectKind::LegacyKey,
        };
        let key = layout::legacy_binary(name);
        objects.push(ObjectStatus::serving(kind, url(bucket, &key), serving(bucket, &key).await?));
    }
    let key = layout::WRAPPER_KEY;
    objects.push(ObjectStatus::serving(ObjectKind::Wrapper, url(bucket, key), serving(bucket, key).await?));
    Ok(objects)
}

/// The release a mutable key serves, from its metadata; "unknown" for an object the
/// xtask did not write.
async fn serving(bucket: &Bucket, key: &str) -> Result<Option<String>> {
    Ok(bucket.head(key).await?.map(|head| head.remote.release.unwrap_or_else(|| "unknown".into())))
}

fn url(bucket: &Bucket, key: &str) -> String {
    format!("s3://{}/{key}", bucket.name)
}
