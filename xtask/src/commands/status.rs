//! `cargo xtask status <tag>`: where a release stands, key by key.

use anyhow::Result;
use serde::Serialize;

use crate::{
    adapters::{
        aws::{self, Aws},
        s3::Bucket,
        workspace::Workspace,
    },
    domain::{
        build_record::checksum_line,
        config::ReleaseConfig,
        layout,
        release_manifest::{ManifestEntry, ReleaseManifest},
        tag::ReleaseTag,
    },
};

/// Show every object of a release: present, missing or different, and which release
/// the legacy keys and the wrapper serve now.
///
/// Example: cargo xtask status v2024.06.1
#[derive(clap::Args, Debug)]
pub struct Args {
    pub tag: ReleaseTag,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseStatus {
    pub tag: String,
    pub cfn_version: String,
    /// Every versioned object, the manifest and the templates are in place.
    pub complete: bool,
    /// Complete, and the wrapper and every legacy key serve this release.
    pub live: bool,
    pub objects: Vec<ObjectStatus>,
    #[serde(skip)]
    pub manifest: Option<ReleaseManifest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    pub what: &'static str,
    pub url: String,
    /// `present`, `missing` or `differs`.
    pub state: &'static str,
    /// For mutable keys: the release they serve now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serves: Option<String>,
}

pub fn run(workspace: &Workspace, args: Args) -> Result<()> {
    let status = aws::runtime()?.block_on(async {
        let aws = Aws::from_environment(&workspace.config.region).await;
        inspect(&aws, &workspace.config, &args.tag).await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", table(&status));
    }
    Ok(())
}

pub fn table(status: &ReleaseStatus) -> String {
    let verdict = match (status.complete, status.live) {
        (true, true) => "complete and live: customers who run the wrapper get it".to_owned(),
        (true, false) => "complete, not live: the wrapper or a legacy key serves another release".to_owned(),
        (false, _) => "incomplete: objects below are missing or differ".to_owned(),
    };
    let mut text = format!("Release {} (CFN version {}): {verdict}\n", status.tag, status.cfn_version);
    for object in &status.objects {
        let state = match &object.serves {
            Some(tag) => format!("serves {tag}"),
            None => object.state.to_owned(),
        };
        text += &format!("  {state:<16} {:<18} {}\n", object.what, object.url);
    }
    text
}

/// Looks at every object of the release. Reads only.
pub async fn inspect(aws: &Aws, config: &ReleaseConfig, tag: &ReleaseTag) -> Result<ReleaseStatus> {
    let bucket = Bucket::new(&aws.s3, &config.orchestrator_bucket);
    let templates = Bucket::new(&aws.s3, &config.cfn_public_bucket);
    let url = |bucket: &Bucket, key: &str| format!("s3://{}/{key}", bucket.name);
    let mut objects = Vec::new();

    let manifest_key = layout::manifest(tag);
    let manifest: Option<ReleaseManifest> = match bucket.get(&manifest_key).await? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    let present = |found: bool| if found { "present" } else { "missing" };
    objects.push(ObjectStatus {
        what: "manifest",
        url: url(&bucket, &manifest_key),
        state: present(manifest.is_some()),
        serves: None,
    });
    let cfn_version = match &manifest {
        Some(manifest) => manifest.cfn_version()?,
        None => tag.clone(),
    };
    for template in config.public_templates() {
        let key = layout::release_template(&cfn_version, &template.name);
        let found = templates.head(&key).await?.is_some();
        objects.push(ObjectStatus {
            what: "template",
            url: url(&templates, &key),
            state: present(found),
            serves: None,
        });
    }
    let installers: Vec<ManifestEntry> = match &manifest {
        Some(manifest) => manifest.installers.clone(),
        None => config
            .targets
            .iter()
            .map(|t| ManifestEntry {
                published_name: t.published_name.clone(),
                target: t.triple.clone(),
                size: 0,
                sha256: String::new(),
            })
            .collect(),
    };
    for entry in &installers {
        let key = layout::versioned_binary(tag, &entry.published_name);
        let state = match bucket.remote(&key, true).await? {
            None => "missing",
            Some(remote) if manifest.is_none() || remote.sha256.as_deref() == Some(entry.sha256.as_str()) => "present",
            Some(_) => "differs",
        };
        objects.push(ObjectStatus { what: "installer", url: url(&bucket, &key), state, serves: None });

        let key = layout::versioned_checksum(tag, &entry.published_name);
        let state = match bucket.get(&key).await? {
            None => "missing",
            Some(bytes)
                if manifest.is_none() || bytes == checksum_line(&entry.sha256, &entry.published_name).as_bytes() =>
            {
                "present"
            }
            Some(_) => "differs",
        };
        objects.push(ObjectStatus { what: "checksum", url: url(&bucket, &key), state, serves: None });
    }
    let key = layout::versioned_wrapper(tag);
    let found = bucket.head(&key).await?.is_some();
    objects.push(ObjectStatus { what: "wrapper (kept)", url: url(&bucket, &key), state: present(found), serves: None });
    let complete = objects.iter().all(|o| o.state == "present");

    let mut live = complete;
    for entry in &installers {
        let key = layout::legacy_binary(&entry.published_name);
        let serves = serving(&bucket, &key).await?;
        live &= serves.as_deref() == Some(tag.as_str());
        objects.push(ObjectStatus {
            what: "legacy key",
            url: url(&bucket, &key),
            state: present(serves.is_some()),
            serves,
        });
    }
    let serves = serving(&bucket, layout::WRAPPER_KEY).await?;
    live &= serves.as_deref() == Some(tag.as_str());
    objects.push(ObjectStatus {
        what: "wrapper",
        url: url(&bucket, layout::WRAPPER_KEY),
        state: present(serves.is_some()),
        serves,
    });

    Ok(ReleaseStatus { tag: tag.to_string(), cfn_version: cfn_version.to_string(), complete, live, objects, manifest })
}

/// The release a mutable key serves, from its metadata; "unknown" for an object the
/// xtask did not write.
async fn serving(bucket: &Bucket, key: &str) -> Result<Option<String>> {
    Ok(bucket.head(key).await?.map(|head| head.remote.tag.unwrap_or_else(|| "unknown".into())))
}
