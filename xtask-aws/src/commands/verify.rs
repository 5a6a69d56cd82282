//! `cargo xtask verify <tag>`: downloads a release the way customers do and checks
//! every byte against its manifest.

use crate::adapters::{manifest_signature::ReleaseKey, release_index as index_store, release_pointer};
use anyhow::{bail, Context, Result};
use xshell::cmd;
use xtask::{
    adapters::{buildkite, workspace::Workspace},
    cli::VerifyArgs,
    domain::{
        names::tag::ReleaseTag,
        publishing::digest::{checksum_line, sha256_hex},
        publishing::download_base::DownloadBase,
        publishing::layout,
        publishing::release_manifest::ReleaseManifest,
        publishing::wrapper::served_tag,
    },
};

/// Each check as it is made: printed, and remembered when it fails.
#[derive(Default)]
struct Checks {
    failed: Vec<String>,
}

impl Checks {
    fn check(&mut self, ok: bool, what: String) {
        println!("  {} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            self.failed.push(what);
        }
    }
}

/// Downloads through the public URL with curl, as customers do.
struct Downloader<'a> {
    workspace: &'a Workspace,
    base: String,
    scratch: tempfile::TempDir,
}

impl Downloader<'_> {
    fn fetch(&self, key: &str) -> Result<Vec<u8>> {
        self.fetch_url(&format!("{}/{key}", self.base))
    }

    fn fetch_url(&self, url: &str) -> Result<Vec<u8>> {
        let file = self.scratch.path().join("download");
        let sh = &self.workspace.sh;
        cmd!(sh, "curl --fail --silent --show-error --location --output {file} {url}")
            .quiet()
            .run()
            .with_context(|| format!("cannot download {url}"))?;
        std::fs::read(&file).with_context(|| format!("cannot read what {url} returned"))
    }
}

pub fn run(workspace: &Workspace, args: VerifyArgs) -> Result<()> {
    if workspace.env.which("curl").is_none() {
        bail!("verify downloads with curl, which is not on PATH; install it (`apt-get install curl`)");
    }
    let tag = buildkite::release_name(workspace, args.tag.clone())?;
    let key = ReleaseKey::load_anonymously(workspace, args.public_key.as_deref())?;
    let base = args.base_url.as_ref().map_or_else(|| workspace.config.public_base_url.clone(), |b| b.to_string());
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let downloader = Downloader { workspace, base: base.trim_end_matches('/').to_owned(), scratch };
    println!("Verifying release {tag} through {}:", downloader.base);
    let mut checks = Checks::default();
    let (manifest, manifest_sha256) = check_installers(&downloader, &key, &tag, &mut checks)?;
    let wrapper_sha256 = check_wrapper(&downloader, &manifest, &mut checks)?;
    check_pointer(&downloader, &key, &tag, (&manifest_sha256, &wrapper_sha256), &mut checks);
    check_index(&downloader, &key, &tag, &manifest_sha256, &mut checks);
    check_templates(&downloader, &manifest, args.s3_url.as_ref().map(DownloadBase::as_str), &mut checks);
    if !checks.failed.is_empty() {
        bail!("release {tag} failed {} check(s):\n  - {}", checks.failed.len(), checks.failed.join("\n  - "));
    }
    println!(
        "Release {tag} verified: {} installers, wrapper and templates are as published.",
        manifest.installers.len()
    );
    Ok(())
}

/// The manifest and its signature, and each installer, checksum file and legacy key
/// against the manifest.
fn check_installers(
    downloader: &Downloader,
    key: &ReleaseKey,
    tag: &ReleaseTag,
    checks: &mut Checks,
) -> Result<(ReleaseManifest, String)> {
    let manifest_key = layout::manifest(tag);
    let bytes = downloader.fetch(&manifest_key)?;
    let signature_key = layout::manifest_signature(tag);
    let verifies = downloader.fetch(&signature_key).is_ok_and(|signature| key.verifies(&bytes, &signature));
    checks.check(verifies, format!("{signature_key} is a signature of the manifest by {}", key.source));
    let manifest: ReleaseManifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}/{manifest_key} is not a release manifest", downloader.base))?;
    checks.check(&manifest.tag == tag, format!("manifest names release {}", manifest.tag));
    for entry in &manifest.installers {
        let name = &entry.published_name;
        let binary = downloader.fetch(&layout::versioned_binary(tag, name))?;
        checks.check(
            binary.len() as u64 == entry.size && sha256_hex(&binary) == entry.sha256,
            format!("{} is {} bytes with sha256 {}", layout::versioned_binary(tag, name), entry.size, entry.sha256),
        );
        let checksum = downloader.fetch(&layout::versioned_checksum(tag, name))?;
        checks.check(
            checksum == checksum_line(&entry.sha256, name).as_bytes(),
            format!("{} holds the manifest's checksum", layout::versioned_checksum(tag, name)),
        );
        let legacy = downloader.fetch(&layout::legacy_binary(name))?;
        checks.check(
            sha256_hex(&legacy) == entry.sha256,
            format!("{} serves {tag}'s {name}", layout::legacy_binary(name)),
        );
    }
    Ok((manifest, sha256_hex(&bytes)))
}

