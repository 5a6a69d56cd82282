//! `cargo xtask signing-key export`: the public half of the release signing key, read
//! from KMS and written as the PEM file every signature check trusts. The private half
//! never leaves KMS; this is the one step of the key's set-up that writes the checkout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xtask::{
    adapters::{files, workspace::Workspace},
    cli::SigningKeyExportArgs,
    domain::publishing::{
        digest::sha256_hex,
        layout,
        signing_key::{self, Export, KmsKey},
    },
};

use crate::adapters::{
    manifest_signature::{self, pem_public_key, ReleaseKey},
    site::with_site,
};

pub fn run(workspace: &Workspace, args: SigningKeyExportArgs, dry_run: bool) -> Result<()> {
    let (path, shown) = target(workspace, &args)?;
    let key = with_site(workspace, async |site| manifest_signature::kms_key(site).await)?;
    key.require_release_signing()?;
    let release_key = ReleaseKey::from_der(&key.der, &format!("the KMS key {}", key.key_id))?;
    let existing = existing_key(&path, &shown)?;
    let action = signing_key::export(existing.as_deref(), &key, args.replace, &shown)?;
    let what = describe(&key);
    match (action, dry_run) {
        (Export::Unchanged, _) => println!("{shown} already holds {what}; nothing written."),
        (_, true) => print!("Would {} {shown} with {what}:\n{}", verb(action), release_key.pem()),
        (_, false) => {
            files::write_atomically(&path, release_key.pem().as_bytes())
                .with_context(|| format!("cannot write {shown}"))?;
            println!("{}d {shown} with {what}.", capitalized(verb(action)));
            println!(
                "Next: commit it, paste it into RELEASE.md (Signed releases, Signing key) and publish it where \
                 customers read it."
            );
        }
    }
    Ok(())
}

/// Where the PEM goes, and how to name it in messages. The committed file must come
/// from the release account's KMS, so against any other endpoint only `--out` is taken.
fn target(workspace: &Workspace, args: &SigningKeyExportArgs) -> Result<(PathBuf, String)> {
    if let Some(out) = &args.out {
        return Ok((out.clone(), out.display().to_string()));
    }
    if let Some(endpoint) = &workspace.env.aws_endpoint {
        bail!(
            "AWS_ENDPOINT_URL is set ({endpoint}): the key there is not the release account's, and {} must be. Unset \
             AWS_ENDPOINT_URL to export the release key, or pass --out <file> to export this one elsewhere",
            layout::SIGNING_PUBLIC_KEY
        );
    }
    Ok((workspace.root.join(layout::SIGNING_PUBLIC_KEY), layout::SIGNING_PUBLIC_KEY.to_owned()))
}

/// The DER of the public key the file holds, or `None` when there is no file.
fn existing_key(path: &Path, shown: &str) -> Result<Option<Vec<u8>>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {shown}"))?;
    let der = pem_public_key(&text).with_context(|| {
        format!("{shown} exists but holds no PEM public key; move it away (nothing was written) and rerun")
    })?;
    Ok(Some(der))
}

fn describe(key: &KmsKey) -> String {
    format!(
        "the public half of KMS key {} behind {} ({}, {}; SHA-256 of its DER {})",
        key.key_id,
        key.alias,
        key.spec,
        key.usage,
        sha256_hex(&key.der)
    )
}

fn verb(action: Export) -> &'static str {
    match action {
        Export::Create => "create",
        Export::Replace => "replace",
        Export::Unchanged => "keep",
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
