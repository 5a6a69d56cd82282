//! Signed release manifests. The private half of the signing key never leaves KMS: a
//! manifest is signed with KMS `Sign` (ECDSA P-256, SHA-256, DER signature, what
//! `openssl dgst -verify` reads) and checked here with the public half, so a writer of
//! the bucket or a build agent cannot make a release that verifies.
//!
//! Which public key is trusted: the PEM committed at `layout::SIGNING_PUBLIC_KEY`, or a
//! PEM file asked for by name. Against the emulator (a loopback `AWS_ENDPOINT_URL`) the
//! emulator's own key under the configured alias stands in, because the committed key's
//! private half is in production's KMS; every command says which key it used.

use std::path::Path;

use anyhow::{bail, Context, Result};
use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_ASN1};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::json;
use sha2::{Digest, Sha256};
use xtask::{
    adapters::workspace::Workspace,
    domain::publishing::{layout, signing_key::KmsKey},
};

use crate::adapters::{
    emulator,
    kms::Kms,
    sigv4_http::SignedClient,
    site::{with_site, Site},
};

/// The only algorithm releases are signed with: the committed key is a P-256 key.
const SIGNING_ALGORITHM: &str = "ECDSA_SHA_256";
/// KMS signs a raw message of at most this many bytes; a longer one is signed by digest.
const MAX_RAW_MESSAGE: usize = 4096;

/// The public key signatures are checked with, and where it came from (for messages).
pub struct ReleaseKey {
    key: ParsedPublicKey,
    der: Vec<u8>,
    pub source: String,
}

impl ReleaseKey {
    /// The key to trust: `file` when given, else the emulator's key when every AWS call
    /// goes to an emulator, else the committed one.
    pub async fn load(workspace: &Workspace, site: &Site, file: Option<&Path>) -> Result<ReleaseKey> {
        match ReleaseKey::local(workspace, file)? {
            Some(key) => Ok(key),
            None => ReleaseKey::of_kms_key(site).await,
        }
    }

    /// As `load`, for a command that otherwise needs no AWS credentials (`verify`): it
    /// connects only to ask the emulator for its key.
    pub fn load_anonymously(workspace: &Workspace, file: Option<&Path>) -> Result<ReleaseKey> {
        match ReleaseKey::local(workspace, file)? {
            Some(key) => Ok(key),
            None => with_site(workspace, async |site| ReleaseKey::of_kms_key(site).await),
        }
    }

    /// The key from a file, or `None` when the emulator's key stands in.
    fn local(workspace: &Workspace, file: Option<&Path>) -> Result<Option<ReleaseKey>> {
        if let Some(file) = file {
            return ReleaseKey::from_pem_file(file, &file.display().to_string()).map(Some);
        }
        if workspace.env.aws_endpoint.as_deref().is_some_and(emulator::is_loopback_url) {
            return Ok(None);
        }
        ReleaseKey::committed(workspace).map(Some)
    }

    fn committed(workspace: &Workspace) -> Result<ReleaseKey> {
        let path = workspace.root.join(layout::SIGNING_PUBLIC_KEY);
        if !path.exists() {
            bail!(
                "the release signing key's public half is not committed: {} does not exist, so no signature can be \
                 checked. Create the KMS key and commit its public key as RELEASE.md says (\"Signing key\"); to check \
                 against a key file of your own, pass --public-key <PEM>",
                layout::SIGNING_PUBLIC_KEY
            );
        }
        ReleaseKey::from_pem_file(&path, &format!("the committed key {}", layout::SIGNING_PUBLIC_KEY))
    }

