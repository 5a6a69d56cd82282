//! `cargo xtask verify <tag>`: downloads a release the way customers do and checks
//! every byte against its manifest.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{
    adapters::{
        aws::{self, Aws},
        buildkite, tools,
        workspace::Workspace,
    },
    commands::publish_installer::missing_templates,
    domain::{
        build_record::{checksum_line, sha256_hex},
        layout,
        release_manifest::ReleaseManifest,
        tag::ReleaseTag,
        wrapper::served_tag,
    },
};

/// Download every published object of a release through the public URL and check it.
///
/// Checks sizes and SHA-256 against the manifest, that the wrapper and legacy keys
/// serve this release, and that the templates the installer points at exist.
///
/// Example: cargo xtask verify v2024.06.1
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The release; in Buildkite it defaults to the name typed into the release block step.
    pub tag: Option<ReleaseTag>,

    /// Download from here instead of the configured public URL (e.g. the bucket's own
    /// URL, to check before the CDN).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

pub fn run(workspace: &Workspace, args: Args) -> Result<()> {
    if tools::which("curl").is_none() {
        bail!("verify downloads with curl, which is not on PATH; install it (`apt-get install curl`)");
    }
    let base = args.base_url.clone().unwrap_or_else(|| workspace.config.public_base_url.clone());
    let base = base.trim_end_matches('/');
    let sh = workspace.shell()?;
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let fetch = |key: &str| download(&sh, &format!("{base}/{key}"), scratch.path());
    let tag = &buildkite::release_name(args.tag.clone())?;
    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        println!("  {} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            problems.push(what);
        }
    };

    println!("Verifying release {tag} through {base}:");
    let manifest_bytes = fetch(&layout::manifest(tag))?;
    let manifest: ReleaseManifest = serde_json::from_slice(&manifest_bytes)
        .with_context(|| format!("{base}/{} is not a release manifest", layout::manifest(tag)))?;
    check(manifest.tag == tag.as_str(), format!("manifest names release {}", manifest.tag));

    for entry in &manifest.installers {
        let name = &entry.published_name;
        let binary = fetch(&layout::versioned_binary(tag, name))?;
        check(
            binary.len() as u64 == entry.size && sha256_hex(&binary) == entry.sha256,
            format!("{} is {} bytes with sha256 {}", layout::versioned_binary(tag, name), entry.size, entry.sha256),
        );
        let checksum = fetch(&layout::versioned_checksum(tag, name))?;
        check(
            checksum == checksum_line(&entry.sha256, name).as_bytes(),
            format!("{} holds the manifest's checksum", layout::versioned_checksum(tag, name)),
        );
        let legacy = fetch(&layout::legacy_binary(name))?;
        check(sha256_hex(&legacy) == entry.sha256, format!("{} serves {tag}'s {name}", layout::legacy_binary(name)));
    }

    let wrapper = String::from_utf8_lossy(&fetch(layout::WRAPPER_KEY)?).into_owned();
    check(
        served_tag(&wrapper) == Some(tag.as_str()),
        format!("{} installs {tag} (it names {:?})", layout::WRAPPER_KEY, served_tag(&wrapper).unwrap_or("nothing")),
    );
    for entry in &manifest.installers {
        check(
            wrapper.contains(&format!("{}) echo \"{}\"", entry.published_name, entry.sha256)),
            format!("{} expects sha256 {} for {}", layout::WRAPPER_KEY, entry.sha256, entry.published_name),
        );
    }

    let cfn_version = manifest.cfn_version()?;
    let missing = aws::runtime()?.block_on(async {
        let aws = Aws::from_environment(&workspace.config.region).await;
        missing_templates(&aws, &workspace.config, &cfn_version).await
    })?;
    check(
        missing.is_empty(),
        format!(
            "the templates under {cfn_version}/readyset/templates/ exist{}",
            if missing.is_empty() { String::new() } else { format!(" (missing: {})", missing.join(", ")) }
        ),
    );

    if !problems.is_empty() {
        bail!("release {tag} failed {} check(s):\n  - {}", problems.len(), problems.join("\n  - "));
    }
    println!(
        "Release {tag} verified: {} installers, wrapper and templates are as published.",
        manifest.installers.len()
    );
    Ok(())
}

fn download(sh: &Shell, url: &str, scratch: &Path) -> Result<Vec<u8>> {
    let file = scratch.join("download");
    cmd!(sh, "curl --fail --silent --show-error --location --output {file} {url}")
        .quiet()
        .run()
        .with_context(|| format!("cannot download {url}"))?;
    std::fs::read(&file).with_context(|| format!("cannot read what {url} returned"))
}