/// The signed pointer names this release current, with the manifest and the root
/// wrapper just checked: a validly signed older release put back at the root, or a
/// pointer put back from an older release, fails here.
fn check_pointer(
    downloader: &Downloader,
    key: &ReleaseKey,
    tag: &ReleaseTag,
    sha256: (&str, &str),
    checks: &mut Checks,
) {
    let (manifest_sha256, wrapper_sha256) = sha256;
    let signed = downloader.fetch(layout::POINTER_KEY).and_then(|bytes| release_pointer::checked(key, &bytes));
    let pointer = match signed {
        Ok(signed) => signed.pointer,
        Err(why) => {
            let what = format!("{} is a release pointer signed by {} ({why:#})", layout::POINTER_KEY, key.source);
            return checks.check(false, what);
        }
    };
    checks.check(true, format!("{} is signed by {}: it names {pointer}", layout::POINTER_KEY, key.source));
    checks.check(&pointer.release == tag, format!("the pointer names {tag} as the current release"));
    checks.check(pointer.manifest_sha256 == manifest_sha256, "the pointer names this manifest's SHA-256".to_owned());
    checks.check(
        pointer.wrapper_sha256 == wrapper_sha256,
        format!("the pointer names the SHA-256 of {} as served", layout::WRAPPER_KEY),
    );
}

/// Every public template the installers point at, and `amis.json`, read as the
/// CloudFormation console and customers read them (anonymously), each compared with
/// the signed manifest; a manifest published before it listed them gets the check that
/// each template can be read.
fn check_templates(downloader: &Downloader, manifest: &ReleaseManifest, s3_url: Option<&str>, checks: &mut Checks) {
    let config = &downloader.workspace.config;
    let url = |key: &str| match s3_url {
        Some(base) => format!("{}/{}/{key}", base.trim_end_matches('/'), config.cfn_public_bucket),
        None => layout::bucket_url(config, &config.cfn_public_bucket, key),
    };
    if manifest.templates.is_empty() {
        for template in config.public_templates() {
            let url = url(&layout::release_template(&manifest.cfn_version, &template.name));
            let readable = downloader.fetch_url(&url).is_ok_and(|bytes| !bytes.is_empty());
            checks.check(readable, format!("{url} can be read without credentials"));
        }
        return;
    }
    for entry in &manifest.templates {
        let url = url(&entry.key);
        let same = downloader.fetch_url(&url).is_ok_and(|bytes| sha256_hex(&bytes) == entry.sha256);
        checks.check(same, format!("{url} is the file the signed manifest lists"));
    }
}

/// The signed index of releases lists this release with this manifest.
fn check_index(
    downloader: &Downloader,
    key: &ReleaseKey,
    tag: &ReleaseTag,
    manifest_sha256: &str,
    checks: &mut Checks,
) {
    let read = downloader.fetch(layout::INDEX_KEY).and_then(|bytes| index_store::checked(key, &bytes));
    let listed = match read {
        Ok(read) => read.index.entry(tag).map(|entry| entry.manifest_sha256.clone()),
        Err(why) => {
            let what = format!("{} is an index of releases signed by {} ({why:#})", layout::INDEX_KEY, key.source);
            return checks.check(false, what);
        }
    };
    checks.check(
        listed.as_deref() == Some(manifest_sha256),
        format!("{} lists {tag} with this manifest's SHA-256", layout::INDEX_KEY),
    );
}

/// The root wrapper against the manifest; its SHA-256 is returned for the pointer's check.
fn check_wrapper(downloader: &Downloader, manifest: &ReleaseManifest, checks: &mut Checks) -> Result<String> {
    let tag = &manifest.tag;
    let wrapper_bytes = downloader.fetch(layout::WRAPPER_KEY)?;
    let wrapper = String::from_utf8_lossy(&wrapper_bytes).into_owned();
    let served = served_tag(&wrapper);
    checks.check(
        served == Some(tag.as_str()),
        format!("{} installs {tag} (it names {:?})", layout::WRAPPER_KEY, served.unwrap_or("nothing")),
    );
    for entry in &manifest.installers {
        checks.check(
            wrapper.contains(&format!("{}) echo \"{}\"", entry.published_name, entry.sha256)),
            format!("{} expects sha256 {} for {}", layout::WRAPPER_KEY, entry.sha256, entry.published_name),
        );
    }
    if let Some(signed) = &manifest.check_script_sha256 {
        for key in [layout::versioned_check_script(tag), layout::CHECK_SCRIPT_KEY.to_owned()] {
            let bytes = downloader.fetch(&key)?;
            checks.check(sha256_hex(&bytes) == *signed, format!("{key} is the check script the signed manifest lists"));
        }
    }
    if let Some(signed) = &manifest.wrapper_sha256 {
        let versioned_key = layout::versioned_wrapper(tag);
        let versioned = downloader.fetch(&versioned_key)?;
        checks.check(
            sha256_hex(&versioned) == *signed,
            format!("{versioned_key} is the wrapper the signed manifest lists"),
        );
        checks.check(
            sha256_hex(&wrapper_bytes) == *signed,
            format!("{} is the wrapper the signed manifest lists", layout::WRAPPER_KEY),
        );
    }
    Ok(sha256_hex(&wrapper_bytes))
}