    fn from_pem_file(path: &Path, source: &str) -> Result<ReleaseKey> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the public key {source}"))?;
        let der = pem_public_key(&text).with_context(|| format!("{source} is not a usable public key"))?;
        ReleaseKey::from_der(&der, source)
    }

    /// The public half of the key the configured alias names in KMS: in the emulator,
    /// the key `emulator::create_site` made.
    pub async fn of_kms_key(site: &Site) -> Result<ReleaseKey> {
        let alias = &site.config.signing_key;
        let client = SignedClient::new(&site.sdk);
        let answer =
            Kms { client: &client }.call(&site.config.region, "GetPublicKey", json!({ "KeyId": alias })).await?;
        let der = decode(answer["PublicKey"].as_str(), "GetPublicKey's PublicKey")?;
        ReleaseKey::from_der(&der, &format!("the emulator's key {alias}, standing in for the committed key"))
    }

    pub fn from_der(der: &[u8], source: &str) -> Result<ReleaseKey> {
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der).map_err(|rejected| {
            anyhow::anyhow!(
                "{source} is not an ECDSA P-256 public key ({rejected}); release signing keys are P-256: export the \
                 signing key's public half as RELEASE.md says (\"Signing key\")"
            )
        })?;
        Ok(ReleaseKey { key, der: der.to_vec(), source: source.to_owned() })
    }

    /// The key as the PEM file `openssl` and `--public-key` read.
    pub fn pem(&self) -> String {
        let encoded = STANDARD.encode(&self.der);
        let lines: Vec<&str> = encoded.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// What KMS says about the key behind the configured alias. GetPublicKey answers the
/// spec and usage with the public half; `CustomerMasterKeySpec` is the spec's older
/// name, which some endpoints (the emulator) still send alone.
pub async fn kms_key(site: &Site) -> Result<KmsKey> {
    let alias = &site.config.signing_key;
    let client = SignedClient::new(&site.sdk);
    let answer = Kms { client: &client }.call(&site.config.region, "GetPublicKey", json!({ "KeyId": alias })).await?;
    let field = |name: &str| answer[name].as_str().map(str::to_owned);
    Ok(KmsKey {
        alias: alias.clone(),
        key_id: field("KeyId").context("KMS GetPublicKey answered without a KeyId")?,
        spec: field("KeySpec").or_else(|| field("CustomerMasterKeySpec")).unwrap_or_else(|| "an unknown spec".into()),
        usage: field("KeyUsage").unwrap_or_else(|| "an unknown usage".into()),
        der: decode(answer["PublicKey"].as_str(), "GetPublicKey's PublicKey")?,
    })
}

/// Signs `message` (the manifest, or `what` it is) with the configured KMS key. The
/// signature is checked with `key` before it is returned: a KMS key that is not the
/// trusted key's private half must stop the release, not publish signatures no one can
/// verify.
pub async fn sign(site: &Site, key: &ReleaseKey, message: &[u8]) -> Result<Vec<u8>> {
    sign_as(site, key, message, "the manifest").await
}

pub async fn sign_as(site: &Site, key: &ReleaseKey, message: &[u8], what: &str) -> Result<Vec<u8>> {
    let alias = &site.config.signing_key;
    let client = SignedClient::new(&site.sdk);
    // KMS signs at most 4096 bytes as they are; a longer message is hashed here and KMS
    // signs the digest (the same ECDSA signature over the message either way).
    let (message_type, signed) = if message.len() > MAX_RAW_MESSAGE {
        ("DIGEST", Sha256::digest(message).to_vec())
    } else {
        ("RAW", message.to_vec())
    };
    let body = json!({
        "KeyId": alias,
        "Message": STANDARD.encode(signed),
        "MessageType": message_type,
        "SigningAlgorithm": SIGNING_ALGORITHM,
    });
    let answer = Kms { client: &client }.call(&site.config.region, "Sign", body).await.with_context(|| {
        format!("cannot sign {what} with KMS key {alias} (the release queue's role needs kms:Sign on it)")
    })?;
    let signature = decode(answer["Signature"].as_str(), "Sign's Signature")?;
    if !key.verifies(message, &signature) {
        bail!(
            "KMS key {alias} signed {what}, but the signature does not verify with {}: the key the alias \
             names is not the one customers check against. Point the alias at the signing key, or commit that \
             key's public half (RELEASE.md, \"Signing key\"). Nothing was written",
            key.source
        );
    }
    Ok(signature)
}

/// A signature as the release pointer carries it: base64 on one line.
pub fn encode_signature(signature: &[u8]) -> String {
    STANDARD.encode(signature)
}

pub fn decode_signature(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

fn decode(field: Option<&str>, what: &str) -> Result<Vec<u8>> {
    let text = field.with_context(|| format!("KMS answered without {what}"))?;
    STANDARD.decode(text).with_context(|| format!("KMS answered {what} that is not base64"))
}

/// The DER of the one `PUBLIC KEY` block of a PEM file (as `openssl pkey -pubout` and
/// RELEASE.md's recipe write it).
pub fn pem_public_key(text: &str) -> Result<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let body = text
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(body, _)| body)
        .with_context(|| format!("expected a PEM block from {BEGIN} to {END}"))?;
    let joined: String = body.split_whitespace().collect();
    STANDARD.decode(joined).context("the PEM block is not base64")
}
